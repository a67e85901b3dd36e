//! Admin overview: panel counts (`GET /api/admin/stats`) and health
//! (`GET /api/admin/health`: database, nodes, disk space).

use crate::AppState;
use crate::auth::{Principal, authorize};
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::State;
use garrison_proto::{Permission, ServerState};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// The nodes Garrison drives today: the local one.
const LOCAL_NODE: &str = "local";

/// Permission: admin.users. Users, admins, servers, servers per stored state (every
/// state is listed, with 0 when none is in it) and nodes.
#[utoipa::path(get, path = "/api/admin/stats", tag = "admin", summary = "Panel counts", responses((status = 200, description = "Users, servers per state, nodes", body = crate::api::openapi::shapes::PanelStats)))]
pub async fn stats(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminUsers)?;
    let counts = state.store.panel_counts().await?;
    let mut by_state = Map::new();
    for s in ServerState::ALL {
        by_state.insert(s.as_str().to_owned(), json!(0));
    }
    for (s, n) in &counts.servers_by_state {
        by_state.insert(s.clone(), json!(n));
    }
    Ok(Json(json!({
        "users": counts.users,
        "admins": counts.admins,
        "servers": counts.servers,
        "servers_by_state": by_state,
        "nodes": 1,
    })))
}

/// Total and free (for unprivileged users) bytes of the file system holding `path`, or
/// of its nearest existing ancestor.
// statvfs's field types differ between targets (u32 on some 32-bit ones).
#[allow(clippy::useless_conversion)]
fn disk_space(path: &Path) -> Result<(u64, u64), String> {
    let mut at = path;
    while !at.exists() {
        at = at.parent().ok_or("no existing directory")?;
    }
    let s = nix::sys::statvfs::statvfs(at).map_err(|e| e.to_string())?;
    let frsize = u64::from(s.fragment_size());
    Ok((
        u64::from(s.blocks()).saturating_mul(frsize),
        u64::from(s.blocks_available()).saturating_mul(frsize),
    ))
}

/// Permission: admin.nodes. Always 200; each part says whether it is `ok`.
#[utoipa::path(get, path = "/api/admin/health", tag = "admin", summary = "Database, nodes and disk health", responses((status = 200, description = "Always 200; each part says whether it is ok", body = crate::api::openapi::shapes::PanelHealth)))]
pub async fn health(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminNodes)?;
    let database = match state.store.ping().await {
        Ok(took) => json!({
            "backend": state.store.backend(),
            "ok": true,
            "latency_ms": took.as_secs_f64() * 1000.0,
        }),
        Err(e) => {
            tracing::warn!(error = %e, "health: database ping failed");
            json!({"backend": state.store.backend(), "ok": false, "latency_ms": null})
        }
    };
    let dir: PathBuf = state.config.resolve.servers_dir.clone();
    let shown = dir.display().to_string();
    let space = tokio::task::spawn_blocking(move || disk_space(&dir))
        .await
        .map_err(|e| ApiError::Internal(format!("disk space task: {e}")))?;
    let disk = match space {
        Ok((total, free)) => json!({
            "path": shown,
            "ok": true,
            "total_bytes": total,
            "free_bytes": free,
        }),
        Err(e) => {
            tracing::warn!(error = %e, path = %shown, "health: statvfs failed");
            json!({"path": shown, "ok": false, "total_bytes": null, "free_bytes": null})
        }
    };
    Ok(Json(json!({
        "database": database,
        // The local node runs in this process: if this answers, it is up.
        "nodes": [{"id": LOCAL_NODE, "ok": true}],
        "disk": disk,
    })))
}
