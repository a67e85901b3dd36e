//! Per-server fan-out of events to WebSocket clients. Each event is serialized once;
//! every subscriber reads from a bounded broadcast ring, so a slow reader only loses
//! its own frames (and learns how many console lines from the sequence gap) and never
//! slows the game server or other readers.

use axum::extract::ws::Utf8Bytes;
use garrison_proto::{Event, ServerId};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::broadcast;

/// Frames buffered per server before the slowest reader starts losing them. A console
/// frame holds up to a few hundred lines, so this is tens of thousands of lines.
const FRAMES_PER_SERVER: usize = 1024;

#[derive(Clone, Debug)]
pub struct Frame {
    /// For console frames: the sequence number of the first line and the line count.
    pub console: Option<(u64, u64)>,
    pub json: Utf8Bytes,
}

#[derive(Default)]
pub struct Hub {
    channels: Mutex<HashMap<ServerId, broadcast::Sender<Frame>>>,
}

impl Hub {
    fn sender(&self, id: &ServerId) -> broadcast::Sender<Frame> {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id.clone())
            .or_insert_with(|| broadcast::channel(FRAMES_PER_SERVER).0)
            .clone()
    }

    pub fn subscribe(&self, id: &ServerId) -> broadcast::Receiver<Frame> {
        self.sender(id).subscribe()
    }

    /// Serialize and send `event` to the server's subscribers, if there are any.
    pub fn publish(&self, event: &Event) {
        let tx = {
            let map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(event.server()) {
                Some(tx) if tx.receiver_count() > 0 => tx.clone(),
                _ => return,
            }
        };
        let console = match event {
            Event::Console(c) => Some((c.seq, c.lines.len() as u64)),
            _ => None,
        };
        match serde_json::to_string(event) {
            Ok(json) => {
                // An error only means every receiver left meanwhile.
                let _ = tx.send(Frame {
                    console,
                    json: json.into(),
                });
            }
            Err(e) => tracing::error!(error = %e, "could not serialize an event"),
        }
    }

    /// Forget a deleted server: its subscribers see the channel close.
    pub fn remove(&self, id: &ServerId) {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(id);
    }
}
