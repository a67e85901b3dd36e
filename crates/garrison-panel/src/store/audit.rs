//! The audit log (who changed what, from where, how they signed in, on which server)
//! and panel-wide settings.
//!
//! Entries are append-only and ordered by `seq`, the table's auto-increment key: "newest
//! first" means highest `seq` first, and pages are cut with `seq` as a keyset cursor, so
//! paging never skips nor repeats an entry while new ones are written.

use super::{Store, StoreError, col, col_json, new_id, now_millis, to_json};
use serde::Serialize;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Position in the log; the pagination cursor.
    pub seq: i64,
    pub id: String,
    pub at: i64,
    pub user_id: Option<String>,
    /// The actor's current username; `None` for system entries and deleted users.
    pub username: Option<String>,
    /// How the actor signed in: `"session"`, `"key:<api key id>"`, `"ticket"`; `None`
    /// for actions Garrison took by itself.
    pub via: Option<String>,
    pub ip: Option<String>,
    /// The server the action concerned (kept after the server is deleted).
    pub server_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub detail: serde_json::Value,
}

/// A new entry for [`Store::audit_entry`].
#[derive(Debug, Clone, Copy)]
pub struct NewAudit<'a> {
    pub user_id: Option<&'a str>,
    pub via: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub server_id: Option<&'a str>,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub detail: &'a serde_json::Value,
}

/// Filters for [`Store::query_audit`]; all optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    pub user_id: Option<String>,
    /// Plain, case-sensitive prefix of the action: `server.power` matches
    /// `server.power.start`.
    pub action_prefix: Option<String>,
    pub server_id: Option<String>,
    /// `at >= from` (unix millis).
    pub from: Option<i64>,
    /// `at < to` (unix millis).
    pub to: Option<i64>,
    /// Only entries older than this cursor (`seq < before`).
    pub before: Option<i64>,
    /// Page size; clamped to at least 0.
    pub limit: i64,
}

/// One page, newest first. `next` is the cursor for the following page (the `seq` of
/// the last entry), `None` when this page is the last.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next: Option<i64>,
}

#[derive(Clone)]
enum Bind {
    Text(String),
    Int(i64),
}

fn entry_from_row(row: &AnyRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        seq: col(row, "seq")?,
        id: col(row, "id")?,
        at: col(row, "at")?,
        user_id: col(row, "user_id")?,
        username: col(row, "username")?,
        via: col(row, "via")?,
        ip: col(row, "ip")?,
        server_id: col(row, "server_id")?,
        action: col(row, "action")?,
        target: col(row, "target")?,
        detail: col_json(row, "detail")?,
    })
}

impl Store {
    /// Appends an audit entry stamped with [`now_millis`](super::now_millis), without a
    /// `via`. Kept for existing callers; new code uses [`Store::audit_entry`] (or the
    /// panel's `crate::audit::record`).
    ///
    /// When `action` starts with `server.`, `target` is taken as the server's id and also
    /// stored as the entry's `server_id`, so the entry shows in that server's activity.
    pub async fn audit(
        &self,
        user_id: Option<&str>,
        action: &str,
        target: Option<&str>,
        ip: Option<&str>,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let server_id = if action.starts_with("server.") {
            target
        } else {
            None
        };
        self.audit_entry(&NewAudit {
            user_id,
            via: None,
            ip,
            server_id,
            action,
            target,
            detail,
        })
        .await
    }

    /// Appends an audit entry stamped with [`now_millis`](super::now_millis).
    pub async fn audit_entry(&self, e: &NewAudit<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (id, at, user_id, via, ip, server_id, action, target, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(new_id())
        .bind(now_millis())
        .bind(e.user_id)
        .bind(e.via)
        .bind(e.ip)
        .bind(e.server_id)
        .bind(e.action)
        .bind(e.target)
        .bind(to_json(e.detail)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The latest `limit` entries, newest (last written) first.
    pub async fn list_audit(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let page = self
            .query_audit(&AuditQuery {
                limit,
                ..AuditQuery::default()
            })
            .await?;
        Ok(page.entries)
    }

    /// One page of entries matching `q`, newest first.
    pub async fn query_audit(&self, q: &AuditQuery) -> Result<AuditPage, StoreError> {
        let limit = q.limit.max(0);
        let mut binds = Vec::new();
        let mut conds = Vec::new();
        // Each `?` in `cond` becomes its own placeholder bound to `bind`.
        let mut add = |cond: &str, bind: Bind| {
            let mut text = String::new();
            for (i, part) in cond.split('?').enumerate() {
                if i > 0 {
                    binds.push(bind.clone());
                    text.push_str(&format!("${}", binds.len()));
                }
                text.push_str(part);
            }
            conds.push(text);
        };
        if let Some(u) = &q.user_id {
            add("a.user_id = ?", Bind::Text(u.clone()));
        }
        if let Some(s) = &q.server_id {
            add("a.server_id = ?", Bind::Text(s.clone()));
        }
        if let Some(prefix) = &q.action_prefix {
            // substr/length count characters on both backends; unlike LIKE this has no
            // wildcards to escape and is case-sensitive on SQLite too.
            add(
                "substr(a.action, 1, length(?)) = ?",
                Bind::Text(prefix.clone()),
            );
        }
        if let Some(from) = q.from {
            add("a.at >= ?", Bind::Int(from));
        }
        if let Some(to) = q.to {
            add("a.at < ?", Bind::Int(to));
        }
        if let Some(before) = q.before {
            add("a.seq < ?", Bind::Int(before));
        }
        let filter = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        // One extra row says whether another page follows.
        binds.push(Bind::Int(limit.saturating_add(1)));
        let sql = format!(
            "SELECT a.seq, a.id, a.at, a.user_id, u.username, a.via, a.ip, a.server_id, \
             a.action, a.target, a.detail \
             FROM audit_log a LEFT JOIN users u ON u.id = a.user_id \
             {filter} ORDER BY a.seq DESC LIMIT ${}",
            binds.len()
        );
        // Only placeholders and fixed text are formatted in; every value is bound.
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for b in binds {
            query = match b {
                Bind::Text(s) => query.bind(s),
                Bind::Int(i) => query.bind(i),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut entries = rows
            .iter()
            .map(entry_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let more = entries.len() as i64 > limit;
        entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next = if more {
            entries.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(AuditPage { entries, next })
    }

    pub async fn get_setting(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| col_json(r, "value")).transpose()
    }

    /// Inserts or replaces the setting.
    pub async fn put_setting(
        &self,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(to_json(value)?)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
