//! Alerts and alert rules (`admin.alerts`), and a server's own alerts (`server.read`):
//! list with filters, stats, resolve one or many, rules CRUD.

use crate::AppState;
use crate::alerts::engine;
use crate::alerts::{AlertKind, RuleParams, check_params, parse_severity};
use crate::api::files::server;
use crate::auth::{Principal, authorize};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::ratelimit::ClientIp;
use crate::store::{AlertQuery, AlertRule, AlertState, RuleSpec, now_millis};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use garrison_proto::{Permission, ServerId};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

const MAX_PAGE: u32 = 200;
const MAX_BULK: usize = 1000;

fn query(q: &HashMap<String, String>, allow_server: bool) -> ApiResult<AlertQuery> {
    let mut out = AlertQuery {
        limit: 50,
        ..AlertQuery::default()
    };
    for (k, v) in q {
        match k.as_str() {
            "state" => {
                out.state = Some(match v.as_str() {
                    "firing" => AlertState::Firing,
                    "resolved" => AlertState::Resolved,
                    _ => return Err(ApiError::invalid("state", "state is firing or resolved")),
                });
            }
            "kind" => {
                out.kind = Some(
                    AlertKind::parse(v)
                        .ok_or_else(|| ApiError::invalid("kind", "not an alert kind"))?,
                );
            }
            "server" if allow_server => out.server = Some(ServerId(v.clone())),
            "limit" => {
                out.limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        ApiError::invalid("limit", format!("limit is 1 to {MAX_PAGE}"))
                    })?;
            }
            "before" => {
                out.before = Some(
                    v.parse()
                        .map_err(|_| ApiError::invalid("before", "before is unix millis"))?,
                );
            }
            other => return Err(ApiError::unknown_param(other)),
        }
    }
    Ok(out)
}

async fn page(state: &AppState, q: &AlertQuery) -> ApiResult<Json<Value>> {
    let alerts = state.store.list_alerts(q).await?;
    let next = (alerts.len() == q.limit as usize)
        .then(|| alerts.last().map(|a| a.fired_at))
        .flatten();
    Ok(Json(json!({"alerts": alerts, "next": next})))
}

/// Permission: admin.alerts
#[utoipa::path(get, path = "/api/alerts", tag = "alerts", summary = "List alerts", description = "Newest first. Filters: `state` (firing, resolved), `kind`, `server`; `limit` 1 to 200 and the `before` cursor.", params(("state" = Option<String>, Query, description = "firing or resolved"), ("kind" = Option<String>, Query, description = "An alert kind"), ("server" = Option<String>, Query, description = "A server id"), ("limit" = Option<u32>, Query, description = "1 to 200"), ("before" = Option<i64>, Query, description = "Cursor")), responses((status = 200, description = "One page", body = crate::api::openapi::shapes::AlertPage)))]
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminAlerts)?;
    page(&state, &query(&q, true)?).await
}

/// Permission: server.read
#[utoipa::path(get, path = "/api/servers/{id}/alerts", tag = "alerts", summary = "A server's alerts", params(("id" = String, Path, description = "Server id"), ("state" = Option<String>, Query, description = "firing or resolved"), ("kind" = Option<String>, Query, description = "An alert kind"), ("limit" = Option<u32>, Query, description = "1 to 200"), ("before" = Option<i64>, Query, description = "Cursor")), responses((status = 200, description = "One page", body = crate::api::openapi::shapes::AlertPage)))]
pub async fn server_alerts(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::ServerRead).await?;
    let mut q = query(&q, false)?;
    q.server = Some(r.id);
    page(&state, &q).await
}

/// Permission: admin.alerts
#[utoipa::path(get, path = "/api/alerts/stats", tag = "alerts", summary = "Alert counts", description = "Open alerts by severity and by kind, and alerts resolved in the last 24 hours.", responses((status = 200, description = "Counts", body = crate::api::openapi::shapes::AlertStats)))]
pub async fn stats(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminAlerts)?;
    let (open, resolved) = state.store.alert_counts(now_millis() - 86_400_000).await?;
    let mut by_severity: HashMap<String, i64> = HashMap::new();
    let mut by_kind: HashMap<String, i64> = HashMap::new();
    let mut firing = 0;
    for (sev, kind, n) in open {
        *by_severity.entry(sev).or_default() += n;
        *by_kind.entry(kind).or_default() += n;
        firing += n;
    }
    Ok(Json(json!({
        "firing": firing,
        "by_severity": by_severity,
        "by_kind": by_kind,
        "resolved_24h": resolved,
    })))
}

