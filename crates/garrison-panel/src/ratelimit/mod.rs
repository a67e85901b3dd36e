//! Rate limits and login lockout, all in memory, and the one way to learn a request's
//! client IP.
//!
//! - **API**: every `/api` request except `GET /api/health` counts against a GCRA
//!   bucket ([`gcra`]): per API key (`key:<id>`) or per user (`user:<id>`, sessions)
//!   when the caller authenticates, else per client network (`ip:<addr>`, IPv6 by /64).
//!   A WebSocket upgrade is one request; its messages are not counted. Over the limit:
//!   `429` with `Retry-After` and the usual JSON error. [`api_middleware`] is the layer.
//! - **Login** ([`login`]): failures per client network and per account name; `N`
//!   failures within the window lock the key with a doubling lockout, written to the
//!   audit log as `auth.lockout` once per lockout. Use [`Limits::check_login`].
//! - **Client IP** ([`client_ip`], [`ClientIp`]): the socket's peer address unless that
//!   peer is a configured trusted proxy, then the right-most address in
//!   `X-Forwarded-For` that is not a trusted proxy.
//!
//! Every map of per-key state is capped ([`bounded`]) and idle keys are swept, so a
//! flood of new addresses or account names costs bounded memory.

mod bounded;
pub mod gcra;
pub mod login;

use crate::AppState;
use crate::auth::{self, Credential};
use crate::error::ApiError;
use crate::store::{Store, StoreError};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
pub use ipnet::IpNet;
use serde_json::json;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most keys tracked by each API limiter (~100 bytes each).
pub const MAX_API_KEYS: usize = 50_000;
/// Most keys (networks plus account names) tracked by the login throttle.
pub const MAX_LOGIN_KEYS: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Off: no API limits and no login lockout (benchmarks, trusted setups).
    pub enabled: bool,
    /// Requests per minute per API key or user (a burst of this many is allowed).
    pub api_per_minute: u32,
    /// Requests per minute per client network for requests without valid credentials.
    pub anonymous_per_minute: u32,
    /// Failed logins per account name and per client network before a lockout.
    pub login_attempts: u32,
    pub login_window_secs: u64,
    /// The first lockout; each further one doubles, up to `lockout_max_secs`.
    pub lockout_base_secs: u64,
    pub lockout_max_secs: u64,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            api_per_minute: 3000,
            anonymous_per_minute: 60,
            login_attempts: 5,
            login_window_secs: 15 * 60,
            lockout_base_secs: 60,
            lockout_max_secs: 3600,
            trusted_proxies: Vec::new(),
        }
    }
}

/// `10.0.0.1` or `10.0.0.0/8` (IPv6 alike).
pub fn parse_trusted_proxy(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{s:?} is not an IP address or a range like 10.0.0.0/8"))
}

