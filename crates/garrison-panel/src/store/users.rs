//! Users, sessions (stored as token hashes) and API keys (stored as SHA-256 hex).

use super::{
    Store, StoreError, bool_int, col, col_bool, col_json_opt, new_id, now_millis, to_json,
};
use serde::Serialize;
use sqlx::any::AnyRow;

/// How stale `api_keys.last_used_at` may get before a lookup rewrites it.
const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// A panel user. Deliberately not `Serialize`: it carries the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub created_at: i64,
    pub email: Option<String>,
    /// A disabled user cannot log in; their sessions and keys stop working.
    pub disabled: bool,
}

/// Changes to a user; `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub username: Option<String>,
    /// `Some(None)` clears the address.
    pub email: Option<Option<String>>,
    pub is_admin: Option<bool>,
    pub disabled: Option<bool>,
}

/// One login session, as its owner sees it. `id` is a prefix of the token's hash: enough
/// to name it, useless to use it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionInfo {
    pub id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_seen_at: Option<i64>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Sessions are named by this many hex characters of their hash.
const SESSION_ID_CHARS: usize = 16;

/// An API key's metadata; the key itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// What the key is narrowed to; `None` = everything its owner may do.
    pub permissions: Option<Vec<garrison_proto::Permission>>,
    /// Client addresses or CIDR ranges the key works from; `None` = anywhere.
    pub allowed_ips: Option<Vec<String>>,
    /// After this time (unix millis) the key no longer works.
    pub expires_at: Option<i64>,
}

/// The optional limits of a new API key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyLimits {
    pub permissions: Option<Vec<garrison_proto::Permission>>,
    pub allowed_ips: Option<Vec<String>>,
    pub expires_at: Option<i64>,
}

/// The user columns, aliased `u_*`, for queries that alias `users` as `u`.
macro_rules! user_cols {
    () => {
        "u.id AS u_id, u.username AS u_username, u.password_hash AS u_password_hash, \
         u.is_admin AS u_is_admin, u.created_at AS u_created_at, u.email AS u_email, \
         u.disabled AS u_disabled"
    };
}

/// The API key columns, aliased `k_*`, for queries that alias `api_keys` as `k`.
macro_rules! key_cols {
    () => {
        "k.id AS k_id, k.user_id AS k_user_id, k.name AS k_name, k.prefix AS k_prefix, \
         k.created_at AS k_created_at, k.last_used_at AS k_last_used_at, \
         k.permissions AS k_permissions, k.allowed_ips AS k_allowed_ips, k.expires_at AS k_expires_at"
    };
}

fn user_from_row(row: &AnyRow) -> Result<User, StoreError> {
    Ok(User {
        id: col(row, "u_id")?,
        username: col(row, "u_username")?,
        password_hash: col(row, "u_password_hash")?,
        is_admin: col_bool(row, "u_is_admin")?,
        created_at: col(row, "u_created_at")?,
        email: col(row, "u_email")?,
        disabled: col_bool(row, "u_disabled")?,
    })
}

fn api_key_from_row(row: &AnyRow) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: col(row, "k_id")?,
        user_id: col(row, "k_user_id")?,
        name: col(row, "k_name")?,
        prefix: col(row, "k_prefix")?,
        created_at: col(row, "k_created_at")?,
        last_used_at: col(row, "k_last_used_at")?,
        permissions: col_json_opt(row, "k_permissions")?,
        allowed_ips: col_json_opt(row, "k_allowed_ips")?,
        expires_at: col(row, "k_expires_at")?,
    })
}

impl Store {
    // ---- users ----------------------------------------------------------------------

