//! Self-registration: off by default; an admin turns it on, then anyone who can reach
//! the panel may make a (non-admin) account. Requests count against the anonymous rate
//! limit like every unauthenticated call.

use super::admin::{create_account, user_json};
use crate::AppState;
use crate::auth::{Principal, authorize};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::ratelimit::ClientIp;
use crate::store::{NewAudit, Store};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use garrison_proto::Permission;
use serde::Deserialize;
use serde_json::{Value, json};

const SETTING: &str = "registration_enabled";

async fn enabled(store: &Store) -> ApiResult<bool> {
    Ok(store
        .get_setting(SETTING)
        .await?
        .and_then(|v| v.as_bool())
        .unwrap_or(false))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    username: String,
    password: String,
    #[serde(default)]
    email: Option<String>,
}

/// No authentication. 403 `forbidden` while registration is off.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", summary = "Make an account (when an admin allows it)", request_body = RegisterRequest, responses((status = 201, description = "The new user; log in next", body = crate::api::openapi::shapes::User)))]
pub async fn register(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if !enabled(&state.store).await? {
        return Err(ApiError::Forbidden(
            "registration is closed; ask an admin for an account".into(),
        ));
    }
    let user = create_account(&state, &req.username, req.password, req.email, false).await?;
    let ip = client_ip.to_string();
    state
        .store
        .audit_entry(&NewAudit {
            user_id: Some(&user.id),
            via: None,
            ip: Some(&ip),
            server_id: None,
            action: "user.register",
            target: Some(&user.id),
            detail: &json!({"username": user.username}),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(user_json(&user))))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationSetting {
    enabled: bool,
}

/// Permission: admin.settings
#[utoipa::path(get, path = "/api/admin/settings/registration", tag = "admin", summary = "Whether anyone may make an account", responses((status = 200, description = "The setting", body = crate::api::openapi::shapes::Enabled)))]
pub async fn get_setting(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminSettings)?;
    Ok(Json(json!({"enabled": enabled(&state.store).await?})))
}

/// Permission: admin.settings
#[utoipa::path(put, path = "/api/admin/settings/registration", tag = "admin", summary = "Open or close self-registration", request_body = RegistrationSetting, responses((status = 200, description = "The new setting", body = crate::api::openapi::shapes::Enabled)))]
pub async fn put_setting(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    ApiJson(req): ApiJson<RegistrationSetting>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminSettings)?;
    state
        .store
        .put_setting(SETTING, &json!(req.enabled))
        .await?;
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "settings.update",
        None,
        Some(SETTING),
        &json!({"registration_enabled": req.enabled}),
    )
    .await?;
    Ok(Json(json!({"enabled": req.enabled})))
}
