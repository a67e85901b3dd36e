//! A server's backups: list, create (with limits, rotation and a rate limit), get,
//! download, manifest, lock/unlock, cancel, delete, verify and restore. The panel keeps
//! the list; the node writes, checks and reads the archives (`NodeBackups`).
//! `server.backup` events from the node are recorded here too ([`record_event`]).

use crate::AppState;
use crate::api::files::{self, download_response, range_start, server};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::ratelimit::ClientIp;
use crate::store::{
    BackupRecord, BackupState, InstallState, RestoreStatus, ServerRecord, StoreError, now_millis,
};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use garrison_proto::{
    BackupError, BackupErrorKind, BackupEvent, BackupOp, BackupRequest, BackupStage,
    CompressionKind, Integrity, Permission, RestoreRequest, ServerId, ServerState,
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

const MAX_NAME: usize = 100;
const MAX_IGNORE_LINES: usize = 200;
const MAX_IGNORE_LINE: usize = 1024;
const MAX_RESTORE_PATHS: usize = 1000;
const MIB: u64 = 1024 * 1024;

/// What the panel knows of running backups and restores besides the store: their last
/// progress (for the list), which ones rotate when they finish, and when each server
/// last started one (the creation rate limit). In memory: after a restart nothing runs.
#[derive(Default)]
pub struct Live {
    progress: Mutex<HashMap<String, Value>>,
    rotate: Mutex<HashSet<String>>,
    last_start: Mutex<HashMap<ServerId, Instant>>,
}

impl Live {
    fn progress_of(&self, backup: &str) -> Option<Value> {
        lock(&self.progress).get(backup).cloned()
    }

    fn forget(&self, backup: &str) {
        lock(&self.progress).remove(backup);
    }
}

/// Lock a std mutex, ignoring poisoning (every critical section here leaves the map
/// consistent).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn backup(state: &AppState, r: &ServerRecord, backup: &str) -> ApiResult<BackupRecord> {
    state
        .store
        .get_backup(&r.id, backup)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("backup {backup}")))
}

async fn audit(
    state: &AppState,
    p: &Principal,
    ip: &ClientIp,
    action: &str,
    b: &BackupRecord,
    detail: Value,
) -> ApiResult<()> {
    files::audit(state, p, ip, action, &b.server_id, &b.id, detail).await
}

/// A backup as the API shows it: the stored record plus live progress while it runs.
fn view(state: &AppState, b: &BackupRecord) -> Value {
    let mut v = json!(b);
    v["progress"] = match b.state {
        BackupState::Creating => state.backups.progress_of(&b.id).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    v
}

/// The server's limits, falling back to the panel's defaults.
struct Limits {
    max_count: Option<u64>,
    max_bytes: Option<u64>,
}

fn limits(state: &AppState, r: &ServerRecord) -> Limits {
    let d = &state.config.backups;
    Limits {
        max_count: r.limits.backups.or(d.max_count).map(u64::from),
        max_bytes: r
            .limits
            .backup_mb
            .map(|mb| mb.saturating_mul(MIB))
            .or(d.max_bytes),
    }
}

/// Permission: backup.read
#[utoipa::path(get, path = "/api/servers/{id}/backups", tag = "backups", summary = "List backups", description = "The server's backups, newest first, with live progress of a running one, and the server's backup limits (`null`: none) and what its backups take.", params(("id" = String, Path, description = "Server id")), responses((status = 200, description = "Backups and limits", body = crate::api::openapi::shapes::BackupList)))]
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::BackupRead).await?;
    let backups = state.store.list_backups(&r.id).await?;
    let usage = state.store.backup_usage(&r.id).await?;
    let l = limits(&state, &r);
    Ok(Json(json!({
        "backups": backups.iter().map(|b| view(&state, b)).collect::<Vec<_>>(),
        "limits": {
            "max_count": l.max_count,
            "max_bytes": l.max_bytes,
            "count": usage.count,
            "bytes": usage.bytes,
        },
    })))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBackup {
    /// Up to 100 characters; default "Backup <date and time, UTC>".
    #[serde(default)]
    pub name: Option<String>,
    /// gitignore-syntax lines of paths to leave out, on top of the server's own
    /// `.garrisonignore`.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// A locked backup is never rotated away nor deleted until unlocked.
    #[serde(default)]
    pub locked: bool,
    /// At the server's limit, remove the oldest unlocked backup once this one
    /// succeeds (instead of refusing). Scheduled backups do this.
    #[serde(default)]
    pub rotate: bool,
}

