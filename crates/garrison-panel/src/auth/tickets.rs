//! Short-lived, single-use tickets that let a browser open the console WebSocket where
//! it cannot send headers. Kept in memory: they live 60 seconds.

use garrison_proto::ServerId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const TICKET_TTL: Duration = Duration::from_secs(60);
const MAX_TICKETS: usize = 10_000;

struct Ticket {
    user_id: String,
    server: ServerId,
    expires: Instant,
}

#[derive(Default)]
pub struct Tickets {
    map: Mutex<HashMap<String, Ticket>>,
}

impl Tickets {
    /// Issue a ticket; returns `None` when too many unexpired tickets exist.
    pub fn issue(&self, user_id: &str, server: &ServerId) -> Option<String> {
        let secret = super::crypto::new_secret("gwt_");
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, t| t.expires > now);
        if map.len() >= MAX_TICKETS {
            return None;
        }
        map.insert(
            super::crypto::secret_hash(&secret),
            Ticket {
                user_id: user_id.to_owned(),
                server: server.clone(),
                expires: now + TICKET_TTL,
            },
        );
        Some(secret)
    }

    /// Use a ticket up: returns the user id if it is valid for `server`.
    pub fn redeem(&self, secret: &str, server: &ServerId) -> Option<String> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let t = map.remove(&super::crypto::secret_hash(secret))?;
        (t.expires > Instant::now() && &t.server == server).then_some(t.user_id)
    }
}
