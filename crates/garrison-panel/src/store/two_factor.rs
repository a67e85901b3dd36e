//! Two-factor authentication: each user's TOTP secret (pending until confirmed), the
//! last accepted time step (replay protection) and hashed single-use recovery codes.

use super::{Store, StoreError, col, col_bool, now_millis};

/// A user's TOTP enrolment. Deliberately not `Serialize`: it carries the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwoFactor {
    pub user_id: String,
    /// Base32 (RFC 4648, no padding).
    pub secret: String,
    /// False while enrolment waits for the first code.
    pub enabled: bool,
    /// The last accepted TOTP time step; codes of this step or older are refused.
    pub last_step: Option<i64>,
    pub created_at: i64,
    pub enabled_at: Option<i64>,
}

impl Store {
    /// The user's enrolment, pending or enabled.
    pub async fn two_factor(&self, user_id: &str) -> Result<Option<TwoFactor>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, secret, enabled, last_step, created_at, enabled_at \
             FROM user_two_factor WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(TwoFactor {
                user_id: col(&row, "user_id")?,
                secret: col(&row, "secret")?,
                enabled: col_bool(&row, "enabled")?,
                last_step: col(&row, "last_step")?,
                created_at: col(&row, "created_at")?,
                enabled_at: col(&row, "enabled_at")?,
            })
        })
        .transpose()
    }

    /// Stores (or replaces) a pending, not yet enabled secret. `Conflict` when the user
    /// already has 2FA enabled, `NotFound` when the user does not exist.
    pub async fn put_pending_two_factor(
        &self,
        user_id: &str,
        secret: &str,
    ) -> Result<(), StoreError> {
        let res = sqlx::query(
            "INSERT INTO user_two_factor (user_id, secret, enabled, created_at) \
             VALUES ($1, $2, 0, $3) \
             ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, \
             created_at = excluded.created_at, last_step = NULL, enabled_at = NULL \
             WHERE user_two_factor.enabled = 0",
        )
        .bind(user_id)
        .bind(secret)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::Conflict(
                "two-factor authentication is already enabled".into(),
            ));
        }
        Ok(())
    }

    /// Enables the pending enrolment whose secret is `secret`, records `step` as the
    /// last accepted step and replaces the recovery codes with `code_hashes`, in one
    /// transaction. `Conflict` when 2FA is already enabled or the pending secret changed
    /// meanwhile, `NotFound` when nothing is pending.
    pub async fn enable_two_factor(
        &self,
        user_id: &str,
        secret: &str,
        step: i64,
        code_hashes: &[String],
    ) -> Result<(), StoreError> {
        let now = now_millis();
        let mut tx = self.write_tx().await?;
        let res = sqlx::query(
            "UPDATE user_two_factor SET enabled = 1, last_step = $3, enabled_at = $4 \
             WHERE user_id = $1 AND secret = $2 AND enabled = 0",
        )
        .bind(user_id)
        .bind(secret)
        .bind(step)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 0 {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT enabled FROM user_two_factor WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Err(match exists {
                None => StoreError::NotFound,
                Some(_) => StoreError::Conflict(
                    "two-factor authentication is already enabled or was set up again".into(),
                ),
            });
        }
        sqlx::query("DELETE FROM two_factor_recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for hash in code_hashes {
            sqlx::query(
                "INSERT INTO two_factor_recovery_codes (user_id, code_hash, created_at) \
                 VALUES ($1, $2, $3)",
            )
            .bind(user_id)
            .bind(hash)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_sqlx(e, "duplicate recovery code"))?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records `step` as used when it is newer than the last accepted step of an
    /// enabled enrolment. `false` means the code is a replay (or 2FA is not enabled).
    /// Atomic: of two concurrent uses of one code, only one succeeds.
    pub async fn accept_totp_step(&self, user_id: &str, step: i64) -> Result<bool, StoreError> {
        let res = sqlx::query(
            "UPDATE user_two_factor SET last_step = $2 \
             WHERE user_id = $1 AND enabled = 1 AND (last_step IS NULL OR last_step < $2)",
        )
        .bind(user_id)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Uses up a recovery code: `true` when it existed (it is now deleted).
    pub async fn use_recovery_code(
        &self,
        user_id: &str,
        code_hash: &str,
    ) -> Result<bool, StoreError> {
        let res = sqlx::query(
            "DELETE FROM two_factor_recovery_codes WHERE user_id = $1 AND code_hash = $2",
        )
        .bind(user_id)
        .bind(code_hash)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    pub async fn recovery_codes_left(&self, user_id: &str) -> Result<i64, StoreError> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM two_factor_recovery_codes WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(n)
    }

    /// Removes the secret (pending or enabled) and every recovery code. `true` when
    /// there was an enrolment.
    pub async fn disable_two_factor(&self, user_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM two_factor_recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let res = sqlx::query("DELETE FROM user_two_factor WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(res.rows_affected() > 0)
    }
}
