//! Who is playing. A running server whose template has `players` patterns gets a
//! console tracker (joins and leaves are stored); one whose template has a `query` is
//! asked every `query_every` over its game's protocol. The count (the query's when
//! fresh, else the console's) goes to the metrics history as `players`.

use crate::AppState;
use crate::store::{ServerRecord, now_millis};
use garrison_proto::{ConsoleEvent, QueryProtocol, ServerId, ServerState, StatusEvent, Template};
use garrison_query::{PlayerChange, PlayerTracker, QueryKind, QueryReply};
use serde::Serialize;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone)]
pub struct PlayerSettings {
    pub query_every: Duration,
    /// Joins and leaves are kept this many days.
    pub history_days: u32,
}

impl Default for PlayerSettings {
    fn default() -> Self {
        PlayerSettings {
            query_every: Duration::from_secs(30),
            history_days: 90,
        }
    }
}

/// What the API says about a server's players now.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Now {
    pub online: Option<u32>,
    pub max: Option<u32>,
    pub names: Vec<String>,
    /// `query` or `console`.
    pub source: Option<&'static str>,
    pub updated_at: Option<i64>,
}

struct Tracked {
    tracker: Option<PlayerTracker>,
    query: Option<(QueryKind, u16)>,
    /// The last answer to a query (or Luanti announce), and when.
    reply: Option<(QueryReply, i64)>,
    /// `query` or `announce`: where `reply` came from.
    reply_via: &'static str,
    console_at: Option<i64>,
}

#[derive(Default)]
pub struct Players {
    servers: Mutex<HashMap<ServerId, Tracked>>,
}

fn kind(p: QueryProtocol) -> QueryKind {
    match p {
        QueryProtocol::A2s => QueryKind::A2s,
        QueryProtocol::MinecraftSlp => QueryKind::MinecraftSlp,
        QueryProtocol::MinecraftQuery => QueryKind::MinecraftQuery,
        QueryProtocol::Openttd => QueryKind::OpenTtd,
    }
}

/// The port a template's query asks, for a server on `port`.
fn query_port(t: &Template, port: u16) -> Option<u16> {
    let q = t.query.as_ref()?;
    let offset = match &q.port {
        None => 0,
        Some(name) => {
            let i = t.ports.iter().position(|p| &p.name == name)?;
            if i == 0 { 0 } else { t.ports[i].offset }
        }
    };
    port.checked_add(offset)
}

impl Players {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<ServerId, Tracked>> {
        self.servers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A server starts: set up its tracker and query from its template.
    fn start(&self, r: &ServerRecord, t: &Template) {
        let tracker = t.players.as_ref().and_then(|p| {
            PlayerTracker::new(&p.join, &p.leave)
                .map_err(|e| tracing::warn!(server = %r.id, error = %e, "bad player patterns"))
                .ok()
        });
        let query = t
            .query
            .as_ref()
            .and_then(|q| Some((kind(q.protocol), query_port(t, r.port)?)));
        // A template that announces to us (Luanti) is tracked for its announces.
        let announces = t
            .config_files
            .iter()
            .any(|f| f.set.iter().any(|s| s.value.contains("{{announce_url}}")));
        if tracker.is_none() && query.is_none() && !announces {
            self.map().remove(&r.id);
            return;
        }
        self.map().insert(
            r.id.clone(),
            Tracked {
                tracker,
                query,
                reply: None,
                reply_via: "query",
                console_at: None,
            },
        );
    }

    /// The players online: the query's fresh answer, else the console's count; `None`
    /// when the server is not counted.
    pub fn count(&self, id: &ServerId) -> Option<u32> {
        let map = self.map();
        let t = map.get(id)?;
        let fresh = |at: i64| now_millis() - at < 3 * 60_000;
        if let Some((reply, at)) = &t.reply
            && fresh(*at)
        {
            return Some(reply.players);
        }
        t.tracker
            .as_ref()
            .map(|tr| u32::try_from(tr.online().len()).unwrap_or(u32::MAX))
    }

    /// A Luanti server's announce: `Some` on start/update, `None` on delete. False when
    /// the server is not being tracked (not started by this panel).
    pub fn announce(&self, id: &ServerId, reply: Option<QueryReply>) -> bool {
        let mut map = self.map();
        let Some(t) = map.get_mut(id) else {
            return false;
        };
        t.reply = reply.map(|r| (r, now_millis()));
        t.reply_via = "announce";
        true
    }

