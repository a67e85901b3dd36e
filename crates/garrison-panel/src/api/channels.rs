//! Notification channels (`admin.alerts`): webhook, Discord, Slack and email; which
//! events each receives; a test send; the delivery log. Secrets (a webhook's signing
//! secret, the SMTP password) are never sent back: the API shows whether one is set,
//! and a replace without one keeps the stored one.

use crate::AppState;
use crate::auth::{Principal, authorize};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::notify::{self, EVENTS};
use crate::ratelimit::ClientIp;
use crate::store::{ChannelRecord, ChannelSpec, now_millis};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use garrison_notify::{Channel, Severity};
use garrison_proto::Permission;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelBody {
    /// 1 to 100 characters.
    pub name: String,
    /// `{"kind": "webhook", "url", "secret"?}`, `{"kind": "discord", "url"}`,
    /// `{"kind": "slack", "url"}` or `{"kind": "email", "host", "port", "security":
    /// "starttls"|"tls"|"none", "username"?, "password"?, "from", "to": [...], "subject"?,
    /// "body"?}`.
    #[schema(value_type = Object)]
    pub channel: Channel,
    /// Event names or prefixes: `alert.firing`, `alert.resolved`, `server.started`,
    /// `server.stopped`, `server.crashed`, `backup.succeeded`, `backup.failed`,
    /// `install.succeeded`, `install.failed`, `schedule.failed`, or `alert`, `server`, …
    pub events: Vec<String>,
    /// Only these servers' events (empty: all).
    #[serde(default)]
    pub servers: Vec<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// A channel as the API shows it: secrets replaced by whether they are set.
fn view(c: &ChannelRecord) -> Value {
    let mut v = json!(c);
    if let Some(cfg) = v["channel"].as_object_mut() {
        for secret in ["secret", "password"] {
            if let Some(s) = cfg.remove(secret) {
                cfg.insert(format!("has_{secret}"), json!(!s.is_null()));
            }
        }
    }
    v
}

/// Keeps stored secrets the new config leaves out.
fn keep_secrets(new: Channel, old: &Channel) -> Channel {
    match (new, old) {
        (
            Channel::Webhook { url, secret: None },
            Channel::Webhook {
                secret: Some(s), ..
            },
        ) => Channel::Webhook {
            url,
            secret: Some(s.clone()),
        },
        (
            Channel::Email {
                host,
                port,
                security,
                username,
                password: None,
                from,
                to,
                subject,
                body,
            },
            Channel::Email {
                password: Some(p), ..
            },
        ) => Channel::Email {
            host,
            port,
            security,
            username,
            password: Some(p.clone()),
            from,
            to,
            subject,
            body,
        },
        (new, _) => new,
    }
}

async fn spec(state: &AppState, b: ChannelBody) -> ApiResult<ChannelSpec> {
    crate::schedules::check_name(&b.name)?;
    garrison_notify::validate(&b.channel).map_err(|e| match e {
        garrison_notify::NotifyError::Invalid { field, message } => ApiError::Invalid {
            field: format!("channel.{field}"),
            message,
        },
        other => ApiError::invalid("channel", other.to_string()),
    })?;
    if b.events.is_empty() || b.events.len() > 50 {
        return Err(ApiError::invalid("events", "subscribe to 1 to 50 events"));
    }
    for (i, e) in b.events.iter().enumerate() {
        let known = EVENTS
            .iter()
            .any(|k| k == e || (k.starts_with(e.as_str()) && k[e.len()..].starts_with('.')));
        if !known {
            return Err(ApiError::invalid(
                format!("events[{i}]"),
                format!("{e:?} is not an event; events are {}", EVENTS.join(", ")),
            ));
        }
    }
    let mut servers = Vec::new();
    for (i, id) in b.servers.into_iter().enumerate() {
        servers.push(crate::api::servers::existing(state, &format!("servers[{i}]"), id).await?);
    }
    Ok(ChannelSpec {
        name: b.name,
        channel: b.channel,
        events: b.events,
        servers,
        enabled: b.enabled,
    })
}

async fn channel(state: &AppState, id: &str) -> ApiResult<ChannelRecord> {
    state
        .store
        .get_channel(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("channel".into()))
}

async fn audit(
    state: &AppState,
    p: &Principal,
    ip: &ClientIp,
    action: &str,
    c: &ChannelRecord,
) -> ApiResult<()> {
    crate::audit::record(
        state,
        p,
        Some(&ip.0.to_string()),
        action,
        None,
        Some(&c.id),
        &json!({"name": c.name, "kind": c.channel.kind()}),
    )
    .await?;
    Ok(())
}

/// Permission: admin.alerts
#[utoipa::path(get, path = "/api/admin/channels", tag = "alerts", summary = "List notification channels", responses((status = 200, description = "The channels (secrets left out)", body = Vec<crate::api::openapi::shapes::NotificationChannel>)))]
pub async fn list(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminAlerts)?;
    let list = state.store.list_channels().await?;
    Ok(Json(Value::Array(list.iter().map(view).collect())))
}

