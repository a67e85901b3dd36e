//! Who is calling, and the one permission check every handler goes through.

pub mod crypto;
pub mod tickets;

use crate::AppState;
use crate::error::ApiError;
use crate::store::{ServerRecord, User};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use garrison_proto::{Permission, Scope};
use std::net::IpAddr;

pub const SESSION_COOKIE: &str = "garrison_session";
/// Readable by the page's scripts, which echo it in `CSRF_HEADER` on every write.
pub const CSRF_COOKIE: &str = "garrison_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The CSRF token of a session: derived from the session token, so it needs no storage
/// and cannot be guessed without the HttpOnly session cookie.
pub fn csrf_token(session_token: &str) -> String {
    crypto::secret_hash(&format!("csrf:{session_token}"))
}

/// Constant-time comparison, so the check leaks nothing through timing.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Session,
    ApiKey,
    WsTicket,
    /// Signed in on the node's SFTP server (password or SSH key).
    Sftp,
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub via: Credential,
    /// Set when the caller used an API key.
    pub key_id: Option<String>,
    /// The permissions the API key is narrowed to; `None` = all its owner's rights.
    pub key_permissions: Option<Vec<Permission>>,
    /// An admin requires 2FA and this session's user has none yet: until they enrol,
    /// they may only manage their own account security.
    pub must_enrol_two_factor: bool,
}

/// What the caller is to one server.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerRole {
    Owner,
    Subuser(Vec<Permission>),
    Stranger,
}

/// The one permission check: every route and WebSocket message comes here with the
/// permission it needs and, for server permissions, the caller's role on that server.
/// A key never exceeds its scope nor its owner's current rights. Servers the caller
/// has no role on answer 404, so their existence does not leak.
pub fn check(p: &Principal, permission: Permission, role: &ServerRole) -> Result<(), ApiError> {
    if let Some(scope) = &p.key_permissions
        && !scope.contains(&permission)
    {
        return Err(ApiError::Forbidden(format!(
            "this API key does not allow {permission}"
        )));
    }
    if p.must_enrol_two_factor && permission != Permission::AccountSecurity {
        return Err(ApiError::Forbidden(
            "two-factor authentication is required: set it up on your account page first".into(),
        ));
    }
    if p.user.is_admin {
        return Ok(());
    }
    let lacks = || ApiError::Forbidden(format!("you lack the permission {permission}"));
    match permission.scope() {
        Scope::Account => Ok(()),
        Scope::Admin => Err(lacks()),
        Scope::Server => match role {
            ServerRole::Owner => Ok(()),
            // Every subuser may see the server they were invited to.
            ServerRole::Subuser(granted)
                if permission == Permission::ServerRead || granted.contains(&permission) =>
            {
                Ok(())
            }
            ServerRole::Subuser(_) => Err(lacks()),
            ServerRole::Stranger => Err(ApiError::NotFound("server".into())),
        },
    }
}

/// For account and admin permissions.
pub fn authorize(p: &Principal, permission: Permission) -> Result<(), ApiError> {
    check(p, permission, &ServerRole::Stranger)
}

/// For server permissions: looks up the caller's role on `server`, then `check`.
pub async fn authorize_server(
    state: &AppState,
    p: &Principal,
    permission: Permission,
    server: &ServerRecord,
) -> Result<(), ApiError> {
    let role = server_role(state, p, server).await?;
    check(p, permission, &role)
}

pub async fn server_role(
    state: &AppState,
    p: &Principal,
    server: &ServerRecord,
) -> Result<ServerRole, ApiError> {
    if server.owner_id.as_deref() == Some(p.user.id.as_str()) {
        return Ok(ServerRole::Owner);
    }
    if p.user.is_admin {
        return Ok(ServerRole::Stranger);
    }
    Ok(
        match state
            .store
            .subuser_permissions(&server.id, &p.user.id)
            .await?
        {
            Some(perms) => ServerRole::Subuser(perms),
            None => ServerRole::Stranger,
        },
    )
}

