//! Backups of servers: the panel's list (names, states, locks, digests). The archive
//! bytes live in the node's storage driver.

use super::{Store, StoreError, bool_int, col, col_bool, col_json, now_millis, to_json};
use garrison_proto::{
    BackupDigest, BackupLocation, BackupResult, CompressionKind, Integrity, ServerId, StorageKind,
};
use serde::Serialize;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupState {
    /// Being written; not usable yet.
    Creating,
    /// Complete: archive and manifest stored, digest known.
    Ready,
    Failed,
    Cancelled,
}

impl BackupState {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupState::Creating => "creating",
            BackupState::Ready => "ready",
            BackupState::Failed => "failed",
            BackupState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Option<BackupState> {
        Some(match s {
            "creating" => BackupState::Creating,
            "ready" => BackupState::Ready,
            "failed" => BackupState::Failed,
            "cancelled" => BackupState::Cancelled,
            _ => return None,
        })
    }
}

fn integrity_str(i: Integrity) -> &'static str {
    match i {
        Integrity::Ok => "ok",
        Integrity::Missing => "missing",
        Integrity::Corrupt => "corrupt",
    }
}

fn parse_integrity(s: &str) -> Option<Integrity> {
    Some(match s {
        "ok" => Integrity::Ok,
        "missing" => Integrity::Missing,
        "corrupt" => Integrity::Corrupt,
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupRecord {
    pub id: String,
    pub server_id: ServerId,
    pub name: String,
    pub state: BackupState,
    pub storage: StorageKind,
    pub compression: CompressionKind,
    pub ignore: Vec<String>,
    pub locked: bool,
    /// Archive bytes (set when ready).
    pub size: Option<u64>,
    pub sha256: Option<String>,
    #[serde(skip)]
    pub manifest_sha256: Option<String>,
    /// Entries archived.
    pub files: Option<u64>,
    /// Bytes of file contents archived.
    pub bytes: Option<u64>,
    /// The last check's outcome (`None`: never checked since it was made).
    pub integrity: Option<Integrity>,
    pub verified_at: Option<i64>,
    pub error: Option<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub completed_at: Option<i64>,
}

impl BackupRecord {
    pub fn location(&self) -> BackupLocation {
        BackupLocation {
            backup: self.id.clone(),
            storage: self.storage,
            compression: self.compression,
        }
    }

    /// The digest of a ready backup.
    pub fn digest(&self) -> Option<BackupDigest> {
        Some(BackupDigest {
            size: self.size?,
            sha256: self.sha256.clone()?,
            manifest_sha256: self.manifest_sha256.clone()?,
        })
    }
}

/// How much a server's backups take (ready and creating ones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BackupUsage {
    pub count: u64,
    pub bytes: u64,
}

macro_rules! select_backups {
    () => {
        "SELECT id, server_id, name, state, storage, compression, ignore_patterns, \
         locked, size, sha256, manifest_sha256, files, bytes, integrity, verified_at, error, \
         created_by, created_at, completed_at FROM backups"
    };
}

fn opt_u64(row: &AnyRow, name: &str) -> Result<Option<u64>, StoreError> {
    col::<Option<i64>>(row, name)?
        .map(|v| u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("column {name}: {v}"))))
        .transpose()
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn backup_from_row(row: &AnyRow) -> Result<BackupRecord, StoreError> {
    let state: String = col(row, "state")?;
    let storage: String = col(row, "storage")?;
    let compression: String = col(row, "compression")?;
    let integrity: Option<String> = col(row, "integrity")?;
    let bad = |c: &str, v: &str| StoreError::Corrupt(format!("column {c}: {v:?}"));
    Ok(BackupRecord {
        id: col(row, "id")?,
        server_id: ServerId(col(row, "server_id")?),
        name: col(row, "name")?,
        state: BackupState::parse(&state).ok_or_else(|| bad("state", &state))?,
        storage: StorageKind::parse(&storage).ok_or_else(|| bad("storage", &storage))?,
        compression: CompressionKind::parse(&compression)
            .ok_or_else(|| bad("compression", &compression))?,
        ignore: col_json(row, "ignore_patterns")?,
        locked: col_bool(row, "locked")?,
        size: opt_u64(row, "size")?,
        sha256: col(row, "sha256")?,
        manifest_sha256: col(row, "manifest_sha256")?,
        files: opt_u64(row, "files")?,
        bytes: opt_u64(row, "bytes")?,
        integrity: integrity
            .map(|i| parse_integrity(&i).ok_or_else(|| bad("integrity", &i)))
            .transpose()?,
        verified_at: col(row, "verified_at")?,
        error: col(row, "error")?,
        created_by: col(row, "created_by")?,
        created_at: col(row, "created_at")?,
        completed_at: col(row, "completed_at")?,
    })
}

impl Store {
    pub async fn insert_backup(&self, b: &BackupRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO backups (id, server_id, name, state, storage, compression, \
             ignore_patterns, locked, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&b.id)
        .bind(b.server_id.as_str())
        .bind(&b.name)
        .bind(b.state.as_str())
        .bind(b.storage.as_str())
        .bind(b.compression.as_str())
        .bind(to_json(&b.ignore)?)
        .bind(bool_int(b.locked))
        .bind(b.created_by.as_deref())
        .bind(b.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_sqlx(e, "a backup with this id already exists"))?;
        Ok(())
    }

    /// The server's backups, newest first.
    pub async fn list_backups(&self, server: &ServerId) -> Result<Vec<BackupRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            select_backups!(),
            " WHERE server_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(server.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(backup_from_row).collect()
    }

    /// Every backup in a state, oldest first (for checks across servers).
    pub async fn backups_in_state(
        &self,
        state: BackupState,
    ) -> Result<Vec<BackupRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            select_backups!(),
            " WHERE state = $1 ORDER BY created_at, id"
        ))
        .bind(state.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(backup_from_row).collect()
    }

    /// One backup of one server (`None` when the id belongs to no backup of it).
    pub async fn get_backup(
        &self,
        server: &ServerId,
        id: &str,
    ) -> Result<Option<BackupRecord>, StoreError> {
        let row = sqlx::query(concat!(
            select_backups!(),
            " WHERE server_id = $1 AND id = $2"
        ))
        .bind(server.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(backup_from_row).transpose()
    }

    /// A creating backup became ready. `false` when it was no longer creating (it was
    /// failed or deleted meanwhile).
    pub async fn finish_backup(&self, id: &str, r: &BackupResult) -> Result<bool, StoreError> {
        let res = sqlx::query(
            "UPDATE backups SET state = 'ready', storage = $2, compression = $3, size = $4, \
             sha256 = $5, manifest_sha256 = $6, files = $7, bytes = $8, completed_at = $9, \
             error = NULL WHERE id = $1 AND state = 'creating'",
        )
        .bind(id)
        .bind(r.storage.as_str())
        .bind(r.compression.as_str())
        .bind(to_i64(r.digest.size))
        .bind(&r.digest.sha256)
        .bind(&r.digest.manifest_sha256)
        .bind(to_i64(r.files))
        .bind(to_i64(r.bytes))
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// A creating backup ended without an archive (`Failed` or `Cancelled`).
    pub async fn end_backup(
        &self,
        id: &str,
        state: BackupState,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let res = sqlx::query(
            "UPDATE backups SET state = $2, error = $3, completed_at = $4 \
             WHERE id = $1 AND state = 'creating'",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(error)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// The storage the node really used (it may override the panel's choice).
    pub async fn set_backup_storage(
        &self,
        id: &str,
        storage: StorageKind,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE backups SET storage = $2 WHERE id = $1")
            .bind(id)
            .bind(storage.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_backup_locked(&self, id: &str, locked: bool) -> Result<(), StoreError> {
        sqlx::query("UPDATE backups SET locked = $2 WHERE id = $1")
            .bind(id)
            .bind(bool_int(locked))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_backup_integrity(
        &self,
        id: &str,
        integrity: Integrity,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE backups SET integrity = $2, verified_at = $3 WHERE id = $1")
            .bind(id)
            .bind(integrity_str(integrity))
            .bind(now_millis())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `false` when there was no such backup.
    pub async fn delete_backup_row(&self, id: &str) -> Result<bool, StoreError> {
        let res = sqlx::query("DELETE FROM backups WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Count and archive bytes (PostgreSQL's SUM of BIGINT is NUMERIC, hence the cast) of the server's ready and creating backups.
    pub async fn backup_usage(&self, server: &ServerId) -> Result<BackupUsage, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes FROM backups \
             WHERE server_id = $1 AND state IN ('ready', 'creating')",
        )
        .bind(server.as_str())
        .fetch_one(&self.pool)
        .await?;
        let n: i64 = col(&row, "n")?;
        let bytes: i64 = col(&row, "bytes")?;
        Ok(BackupUsage {
            count: u64::try_from(n).unwrap_or(0),
            bytes: u64::try_from(bytes).unwrap_or(0),
        })
    }

    /// Backups still `creating` when Garrison starts were cut short: they become
    /// failed, and are returned so their leftovers can be removed from storage.
    pub async fn fail_interrupted_backups(&self) -> Result<Vec<BackupRecord>, StoreError> {
        let rows = self.backups_in_state(BackupState::Creating).await?;
        for b in &rows {
            self.end_backup(
                &b.id,
                BackupState::Failed,
                Some("interrupted: Garrison stopped during the backup"),
            )
            .await?;
        }
        Ok(rows)
    }
}