    /// Creates a user with a fresh UUIDv7 id. `Conflict` when the username is taken
    /// (usernames compare exactly, case-sensitively).
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        is_admin: bool,
    ) -> Result<User, StoreError> {
        let user = User {
            id: new_id(),
            username: username.to_owned(),
            password_hash: password_hash.to_owned(),
            is_admin,
            created_at: now_millis(),
            email: None,
            disabled: false,
        };
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, is_admin, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(bool_int(user.is_admin))
        .bind(user.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_sqlx(e, "username already taken"))?;
        Ok(user)
    }

    pub async fn count_users(&self) -> Result<i64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users u WHERE u.username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Every user, oldest first.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users u ORDER BY u.created_at, u.id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users u WHERE u.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// `NotFound` when the user does not exist. Existing sessions are left alone; the
    /// caller decides whether to revoke them.
    pub async fn set_password_hash(&self, user_id: &str, hash: &str) -> Result<(), StoreError> {
        let res = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(user_id)
            .bind(hash)
            .execute(&self.pool)
            .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    // ---- sessions -------------------------------------------------------------------

    /// Stores a session by the hash of its token. `NotFound` if the user does not exist,
    /// `Conflict` if the hash is already used.
    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now_millis())
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_sqlx(e, "session already exists"))?;
        Ok(())
    }

    /// The session's user, or `None` when the session is unknown or `expires_at <= now`.
    pub async fn session_user(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<User>, StoreError> {
        self.session_user_idle(token_hash, now, None).await
    }

    /// Like `session_user`, and also `None` when the session was not used for
    /// `idle_ms`, or its user is disabled. Records the use (at most once a minute).
    pub async fn session_user_idle(
        &self,
        token_hash: &str,
        now: i64,
        idle_ms: Option<i64>,
    ) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            ", s.created_at AS s_created_at, s.last_seen_at AS s_last_seen_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled = 0"
        ))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let user = user_from_row(&row)?;
        let created: i64 = col(&row, "s_created_at")?;
        let seen: Option<i64> = col(&row, "s_last_seen_at")?;
        let last = seen.unwrap_or(created);
        if idle_ms.is_some_and(|idle| now.saturating_sub(last) >= idle) {
            return Ok(None);
        }
        if now.saturating_sub(last) >= LAST_USED_GRANULARITY_MS
            && let Err(e) =
                sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1")
                    .bind(token_hash)
                    .bind(now)
                    .execute(&self.pool)
                    .await
        {
            tracing::warn!(error = %e, "cannot record session use");
        }
        Ok(Some(user))
    }

    /// Record where a new session came from.
    pub async fn set_session_origin(
        &self,
        token_hash: &str,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET ip = $2, user_agent = $3 WHERE token_hash = $1")
            .bind(token_hash)
            .bind(ip)
            .bind(user_agent.map(|u| u.chars().take(256).collect::<String>()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The user's unexpired sessions, newest first.
    pub async fn list_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT token_hash, created_at, expires_at, last_seen_at, ip, user_agent FROM sessions \
             WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let hash: String = col(r, "token_hash")?;
                Ok(SessionInfo {
                    id: hash.chars().take(SESSION_ID_CHARS).collect(),
                    created_at: col(r, "created_at")?,
                    expires_at: col(r, "expires_at")?,
                    last_seen_at: col(r, "last_seen_at")?,
                    ip: col(r, "ip")?,
                    user_agent: col(r, "user_agent")?,
                })
            })
            .collect()
    }

    /// End one of the user's sessions by its listed id; `false` when there is none.
    pub async fn delete_session_by_id(&self, user_id: &str, id: &str) -> Result<bool, StoreError> {
        if id.len() != SESSION_ID_CHARS || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(false);
        }
        let res = sqlx::query(
            "DELETE FROM sessions WHERE user_id = $1 AND substr(token_hash, 1, 16) = $2",
        )
        .bind(user_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// End every session of the user but `keep` (the caller's own, when given).
    pub async fn delete_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&str>,
    ) -> Result<u64, StoreError> {
        let res = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
            .bind(user_id)
            .bind(keep.unwrap_or(""))
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected())
    }

    /// Apply `changes`; `NotFound` when the user does not exist, `Conflict` when the
    /// username or email is taken.
    pub async fn update_user(
        &self,
        user_id: &str,
        changes: &UserChanges,
    ) -> Result<User, StoreError> {
        let current = self
            .user_by_id(user_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let username = changes.username.clone().unwrap_or(current.username);
        let email = changes.email.clone().unwrap_or(current.email);
        let is_admin = changes.is_admin.unwrap_or(current.is_admin);
        let disabled = changes.disabled.unwrap_or(current.disabled);
        sqlx::query(
            "UPDATE users SET username = $2, email = $3, is_admin = $4, disabled = $5 WHERE id = $1",
        )
        .bind(user_id)
        .bind(&username)
        .bind(email.as_deref())
        .bind(bool_int(is_admin))
        .bind(bool_int(disabled))
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_sqlx(e, "that username or email is taken"))?;
        if disabled {
            self.delete_user_sessions(user_id, None).await?;
        }
        self.user_by_id(user_id).await?.ok_or(StoreError::NotFound)
    }

    /// Delete a user with their sessions, keys and subuser places; servers they owned
    /// keep running, owned by nobody (admins only).
    pub async fn delete_user(&self, user_id: &str) -> Result<bool, StoreError> {
        let res = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes sessions with `expires_at <= now`; returns how many.
    pub async fn delete_expired_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let res = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected())
    }

    // ---- API keys -------------------------------------------------------------------

    /// `NotFound` if the user does not exist, `Conflict` if the hash is already used.
    pub async fn create_api_key(
        &self,
        user_id: &str,
        name: &str,
        prefix: &str,
        key_hash: &str,
    ) -> Result<ApiKey, StoreError> {
        self.create_limited_api_key(user_id, name, prefix, key_hash, &KeyLimits::default())
            .await
    }

    /// A key narrowed to a permission subset, address ranges and an expiry.
    pub async fn create_limited_api_key(
        &self,
        user_id: &str,
        name: &str,
        prefix: &str,
        key_hash: &str,
        limits: &KeyLimits,
    ) -> Result<ApiKey, StoreError> {
        let key = ApiKey {
            id: new_id(),
            user_id: user_id.to_owned(),
            name: name.to_owned(),
            prefix: prefix.to_owned(),
            created_at: now_millis(),
            last_used_at: None,
            permissions: limits.permissions.clone(),
            allowed_ips: limits.allowed_ips.clone(),
            expires_at: limits.expires_at,
        };
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, created_at, permissions, \
             allowed_ips, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&key.id)
        .bind(&key.user_id)
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(key_hash)
        .bind(key.created_at)
        .bind(key.permissions.as_ref().map(to_json).transpose()?)
        .bind(key.allowed_ips.as_ref().map(to_json).transpose()?)
        .bind(key.expires_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_sqlx(e, "api key already exists"))?;
        Ok(key)
    }

    /// The user's keys, oldest first.
    pub async fn list_api_keys(&self, user_id: &str) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            key_cols!(),
            " FROM api_keys k WHERE k.user_id = $1 ORDER BY k.created_at, k.id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(api_key_from_row).collect()
    }

    /// Deletes one of the user's keys; `false` when no such key belongs to the user.
    pub async fn delete_api_key(&self, user_id: &str, key_id: &str) -> Result<bool, StoreError> {
        let res = sqlx::query("DELETE FROM api_keys WHERE id = $1 AND user_id = $2")
            .bind(key_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Looks a key up by hash and returns it with its user. Records `last_used_at = now`
    /// when the stored value is missing or more than a minute old (best effort: a
    /// failed update is logged, not returned).
    pub async fn api_key_user(
        &self,
        key_hash: &str,
        now: i64,
    ) -> Result<Option<(ApiKey, User)>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            key_cols!(),
            ", ",
            user_cols!(),
            " FROM api_keys k JOIN users u ON u.id = k.user_id \
             WHERE k.key_hash = $1 AND u.disabled = 0"
        ))
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut key = api_key_from_row(&row)?;
        let user = user_from_row(&row)?;
        if key.expires_at.is_some_and(|t| t <= now) {
            return Ok(None);
        }
        let stale = key
            .last_used_at
            .is_none_or(|t| now.saturating_sub(t) >= LAST_USED_GRANULARITY_MS);
        if stale {
            let res = sqlx::query(
                "UPDATE api_keys SET last_used_at = $2 \
                 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
            )
            .bind(&key.id)
            .bind(now)
            .execute(&self.pool)
            .await;
            match res {
                Ok(_) => key.last_used_at = Some(now),
                Err(e) => tracing::warn!(key = %key.id, error = %e, "cannot record api key use"),
            }
        }
        Ok(Some((key, user)))
    }
}