fn check_create(req: &CreateBackup) -> ApiResult<(String, Vec<String>)> {
    let name = match req.name.as_deref().map(str::trim) {
        None | Some("") => format!("Backup {}", utc_text(now_millis())),
        Some(n) if n.chars().count() > MAX_NAME || n.chars().any(char::is_control) => {
            return Err(ApiError::invalid(
                "name",
                format!(
                    "the name must be at most {MAX_NAME} characters, without control characters"
                ),
            ));
        }
        Some(n) => n.to_owned(),
    };
    if req.ignore.len() > MAX_IGNORE_LINES {
        return Err(ApiError::invalid(
            "ignore",
            format!("at most {MAX_IGNORE_LINES} ignore patterns"),
        ));
    }
    let mut ignore = Vec::new();
    for (i, line) in req.ignore.iter().enumerate() {
        if line.len() > MAX_IGNORE_LINE || line.contains(['\n', '\r', '\0']) {
            return Err(ApiError::invalid(
                format!("ignore.{i}"),
                format!("each ignore pattern is one line of at most {MAX_IGNORE_LINE} bytes"),
            ));
        }
        let line = line.trim_end();
        if !line.is_empty() {
            ignore.push(line.to_owned());
        }
    }
    Ok((name, ignore))
}

/// Start a backup of `r` (the API's create, and schedules later). Checks the limits
/// and the rate limit, records the backup as creating, then asks the node.
pub async fn start_backup(
    state: &AppState,
    r: &ServerRecord,
    created_by: Option<&str>,
    req: &CreateBackup,
) -> ApiResult<BackupRecord> {
    let (name, ignore) = check_create(req)?;
    let l = limits(state, r);
    if l.max_count == Some(0) {
        return Err(ApiError::Refused {
            code: "backup_limit_reached",
            message: "backups are turned off for this server".into(),
        });
    }
    let usage = state.store.backup_usage(&r.id).await?;
    let full = l.max_count.is_some_and(|m| usage.count >= m)
        || l.max_bytes.is_some_and(|m| usage.bytes >= m);
    if full {
        let rotatable = state
            .store
            .list_backups(&r.id)
            .await?
            .iter()
            .any(|b| b.state == BackupState::Ready && !b.locked);
        if !req.rotate || !rotatable {
            let why = if req.rotate {
                "every backup at the limit is locked; unlock or delete one"
            } else {
                "delete a backup first (or ask for rotation)"
            };
            return Err(ApiError::Refused {
                code: "backup_limit_reached",
                message: format!(
                    "the server has {} backups taking {} bytes, its limit: {why}",
                    usage.count, usage.bytes
                ),
            });
        }
    }
    let interval = state.config.backups.min_interval;
    if !interval.is_zero() {
        let mut last = lock(&state.backups.last_start);
        let now = Instant::now();
        if let Some(t) = last.get(&r.id) {
            let since = now.duration_since(*t);
            if since < interval {
                let wait = (interval - since).as_secs_f64().ceil() as u64;
                return Err(ApiError::TooManyRequests {
                    retry_after_secs: wait.max(1),
                });
            }
        }
        last.insert(r.id.clone(), now);
    }
    let settings = &state.config.backups;
    let record = BackupRecord {
        id: uuid::Uuid::now_v7().to_string(),
        server_id: r.id.clone(),
        name,
        state: BackupState::Creating,
        storage: settings.storage,
        compression: settings.compression.kind,
        ignore: ignore.clone(),
        locked: req.locked,
        size: None,
        sha256: None,
        manifest_sha256: None,
        files: None,
        bytes: None,
        integrity: None,
        verified_at: None,
        error: None,
        created_by: created_by.map(str::to_owned),
        created_at: now_millis(),
        completed_at: None,
    };
    state.store.insert_backup(&record).await?;
    if req.rotate {
        lock(&state.backups.rotate).insert(record.id.clone());
    }
    let ask = BackupRequest {
        backup: record.id.clone(),
        ignore,
        compression: settings.compression,
        rate_limit_bytes_per_sec: settings.rate_limit_bytes_per_sec,
        storage: settings.storage,
    };
    if let Err(e) = state.node.create_backup(&r.id, ask).await {
        // Nothing half-made: the node did not start it, so the record goes.
        lock(&state.backups.rotate).remove(&record.id);
        lock(&state.backups.last_start).remove(&r.id);
        state.store.delete_backup_row(&record.id).await?;
        return Err(e.into());
    }
    Ok(record)
}

