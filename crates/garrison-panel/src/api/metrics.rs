//! Metrics history: a server's series (`server.read`), the node's (`admin.nodes`) and
//! the top consumers right now (`admin.nodes`). A series picks the finest resolution
//! that still covers `from` and gives at most [`MAX_POINTS`] points (or the one `step`
//! asks for): raw samples, per-minute or per-hour averages with maxima.

use crate::AppState;
use crate::api::files::server;
use crate::auth::{Principal, authorize};
use crate::error::{ApiError, ApiResult};
use crate::history::{LOCAL_NODE, node_target};
use crate::store::{RES_HOUR, RES_MINUTE, RES_RAW, now_millis};
use axum::Json;
use axum::extract::{Path, Query, State};
use garrison_proto::Permission;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Enough for 90 days of hours.
pub const MAX_POINTS: i64 = 2500;
const DEFAULT_RANGE: i64 = 3_600_000;

struct Range {
    from: i64,
    to: i64,
    step: Option<i64>,
}

fn parse_range(q: &HashMap<String, String>) -> ApiResult<Range> {
    let now = now_millis();
    let mut r = Range {
        from: now - DEFAULT_RANGE,
        to: now,
        step: None,
    };
    for (k, v) in q {
        let n = || {
            v.parse::<i64>()
                .map_err(|_| ApiError::invalid(k.as_str(), format!("{k} must be an integer")))
        };
        match k.as_str() {
            "from" => r.from = n()?,
            "to" => r.to = n()?,
            "step" => {
                let s = n()?;
                if !(1..=86_400).contains(&s) {
                    return Err(ApiError::invalid("step", "step is 1 to 86400 seconds"));
                }
                r.step = Some(s * 1000);
            }
            other => {
                return Err(ApiError::unknown_param(other));
            }
        }
    }
    if r.from >= r.to {
        return Err(ApiError::invalid("from", "from must be before to"));
    }
    if r.to - r.from > 366 * 86_400_000 {
        return Err(ApiError::invalid("from", "a range is at most a year"));
    }
    Ok(r)
}

fn res_name(res: i64) -> &'static str {
    match res {
        RES_RAW => "raw",
        RES_MINUTE => "minute",
        _ => "hour",
    }
}

async fn series(state: &AppState, target: &str, r: &Range) -> ApiResult<Value> {
    let now = now_millis();
    let settings = &state.config.history;
    let raw_every = i64::try_from(settings.sample_every.as_millis()).unwrap_or(10_000);
    let span = r.to - r.from;
    let res = [
        (RES_RAW, raw_every),
        (RES_MINUTE, RES_MINUTE),
        (RES_HOUR, RES_HOUR),
    ]
    .into_iter()
    .find(|(res, every)| {
        r.from >= now - settings.retention_millis(*res)
            && span / every.max(&1) <= MAX_POINTS
            && r.step.is_none_or(|s| *every >= s)
    })
    .map_or(RES_HOUR, |(res, _)| res);
    let points = state
        .store
        .metric_series(target, res, r.from, r.to, MAX_POINTS as u32)
        .await?;
    Ok(json!({
        "target": target,
        "resolution": res_name(res),
        "from": r.from,
        "to": r.to,
        "points": points,
    }))
}

/// Permission: server.read
#[utoipa::path(get, path = "/api/servers/{id}/metrics", tag = "metrics", summary = "A server's resource history", description = "CPU, memory, disk and players between `from` and `to` (unix millis; default the last hour). The resolution is the finest that covers `from` (raw 24 h, minutes 7 days, hours 90 days by default) with at most 2500 points; `step` (seconds) asks for a coarser one.", params(("id" = String, Path, description = "Server id"), ("from" = Option<i64>, Query, description = "Unix millis"), ("to" = Option<i64>, Query, description = "Unix millis"), ("step" = Option<u32>, Query, description = "Seconds between points at least")), responses((status = 200, description = "The series", body = crate::api::openapi::shapes::MetricSeries)))]
pub async fn server_metrics(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::ServerRead).await?;
    let range = parse_range(&q)?;
    Ok(Json(series(&state, r.id.as_str(), &range).await?))
}

/// Permission: admin.nodes
#[utoipa::path(get, path = "/api/nodes/{node}/metrics", tag = "metrics", summary = "A node's resource history", description = "The machine's CPU, memory, disk of the data directory and load, like a server's series. The only node is `local`.", params(("node" = String, Path, description = "Node name (`local`)"), ("from" = Option<i64>, Query, description = "Unix millis"), ("to" = Option<i64>, Query, description = "Unix millis"), ("step" = Option<u32>, Query, description = "Seconds between points at least")), responses((status = 200, description = "The series", body = crate::api::openapi::shapes::MetricSeries)))]
pub async fn node_metrics(
    State(state): State<AppState>,
    p: Principal,
    Path(node): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminNodes)?;
    if node != LOCAL_NODE {
        return Err(ApiError::NotFound(format!("node {node}")));
    }
    let range = parse_range(&q)?;
    let mut v = series(&state, &node_target(&node), &range).await?;
    v["current"] = json!(state.history.host());
    Ok(Json(v))
}

/// Permission: admin.nodes
#[utoipa::path(get, path = "/api/admin/metrics/top", tag = "metrics", summary = "The servers using the most right now", params(("by" = Option<String>, Query, description = "`cpu` (default), `memory`, `disk` or `players`"), ("limit" = Option<u32>, Query, description = "1 to 100, default 10")), responses((status = 200, description = "Running servers, largest first", body = Vec<crate::api::openapi::shapes::TopConsumer>)))]
pub async fn top(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminNodes)?;
    let mut by = "cpu".to_owned();
    let mut limit = 10usize;
    for (k, v) in &q {
        match k.as_str() {
            "by" => {
                if !["cpu", "memory", "disk", "players"].contains(&v.as_str()) {
                    return Err(ApiError::invalid(
                        "by",
                        "by is cpu, memory, disk or players",
                    ));
                }
                by = v.clone();
            }
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| ApiError::invalid("limit", "limit is 1 to 100"))?;
            }
            other => {
                return Err(ApiError::unknown_param(other));
            }
        }
    }
    let since = now_millis() - 60_000;
    let mut rows: Vec<(f64, Value)> = Vec::new();
    for (id, l) in state.history.fresh(since) {
        let Some(r) = state.store.get_server(&id).await? else {
            continue;
        };
        let key = match by.as_str() {
            "memory" => l.stats.memory_bytes as f64,
            "disk" => l.stats.disk_bytes as f64,
            "players" => f64::from(state.players.count(&id).unwrap_or(0)),
            _ => l.stats.cpu_percent,
        };
        rows.push((
            key,
            json!({
                "server": r.id,
                "name": r.name,
                "cpu_percent": l.stats.cpu_percent,
                "memory_bytes": l.stats.memory_bytes,
                "disk_bytes": l.stats.disk_bytes,
                "players": state.players.count(&id),
                "sampled_at": l.stats.sampled_at,
            }),
        ));
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok(Json(Value::Array(
        rows.into_iter().take(limit).map(|(_, v)| v).collect(),
    )))
}
