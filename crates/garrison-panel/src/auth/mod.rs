//! Who is calling, and the one permission check every handler goes through.

pub mod crypto;
pub mod tickets;

use crate::AppState;
use crate::error::ApiError;
use crate::store::User;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use garrison_proto::Permission;

pub const SESSION_COOKIE: &str = "garrison_session";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Session,
    ApiKey,
    WsTicket,
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub via: Credential,
}

/// The one permission check. Admins may do everything. Other users have their own
/// account only until per-server permissions (subusers) land with the accounts work.
pub fn authorize(p: &Principal, permission: Permission) -> Result<(), ApiError> {
    if p.user.is_admin {
        return Ok(());
    }
    match permission {
        Permission::AccountApiKeys => Ok(()),
        other => Err(ApiError::Forbidden(format!(
            "you lack the permission {}",
            other.as_str()
        ))),
    }
}

pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// True when a browser `Origin` header names another site than the `Host` it sent the
/// request to (or than one of the configured public origins).
pub fn origin_is_foreign(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    if state.config.allowed_origins.iter().any(|o| o == origin) {
        return false;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    match (origin_host, host) {
        (Some(o), Some(h)) => o != h,
        _ => true,
    }
}

/// Find the caller from an API key (`Authorization: Bearer`) or a session cookie.
pub async fn authenticate(state: &AppState, parts: &Parts) -> Result<Option<Principal>, ApiError> {
    let now = crate::store::now_millis();
    if let Some(token) = bearer(&parts.headers) {
        let hash = crypto::secret_hash(token);
        return match state.store.api_key_user(&hash, now).await? {
            Some((_, user)) => Ok(Some(Principal {
                user,
                via: Credential::ApiKey,
            })),
            None => Err(ApiError::Unauthorized),
        };
    }
    if let Some(token) = session_cookie(&parts.headers) {
        let hash = crypto::secret_hash(token);
        if let Some(user) = state.store.session_user(&hash, now).await? {
            // Cookies ride along on cross-site requests; refuse state changes that a
            // foreign page started.
            let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
            if !safe && origin_is_foreign(state, &parts.headers) {
                return Err(ApiError::Forbidden("cross-site request refused".into()));
            }
            return Ok(Some(Principal {
                user,
                via: Credential::Session,
            }));
        }
    }
    Ok(None)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(state, parts)
            .await?
            .ok_or(ApiError::Unauthorized)
    }
}