/// Permission: backup.create
#[utoipa::path(post, path = "/api/servers/{id}/backups", tag = "backups", summary = "Create a backup", description = "Starts a backup of the server's files (running or not); answers at once with the backup in state `creating`. Progress arrives as `server.backup` events. 409 `backup_in_progress` while another backup or restore runs, 409 `backup_limit_reached` at the server's limit (unless `rotate`), 429 when the server started one too recently.", params(("id" = String, Path, description = "Server id")), request_body = CreateBackup, responses((status = 202, description = "The backup, being made", body = crate::api::openapi::shapes::Backup)))]
pub async fn create(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
    body: Option<ApiJson<CreateBackup>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let r = server(&state, &p, &id, Permission::BackupCreate).await?;
    let req = body.map(|ApiJson(b)| b).unwrap_or_default();
    let b = start_backup(&state, &r, Some(&p.user.id), &req).await?;
    audit(
        &state,
        &p,
        &ip,
        "backup.create",
        &b,
        json!({"name": b.name, "locked": b.locked, "rotate": req.rotate}),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(view(&state, &b))))
}

/// Permission: backup.read
#[utoipa::path(get, path = "/api/servers/{id}/backups/{backup}", tag = "backups", summary = "Get a backup", params(("id" = String, Path, description = "Server id"), ("backup" = String, Path, description = "Backup id")), responses((status = 200, description = "The backup", body = crate::api::openapi::shapes::Backup)))]
pub async fn get(
    State(state): State<AppState>,
    p: Principal,
    Path((id, bid)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::BackupRead).await?;
    let b = backup(&state, &r, &bid).await?;
    Ok(Json(view(&state, &b)))
}

fn require_ready(b: &BackupRecord) -> ApiResult<garrison_proto::BackupDigest> {
    match (b.state, b.digest()) {
        (BackupState::Ready, Some(d)) => Ok(d),
        _ => Err(ApiError::Refused {
            code: "backup_not_ready",
            message: format!("the backup is {}, not ready", b.state.as_str()),
        }),
    }
}

/// Permission: backup.download
#[utoipa::path(get, path = "/api/servers/{id}/backups/{backup}/download", tag = "backups", summary = "Download a backup", description = "The archive (tar + zstd, or tar + gzip), streamed. `Range: bytes=N-` resumes (206).", params(("id" = String, Path, description = "Server id"), ("backup" = String, Path, description = "Backup id")), responses((status = 200, description = "The archive", content_type = "application/octet-stream"), (status = 206, description = "The rest of the archive from the range's start")))]
pub async fn download(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path((id, bid)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let r = server(&state, &p, &id, Permission::BackupDownload).await?;
    let b = backup(&state, &r, &bid).await?;
    require_ready(&b)?;
    let offset = range_start(&headers)?;
    let mut d = state
        .node
        .download_backup(&r.id, &b.location(), offset)
        .await?;
    d.name = download_name(&r, &b);
    if offset == 0 {
        audit(&state, &p, &ip, "backup.download", &b, json!({})).await?;
    }
    let mime = match b.compression {
        CompressionKind::Zstd => "application/zstd",
        CompressionKind::Gzip => "application/gzip",
    };
    Ok(download_response(d, offset, mime))
}

/// `<server name>-<YYYY-MM-DD_HH-MM>.tar.zst`, with only safe characters.
fn download_name(r: &ServerRecord, b: &BackupRecord) -> String {
    let base: String = r
        .name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    let when = utc_text(b.created_at).replace([' ', ':'], "_");
    format!("{base}-{when}.{}", b.compression.extension())
}

/// Permission: backup.read
#[utoipa::path(get, path = "/api/servers/{id}/backups/{backup}/manifest", tag = "backups", summary = "What a backup holds", description = "Every entry of the backup (path, kind, size, mode, modification time, SHA-256 of files, link targets), checked against the digest recorded when it was made.", params(("id" = String, Path, description = "Server id"), ("backup" = String, Path, description = "Backup id")), responses((status = 200, description = "The entries", body = crate::api::openapi::shapes::BackupManifest)))]
pub async fn manifest(
    State(state): State<AppState>,
    p: Principal,
    Path((id, bid)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::BackupRead).await?;
    let b = backup(&state, &r, &bid).await?;
    let digest = require_ready(&b)?;
    let m = state
        .node
        .backup_manifest(&r.id, &b.location(), &digest)
        .await?;
    Ok(Json(json!({"entries": m.entries})))
}

async fn set_lock(
    state: AppState,
    ip: ClientIp,
    p: Principal,
    id: String,
    bid: String,
    locked: bool,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::BackupDelete).await?;
    let mut b = backup(&state, &r, &bid).await?;
    state.store.set_backup_locked(&b.id, locked).await?;
    b.locked = locked;
    let action = if locked {
        "backup.lock"
    } else {
        "backup.unlock"
    };
    audit(&state, &p, &ip, action, &b, json!({})).await?;
    Ok(Json(view(&state, &b)))
}

