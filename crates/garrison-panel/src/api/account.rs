//! The caller's own account and API keys. Keys are shown once at creation and stored
//! only as their SHA-256.

use crate::AppState;
use crate::auth::{Principal, authorize, crypto};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::store::ApiKey;
use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use garrison_proto::Permission;
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;

/// Any authenticated user.
pub async fn me(p: Principal) -> Json<Value> {
    Json(json!({
        "id": p.user.id,
        "username": p.user.username,
        "is_admin": p.user.is_admin,
        "created_at": p.user.created_at,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Any authenticated user, for their own account. Other sessions stay valid.
pub async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    p: Principal,
    ApiJson(req): ApiJson<ChangePassword>,
) -> ApiResult<StatusCode> {
    let n = req.new_password.chars().count();
    if !(MIN_PASSWORD_CHARS..=1024).contains(&n) {
        return Err(ApiError::invalid(
            "new_password",
            format!("the new password must be {MIN_PASSWORD_CHARS} to 1024 characters"),
        ));
    }
    if req.current_password.len() > 1024
        || !crypto::verify_password(req.current_password, p.user.password_hash.clone())
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
    {
        return Err(ApiError::InvalidCredentials);
    }
    let hash = crypto::hash_password(req.new_password)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    state.store.set_password_hash(&p.user.id, &hash).await?;
    state
        .store
        .audit(
            Some(&p.user.id),
            "user.password_change",
            Some(&p.user.id),
            Some(&addr.ip().to_string()),
            &json!({}),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn key_json(k: &ApiKey) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "prefix": k.prefix,
        "created_at": k.created_at,
        "last_used_at": k.last_used_at,
    })
}

/// Permission: account.api_keys
pub async fn list_keys(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AccountApiKeys)?;
    let keys = state.store.list_api_keys(&p.user.id).await?;
    Ok(Json(json!(keys.iter().map(key_json).collect::<Vec<_>>())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    name: String,
}

/// Permission: account.api_keys
pub async fn create_key(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    p: Principal,
    ApiJson(req): ApiJson<CreateKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&p, Permission::AccountApiKeys)?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "name",
            "must be 1 to 64 characters without control characters",
        ));
    }
    let secret = crypto::new_secret("gsk_");
    let prefix: String = secret.chars().take(12).collect();
    let key = state
        .store
        .create_api_key(&p.user.id, name, &prefix, &crypto::secret_hash(&secret))
        .await?;
    state
        .store
        .audit(
            Some(&p.user.id),
            "api_key.create",
            Some(&key.id),
            Some(&addr.ip().to_string()),
            &json!({"name": name}),
        )
        .await?;
    let mut body = key_json(&key);
    body["key"] = json!(secret);
    Ok((StatusCode::CREATED, Json(body)))
}

/// Permission: account.api_keys
pub async fn delete_key(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    authorize(&p, Permission::AccountApiKeys)?;
    if !state.store.delete_api_key(&p.user.id, &id).await? {
        return Err(ApiError::NotFound(format!("API key {id}")));
    }
    state
        .store
        .audit(
            Some(&p.user.id),
            "api_key.delete",
            Some(&id),
            Some(&addr.ip().to_string()),
            &json!({}),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
