//! A server's players (`server.read`): who is on now, and activity over a range (peak,
//! average, by hour of day in a time zone, recent joins and leaves).

use crate::AppState;
use crate::api::files::server;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::store::{RES_HOUR, RES_MINUTE, now_millis};
use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Timelike, Utc};
use garrison_proto::Permission;
use serde_json::{Value, json};
use std::collections::HashMap;

const MAX_EVENTS: u32 = 100;

/// Permission: server.read
#[utoipa::path(get, path = "/api/servers/{id}/players", tag = "metrics", summary = "Who is playing now", description = "From the game's query protocol when its template has one (`source: query`), else from console join/leave lines (`source: console`); `online: null` when the template has neither or the server is not running.", params(("id" = String, Path, description = "Server id")), responses((status = 200, description = "Players now", body = crate::api::openapi::shapes::PlayersNow)))]
pub async fn now(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::ServerRead).await?;
    Ok(Json(json!(state.players.now(&r.id))))
}

/// Permission: server.read
#[utoipa::path(get, path = "/api/servers/{id}/players/activity", tag = "metrics", summary = "Player activity over a range", description = "Peak (and when), average, the average by hour of day in `timezone` (24 values, `null` for hours without data) from the player count history, and the last 100 joins and leaves. Default range: the last 7 days.", params(("id" = String, Path, description = "Server id"), ("from" = Option<i64>, Query, description = "Unix millis"), ("to" = Option<i64>, Query, description = "Unix millis"), ("timezone" = Option<String>, Query, description = "IANA name, default UTC")), responses((status = 200, description = "Activity", body = crate::api::openapi::shapes::PlayerActivity)))]
pub async fn activity(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::ServerRead).await?;
    let now = now_millis();
    let (mut from, mut to, mut zone) = (now - 7 * 86_400_000, now, chrono_tz::UTC);
    for (k, v) in &q {
        match k.as_str() {
            "from" => {
                from = v
                    .parse()
                    .map_err(|_| ApiError::invalid("from", "from is unix millis"))?
            }
            "to" => {
                to = v
                    .parse()
                    .map_err(|_| ApiError::invalid("to", "to is unix millis"))?
            }
            "timezone" => {
                zone = crate::schedules::timing::parse_zone(v)
                    .map_err(|e| ApiError::invalid("timezone", e))?;
            }
            other => {
                return Err(ApiError::unknown_param(other));
            }
        }
    }
    if from >= to || to - from > 366 * 86_400_000 {
        return Err(ApiError::invalid(
            "from",
            "from must be before to, at most a year apart",
        ));
    }
    // Minutes while they are kept; older ranges read hours.
    let res = if from >= now - state.config.history.retention_millis(RES_MINUTE) {
        RES_MINUTE
    } else {
        RES_HOUR
    };
    let mut points = state
        .store
        .metric_series(r.id.as_str(), res, from, to, 200_000)
        .await?;
    // The newest minute is not rolled up yet: the raw samples since the last one count.
    if res == RES_MINUTE {
        let since = points.last().map_or(from, |p| p.at + RES_MINUTE);
        let raw = state
            .store
            .metric_series(r.id.as_str(), crate::store::RES_RAW, since, to, 200_000)
            .await?;
        points.extend(raw);
    }
    let mut peak: Option<(i64, i64)> = None;
    let (mut sum, mut n) = (0.0, 0u64);
    let mut hours = vec![(0.0f64, 0u64); 24];
    for p in &points {
        if let Some(m) = p.players_max.or(p.players.map(|v| v.round() as i64))
            && peak.is_none_or(|(best, _)| m > best)
        {
            peak = Some((m, p.at));
        }
        if let Some(avg) = p.players {
            sum += avg;
            n += 1;
            if let Some(t) = DateTime::<Utc>::from_timestamp_millis(p.at) {
                let h = t.with_timezone(&zone).hour() as usize;
                hours[h].0 += avg;
                hours[h].1 += 1;
            }
        }
    }
    let by_hour: Vec<Option<f64>> = hours
        .iter()
        .map(|(s, c)| (*c > 0).then(|| s / *c as f64))
        .collect();
    let events = state
        .store
        .player_events(&r.id, from, to, MAX_EVENTS)
        .await?;
    Ok(Json(json!({
        "from": from,
        "to": to,
        "peak": peak.map(|(m, _)| m),
        "peak_at": peak.map(|(_, at)| at),
        "average": (n > 0).then(|| sum / n as f64),
        "by_hour": by_hour,
        "events": events,
    })))
}

/// The most a Luanti announce body may hold.
pub const ANNOUNCE_BODY_BYTES: usize = 256 * 1024;

/// No permission: the token in the URL (from `{{announce_url}}`), and loopback only
#[utoipa::path(post, path = "/api/luanti/{id}/{token}/announce", tag = "metrics", summary = "Luanti's server-list announce", description = "Where a Luanti server on this node announces itself (its `serverlist_url` is set to the server's `{{announce_url}}`): `start` and `update` carry its players, `delete` clears them. Loopback clients only; the token is made by the panel for each server.", params(("id" = String, Path, description = "Server id"), ("token" = String, Path, description = "The server's announce token")), responses((status = 200, description = "Taken")))]
pub async fn luanti_announce(
    State(state): State<AppState>,
    crate::ratelimit::ClientIp(ip): crate::ratelimit::ClientIp,
    Path((id, token)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    if !ip.is_loopback() {
        return Err(ApiError::Forbidden(
            "announces come from game servers on this node only".into(),
        ));
    }
    let id = garrison_proto::ServerId(id);
    let want = crate::templates::announce_token(&state.config.resolve.announce_key, &id);
    if !crate::prometheus::constant_time_eq(token.as_bytes(), want.as_bytes()) {
        return Err(ApiError::NotFound("announce target".into()));
    }
    let a = garrison_query::luanti_announce(&body).map_err(|e| ApiError::BadRequest {
        code: "bad_announce",
        message: e.to_string(),
        field: None,
    })?;
    let reply = (a.action != "delete").then_some(a.reply);
    if !state.players.announce(&id, reply) {
        return Err(ApiError::NotFound("running server".into()));
    }
    Ok(Json(json!({"ok": true})))
}
