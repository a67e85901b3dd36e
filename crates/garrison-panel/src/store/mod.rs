//! The panel store: users, sessions, API keys, servers, state history, audit log and
//! settings, in SQLite (default) or PostgreSQL from one set of queries.
//!
//! Everything goes through [`sqlx::AnyPool`]; queries use `$1`-style placeholders, which
//! both drivers accept. The schema is portable (ids TEXT, times BIGINT unix millis, JSON
//! as TEXT, booleans BIGINT 0/1) and its migrations are embedded in the binary and
//! applied by [`Store::open`].
//!
//! On SQLite the database file is created when missing, the journal is WAL, the busy
//! timeout is 5 s, foreign keys are enforced, and every multi-statement write runs in a
//! `BEGIN IMMEDIATE` transaction so it takes the write lock up front (no deadlock between
//! two deferred transactions upgrading their read locks).

mod access;
mod alerts;
mod audit;
mod backups;
mod metrics;
mod migrate;
mod players;
mod schedules;
mod servers;
mod ssh_keys;
mod stats;
mod templates;
mod two_factor;
mod users;

pub use access::Subuser;
pub use alerts::{
    AlertQuery, AlertRecord, AlertRule, AlertState, ChannelRecord, ChannelSpec, DeliveryRecord,
    MaintenanceWindow, NewAlert, RuleSpec, WindowSpec,
};
pub use audit::{AuditEntry, AuditPage, AuditQuery, NewAudit};
pub use backups::{BackupRecord, BackupState, BackupUsage};
pub use metrics::{MetricPoint, MetricSample, RES_HOUR, RES_MINUTE, RES_RAW};
pub use players::PlayerEvent;
pub use schedules::{
    Claim, RunCause, RunRecord, RunState, ScheduleRecord, ScheduleSpec, TaskOutcome, TaskState,
};
pub use servers::{
    InstallState, InstallStatus, Limits, RestoreStatus, ServerRecord, StateHistoryEntry,
};
pub use ssh_keys::SshKey;
pub use stats::PanelCounts;
pub use templates::{StoredTemplate, TemplateRepo};
pub use two_factor::TwoFactor;
pub use users::{ApiKey, KeyLimits, SessionInfo, User, UserChanges};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Row, Transaction};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the unix epoch: the one clock the store and the API use.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint was violated; the text says what already exists.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Anything else from the database. Log it; never show it to API users.
    #[error("database error: {0}")]
    Database(String),
    /// A stored row could not be decoded (bad JSON, unknown state, out-of-range port).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Not possible on this database backend.
    #[error("{0}")]
    Unsupported(String),
}

