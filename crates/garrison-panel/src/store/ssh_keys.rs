//! Users' SSH public keys (for SFTP sign-in).

use super::{Store, StoreError, col, new_id, now_millis};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SshKey {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub key_type: String,
    /// The key line as given (type, base64 blob, comment).
    pub public_key: String,
    /// `SHA256:` + unpadded base64 of the blob's SHA-256, as `ssh-keygen -l` prints.
    pub fingerprint: String,
    pub created_at: i64,
}

impl Store {
    /// `Conflict` when the user already has a key with this fingerprint.
    pub async fn add_ssh_key(
        &self,
        user_id: &str,
        name: &str,
        key_type: &str,
        public_key: &str,
        fingerprint: &str,
    ) -> Result<SshKey, StoreError> {
        let key = SshKey {
            id: new_id(),
            user_id: user_id.to_owned(),
            name: name.to_owned(),
            key_type: key_type.to_owned(),
            public_key: public_key.to_owned(),
            fingerprint: fingerprint.to_owned(),
            created_at: now_millis(),
        };
        sqlx::query(
            "INSERT INTO ssh_keys (id, user_id, name, key_type, public_key, fingerprint, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&key.id)
        .bind(&key.user_id)
        .bind(&key.name)
        .bind(&key.key_type)
        .bind(&key.public_key)
        .bind(&key.fingerprint)
        .bind(key.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_sqlx(e, "that key was already added"))?;
        Ok(key)
    }

    /// The user's keys, oldest first.
    pub async fn list_ssh_keys(&self, user_id: &str) -> Result<Vec<SshKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_id, name, key_type, public_key, fingerprint, created_at FROM ssh_keys \
             WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SshKey {
                    id: col(r, "id")?,
                    user_id: col(r, "user_id")?,
                    name: col(r, "name")?,
                    key_type: col(r, "key_type")?,
                    public_key: col(r, "public_key")?,
                    fingerprint: col(r, "fingerprint")?,
                    created_at: col(r, "created_at")?,
                })
            })
            .collect()
    }

    /// `false` when the user has no such key.
    pub async fn delete_ssh_key(&self, user_id: &str, id: &str) -> Result<bool, StoreError> {
        let res = sqlx::query("DELETE FROM ssh_keys WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }
}