/// True when `ip` is one of `ranges` (single addresses or CIDR ranges like 10.0.0.0/8).
pub fn ip_allowed(ip: IpAddr, ranges: &[String]) -> bool {
    ranges.iter().any(|r| match parse_range(r) {
        Some((net, bits)) => in_range(ip, net, bits),
        None => false,
    })
}

/// Parse `addr` or `addr/bits`.
pub fn parse_range(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let addr: IpAddr = addr.trim().parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        Some(b) => b.trim().parse::<u8>().ok().filter(|b| *b <= max)?,
        None => max,
    };
    Some((addr, bits))
}

fn in_range(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let ip = match (ip, net) {
        (IpAddr::V6(v6), IpAddr::V4(_)) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        _ => ip,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
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

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
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
        let Some((key, user)) = state.store.api_key_user(&hash, now).await? else {
            return Err(ApiError::Unauthorized);
        };
        if let Some(ranges) = &key.allowed_ips {
            // The same client address everything else uses (trusted proxies honoured).
            let ip = state.limits.client_ip_of(parts);
            if !ip_allowed(ip, ranges) {
                return Err(ApiError::Forbidden(
                    "this API key may not be used from this address".into(),
                ));
            }
        }
        return Ok(Some(Principal {
            user,
            via: Credential::ApiKey,
            key_id: Some(key.id),
            key_permissions: key.permissions,
            must_enrol_two_factor: false,
        }));
    }
    if let Some(token) = session_cookie(&parts.headers) {
        let hash = crypto::secret_hash(token);
        let idle = state.config.session_idle.as_millis() as i64;
        if let Some(user) = state
            .store
            .session_user_idle(&hash, now, Some(idle))
            .await?
        {
            // Cookies ride along on cross-site requests: a write must carry the CSRF
            // token a foreign page cannot read, and must not come from a foreign origin.
            let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
            if !safe {
                if origin_is_foreign(state, &parts.headers) {
                    return Err(ApiError::Forbidden("cross-site request refused".into()));
                }
                let sent = parts
                    .headers
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !same(sent, &csrf_token(token)) {
                    return Err(ApiError::Forbidden(format!(
                        "missing or wrong {CSRF_HEADER} header (the value of the {CSRF_COOKIE} cookie)"
                    )));
                }
            }
            let must_enrol_two_factor = state
                .two_factor_required
                .load(std::sync::atomic::Ordering::Relaxed)
                && !state
                    .store
                    .two_factor(&user.id)
                    .await?
                    .is_some_and(|t| t.enabled);
            return Ok(Some(Principal {
                user,
                via: Credential::Session,
                key_id: None,
                key_permissions: None,
                must_enrol_two_factor,
            }));
        }
    }
    Ok(None)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The rate-limit layer already authenticated this request.
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        authenticate(state, parts)
            .await?
            .ok_or(ApiError::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let r = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(ip_allowed(ip("10.1.2.3"), &r(&["10.0.0.0/8"])));
        assert!(!ip_allowed(ip("11.1.2.3"), &r(&["10.0.0.0/8"])));
        assert!(ip_allowed(ip("127.0.0.1"), &r(&["127.0.0.1"])));
        assert!(ip_allowed(ip("::ffff:127.0.0.1"), &r(&["127.0.0.0/8"])));
        assert!(ip_allowed(ip("::1"), &r(&["::1/128"])));
        assert!(ip_allowed(ip("1.2.3.4"), &r(&["0.0.0.0/0"])));
        assert!(!ip_allowed(ip("1.2.3.4"), &r(&["junk", "1.2.3.4/33"])));
        assert_eq!(parse_range("10.0.0.0/8"), Some((ip("10.0.0.0"), 8)));
        assert_eq!(parse_range("nope"), None);
    }
}
