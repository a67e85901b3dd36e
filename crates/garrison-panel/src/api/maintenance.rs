//! Maintenance windows (`admin.alerts` to manage; `server.read` to see those that apply
//! to a server): while one is open its server's alerts (or every server's and the
//! node's, for a node-wide window) are muted, and it may stop its servers when it opens
//! and start them when it closes.

use crate::AppState;
use crate::alerts::maintenance::{self, MAX_DURATION_SECS};
use crate::api::files::server;
use crate::auth::{Principal, authorize};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::ratelimit::ClientIp;
use crate::schedules::timing;
use crate::store::{MaintenanceWindow, WindowSpec, now_millis};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use garrison_proto::Permission;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowBody {
    pub name: String,
    /// Only this server; none: the whole node.
    #[serde(default)]
    pub server_id: Option<String>,
    /// When the window opens: a 5-field cron expression or alias.
    pub cron: String,
    /// IANA time zone of `cron` (default UTC).
    #[serde(default)]
    pub timezone: Option<String>,
    /// How long it stays open, 60 s to 7 days.
    pub duration_secs: u64,
    #[serde(default)]
    pub stop_at_start: bool,
    #[serde(default)]
    pub start_at_end: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

fn view(w: &MaintenanceWindow) -> Value {
    let now = now_millis();
    let mut v = json!(w);
    v["open"] = json!(maintenance::is_open(w, now));
    v["open_since"] = json!(maintenance::open_since(w, now));
    v["next_start"] = json!(maintenance::next_start(w, now));
    v
}

async fn spec(state: &AppState, b: WindowBody) -> ApiResult<WindowSpec> {
    crate::schedules::check_name(&b.name)?;
    timing::parse_cron(&b.cron).map_err(|e| ApiError::invalid("cron", e))?;
    let timezone = b.timezone.unwrap_or_else(|| "UTC".into());
    timing::parse_zone(&timezone).map_err(|e| ApiError::invalid("timezone", e))?;
    if !(60..=MAX_DURATION_SECS).contains(&b.duration_secs) {
        return Err(ApiError::invalid(
            "duration_secs",
            "a window lasts 60 seconds to 7 days",
        ));
    }
    let server_id = match b.server_id {
        Some(id) => Some(crate::api::servers::existing(state, "server_id", id).await?),
        None => None,
    };
    Ok(WindowSpec {
        server_id,
        name: b.name,
        cron: b.cron,
        timezone,
        duration_secs: b.duration_secs,
        stop_at_start: b.stop_at_start,
        start_at_end: b.start_at_end,
        enabled: b.enabled,
    })
}

async fn window(state: &AppState, id: &str) -> ApiResult<MaintenanceWindow> {
    state
        .store
        .get_window(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("maintenance window".into()))
}

async fn audit(
    state: &AppState,
    p: &Principal,
    ip: &ClientIp,
    action: &str,
    w: &MaintenanceWindow,
) -> ApiResult<()> {
    crate::audit::record(
        state,
        p,
        Some(&ip.0.to_string()),
        action,
        w.server_id.as_ref(),
        Some(&w.id),
        &json!({"name": w.name}),
    )
    .await?;
    Ok(())
}

/// Permission: admin.alerts
#[utoipa::path(get, path = "/api/admin/maintenance", tag = "alerts", summary = "List maintenance windows", responses((status = 200, description = "The windows, each with `open` and `next_start`", body = Vec<crate::api::openapi::shapes::MaintenanceWindow>)))]
pub async fn list(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminAlerts)?;
    let list = state.store.list_windows().await?;
    Ok(Json(Value::Array(list.iter().map(view).collect())))
}

/// Permission: admin.alerts
#[utoipa::path(post, path = "/api/admin/maintenance", tag = "alerts", summary = "Add a maintenance window", request_body = WindowBody, responses((status = 201, description = "The window", body = crate::api::openapi::shapes::MaintenanceWindow)))]
pub async fn create(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    ApiJson(b): ApiJson<WindowBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&p, Permission::AdminAlerts)?;
    let spec = spec(&state, b).await?;
    let w = state.store.insert_window(&spec, now_millis()).await?;
    audit(&state, &p, &ip, "maintenance.create", &w).await?;
    Ok((StatusCode::CREATED, Json(view(&w))))
}

/// Permission: admin.alerts
#[utoipa::path(put, path = "/api/admin/maintenance/{window}", tag = "alerts", summary = "Replace a maintenance window", params(("window" = String, Path, description = "Window id")), request_body = WindowBody, responses((status = 200, description = "The window", body = crate::api::openapi::shapes::MaintenanceWindow)))]
pub async fn replace(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<WindowBody>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminAlerts)?;
    window(&state, &id).await?;
    let spec = spec(&state, b).await?;
    state.store.update_window(&id, &spec, now_millis()).await?;
    let w = window(&state, &id).await?;
    audit(&state, &p, &ip, "maintenance.update", &w).await?;
    Ok(Json(view(&w)))
}

/// Permission: admin.alerts
#[utoipa::path(delete, path = "/api/admin/maintenance/{window}", tag = "alerts", summary = "Delete a maintenance window", params(("window" = String, Path, description = "Window id")), responses((status = 204, description = "Deleted")))]
pub async fn remove(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    authorize(&p, Permission::AdminAlerts)?;
    let w = window(&state, &id).await?;
    state.store.delete_window(&id).await?;
    audit(&state, &p, &ip, "maintenance.delete", &w).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Permission: server.read
#[utoipa::path(get, path = "/api/servers/{id}/maintenance", tag = "alerts", summary = "The maintenance windows that apply to a server", description = "The server's own windows and the node-wide ones, each with `open` and `next_start`.", params(("id" = String, Path, description = "Server id")), responses((status = 200, description = "The windows", body = Vec<crate::api::openapi::shapes::MaintenanceWindow>)))]
pub async fn for_server(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::ServerRead).await?;
    let list = state.store.list_windows().await?;
    Ok(Json(Value::Array(
        list.iter()
            .filter(|w| maintenance::covers(w, Some(&r.id)))
            .map(view)
            .collect(),
    )))
}