    pub fn now(&self, id: &ServerId) -> Now {
        let map = self.map();
        let Some(t) = map.get(id) else {
            return Now::default();
        };
        let console: Vec<String> = t.tracker.as_ref().map(|tr| tr.online()).unwrap_or_default();
        if let Some((reply, at)) = &t.reply {
            let names = if reply.names.is_empty() {
                console
            } else {
                reply.names.clone()
            };
            return Now {
                online: Some(reply.players),
                max: Some(reply.max_players),
                names,
                source: Some(t.reply_via),
                updated_at: Some(*at),
            };
        }
        match &t.tracker {
            Some(_) => Now {
                online: Some(u32::try_from(console.len()).unwrap_or(u32::MAX)),
                max: None,
                names: console,
                source: Some("console"),
                updated_at: t.console_at,
            },
            None => Now::default(),
        }
    }
}

/// From the pump: a status change starts or ends tracking.
pub async fn on_status(state: &AppState, s: &StatusEvent) {
    match s.state {
        ServerState::Starting => {
            let Ok(Some(r)) = state.store.get_server(&s.server).await else {
                return;
            };
            if let Ok(t) = state.templates.require(&r.template) {
                state.players.start(&r, &t.template);
            }
        }
        ServerState::Offline | ServerState::Crashed => {
            let left: Vec<String> = {
                let mut map = state.players.map();
                let Some(t) = map.remove(&s.server) else {
                    return;
                };
                t.tracker.map(|tr| tr.online()).unwrap_or_default()
            };
            // Whoever was on has left with the server.
            for name in left {
                record(state, &s.server, &name, false).await;
            }
        }
        _ => {}
    }
}

/// From the pump: console lines may say someone joined or left.
pub async fn on_console(state: &AppState, c: &ConsoleEvent) {
    let changes: Vec<PlayerChange> = {
        let mut map = state.players.map();
        let Some(t) = map.get_mut(&c.server) else {
            return;
        };
        let Some(tracker) = t.tracker.as_mut() else {
            return;
        };
        let changes: Vec<_> = c.lines.iter().filter_map(|l| tracker.line(l)).collect();
        if !changes.is_empty() {
            t.console_at = Some(now_millis());
        }
        changes
    };
    if changes.is_empty() {
        return;
    }
    for ch in &changes {
        match ch {
            PlayerChange::Joined(n) => record(state, &c.server, n, true).await,
            PlayerChange::Left(n) => record(state, &c.server, n, false).await,
        }
    }
}

async fn record(state: &AppState, server: &ServerId, name: &str, joined: bool) {
    if let Err(e) = state
        .store
        .insert_player_event(server, name, joined, now_millis())
        .await
    {
        tracing::warn!(server = %server, error = %e, "cannot record a player event");
    }
}

/// The query task: asks every tracked server with a query; ends on shutdown.
pub async fn run(state: AppState) {
    let every = state.config.players.query_every.max(Duration::from_secs(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut shutdown = state.shutdown.clone();
    let mut last_prune = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = crate::shutting_down(&mut shutdown) => return,
        }
        let targets: Vec<(ServerId, QueryKind, u16)> = state
            .players
            .map()
            .iter()
            .filter_map(|(id, t)| t.query.map(|(k, p)| (id.clone(), k, p)))
            .collect();
        for (id, k, port) in targets {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let answer = tokio::select! {
                a = garrison_query::query(k, addr, QUERY_TIMEOUT) => a,
                _ = crate::shutting_down(&mut shutdown) => return,
            };
            match answer {
                Ok(reply) => {
                    if let Some(t) = state.players.map().get_mut(&id) {
                        t.reply = Some((reply, now_millis()));
                    }
                }
                Err(e) => tracing::debug!(server = %id, error = %e, "player query failed"),
            }
        }
        let now = now_millis();
        if now - last_prune > 3_600_000 {
            last_prune = now;
            let keep = i64::from(state.config.players.history_days) * 86_400_000;
            if let Err(e) = state.store.prune_player_events(now - keep).await {
                tracing::warn!(error = %e, "cannot prune player history");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_ports_follow_the_template() {
        let t: Template = toml::from_str(
            r#"
id = "t"
name = "T"
game = "t"
ports = [{ name = "game", default = 2456 }, { name = "query", offset = 1 }]
[startup]
command = ["x"]
stop = { type = "signal", signal = "SIGTERM" }
stop_timeout_secs = 5
[query]
protocol = "a2s"
port = "query"
"#,
        )
        .unwrap();
        assert_eq!(query_port(&t, 2456), Some(2457));
        let mut own = t.clone();
        own.query.as_mut().unwrap().port = None;
        assert_eq!(query_port(&own, 2456), Some(2456));
        let mut none = t;
        none.query = None;
        assert_eq!(query_port(&none, 2456), None);
    }
}