impl StoreError {
    /// Maps a sqlx error; `conflict` describes what a unique violation means for the
    /// caller ("username already taken").
    pub(crate) fn from_sqlx(e: sqlx::Error, conflict: &str) -> StoreError {
        match e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(conflict.to_owned())
            }
            // A row that references something missing (a session for a deleted user).
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
            sqlx::Error::RowNotFound => StoreError::NotFound,
            e @ (sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::TypeNotFound { .. }) => StoreError::Corrupt(e.to_string()),
            e => StoreError::Database(e.to_string()),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::from_sqlx(e, "already exists")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// The panel's database. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Opens (and for SQLite creates) the database and applies pending migrations.
    ///
    /// Accepts `sqlite:///abs/path/garrison.db`, `sqlite://relative.db`, `sqlite:path`
    /// and `postgres://user:pass@host/db` (or `postgresql://`).
    pub async fn open(database_url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if database_url.starts_with("sqlite:") {
            (Backend::Sqlite, sqlite_url(database_url)?)
        } else if database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://")
        {
            (Backend::Postgres, database_url.to_owned())
        } else {
            // Do not echo the URL: it may hold a password.
            return Err(StoreError::Database(
                "unsupported database url: expected sqlite: or postgres://".into(),
            ));
        };

        let options = match backend {
            Backend::Sqlite => AnyPoolOptions::new()
                .max_connections(4)
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        // Also sqlx's defaults; set explicitly so they cannot drift.
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        Ok(())
                    })
                }),
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(30)),
        };
        let pool = options
            .connect(&url)
            .await
            .map_err(|e| StoreError::Database(format!("cannot open database: {e}")))?;

        if backend == Backend::Sqlite {
            // Persistent in the file; only needs setting once, before other connections
            // hold it open in another mode.
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL")
                .fetch_one(&pool)
                .await?;
            if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
                tracing::warn!(journal_mode = %mode, "sqlite refused WAL journal mode");
            }
        }

        let store = Store { pool, backend };
        migrate::run(&store).await?;
        Ok(store)
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// A consistent copy of the whole SQLite database in `path` (which must not exist),
    /// taken while the panel keeps running: `VACUUM INTO` reads one snapshot of the
    /// database in a single read transaction, like the online backup API, and writes a
    /// compact file. PostgreSQL is backed up with `pg_dump` instead (`Unsupported`).
    pub async fn snapshot_to(&self, path: &std::path::Path) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Unsupported(
                "the database is PostgreSQL: back it up with pg_dump (see docs/operations.md)"
                    .into(),
            ));
        }
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::Database("the snapshot path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Closes every connection; waits for checked-out connections to come back.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a write transaction: `BEGIN IMMEDIATE` on SQLite, `BEGIN` on PostgreSQL.
    async fn write_tx(&self) -> Result<Transaction<'static, Any>, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }
}

/// Normalizes a SQLite URL: create the file when missing (`mode=rwc` unless a mode is
/// given) and create its parent directory.
fn sqlite_url(url: &str) -> Result<String, StoreError> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty() || path == ":memory:" {
        return Ok(url.to_owned());
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            StoreError::Database(format!("cannot create {}: {e}", parent.display()))
        })?;
    }
    Ok(match query {
        Some(q) if q.split('&').any(|kv| kv.starts_with("mode=")) => url.to_owned(),
        Some(_) => format!("{url}&mode=rwc"),
        None => format!("{url}?mode=rwc"),
    })
}

// ---- row decoding helpers -----------------------------------------------------------

fn col<T>(row: &AnyRow, name: &str) -> Result<T, StoreError>
where
    T: for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get::<T, _>(name)
        .map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

fn col_bool(row: &AnyRow, name: &str) -> Result<bool, StoreError> {
    Ok(col::<i64>(row, name)? != 0)
}

fn col_json<T: serde::de::DeserializeOwned>(row: &AnyRow, name: &str) -> Result<T, StoreError> {
    let text: String = col(row, name)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

fn col_json_opt<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    name: &str,
) -> Result<Option<T>, StoreError> {
    match col::<Option<String>>(row, name)? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("column {name}: {e}"))),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Database(format!("encode json: {e}")))
}

fn bool_int(b: bool) -> i64 {
    i64::from(b)
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_create_the_file() {
        let dir = std::env::temp_dir().join(format!("garrison-url-{}", new_id()));
        let db = dir.join("sub/garrison.db");
        let url = format!("sqlite://{}", db.display());
        assert_eq!(sqlite_url(&url).unwrap(), format!("{url}?mode=rwc"));
        assert!(dir.join("sub").is_dir());
        let with_query = format!("{url}?cache=private");
        assert_eq!(
            sqlite_url(&with_query).unwrap(),
            format!("{with_query}&mode=rwc")
        );
        let ro = format!("{url}?mode=ro");
        assert_eq!(sqlite_url(&ro).unwrap(), ro);
        assert_eq!(sqlite_url("sqlite::memory:").unwrap(), "sqlite::memory:");
        assert_eq!(
            sqlite_url("sqlite://garrison.db").unwrap(),
            "sqlite://garrison.db?mode=rwc"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn errors_do_not_echo_urls() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt
            .block_on(Store::open("mysql://root:hunter2@localhost/db"))
            .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
