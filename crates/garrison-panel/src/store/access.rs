//! Subusers: users given a set of permissions on one server by its owner or an admin.

use super::{Store, StoreError, col, col_json, now_millis, to_json};
use garrison_proto::{Permission, ServerId};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subuser {
    pub user_id: String,
    pub username: String,
    pub permissions: Vec<Permission>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Store {
    /// The permissions `user_id` was given on `server`, or `None` when not a subuser.
    pub async fn subuser_permissions(
        &self,
        server: &ServerId,
        user_id: &str,
    ) -> Result<Option<Vec<Permission>>, StoreError> {
        let row = sqlx::query(
            "SELECT permissions FROM server_subusers WHERE server_id = $1 AND user_id = $2",
        )
        .bind(server.as_str())
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(|r| col_json(r, "permissions")).transpose()
    }

    /// The server's subusers, oldest first.
    pub async fn list_subusers(&self, server: &ServerId) -> Result<Vec<Subuser>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.user_id, u.username, s.permissions, s.created_at, s.updated_at \
             FROM server_subusers s JOIN users u ON u.id = s.user_id \
             WHERE s.server_id = $1 ORDER BY s.created_at, u.username",
        )
        .bind(server.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Subuser {
                    user_id: col(r, "user_id")?,
                    username: col(r, "username")?,
                    permissions: col_json(r, "permissions")?,
                    created_at: col(r, "created_at")?,
                    updated_at: col(r, "updated_at")?,
                })
            })
            .collect()
    }

    /// Add a subuser; `Conflict` when the user already is one.
    pub async fn add_subuser(
        &self,
        server: &ServerId,
        user_id: &str,
        permissions: &[Permission],
    ) -> Result<(), StoreError> {
        let now = now_millis();
        sqlx::query(
            "INSERT INTO server_subusers (server_id, user_id, permissions, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(server.as_str())
        .bind(user_id)
        .bind(to_json(&permissions)?)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_sqlx(e, "that user is already a subuser of this server"))?;
        Ok(())
    }

    /// Replace a subuser's permissions; `false` when the user is not a subuser.
    pub async fn set_subuser_permissions(
        &self,
        server: &ServerId,
        user_id: &str,
        permissions: &[Permission],
    ) -> Result<bool, StoreError> {
        let res = sqlx::query(
            "UPDATE server_subusers SET permissions = $3, updated_at = $4 \
             WHERE server_id = $1 AND user_id = $2",
        )
        .bind(server.as_str())
        .bind(user_id)
        .bind(to_json(&permissions)?)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    pub async fn remove_subuser(
        &self,
        server: &ServerId,
        user_id: &str,
    ) -> Result<bool, StoreError> {
        let res = sqlx::query("DELETE FROM server_subusers WHERE server_id = $1 AND user_id = $2")
            .bind(server.as_str())
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }
}
