//! The audit log (who changed what, from where) and panel-wide settings.

use super::{Store, StoreError, col, col_json, new_id, now_millis, to_json};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: i64,
    pub user_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub detail: serde_json::Value,
}

impl Store {
    /// Appends an audit entry stamped with [`now_millis`](super::now_millis).
    pub async fn audit(
        &self,
        user_id: Option<&str>,
        action: &str,
        target: Option<&str>,
        ip: Option<&str>,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (id, at, user_id, action, target, ip, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new_id())
        .bind(now_millis())
        .bind(user_id)
        .bind(action)
        .bind(target)
        .bind(ip)
        .bind(to_json(detail)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The latest `limit` entries, newest (last written) first.
    pub async fn list_audit(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, user_id, action, target, ip, detail FROM audit_log \
             ORDER BY seq DESC LIMIT $1",
        )
        .bind(limit.max(0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    id: col(row, "id")?,
                    at: col(row, "at")?,
                    user_id: col(row, "user_id")?,
                    action: col(row, "action")?,
                    target: col(row, "target")?,
                    ip: col(row, "ip")?,
                    detail: col_json(row, "detail")?,
                })
            })
            .collect()
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
