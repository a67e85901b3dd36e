//! `GET /api/events`: Server-Sent Events with every event the caller may see, for
//! dashboards and bots. Each SSE message is `event: <name>` and `data: <the event's
//! JSON>` (the same `{"event", "data"}` object the console WebSocket sends). Filters:
//! `?server=<id>` (repeatable) and `?events=<name or prefix>,...` (`server.status`,
//! `server`, `schedule`). A reader too slow for the stream gets `event: lagged` with how
//! many events it missed. The credential is checked again every 5 s (a revoked key or
//! ended session ends the stream) and the caller's servers every 30 s.

use crate::AppState;
use crate::api::ws::{RECHECK_EVERY, Recheck};
use crate::auth::{Principal, ServerRole, check, server_role};
use crate::error::{ApiError, ApiResult};
use crate::hub::ServerFrame;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use garrison_proto::{Permission, ServerId};
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

const ROLES_EVERY: Duration = Duration::from_secs(30);
const MAX_FILTERS: usize = 100;

struct Feed {
    state: AppState,
    principal: Principal,
    recheck: Recheck,
    rx: tokio::sync::broadcast::Receiver<ServerFrame>,
    roles: HashMap<ServerId, ServerRole>,
    servers: Option<HashSet<ServerId>>,
    kinds: Option<Vec<String>>,
    next_check: Instant,
    next_roles: Instant,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

impl Feed {
    fn wants(&self, f: &ServerFrame) -> bool {
        if self
            .servers
            .as_ref()
            .is_some_and(|s| !s.contains(&f.server))
        {
            return false;
        }
        if let Some(kinds) = &self.kinds {
            let k = f.frame.kind;
            let matches = kinds.iter().any(|want| {
                k == want || (k.starts_with(want.as_str()) && k[want.len()..].starts_with('.'))
            });
            if !matches {
                return false;
            }
        }
        let role = self
            .roles
            .get(&f.server)
            .cloned()
            .unwrap_or(ServerRole::Stranger);
        // Admins see every server; others only those they have a role on.
        if !self.principal.user.is_admin && role == ServerRole::Stranger {
            return false;
        }
        let needs = f.frame.needs.unwrap_or(Permission::ServerRead);
        check(&self.principal, Permission::ServerRead, &role).is_ok()
            && check(&self.principal, needs, &role).is_ok()
    }

    async fn next(mut self) -> Option<(Result<SseEvent, Infallible>, Feed)> {
        loop {
            let wake = self.next_check.min(self.next_roles);
            tokio::select! {
                _ = crate::shutting_down(&mut self.shutdown) => return None,
                _ = tokio::time::sleep_until(wake) => {
                    let now = Instant::now();
                    if now >= self.next_check {
                        self.next_check = now + RECHECK_EVERY;
                        if !self.recheck.holds(&self.state).await.unwrap_or(true) {
                            return None;
                        }
                    }
                    if now >= self.next_roles {
                        self.next_roles = now + ROLES_EVERY;
                        if let Ok(roles) = roles(&self.state, &self.principal).await {
                            self.roles = roles;
                        }
                    }
                }
                got = self.rx.recv() => match got {
                    Ok(f) if self.wants(&f) => {
                        let ev = SseEvent::default().event(f.frame.kind).data(f.frame.json.as_str());
                        return Some((Ok(ev), self));
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => {
                        let ev = SseEvent::default()
                            .event("lagged")
                            .data(format!("{{\"missed\":{n}}}"));
                        return Some((Ok(ev), self));
                    }
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }
}

/// The caller's role on each server it has one on (admins: none needed).
async fn roles(state: &AppState, p: &Principal) -> Result<HashMap<ServerId, ServerRole>, ApiError> {
    let mut out = HashMap::new();
    if p.user.is_admin {
        return Ok(out);
    }
    for r in state.store.list_servers().await? {
        let role = server_role(state, p, &r).await?;
        if role != ServerRole::Stranger {
            out.insert(r.id.clone(), role);
        }
    }
    Ok(out)
}

/// Signed in (each event also needs `server.read` on its server, and file, backup and
/// schedule events their own read permission)
#[utoipa::path(get, path = "/api/events", tag = "servers", summary = "Server-Sent Events of everything the caller may see", description = "A `text/event-stream`: `event: <name>` (`server.status`, `server.stats`, `server.console`, `server.backup`, `schedule.run`, …) with `data:` the event's JSON. `server` (repeatable) and `events` (comma-separated names or prefixes like `server`) filter it. `event: lagged` says how many events a slow reader missed. Ends when the credential is revoked.", params(("server" = Option<String>, Query, description = "Only this server (repeatable)"), ("events" = Option<String>, Query, description = "Comma-separated event names or prefixes")), responses((status = 200, description = "The event stream", content_type = "text/event-stream")))]
pub async fn events(
    State(state): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    // An API key narrowed below server.read has nothing to stream.
    if let Some(scope) = &p.key_permissions
        && !scope.contains(&Permission::ServerRead)
    {
        return Err(ApiError::Forbidden(
            "this API key does not allow server.read".into(),
        ));
    }
    let mut servers: Option<HashSet<ServerId>> = None;
    let mut kinds: Option<Vec<String>> = None;
    for (k, v) in q {
        match k.as_str() {
            "server" => {
                let set = servers.get_or_insert_with(HashSet::new);
                if set.len() >= MAX_FILTERS || v.is_empty() {
                    return Err(ApiError::invalid(
                        "server",
                        format!("1 to {MAX_FILTERS} server ids"),
                    ));
                }
                set.insert(ServerId(v));
            }
            "events" => {
                let list: Vec<String> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                if list.is_empty()
                    || list.len() > MAX_FILTERS
                    || list.iter().any(|s| {
                        s.len() > 64 || !s.chars().all(|c| c.is_ascii_lowercase() || c == '.')
                    })
                {
                    return Err(ApiError::invalid(
                        "events",
                        "comma-separated event names or prefixes, like server.status,schedule",
                    ));
                }
                kinds = Some(list);
            }
            other => {
                return Err(ApiError::unknown_param(other));
            }
        }
    }
    let now = Instant::now();
    let feed = Feed {
        // Subscribe first, so nothing published while the roles load is lost.
        rx: state.hub.subscribe_all(),
        roles: roles(&state, &p).await?,
        recheck: Recheck::of(&p, &headers),
        principal: p,
        servers,
        kinds,
        next_check: now + RECHECK_EVERY,
        next_roles: now + ROLES_EVERY,
        shutdown: state.shutdown.clone(),
        state,
    };
    let stream = futures_util::stream::unfold(feed, Feed::next);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
