//! Login and logout. Sessions are random tokens in an HttpOnly, SameSite=Strict cookie,
//! stored only as their SHA-256.

use crate::AppState;
use crate::auth::{SESSION_COOKIE, crypto, session_cookie};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::store::now_millis;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    password: String,
}

/// No authentication (this is how one gets it).
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    if req.username.len() > 128 || req.password.len() > 1024 {
        return Err(ApiError::InvalidCredentials);
    }
    let user = state.store.user_by_username(&req.username).await?;
    let ok = match &user {
        Some(u) => crypto::verify_password(req.password, u.password_hash.clone())
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        None => {
            // Spend the same time as a real check so usernames cannot be probed.
            let _ = crypto::hash_password(req.password).await;
            false
        }
    };
    let ip = addr.ip().to_string();
    let Some(user) = user.filter(|_| ok) else {
        state
            .store
            .audit(
                None,
                "auth.login_failed",
                None,
                Some(&ip),
                &json!({"username": req.username}),
            )
            .await?;
        return Err(ApiError::InvalidCredentials);
    };
    let token = crypto::new_secret("gss_");
    let ttl = state.config.session_ttl;
    let expires = now_millis() + ttl.as_millis() as i64;
    state
        .store
        .create_session(&crypto::secret_hash(&token), &user.id, expires)
        .await?;
    state
        .store
        .audit(
            Some(&user.id),
            "auth.login",
            Some(&user.id),
            Some(&ip),
            &json!({}),
        )
        .await?;
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        ttl.as_secs()
    );
    let cookie = HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.to_string()))?;
    let body = Json(
        json!({"user": {"id": user.id, "username": user.username, "is_admin": user.is_admin}}),
    );
    Ok(([(header::SET_COOKIE, cookie)], body).into_response())
}

/// Ends the cookie session, if any. Always succeeds.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(token) = session_cookie(&headers) {
        state
            .store
            .delete_session(&crypto::secret_hash(token))
            .await?;
    }
    let clear =
        HeaderValue::from_static("garrison_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}
