//! The console WebSocket: history on connect, then live console lines, status changes
//! and stats; the client may send commands and power actions.
//!
//! Server → client frames are `proto::Event` JSON (`server.console`, `server.status`,
//! `server.stats`, `server.install`, `server.prompt`) plus three of this socket's own:
//! `hello` (current state and stats, the running install's last step or progress as
//! `install`, and an unanswered sign-in `prompt`, so a client joining mid-way misses
//! neither), `console.history` (recent lines and `next_seq`)
//! and `console.missed` (`{"lines": n}` this client lost because it read too slowly).
//! Errors come as `{"event": "error", "data": {...the API error object...}}`.
//! Client → server: `{"type": "command", "command": "..."}` and
//! `{"type": "power", "action": "start|stop|restart|kill"}`.

use crate::AppState;
use crate::auth::{Credential, Principal, authenticate, authorize_server, origin_is_foreign};
use crate::error::{ApiError, ApiResult};
use crate::hub::Frame;
use crate::json::parse_json;
use crate::ratelimit::ClientIp;
use axum::Json;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::response::Response;
use garrison_proto::{Permission, PowerAction, ServerId};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use tokio::sync::broadcast::error::RecvError;

/// Lines of history sent when a client connects (the node's ring buffer size).
const HISTORY_LINES: usize = 1000;

/// Permission: server.read. A ticket for one console connection, valid 60 s.
#[utoipa::path(post, path = "/api/servers/{id}/ws-ticket", tag = "servers", summary = "A one-time ticket for the console WebSocket", params(("id" = String, Path, description = "Server id")), responses((status = 200, description = "The ticket, valid 60 s", body = crate::api::openapi::shapes::WsTicket), (status = 503, description = "Too many open tickets")))]
pub async fn ticket(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = ServerId(id);
    let Some(server) = state.store.get_server(&id).await? else {
        return Err(ApiError::NotFound(format!("server {id}")));
    };
    authorize_server(&state, &p, Permission::ServerRead, &server).await?;
    let t = state
        .tickets
        .issue(&p.user.id, &id)
        .ok_or_else(|| ApiError::Unavailable("too many open tickets".into()))?;
    Ok(Json(json!({
        "ticket": t,
        "expires_in": crate::auth::tickets::TICKET_TTL.as_secs(),
    })))
}

/// Permission: server.read to watch; each command or power action is checked as it
/// arrives. Auth: session cookie, API key, or `?ticket=`.
#[utoipa::path(get, path = "/api/servers/{id}/ws", tag = "servers", summary = "The console WebSocket", description = "Upgrade to a WebSocket: `hello`, `console.history`, then live events; accepts `command` (needs `control.console`) and `power` (needs `control.<action>`) messages. Auth by session cookie, API key, or `?ticket=`; a foreign `Origin` is refused (403).", params(("id" = String, Path, description = "Server id"), ("ticket" = Option<String>, Query, description = "A ticket from `POST /api/servers/{id}/ws-ticket`")), responses((status = 101, description = "Switching to the WebSocket protocol")))]
pub async fn console(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let (mut parts, _body) = req.into_parts();
    if origin_is_foreign(&state, &parts.headers) {
        return Err(ApiError::Forbidden("cross-site WebSocket refused".into()));
    }
    let id = ServerId(id);
    let query: HashMap<String, String> = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let principal = match query.get("ticket") {
        Some(t) => {
            let user_id = state.tickets.redeem(t, &id).ok_or(ApiError::Unauthorized)?;
            let user = state
                .store
                .user_by_id(&user_id)
                .await?
                .filter(|u| !u.disabled)
                .ok_or(ApiError::Unauthorized)?;
            Principal {
                user,
                via: Credential::WsTicket,
                key_id: None,
                key_permissions: None,
                must_enrol_two_factor: false,
            }
        }
        None => authenticate(&state, &parts)
            .await?
            .ok_or(ApiError::Unauthorized)?,
    };
    let Some(server) = state.store.get_server(&id).await? else {
        return Err(ApiError::NotFound(format!("server {id}")));
    };
    authorize_server(&state, &principal, Permission::ServerRead, &server).await?;
    let recheck = Recheck::of(&principal, &parts.headers);
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &state)
        .await
        .map_err(|e| ApiError::BadRequest {
            code: "not_websocket",
            message: e.to_string(),
            field: None,
        })?;
    let ip = client_ip.to_string();
    Ok(upgrade
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| async move {
            let session = Session {
                state,
                principal,
                recheck,
                id,
                ip,
            };
            if let Err(e) = session.run(socket).await {
                tracing::debug!(error = %e, "console socket ended");
            }
        }))
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    Command { command: String },
    Power { action: PowerAction },
}