/// Permission: admin.alerts
#[utoipa::path(post, path = "/api/admin/channels", tag = "alerts", summary = "Add a notification channel", request_body = ChannelBody, responses((status = 201, description = "The channel", body = crate::api::openapi::shapes::NotificationChannel)))]
pub async fn create(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    ApiJson(b): ApiJson<ChannelBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&p, Permission::AdminAlerts)?;
    let spec = spec(&state, b).await?;
    let c = state.store.insert_channel(&spec, now_millis()).await?;
    state.notifier.reload(&state).await;
    audit(&state, &p, &ip, "channel.create", &c).await?;
    Ok((StatusCode::CREATED, Json(view(&c))))
}

/// Permission: admin.alerts
#[utoipa::path(get, path = "/api/admin/channels/{channel}", tag = "alerts", summary = "Get a notification channel", params(("channel" = String, Path, description = "Channel id")), responses((status = 200, description = "The channel", body = crate::api::openapi::shapes::NotificationChannel)))]
pub async fn get(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminAlerts)?;
    Ok(Json(view(&channel(&state, &id).await?)))
}

/// Permission: admin.alerts
#[utoipa::path(put, path = "/api/admin/channels/{channel}", tag = "alerts", summary = "Replace a notification channel", description = "A webhook secret or SMTP password left out keeps the stored one.", params(("channel" = String, Path, description = "Channel id")), request_body = ChannelBody, responses((status = 200, description = "The channel", body = crate::api::openapi::shapes::NotificationChannel)))]
pub async fn replace(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(mut b): ApiJson<ChannelBody>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminAlerts)?;
    let old = channel(&state, &id).await?;
    b.channel = keep_secrets(b.channel, &old.channel);
    let spec = spec(&state, b).await?;
    state.store.update_channel(&id, &spec, now_millis()).await?;
    state.notifier.reload(&state).await;
    let c = channel(&state, &id).await?;
    audit(&state, &p, &ip, "channel.update", &c).await?;
    Ok(Json(view(&c)))
}

/// Permission: admin.alerts
#[utoipa::path(delete, path = "/api/admin/channels/{channel}", tag = "alerts", summary = "Delete a notification channel", params(("channel" = String, Path, description = "Channel id")), responses((status = 204, description = "Deleted")))]
pub async fn remove(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    authorize(&p, Permission::AdminAlerts)?;
    let c = channel(&state, &id).await?;
    state.store.delete_channel(&id).await?;
    state.notifier.reload(&state).await;
    audit(&state, &p, &ip, "channel.delete", &c).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Permission: admin.alerts
#[utoipa::path(post, path = "/api/admin/channels/{channel}/test", tag = "alerts", summary = "Send a test notification", description = "Sends a `test` notification now and answers with the delivery (every attempt), also kept in the log.", params(("channel" = String, Path, description = "Channel id")), responses((status = 200, description = "The delivery", body = crate::api::openapi::shapes::Delivery)))]
pub async fn test(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminAlerts)?;
    let c = channel(&state, &id).await?;
    let mut n = notify::about(
        "test",
        Severity::Info,
        "Test notification from Garrison".into(),
        format!("This is a test of the channel {:?}.", c.name),
        None,
        Value::Null,
    );
    n.id = uuid::Uuid::now_v7().to_string();
    let d = state.notifier.deliver_now(&state, &c, &n).await;
    audit(&state, &p, &ip, "channel.test", &c).await?;
    Ok(Json(
        json!({"id": n.id, "ok": d.ok, "attempts": d.attempts}),
    ))
}

/// Permission: admin.alerts
#[utoipa::path(get, path = "/api/admin/channels/{channel}/deliveries", tag = "alerts", summary = "A channel's delivery log", description = "Newest first, each with every attempt (status, error, time).", params(("channel" = String, Path, description = "Channel id"), ("limit" = Option<u32>, Query, description = "1 to 200, default 50")), responses((status = 200, description = "Deliveries", body = Vec<crate::api::openapi::shapes::DeliveryLog>)))]
pub async fn deliveries(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminAlerts)?;
    let c = channel(&state, &id).await?;
    let mut limit = 50;
    for (k, v) in &q {
        match k.as_str() {
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=200).contains(n))
                    .ok_or_else(|| ApiError::invalid("limit", "limit is 1 to 200"))?;
            }
            other => {
                return Err(ApiError::unknown_param(other));
            }
        }
    }
    Ok(Json(json!(
        state.store.list_deliveries(&c.id, limit).await?
    )))
}