/// Permission: admin.alerts
#[utoipa::path(post, path = "/api/alerts/{alert}/resolve", tag = "alerts", summary = "Resolve an alert", description = "Closes an open alert by hand. If its condition still holds it fires again after the rule's duration. 409 `alert_resolved` when it is not open.", params(("alert" = String, Path, description = "Alert id")), responses((status = 200, description = "The resolved alert", body = crate::api::openapi::shapes::Alert)))]
pub async fn resolve_one(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(aid): Path<String>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminAlerts)?;
    let a = state
        .store
        .get_alert(&aid)
        .await?
        .ok_or_else(|| ApiError::NotFound("alert".into()))?;
    let done = engine::resolve_alert(&state, &a, &p.user.id)
        .await?
        .ok_or(ApiError::Refused {
            code: "alert_resolved",
            message: "the alert is already resolved".into(),
        })?;
    audit(&state, &p, &ip, "alert.resolve", json!({"alerts": [aid]})).await?;
    Ok(Json(json!(done)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkResolve {
    /// These alerts; or, with `all`, every open one (of `server` if given).
    #[serde(default)]
    pub ids: Vec<String>,
    #[serde(default)]
    pub all: bool,
    #[serde(default)]
    pub server: Option<String>,
}

/// Permission: admin.alerts
#[utoipa::path(post, path = "/api/alerts/resolve", tag = "alerts", summary = "Resolve many alerts", request_body = BulkResolve, responses((status = 200, description = "How many were resolved", body = crate::api::openapi::shapes::Resolved)))]
pub async fn resolve_many(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    ApiJson(req): ApiJson<BulkResolve>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminAlerts)?;
    // Exactly one of the two ways.
    let has_ids = !req.ids.is_empty();
    if req.all == has_ids {
        return Err(ApiError::invalid(
            "ids",
            "give the alert ids, or all: true (not both)",
        ));
    }
    if req.ids.len() > MAX_BULK {
        return Err(ApiError::invalid("ids", format!("at most {MAX_BULK} ids")));
    }
    let targets = if req.all {
        state
            .store
            .firing_alerts()
            .await?
            .into_iter()
            .filter(|a| {
                req.server
                    .as_deref()
                    .is_none_or(|s| a.server_id.as_ref().is_some_and(|id| id.as_str() == s))
            })
            .collect()
    } else {
        let mut v = Vec::new();
        for id in &req.ids {
            if let Some(a) = state.store.get_alert(id).await? {
                v.push(a);
            }
        }
        v
    };
    let mut resolved = Vec::new();
    for a in &targets {
        if engine::resolve_alert(&state, a, &p.user.id)
            .await?
            .is_some()
        {
            resolved.push(a.id.clone());
        }
    }
    audit(
        &state,
        &p,
        &ip,
        "alert.resolve",
        json!({"alerts": resolved}),
    )
    .await?;
    Ok(Json(json!({"resolved": resolved.len(), "ids": resolved})))
}

async fn audit(
    state: &AppState,
    p: &Principal,
    ip: &ClientIp,
    action: &str,
    detail: Value,
) -> ApiResult<()> {
    crate::audit::record(
        state,
        p,
        Some(&ip.0.to_string()),
        action,
        None,
        None,
        &detail,
    )
    .await?;
    Ok(())
}

// ---- rules ---------------------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    /// 1 to 100 characters.
    pub name: String,
    pub kind: AlertKind,
    /// Only this server (server rules); none: every server.
    #[serde(default)]
    pub server_id: Option<String>,
    #[serde(default)]
    pub params: RuleParams,
    /// `info`, `warning` (default) or `critical`.
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Notify at most once per target per this many seconds (default 300).
    #[serde(default)]
    pub throttle_secs: Option<u64>,
}

fn yes() -> bool {
    true
}

