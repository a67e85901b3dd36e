//! Embedded migrations with a `schema_migrations` table.
//!
//! Each migration is a `.sql` file under `crates/garrison-panel/migrations/`, compiled
//! into the binary. The runner applies the pending ones in order inside one write
//! transaction (`BEGIN IMMEDIATE` on SQLite; on PostgreSQL a transaction-scoped advisory
//! lock serializes panels starting at once), records each with a SHA-256 of its text and
//! refuses to start when an applied migration changed or the database is newer than
//! this build.
//!
//! The SQL is shared by both backends; the only substitution is `{{auto_id}}`, an
//! auto-increment primary key column.

use super::{Backend, Store, StoreError, now_millis};
use sha2::{Digest, Sha256};
use sqlx::{AssertSqlSafe, Row};

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "access",
        sql: include_str!("../../migrations/0002_access.sql"),
    },
    Migration {
        version: 3,
        name: "two_factor",
        sql: include_str!("../../migrations/0003_two_factor.sql"),
    },
    Migration {
        version: 4,
        name: "audit",
        sql: include_str!("../../migrations/0004_audit.sql"),
    },
    Migration {
        version: 5,
        name: "users",
        sql: include_str!("../../migrations/0005_users.sql"),
    },
    Migration {
        version: 6,
        name: "ssh_keys",
        sql: include_str!("../../migrations/0006_ssh_keys.sql"),
    },
    Migration {
        version: 7,
        name: "templates",
        sql: include_str!("../../migrations/0007_templates.sql"),
    },
    Migration {
        version: 8,
        name: "backups",
        sql: include_str!("../../migrations/0008_backups.sql"),
    },
    Migration {
        version: 9,
        name: "schedules",
        sql: include_str!("../../migrations/0009_schedules.sql"),
    },
    Migration {
        version: 10,
        name: "metrics",
        sql: include_str!("../../migrations/0010_metrics.sql"),
    },
    Migration {
        version: 11,
        name: "alerts",
        sql: include_str!("../../migrations/0011_alerts.sql"),
    },
    Migration {
        version: 12,
        name: "players",
        sql: include_str!("../../migrations/0012_players.sql"),
    },
];

/// Arbitrary constant key for `pg_advisory_xact_lock` ("garrison" in ASCII, truncated).
const PG_LOCK_KEY: i64 = 0x6761_7272_6973_6f6e;

fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// Splits a migration into statements: `--` comment lines dropped, statements end with
/// `;`. Migrations must not contain `;` inside literals or bodies.
fn statements(sql: &str, backend: Backend) -> Vec<String> {
    let auto_id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        Backend::Postgres => "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    };
    let text: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("{{auto_id}}", auto_id);
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(super) async fn run(store: &Store) -> Result<(), StoreError> {
    let mut tx = store.write_tx().await?;
    if store.backend == Backend::Postgres {
        // The function returns `void`, which the Any driver cannot decode; wrap it.
        sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock($1)) AS l")
            .bind(PG_LOCK_KEY)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            checksum TEXT NOT NULL,
            applied_at BIGINT NOT NULL
        )",
    )
    .execute(&mut *tx)
    .await?;

    let rows = sqlx::query("SELECT version, checksum FROM schema_migrations ORDER BY version")
        .fetch_all(&mut *tx)
        .await?;
    let mut applied = Vec::with_capacity(rows.len());
    for row in &rows {
        let version: i64 = row.try_get("version")?;
        let sum: String = row.try_get("checksum")?;
        applied.push((version, sum));
    }

    let latest = MIGRATIONS.last().map_or(0, |m| m.version);
    for (version, sum) in &applied {
        match MIGRATIONS.iter().find(|m| m.version == *version) {
            Some(m) if checksum(m.sql) != *sum => {
                return Err(StoreError::Database(format!(
                    "migration {version} ({}) was changed after it was applied",
                    m.name
                )));
            }
            Some(_) => {}
            None if *version > latest => {
                return Err(StoreError::Database(format!(
                    "database schema version {version} is newer than this build (latest {latest})"
                )));
            }
            None => {
                return Err(StoreError::Database(format!(
                    "database has unknown migration {version}"
                )));
            }
        }
    }

    for m in MIGRATIONS {
        if applied.iter().any(|(v, _)| *v == m.version) {
            continue;
        }
        tracing::info!(version = m.version, name = m.name, "applying migration");
        for stmt in statements(m.sql, store.backend) {
            sqlx::query(AssertSqlSafe(stmt))
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    StoreError::Database(format!("migration {} ({}): {e}", m.version, m.name))
                })?;
        }
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(checksum(m.sql))
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase() {
        for w in MIGRATIONS.windows(2) {
            assert!(w[0].version < w[1].version);
        }
    }

    #[test]
    fn splits_statements_and_substitutes() {
        let stmts = statements(MIGRATIONS[0].sql, Backend::Postgres);
        assert!(stmts.iter().all(|s| !s.contains("{{")));
        assert!(
            stmts
                .iter()
                .any(|s| s.contains("GENERATED ALWAYS AS IDENTITY"))
        );
        assert!(stmts.iter().all(|s| !s.contains("--")));
        let sqlite = statements(MIGRATIONS[0].sql, Backend::Sqlite);
        assert_eq!(stmts.len(), sqlite.len());
        assert!(sqlite.iter().any(|s| s.contains("AUTOINCREMENT")));
    }
}