struct Session {
    state: AppState,
    principal: Principal,
    id: ServerId,
    ip: String,
    recheck: Recheck,
}

/// How often an open console checks that its credential still holds: a revoked key,
/// an ended session or a disabled user closes it within this time.
pub(crate) const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The credential an open console (or event stream) was opened with, to check again
/// while it runs.
pub(crate) enum Recheck {
    Session(String),
    Key(String),
    /// Opened with a one-time ticket: the user must stay enabled.
    User(String),
}

impl Recheck {
    pub(crate) fn of(principal: &Principal, headers: &axum::http::HeaderMap) -> Recheck {
        match (
            principal.via,
            crate::auth::bearer(headers),
            crate::auth::session_cookie(headers),
        ) {
            (Credential::ApiKey, Some(key), _) => {
                Recheck::Key(crate::auth::crypto::secret_hash(key))
            }
            (Credential::Session, _, Some(cookie)) => {
                Recheck::Session(crate::auth::crypto::secret_hash(cookie))
            }
            _ => Recheck::User(principal.user.id.clone()),
        }
    }

    pub(crate) async fn holds(&self, state: &AppState) -> Result<bool, ApiError> {
        let now = crate::store::now_millis();
        Ok(match self {
            Recheck::Session(hash) => state
                .store
                .session_user_idle(
                    hash,
                    now,
                    Some(state.config.session_idle.as_millis() as i64),
                )
                .await?
                .is_some(),
            Recheck::Key(hash) => state.store.api_key_user(hash, now).await?.is_some(),
            Recheck::User(id) => state
                .store
                .user_by_id(id)
                .await?
                .is_some_and(|u| !u.disabled),
        })
    }
}