async fn rule_spec(state: &AppState, b: RuleBody) -> ApiResult<RuleSpec> {
    crate::schedules::check_name(&b.name)?;
    check_params(b.kind, &b.params)?;
    if b.kind == AlertKind::CertificateExpiry && !state.config.https {
        return Err(ApiError::invalid(
            "kind",
            "Garrison serves plain HTTP, so there is no certificate to watch (set tls_cert and tls_key)",
        ));
    }
    let severity = match b.severity.as_deref() {
        None => garrison_notify::Severity::Warning,
        Some(s) => parse_severity(s)
            .ok_or_else(|| ApiError::invalid("severity", "info, warning or critical"))?,
    };
    let server_id = match b.server_id {
        Some(_) if b.kind.is_node() => {
            return Err(ApiError::invalid(
                "server_id",
                format!("a {} rule is about the node, not a server", b.kind.as_str()),
            ));
        }
        Some(id) => Some(crate::api::servers::existing(state, "server_id", id).await?),
        None => None,
    };
    let throttle_secs = b.throttle_secs.unwrap_or(300);
    if throttle_secs > 7 * 86_400 {
        return Err(ApiError::invalid(
            "throttle_secs",
            "throttle is at most 7 days",
        ));
    }
    Ok(RuleSpec {
        name: b.name,
        kind: b.kind,
        server_id,
        params: b.params,
        severity,
        enabled: b.enabled,
        throttle_secs,
    })
}

async fn rule(state: &AppState, id: &str) -> ApiResult<AlertRule> {
    state
        .store
        .get_rule(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("rule".into()))
}

/// Permission: admin.alerts
#[utoipa::path(get, path = "/api/alerts/rules", tag = "alerts", summary = "List alert rules", responses((status = 200, description = "The rules", body = Vec<crate::api::openapi::shapes::AlertRule>)))]
pub async fn list_rules(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminAlerts)?;
    Ok(Json(json!(state.store.list_rules().await?)))
}

/// Permission: admin.alerts
#[utoipa::path(post, path = "/api/alerts/rules", tag = "alerts", summary = "Create an alert rule", description = "Kinds and their params: `cpu`, `memory`, `disk` (`threshold` percent, `duration_secs`), `crashed`, `crash_loop` (`count`, `window_secs`), `stuck_starting` (`duration_secs`), `backup_failed`, `schedule_failed`, `node_offline` (`duration_secs`), `data_disk_low` (`threshold` percent free), `certificate_expiry` (`days`, 1 to 365, default 14; needs HTTPS).", request_body = RuleBody, responses((status = 201, description = "The rule", body = crate::api::openapi::shapes::AlertRule)))]
pub async fn create_rule(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    ApiJson(b): ApiJson<RuleBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&p, Permission::AdminAlerts)?;
    let spec = rule_spec(&state, b).await?;
    let r = state.store.insert_rule(&spec, now_millis()).await?;
    audit(
        &state,
        &p,
        &ip,
        "alert.rule.create",
        json!({"rule": r.id, "name": r.name}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!(r))))
}

/// Permission: admin.alerts
#[utoipa::path(get, path = "/api/alerts/rules/{rule}", tag = "alerts", summary = "Get an alert rule", params(("rule" = String, Path, description = "Rule id")), responses((status = 200, description = "The rule", body = crate::api::openapi::shapes::AlertRule)))]
pub async fn get_rule(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminAlerts)?;
    Ok(Json(json!(rule(&state, &id).await?)))
}

/// Permission: admin.alerts
#[utoipa::path(put, path = "/api/alerts/rules/{rule}", tag = "alerts", summary = "Replace an alert rule", params(("rule" = String, Path, description = "Rule id")), request_body = RuleBody, responses((status = 200, description = "The rule", body = crate::api::openapi::shapes::AlertRule)))]
pub async fn replace_rule(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RuleBody>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminAlerts)?;
    rule(&state, &id).await?;
    let spec = rule_spec(&state, b).await?;
    state.store.update_rule(&id, &spec, now_millis()).await?;
    let r = rule(&state, &id).await?;
    audit(
        &state,
        &p,
        &ip,
        "alert.rule.update",
        json!({"rule": r.id, "name": r.name}),
    )
    .await?;
    Ok(Json(json!(r)))
}

/// Permission: admin.alerts
#[utoipa::path(delete, path = "/api/alerts/rules/{rule}", tag = "alerts", summary = "Delete an alert rule", description = "With its alerts.", params(("rule" = String, Path, description = "Rule id")), responses((status = 204, description = "Deleted")))]
pub async fn delete_rule(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    authorize(&p, Permission::AdminAlerts)?;
    let r = rule(&state, &id).await?;
    state.store.delete_rule(&id).await?;
    audit(
        &state,
        &p,
        &ip,
        "alert.rule.delete",
        json!({"rule": r.id, "name": r.name}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
