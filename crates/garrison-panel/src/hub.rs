//! Per-server fan-out of events to WebSocket clients. Each event is serialized once;
//! every subscriber reads from a bounded broadcast ring, so a slow reader only loses
//! its own frames (and learns how many console lines from the sequence gap) and never
//! slows the game server or other readers.

use axum::extract::ws::Utf8Bytes;
use garrison_proto::{Event, InstallEvent, InstallPhase, Prompt, ServerId, ServerState};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Sign-in codes expire; an older prompt is not shown to a client that joins later.
const PROMPT_FRESH: Duration = Duration::from_secs(15 * 60);

/// Frames buffered per server before the slowest reader starts losing them. A console
/// frame holds up to a few hundred lines, so this is tens of thousands of lines.
const FRAMES_PER_SERVER: usize = 1024;

#[derive(Clone, Debug)]
pub struct Frame {
    /// The event's name (`server.status`, …).
    pub kind: &'static str,
    /// For console frames: the sequence number of the first line and the line count.
    pub console: Option<(u64, u64)>,
    /// A permission beyond `server.read` a client must hold to get this frame (file
    /// paths are for those who may list files).
    pub needs: Option<garrison_proto::Permission>,
    pub json: Utf8Bytes,
}

/// The permissions a frame may need beyond `server.read` (see `Frame::needs`).
pub const FRAME_PERMISSIONS: &[garrison_proto::Permission] = &[
    garrison_proto::Permission::FileRead,
    garrison_proto::Permission::BackupRead,
    garrison_proto::Permission::ScheduleRead,
];

/// Frames of every server, for streams that follow many (`GET /api/events`).
const FRAMES_ALL_SERVERS: usize = 4096;

/// A frame on the all-servers channel, with the server it is about.
#[derive(Clone, Debug)]
pub struct ServerFrame {
    pub server: ServerId,
    pub frame: Frame,
}

pub struct Hub {
    channels: Mutex<HashMap<ServerId, broadcast::Sender<Frame>>>,
    all: broadcast::Sender<ServerFrame>,
    /// What a client that connects mid-way must still see: the install's last step or
    /// progress, and a sign-in prompt not yet answered.
    pending: Mutex<HashMap<ServerId, Pending>>,
}

#[derive(Default, Clone)]
struct Pending {
    install: Option<InstallEvent>,
    prompt: Option<(Prompt, Instant)>,
}

/// The parts of `Pending` a `hello` carries.
#[derive(Debug, Clone, Default)]
pub struct Catchup {
    pub install: Option<InstallEvent>,
    pub prompt: Option<Prompt>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            channels: Mutex::default(),
            all: broadcast::channel(FRAMES_ALL_SERVERS).0,
            pending: Mutex::default(),
        }
    }
}

impl Hub {
    /// Every server's frames (each subscriber filters what its caller may see).
    pub fn subscribe_all(&self) -> broadcast::Receiver<ServerFrame> {
        self.all.subscribe()
    }

    fn sender(&self, id: &ServerId) -> broadcast::Sender<Frame> {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id.clone())
            .or_insert_with(|| broadcast::channel(FRAMES_PER_SERVER).0)
            .clone()
    }

    pub fn subscribe(&self, id: &ServerId) -> broadcast::Receiver<Frame> {
        self.sender(id).subscribe()
    }

    /// The install step and open prompt a client joining now needs to be told.
    pub fn catchup(&self, id: &ServerId) -> Catchup {
        let map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let Some(p) = map.get(id) else {
            return Catchup::default();
        };
        Catchup {
            install: p.install.clone(),
            prompt: p
                .prompt
                .as_ref()
                .filter(|(_, at)| at.elapsed() < PROMPT_FRESH)
                .map(|(prompt, _)| prompt.clone()),
        }
    }

    fn remember(&self, event: &Event) {
        let mut map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Event::Install(i) => {
                let p = map.entry(i.server.clone()).or_default();
                match i.phase {
                    InstallPhase::Started => {
                        p.install = Some(i.clone());
                        p.prompt = None;
                    }
                    InstallPhase::Step => p.install = Some(i.clone()),
                    // A progress event keeps the step's description.
                    InstallPhase::Progress => {
                        let message = p.install.as_ref().and_then(|s| s.message.clone());
                        p.install = Some(InstallEvent {
                            message: i.message.clone().or(message),
                            ..i.clone()
                        });
                    }
                    InstallPhase::Prompt => {
                        if let Some(prompt) = &i.prompt {
                            p.prompt = Some((prompt.clone(), Instant::now()));
                        }
                    }
                    InstallPhase::Finished | InstallPhase::Failed | InstallPhase::Cancelled => {
                        p.install = None;
                        p.prompt = None;
                    }
                }
            }
            Event::Prompt(e) => {
                map.entry(e.server.clone()).or_default().prompt =
                    Some((e.prompt.clone(), Instant::now()));
            }
            // The process that asked is gone: its prompt with it.
            Event::Status(s) if matches!(s.state, ServerState::Offline | ServerState::Crashed) => {
                if let Some(p) = map.get_mut(&s.server)
                    && p.install.is_none()
                {
                    p.prompt = None;
                }
            }
            _ => {}
        }
    }

    /// Serialize and send `event` to the server's subscribers, if there are any.
    pub fn publish(&self, event: &Event) {
        if matches!(
            event,
            Event::Install(_) | Event::Prompt(_) | Event::Status(_)
        ) {
            self.remember(event);
        }
        let tx = {
            let map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(event.server()) {
                Some(tx) if tx.receiver_count() > 0 => Some(tx.clone()),
                _ => None,
            }
        };
        let global = self.all.receiver_count() > 0;
        if tx.is_none() && !global {
            return;
        }
        let console = match event {
            Event::Console(c) => Some((c.seq, c.lines.len() as u64)),
            _ => None,
        };
        match serde_json::to_string(event) {
            Ok(json) => {
                let frame = Frame {
                    kind: event.kind(),
                    console,
                    needs: match event {
                        Event::File(_) => Some(garrison_proto::Permission::FileRead),
                        Event::Backup(_) => Some(garrison_proto::Permission::BackupRead),
                        Event::Schedule(_) => Some(garrison_proto::Permission::ScheduleRead),
                        _ => None,
                    },
                    json: json.into(),
                };
                // Errors only mean every receiver left meanwhile.
                if global {
                    let _ = self.all.send(ServerFrame {
                        server: event.server().clone(),
                        frame: frame.clone(),
                    });
                }
                if let Some(tx) = tx {
                    let _ = tx.send(frame);
                }
            }
            Err(e) => tracing::error!(error = %e, "could not serialize an event"),
        }
    }

    /// Forget a deleted server: its subscribers see the channel close.
    pub fn remove(&self, id: &ServerId) {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(id);
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.remove(id);
    }
}
