//! The caller's own account and API keys. Keys are shown once at creation and stored
//! only as their SHA-256.

use crate::AppState;
use crate::auth::{Principal, authorize, crypto};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::ratelimit::ClientIp;
use crate::store::{ApiKey, KeyLimits};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use garrison_proto::{Permission, Scope};
use serde::Deserialize;
use serde_json::{Value, json};

/// Any authenticated user.
#[utoipa::path(get, path = "/api/account", tag = "account", summary = "The caller's account", responses((status = 200, description = "The account", body = crate::api::openapi::shapes::Account)))]
pub async fn me(p: Principal) -> Json<Value> {
    Json(json!({
        "id": p.user.id,
        "username": p.user.username,
        "is_admin": p.user.is_admin,
        "email": p.user.email,
        "created_at": p.user.created_at,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// Any authenticated user, for their own account. Every other session of the user
/// ends; the one making the request stays.
#[utoipa::path(post, path = "/api/account/password", tag = "account", summary = "Change one's password", request_body = ChangePassword, responses((status = 204, description = "Changed; the user's other sessions ended"), (status = 401, description = "Wrong current password (`invalid_credentials`)")))]
pub async fn change_password(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<ChangePassword>,
) -> ApiResult<StatusCode> {
    authorize(&p, Permission::AccountSecurity)?;
    super::admin::check_password("new_password", &req.new_password)?;
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
    let keep = crate::auth::session_cookie(&headers).map(crypto::secret_hash);
    state
        .store
        .delete_user_sessions(&p.user.id, keep.as_deref())
        .await?;
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "user.password_change",
        None,
        Some(&p.user.id),
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
        "permissions": k.permissions,
        "allowed_ips": k.allowed_ips,
        "expires_at": k.expires_at,
    })
}

/// Permission: account.api_keys
#[utoipa::path(get, path = "/api/account/api-keys", tag = "account", summary = "List one's API keys", responses((status = 200, description = "The keys (never the secrets)", body = Vec<crate::api::openapi::shapes::ApiKey>)))]
pub async fn list_keys(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AccountApiKeys)?;
    let keys = state.store.list_api_keys(&p.user.id).await?;
    Ok(Json(json!(keys.iter().map(key_json).collect::<Vec<_>>())))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    name: String,
    /// Narrow the key to these permissions; all of the owner's rights when absent.
    #[serde(default)]
    #[schema(value_type = Option<Vec<crate::api::openapi::PermissionName>>)]
    permissions: Option<Vec<Permission>>,
    /// Addresses or CIDR ranges the key may be used from.
    #[serde(default)]
    allowed_ips: Option<Vec<String>>,
    /// Unix millis after which the key stops working.
    #[serde(default)]
    expires_at: Option<i64>,
}

/// Permission: account.api_keys
#[utoipa::path(post, path = "/api/account/api-keys", tag = "account", summary = "Create an API key", request_body = CreateKey, responses((status = 201, description = "The key, with its secret shown this once", body = crate::api::openapi::shapes::NewApiKey)))]
pub async fn create_key(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
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
    // A key made with a key cannot be wider than that key.
    let permissions = match (&req.permissions, &p.key_permissions) {
        (Some(wanted), _) => {
            for perm in wanted {
                if perm.scope() == Scope::Admin && !p.user.is_admin {
                    return Err(ApiError::invalid(
                        "permissions",
                        format!("{perm} is for admins"),
                    ));
                }
                if let Some(mine) = &p.key_permissions
                    && !mine.contains(perm)
                {
                    return Err(ApiError::Forbidden(format!(
                        "this API key cannot make a key with {perm}"
                    )));
                }
            }
            Some(wanted.clone())
        }
        (None, mine) => mine.clone(),
    };
    if let Some(ranges) = &req.allowed_ips {
        if ranges.is_empty() || ranges.len() > 32 {
            return Err(ApiError::invalid("allowed_ips", "1 to 32 ranges"));
        }
        if let Some(bad) = ranges
            .iter()
            .find(|r| crate::auth::parse_range(r).is_none())
        {
            return Err(ApiError::invalid(
                "allowed_ips",
                format!("{bad:?} is not an address or range like 10.0.0.0/8"),
            ));
        }
    }
    if req
        .expires_at
        .is_some_and(|t| t <= crate::store::now_millis())
    {
        return Err(ApiError::invalid("expires_at", "must be in the future"));
    }
    let limits = KeyLimits {
        permissions,
        allowed_ips: req.allowed_ips.clone(),
        expires_at: req.expires_at,
    };
    let secret = crypto::new_secret("gsk_");
    let prefix: String = secret.chars().take(12).collect();
    let key = state
        .store
        .create_limited_api_key(
            &p.user.id,
            name,
            &prefix,
            &crypto::secret_hash(&secret),
            &limits,
        )
        .await?;
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "api_key.create",
        None,
        Some(&key.id),
        &json!({"name": name}),
    )
    .await?;
    let mut body = key_json(&key);
    body["key"] = json!(secret);
    Ok((StatusCode::CREATED, Json(body)))
}

/// Permission: account.api_keys
#[utoipa::path(delete, path = "/api/account/api-keys/{id}", tag = "account", summary = "Revoke an API key", params(("id" = String, Path, description = "API key id")), responses((status = 204, description = "Revoked")))]
pub async fn delete_key(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    authorize(&p, Permission::AccountApiKeys)?;
    if !state.store.delete_api_key(&p.user.id, &id).await? {
        return Err(ApiError::NotFound(format!("API key {id}")));
    }
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "api_key.delete",
        None,
        Some(&id),
        &json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Any signed-in user: their own unexpired sessions, newest first; `current` marks the
/// one making this request.
#[utoipa::path(get, path = "/api/account/sessions", tag = "account", summary = "List one's sessions", responses((status = 200, description = "Unexpired sessions, newest first", body = Vec<crate::api::openapi::shapes::Session>)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    p: Principal,
    headers: axum::http::HeaderMap,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AccountSecurity)?;
    let current = crate::auth::session_cookie(&headers)
        .map(|t| crypto::secret_hash(t).chars().take(16).collect::<String>());
    let sessions = state
        .store
        .list_sessions(&p.user.id, crate::store::now_millis())
        .await?;
    Ok(Json(json!(
        sessions
            .iter()
            .map(|s| {
                let mut v = json!(s);
                v["current"] = json!(current.as_deref() == Some(s.id.as_str()));
                v
            })
            .collect::<Vec<_>>()
    )))
}

/// Any signed-in user, for their own sessions.
#[utoipa::path(delete, path = "/api/account/sessions/{id}", tag = "account", summary = "End one of one's sessions", params(("id" = String, Path, description = "Session id")), responses((status = 204, description = "Ended")))]
pub async fn delete_session(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    authorize(&p, Permission::AccountSecurity)?;
    if !state.store.delete_session_by_id(&p.user.id, &id).await? {
        return Err(ApiError::NotFound(format!("session {id}")));
    }
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "session.revoke",
        None,
        Some(&p.user.id),
        &json!({"session": id}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