/// The client's address: `peer` unless `peer` is a trusted proxy; then the right-most
/// `X-Forwarded-For` address that is not a trusted proxy (entries left of it were
/// written by the client and prove nothing). If every listed hop is trusted, the
/// left-most one.
pub fn client_ip(trusted: &[IpNet], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // A trusted proxy wrote something unreadable: stop at the last known hop.
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:5678`.
fn parse_hop(s: &str) -> Option<IpAddr> {
    let ip = s
        .parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))?;
    Some(ip.to_canonical())
}

/// The key one client network is limited by: the address, or its /64 for IPv6 (one
/// subscriber usually holds a whole /64).
pub fn network_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => {
            let net = Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64));
            format!("ip:{net}/64")
        }
    }
}

fn retry_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// A lockout that one failed attempt caused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockout {
    /// `"account"` or `"ip"`.
    pub scope: &'static str,
    pub duration: Duration,
}

/// Held in [`AppState`]: the API limiters, the login throttle and the proxy list.
pub struct Limits {
    config: RateLimitConfig,
    api: gcra::RateLimiter,
    anonymous: gcra::RateLimiter,
    login: login::LoginThrottle,
}

impl Limits {
    pub fn new(config: RateLimitConfig) -> Limits {
        Self::with_capacity(config, MAX_API_KEYS, MAX_LOGIN_KEYS)
    }

    pub fn with_capacity(config: RateLimitConfig, api_keys: usize, login_keys: usize) -> Limits {
        Limits {
            api: gcra::RateLimiter::per_minute(config.api_per_minute, api_keys),
            anonymous: gcra::RateLimiter::per_minute(config.anonymous_per_minute, api_keys),
            login: login::LoginThrottle::new(
                login::LoginParams {
                    attempts: config.login_attempts.max(1),
                    window: Duration::from_secs(config.login_window_secs.max(1)),
                    lockout_base: Duration::from_secs(config.lockout_base_secs.max(1)),
                    lockout_max: Duration::from_secs(
                        config.lockout_max_secs.max(config.lockout_base_secs).max(1),
                    ),
                },
                login_keys,
            ),
            config,
        }
    }

    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// See [`client_ip`].
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        client_ip(&self.config.trusted_proxies, peer, headers)
    }

    /// The client IP of a request (the `ClientIp` the API layer stored, else computed
    /// from the socket address and headers).
    pub fn client_ip_of(&self, parts: &Parts) -> IpAddr {
        if let Some(ClientIp(ip)) = parts.extensions.get::<ClientIp>() {
            return *ip;
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        self.client_ip(peer, &parts.headers)
    }

    /// Counts one API request for `key` (see [`api_key_for`]).
    pub fn check_api(&self, key: &ApiKeyKind) -> Result<(), ApiError> {
        if !self.config.enabled {
            return Ok(());
        }
        let now = Instant::now();
        let res = match key {
            ApiKeyKind::Principal(k) => self.api.check(k, now),
            ApiKeyKind::Anonymous(ip) => self.anonymous.check(&network_key(*ip), now),
        };
        res.map_err(|wait| ApiError::TooManyRequests {
            retry_after_secs: retry_secs(wait),
        })
    }

    /// Before checking a password (or a second factor): refuses with 429 while the
    /// client network or the account is locked out. The returned attempt must be
    /// settled with [`LoginAttempt::failed`] or [`LoginAttempt::succeeded`]; dropping it
    /// counts as neither (use that after a right password when a second factor is
    /// still to come: only a complete login clears the account's failures).
    pub fn check_login(
        self: &Arc<Self>,
        ip: IpAddr,
        username: &str,
    ) -> Result<LoginAttempt, ApiError> {
        let keys = if self.config.enabled {
            vec![network_key(ip), account_key(username)]
        } else {
            Vec::new()
        };
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        if let Err(wait) = self.login.begin(&refs, Instant::now()) {
            tracing::info!(%ip, username, "login refused: locked out");
            return Err(ApiError::TooManyRequests {
                retry_after_secs: retry_secs(wait),
            });
        }
        Ok(LoginAttempt {
            limits: self.clone(),
            ip,
            username: username.to_owned(),
            keys,
            settled: false,
        })
    }
}

fn account_key(username: &str) -> String {
    format!("user:{}", username.trim().to_lowercase())
}

/// What an API request is counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKeyKind {
    /// `key:<id>` or `user:<id>`.
    Principal(String),
    Anonymous(IpAddr),
}

/// The bucket for a caller: its API key, else its user, else its network.
pub fn api_key_for(principal: Option<&auth::Principal>, ip: IpAddr) -> ApiKeyKind {
    match principal {
        Some(p) => match (&p.via, &p.key_id) {
            (Credential::ApiKey, Some(id)) => ApiKeyKind::Principal(format!("key:{id}")),
            _ => ApiKeyKind::Principal(format!("user:{}", p.user.id)),
        },
        None => ApiKeyKind::Anonymous(ip),
    }
}

/// One login (or second-factor) attempt, reserved by [`Limits::check_login`].
pub struct LoginAttempt {
    limits: Arc<Limits>,
    ip: IpAddr,
    username: String,
    keys: Vec<String>,
    settled: bool,
}

impl LoginAttempt {
    fn key_refs(&self) -> Vec<&str> {
        self.keys.iter().map(String::as_str).collect()
    }

    /// The credentials were wrong. Writes an `auth.lockout` audit entry for each
    /// lockout this failure started, and returns them.
    pub async fn failed(mut self, store: &Store) -> Result<Vec<Lockout>, StoreError> {
        self.settled = true;
        let keys = self.key_refs();
        let locked = self
            .limits
            .login
            .finish(&keys, login::Outcome::Failed, &[], Instant::now());
        let lockouts: Vec<Lockout> = locked
            .into_iter()
            .map(|(key, duration)| Lockout {
                scope: if key.starts_with("user:") {
                    "account"
                } else {
                    "ip"
                },
                duration,
            })
            .collect();
        let ip = self.ip.to_string();
        for l in &lockouts {
            tracing::warn!(%ip, username = %self.username, scope = l.scope,
                secs = l.duration.as_secs(), "login lockout");
            store
                .audit(
                    None,
                    "auth.lockout",
                    None,
                    Some(&ip),
                    &json!({
                        "username": self.username,
                        "scope": l.scope,
                        "lockout_secs": l.duration.as_secs(),
                        "failures": self.limits.config.login_attempts,
                    }),
                )
                .await?;
        }
        Ok(lockouts)
    }

    /// The login completed: the account's failures and lockouts are cleared (the
    /// network's are not, or one account of one's own would reset them).
    pub fn succeeded(mut self) {
        self.settled = true;
        let keys = self.key_refs();
        let account: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| k.starts_with("user:"))
            .collect();
        self.limits
            .login
            .finish(&keys, login::Outcome::Succeeded, &account, Instant::now());
    }
}

impl Drop for LoginAttempt {
    fn drop(&mut self) {
        if !self.settled && !self.keys.is_empty() {
            let keys = self.key_refs();
            self.limits
                .login
                .finish(&keys, login::Outcome::Abandoned, &[], Instant::now());
        }
    }
}

/// The client IP as an extractor: `ClientIp(ip): ClientIp` in a handler. Use this
/// instead of `ConnectInfo<SocketAddr>` so trusted proxies are honoured everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        Ok(ClientIp(state.limits.client_ip_of(parts)))
    }
}

fn exempt(path: &str) -> bool {
    // Inside the nested `/api` router the prefix is already stripped.
    matches!(path, "/health" | "/api/health")
}

/// The `/api` layer: works out the client IP (stored as [`ClientIp`]) and, when limits
/// are on, the caller (stored as the request's `Principal`, so handlers do not look it
/// up again), then counts the request.
pub async fn api_middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let ip = state.limits.client_ip_of(&parts);
    parts.extensions.insert(ClientIp(ip));
    if state.limits.config.enabled && !exempt(parts.uri.path()) {
        // Bad or missing credentials count against the network; the handler answers
        // them as it always does.
        let principal = auth::authenticate(&state, &parts).await.ok().flatten();
        let key = api_key_for(principal.as_ref(), ip);
        if let Some(p) = principal {
            parts.extensions.insert(p);
        }
        if let Err(e) = state.limits.check_api(&key) {
            tracing::debug!(?key, "API rate limit reached");
            return e.into_response();
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests;