/// Permission: backup.delete
#[utoipa::path(post, path = "/api/servers/{id}/backups/{backup}/lock", tag = "backups", summary = "Lock a backup", description = "A locked backup is never rotated away nor deleted until it is unlocked.", params(("id" = String, Path, description = "Server id"), ("backup" = String, Path, description = "Backup id")), responses((status = 200, description = "The backup", body = crate::api::openapi::shapes::Backup)))]
pub async fn lock_backup(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path((id, bid)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    set_lock(state, ip, p, id, bid, true).await
}

/// Permission: backup.delete
#[utoipa::path(post, path = "/api/servers/{id}/backups/{backup}/unlock", tag = "backups", summary = "Unlock a backup", params(("id" = String, Path, description = "Server id"), ("backup" = String, Path, description = "Backup id")), responses((status = 200, description = "The backup", body = crate::api::openapi::shapes::Backup)))]
pub async fn unlock_backup(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path((id, bid)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    set_lock(state, ip, p, id, bid, false).await
}

/// Permission: backup.create
#[utoipa::path(post, path = "/api/servers/{id}/backups/{backup}/cancel", tag = "backups", summary = "Cancel a running backup or restore", description = "A backup being made ends `cancelled` and leaves nothing in storage; a restore of this backup that has not swapped the files in yet ends `cancelled` with the server's files as they were. 409 `backup_not_running` when neither runs.", params(("id" = String, Path, description = "Server id"), ("backup" = String, Path, description = "Backup id")), responses((status = 204, description = "Cancelling")))]
pub async fn cancel(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path((id, bid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let r = server(&state, &p, &id, Permission::BackupCreate).await?;
    let b = backup(&state, &r, &bid).await?;
    let restoring = r
        .restore
        .as_ref()
        .is_some_and(|s| s.state == InstallState::Running && s.backup == b.id);
    if b.state != BackupState::Creating && !restoring {
        return Err(ApiError::Backup(BackupError::new(
            BackupErrorKind::NotRunning,
            format!(
                "the backup is {}, neither being made nor being restored",
                b.state.as_str()
            ),
        )));
    }
    state.node.cancel_backup(&r.id, &b.id).await?;
    audit(&state, &p, &ip, "backup.cancel", &b, json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Permission: backup.delete
#[utoipa::path(delete, path = "/api/servers/{id}/backups/{backup}", tag = "backups", summary = "Delete a backup", description = "Removes the archive from storage and the backup from the list. 409 `backup_locked` for a locked backup, 409 `backup_in_progress` while it is being made (cancel it instead).", params(("id" = String, Path, description = "Server id"), ("backup" = String, Path, description = "Backup id")), responses((status = 204, description = "Deleted")))]
pub async fn remove(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path((id, bid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let r = server(&state, &p, &id, Permission::BackupDelete).await?;
    let b = backup(&state, &r, &bid).await?;
    if b.locked {
        return Err(ApiError::Refused {
            code: "backup_locked",
            message: "the backup is locked; unlock it first".into(),
        });
    }
    if b.state == BackupState::Creating {
        return Err(ApiError::Backup(BackupError::new(
            BackupErrorKind::Busy,
            "the backup is still being made; cancel it instead",
        )));
    }
    delete_everywhere(&state, &b).await?;
    audit(
        &state,
        &p,
        &ip,
        "backup.delete",
        &b,
        json!({"name": b.name}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Storage first, then the list: a backup the node could not delete stays listed.
async fn delete_everywhere(state: &AppState, b: &BackupRecord) -> ApiResult<()> {
    state
        .node
        .delete_backup(&b.server_id, &b.location())
        .await?;
    state.store.delete_backup_row(&b.id).await?;
    Ok(())
}

/// Remove every backup of a server that is being deleted (storage, then rows).
/// Failures are logged: the server goes anyway.
pub async fn delete_all(state: &AppState, server: &ServerId) {
    let backups = match state.store.list_backups(server).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(%server, error = %e, "cannot list the backups of a deleted server");
            return;
        }
    };
    for b in backups {
        if b.state == BackupState::Creating {
            let _ = state.node.cancel_backup(server, &b.id).await;
        }
        if let Err(e) = state.node.delete_backup(server, &b.location()).await {
            tracing::warn!(%server, backup = %b.id, error = %e, "could not delete a backup of a deleted server");
        }
    }
}

/// Permission: backup.read
#[utoipa::path(post, path = "/api/servers/{id}/backups/{backup}/verify", tag = "backups", summary = "Check a backup", description = "Re-reads the archive and its manifest and compares them with the checksums recorded when it was made and with each other; the backup is marked `ok`, `missing` or `corrupt`.", params(("id" = String, Path, description = "Server id"), ("backup" = String, Path, description = "Backup id")), responses((status = 200, description = "The outcome", body = crate::api::openapi::shapes::BackupVerify)))]
pub async fn verify(
    State(state): State<AppState>,
    p: Principal,
    Path((id, bid)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::BackupRead).await?;
    let mut b = backup(&state, &r, &bid).await?;
    let digest = require_ready(&b)?;
    let report = state
        .node
        .verify_backup(&r.id, &b.location(), &digest)
        .await?;
    state
        .store
        .set_backup_integrity(&b.id, report.integrity)
        .await?;
    b.integrity = Some(report.integrity);
    b.verified_at = Some(now_millis());
    Ok(Json(json!({
        "integrity": report.integrity,
        "problem": report.problem,
        "entries": report.entries,
        "backup": view(&state, &b),
    })))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreBody {
    /// Remove files that are not in the backup (within `paths` when given).
    #[serde(default)]
    pub delete_extra: bool,
    /// Restore only these paths (files or directories); empty or absent: everything.
    #[serde(default)]
    pub paths: Vec<String>,
}

/// Permission: backup.restore
#[utoipa::path(post, path = "/api/servers/{id}/backups/{backup}/restore", tag = "backups", summary = "Restore a backup", description = "Puts the backup's files back; the server must be offline or crashed (409 `conflict` with its `state` otherwise) and cannot be started until the restore ends. The archive is checked against its checksum before any file is touched, and the files are swapped in only when all are extracted, so a failed restore leaves them as they were. 413 `quota_exceeded` when the result would not fit the server's disk limit; 422 `invalid_path` for a path not in the backup.", params(("id" = String, Path, description = "Server id"), ("backup" = String, Path, description = "Backup id")), request_body = RestoreBody, responses((status = 202, description = "Restoring", body = crate::api::openapi::shapes::RestoreStarted)))]
pub async fn restore(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path((id, bid)): Path<(String, String)>,
    body: Option<ApiJson<RestoreBody>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let r = server(&state, &p, &id, Permission::BackupRestore).await?;
    let b = backup(&state, &r, &bid).await?;
    let req = body.map(|ApiJson(b)| b).unwrap_or_default();
    if req.paths.len() > MAX_RESTORE_PATHS {
        return Err(ApiError::invalid(
            "paths",
            format!("at most {MAX_RESTORE_PATHS} paths"),
        ));
    }
    let digest = require_ready(&b)?;
    let node_state = state.node.state(&r.id).await?;
    if !matches!(node_state, ServerState::Offline | ServerState::Crashed) {
        return Err(ApiError::Conflict {
            message: format!("the server is {node_state}; stop it before restoring"),
            state: Some(node_state),
        });
    }
    let status = RestoreStatus {
        backup: b.id.clone(),
        state: InstallState::Running,
        started_at: now_millis(),
        finished_at: None,
        error: None,
    };
    state.store.set_restore_status(&r.id, Some(&status)).await?;
    let ask = RestoreRequest {
        location: b.location(),
        digest,
        delete_extra: req.delete_extra,
        paths: req.paths.clone(),
    };
    if let Err(e) = state.node.restore_backup(&r.id, ask).await {
        state
            .store
            .set_restore_status(&r.id, r.restore.as_ref())
            .await?;
        if let garrison_proto::NodeError::Backup(be) = &e
            && matches!(be.kind, BackupErrorKind::Missing | BackupErrorKind::Corrupt)
        {
            let integrity = if be.kind == BackupErrorKind::Missing {
                Integrity::Missing
            } else {
                Integrity::Corrupt
            };
            state.store.set_backup_integrity(&b.id, integrity).await?;
        }
        return Err(e.into());
    }
    audit(
        &state,
        &p,
        &ip,
        "backup.restore",
        &b,
        json!({"delete_extra": req.delete_extra, "paths": req.paths}),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"restore": status}))))
}

/// A `server.backup` event from the node: progress is kept in memory, ends are stored
/// (a finished backup becomes ready and may rotate older ones away).
pub async fn record_event(state: &AppState, ev: &BackupEvent) -> Result<(), StoreError> {
    match (ev.op, &ev.stage) {
        (BackupOp::Create, BackupStage::Started { storage }) => {
            state.store.set_backup_storage(&ev.backup, *storage).await?;
        }
        (BackupOp::Create, BackupStage::Progress { .. }) => {
            if let Ok(mut v) = serde_json::to_value(&ev.stage) {
                if let Some(o) = v.as_object_mut() {
                    o.remove("stage");
                }
                lock(&state.backups.progress).insert(ev.backup.clone(), v);
            }
        }
        (BackupOp::Create, BackupStage::Finished { result }) => {
            crate::prometheus::backup_outcome("backup", "succeeded");
            state.backups.forget(&ev.backup);
            let rotate = lock(&state.backups.rotate).remove(&ev.backup);
            match result {
                Some(result) => {
                    if state.store.finish_backup(&ev.backup, result).await? && rotate {
                        rotate_after(state, &ev.server, &ev.backup).await;
                    }
                }
                None => {
                    state
                        .store
                        .end_backup(
                            &ev.backup,
                            BackupState::Failed,
                            Some("the node reported no archive"),
                        )
                        .await?;
                }
            }
        }
        (BackupOp::Create, BackupStage::Failed { error, .. }) => {
            crate::prometheus::backup_outcome("backup", "failed");
            state.backups.forget(&ev.backup);
            lock(&state.backups.rotate).remove(&ev.backup);
            state
                .store
                .end_backup(&ev.backup, BackupState::Failed, Some(error))
                .await?;
        }
        (BackupOp::Create, BackupStage::Cancelled) => {
            crate::prometheus::backup_outcome("backup", "cancelled");
            state.backups.forget(&ev.backup);
            lock(&state.backups.rotate).remove(&ev.backup);
            state
                .store
                .end_backup(&ev.backup, BackupState::Cancelled, None)
                .await?;
        }
        (BackupOp::Restore, stage) if stage.is_end() => {
            let (st, error, integrity) = match stage {
                BackupStage::Finished { .. } => (InstallState::Succeeded, None, None),
                BackupStage::Failed { error, integrity } => {
                    (InstallState::Failed, Some(error.clone()), *integrity)
                }
                _ => (InstallState::Cancelled, None, None),
            };
            crate::prometheus::backup_outcome(
                "restore",
                match st {
                    InstallState::Succeeded => "succeeded",
                    InstallState::Failed => "failed",
                    _ => "cancelled",
                },
            );
            let previous = state.store.get_server(&ev.server).await?;
            let started_at = previous
                .as_ref()
                .and_then(|s| s.restore.as_ref())
                .map_or_else(now_millis, |s| s.started_at);
            let status = RestoreStatus {
                backup: ev.backup.clone(),
                state: st,
                started_at,
                finished_at: Some(now_millis()),
                error,
            };
            state
                .store
                .set_restore_status(&ev.server, Some(&status))
                .await?;
            if let Some(i) = integrity {
                state.store.set_backup_integrity(&ev.backup, i).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// After a rotating backup succeeded: remove the oldest unlocked ready backups (never
/// the new one) until the server is within its limits again.
async fn rotate_after(state: &AppState, server: &ServerId, new: &str) {
    let Ok(Some(r)) = state.store.get_server(server).await else {
        return;
    };
    let l = limits(state, &r);
    let Ok(mut backups) = state.store.list_backups(server).await else {
        return;
    };
    backups.retain(|b| b.state == BackupState::Ready);
    let mut count = backups.len() as u64;
    let mut bytes: u64 = backups.iter().filter_map(|b| b.size).sum();
    let over = |count: u64, bytes: u64| {
        l.max_count.is_some_and(|m| count > m) || l.max_bytes.is_some_and(|m| bytes > m)
    };
    // Oldest first.
    for b in backups.iter().rev() {
        if !over(count, bytes) {
            break;
        }
        if b.locked || b.id == new {
            continue;
        }
        match delete_everywhere(state, b).await {
            Ok(()) => {
                count -= 1;
                bytes = bytes.saturating_sub(b.size.unwrap_or(0));
                let _ = state
                    .store
                    .audit_entry(&crate::store::NewAudit {
                        user_id: None,
                        via: None,
                        ip: None,
                        server_id: Some(server.as_str()),
                        action: "backup.rotate",
                        target: Some(&b.id),
                        detail: &json!({"name": b.name, "replaced_by": new}),
                    })
                    .await;
            }
            Err(e) => {
                tracing::warn!(%server, backup = %b.id, error = %e, "could not rotate an old backup away");
            }
        }
    }
}

/// At start: backups and restores that were running when Garrison stopped are marked
/// failed, and what the interrupted backups left in storage is removed.
pub async fn after_restart(state: &AppState) -> Result<(), StoreError> {
    for b in state.store.fail_interrupted_backups().await? {
        if let Err(e) = state.node.delete_backup(&b.server_id, &b.location()).await {
            tracing::warn!(server = %b.server_id, backup = %b.id, error = %e, "could not remove an interrupted backup's leftovers");
        }
    }
    for r in state.store.list_servers().await? {
        if let Some(s) = &r.restore
            && s.state == InstallState::Running
        {
            let status = RestoreStatus {
                state: InstallState::Failed,
                finished_at: Some(now_millis()),
                error: Some(
                    "interrupted: Garrison stopped during the restore; the files were left as they were before it"
                        .into(),
                ),
                ..s.clone()
            };
            state.store.set_restore_status(&r.id, Some(&status)).await?;
        }
    }
    Ok(())
}

/// `2026-12-02 03:04 UTC` from unix millis (no time zone database needed).
fn utc_text(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = garrison_proto::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc_text(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_text(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(utc_text(1_796_267_045_000), "2026-12-03 03:04 UTC");
    }

    #[test]
    fn create_checks() {
        let ok = CreateBackup {
            name: Some(" Before update ".into()),
            ignore: vec!["*.log".into(), "".into(), "cache/ ".into()],
            ..Default::default()
        };
        assert_eq!(
            check_create(&ok).unwrap(),
            (
                "Before update".into(),
                vec!["*.log".into(), "cache/".into()]
            )
        );
        let long = CreateBackup {
            name: Some("x".repeat(101)),
            ..Default::default()
        };
        assert!(check_create(&long).is_err());
        let bad = CreateBackup {
            ignore: vec!["a\nb".into()],
            ..Default::default()
        };
        assert!(check_create(&bad).is_err());
        assert!(
            check_create(&CreateBackup::default())
                .unwrap()
                .0
                .starts_with("Backup ")
        );
    }
}