#[derive(Debug, thiserror::Error)]
enum SocketEnd {
    #[error("client went away: {0}")]
    Closed(#[from] axum::Error),
    #[error("Garrison is shutting down")]
    Shutdown,
}

impl Session {
    async fn run(self, mut socket: WebSocket) -> Result<(), SocketEnd> {
        // One receiver for the loop's own shutdown branch, one for sends that block.
        let mut stop = self.state.shutdown.clone();
        let mut shutdown = self.state.shutdown.clone();
        // Subscribe before reading history so no line falls between the two.
        let mut live = self.state.hub.subscribe(&self.id);
        self.send(&mut socket, &mut shutdown, self.hello().await)
            .await?;
        let history = self
            .state
            .node
            .console(&self.id, HISTORY_LINES)
            .await
            .unwrap_or(garrison_proto::ConsoleSnapshot {
                lines: Vec::new(),
                next_seq: 0,
            });
        let mut expected = history.next_seq;
        let frame = json!({"event": "console.history", "data": history}).to_string();
        self.send(&mut socket, &mut shutdown, frame.into()).await?;
        let mut recheck = tokio::time::interval(RECHECK_EVERY);
        recheck.tick().await;
        let mut granted = self.frame_permissions().await;
        loop {
            tokio::select! {
                _ = recheck.tick() => {
                    granted = self.frame_permissions().await;
                    if !self.recheck.holds(&self.state).await.unwrap_or(true) {
                        let gone = json!({"event": "error", "data": ApiError::Unauthorized.body()["error"]});
                        let _ = socket.send(Message::Text(gone.to_string().into())).await;
                        let _ = socket.send(Message::Close(None)).await;
                        return Ok(());
                    }
                }
                frame = live.recv() => match frame {
                    Ok(Frame { needs: Some(p), .. }) if !granted.contains(&p) => {}
                    Ok(Frame { console: Some((seq, n)), json, .. }) => {
                        if seq + n <= expected {
                            continue; // already in the history
                        }
                        if seq > expected {
                            let missed = json!({"event": "console.missed", "data": {"lines": seq - expected}});
                            self.send(&mut socket, &mut shutdown, missed.to_string().into()).await?;
                        }
                        expected = seq + n;
                        self.send(&mut socket, &mut shutdown, json).await?;
                    }
                    Ok(Frame { console: None, json, .. }) => {
                        self.send(&mut socket, &mut shutdown, json).await?;
                    }
                    Err(RecvError::Lagged(_)) => {
                        // Lost frames may have held status changes: say where things
                        // stand now. Lost console lines show as a gap in `seq`.
                        self.send(&mut socket, &mut shutdown, self.hello().await).await?;
                    }
                    Err(RecvError::Closed) => {
                        let gone = json!({"event": "error", "data": ApiError::NotFound(format!("server {}", self.id)).body()["error"]});
                        let _ = socket.send(Message::Text(gone.to_string().into())).await;
                        return Ok(());
                    }
                },
                msg = socket.recv() => match msg {
                    Some(Ok(Message::Text(text))) => {
                        if let Err(e) = self.handle(text.as_bytes()).await {
                            let err = json!({"event": "error", "data": e.body()["error"]});
                            self.send(&mut socket, &mut shutdown, err.to_string().into()).await?;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None => return Ok(()),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.into()),
                },
                _ = crate::shutting_down(&mut stop) => {
                    let _ = socket.send(Message::Close(None)).await;
                    return Err(SocketEnd::Shutdown);
                }
            }
        }
    }

    /// Whether the caller holds `permission` on the server now.
    /// Which of the permissions frames may need (`Frame::needs`) the caller holds now.
    async fn frame_permissions(&self) -> Vec<Permission> {
        let mut out = Vec::new();
        for p in crate::hub::FRAME_PERMISSIONS {
            if self.may(*p).await {
                out.push(*p);
            }
        }
        out
    }

    async fn may(&self, permission: Permission) -> bool {
        match self.state.store.get_server(&self.id).await {
            Ok(Some(r)) => authorize_server(&self.state, &self.principal, permission, &r)
                .await
                .is_ok(),
            _ => false,
        }
    }

    /// Send one frame, giving up if Garrison shuts down while the client is not reading.
    async fn send(
        &self,
        socket: &mut WebSocket,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
        text: Utf8Bytes,
    ) -> Result<(), SocketEnd> {
        tokio::select! {
            r = socket.send(Message::Text(text)) => Ok(r?),
            _ = crate::shutting_down(shutdown) => Err(SocketEnd::Shutdown),
        }
    }

    async fn hello(&self) -> Utf8Bytes {
        let state = self.state.node.state(&self.id).await.ok();
        let stats = self.state.node.stats(&self.id).await.ok();
        let catchup = self.state.hub.catchup(&self.id);
        json!({"event": "hello", "data": {"server": self.id, "state": state, "stats": stats,
            "install": catchup.install, "prompt": catchup.prompt}})
        .to_string()
        .into()
    }

    /// Each message is checked like its REST twin (`do_command`, `do_power`), against
    /// the server as it is now: a permission taken away applies at once.
    async fn handle(&self, text: &[u8]) -> ApiResult<()> {
        let message = parse_json::<ClientMessage>(text)?;
        let server = self
            .state
            .store
            .get_server(&self.id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("server {}", self.id)))?;
        match message {
            ClientMessage::Command { command } => {
                super::servers::do_command(
                    &self.state,
                    &self.principal,
                    &server,
                    &command,
                    Some(&self.ip),
                )
                .await
            }
            ClientMessage::Power { action } => super::servers::do_power(
                &self.state,
                &self.principal,
                &server,
                action,
                Some(&self.ip),
            )
            .await
            .map(|_| ()),
        }
    }
}
