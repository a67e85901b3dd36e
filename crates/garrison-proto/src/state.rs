//! The server lifecycle: one transition table, checked here and nowhere else.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerState {
    Offline,
    Installing,
    Starting,
    Running,
    Stopping,
    Crashed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a server cannot go from {from} to {to}")]
pub struct TransitionError {
    pub from: ServerState,
    pub to: ServerState,
}

impl ServerState {
    pub const ALL: [ServerState; 6] = [
        ServerState::Offline,
        ServerState::Installing,
        ServerState::Starting,
        ServerState::Running,
        ServerState::Stopping,
        ServerState::Crashed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServerState::Offline => "offline",
            ServerState::Installing => "installing",
            ServerState::Starting => "starting",
            ServerState::Running => "running",
            ServerState::Stopping => "stopping",
            ServerState::Crashed => "crashed",
        }
    }

    pub fn parse(s: &str) -> Option<ServerState> {
        ServerState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The transition table. A process that exits by itself while starting or running
    /// with success goes offline (the game was told to stop from its own console);
    /// anything else unexpected is a crash. `stopping` ends offline even when the group
    /// had to be killed, because the user asked for it.
    pub fn can_become(self, to: ServerState) -> bool {
        use ServerState::*;
        matches!(
            (self, to),
            (Offline, Installing)
                | (Offline, Starting)
                | (Crashed, Installing)
                | (Crashed, Starting)
                | (Crashed, Offline)
                | (Installing, Offline)
                | (Installing, Crashed)
                | (Starting, Running)
                | (Starting, Stopping)
                | (Starting, Crashed)
                | (Starting, Offline)
                | (Running, Stopping)
                | (Running, Crashed)
                | (Running, Offline)
                | (Stopping, Offline)
        )
    }

    pub fn transition(self, to: ServerState) -> Result<ServerState, TransitionError> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(TransitionError { from: self, to })
        }
    }

    /// A process exists for the server (or is about to) in this state.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            ServerState::Installing
                | ServerState::Starting
                | ServerState::Running
                | ServerState::Stopping
        )
    }

    /// Settings that change how the process runs, and deletion, need it stopped.
    pub fn allows_delete(self) -> bool {
        !self.is_active()
    }
}

impl fmt::Display for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerAction {
    Start,
    Stop,
    Restart,
    Kill,
}

impl PowerAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PowerAction::Start => "start",
            PowerAction::Stop => "stop",
            PowerAction::Restart => "restart",
            PowerAction::Kill => "kill",
        }
    }

    /// Whether the action makes sense in `state`. Refused actions become a 409 that
    /// names the current state.
    pub fn allowed_in(self, state: ServerState) -> bool {
        use ServerState::*;
        match self {
            PowerAction::Start => matches!(state, Offline | Crashed),
            PowerAction::Stop => matches!(state, Starting | Running),
            PowerAction::Restart => matches!(state, Offline | Crashed | Starting | Running),
            PowerAction::Kill => matches!(state, Starting | Running | Stopping),
        }
    }
}

/// A resource sample for one server. `uptime_secs` is 0 when no process runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    pub disk_bytes: u64,
    pub uptime_secs: u64,
    pub processes: u32,
    pub sampled_at: crate::UnixMillis,
}

/// The machine a node runs on: CPU over the time since the previous sample, memory,
/// the disk holding the node's data directory, and the load averages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostStats {
    pub cpu_percent: f64,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    pub disk_used_bytes: u64,
    pub disk_total_bytes: u64,
    /// 1, 5 and 15 minute load averages.
    pub load: [f64; 3],
    pub sampled_at: crate::UnixMillis,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_state() -> impl Strategy<Value = ServerState> {
        prop::sample::select(ServerState::ALL.to_vec())
    }

    proptest! {
        /// Whatever sequence of requested transitions arrives, applying only the valid
        /// ones never reaches a state the table does not allow, and stopping always
        /// ends offline, never crashed.
        #[test]
        fn walks_stay_in_table(steps in prop::collection::vec(any_state(), 0..64)) {
            let mut s = ServerState::Offline;
            for to in steps {
                match s.transition(to) {
                    Ok(next) => {
                        prop_assert!(s.can_become(next));
                        if s == ServerState::Stopping {
                            prop_assert_eq!(next, ServerState::Offline);
                        }
                        s = next;
                    }
                    Err(e) => prop_assert_eq!(e, TransitionError { from: s, to }),
                }
            }
        }

        #[test]
        fn start_only_when_nothing_runs(s in any_state()) {
            prop_assert_eq!(PowerAction::Start.allowed_in(s), !s.is_active());
        }
    }

    #[test]
    fn no_self_transitions() {
        for s in ServerState::ALL {
            assert!(!s.can_become(s), "{s} -> {s}");
        }
    }

    #[test]
    fn names_round_trip() {
        for s in ServerState::ALL {
            assert_eq!(ServerState::parse(s.as_str()), Some(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert_eq!(ServerState::parse("bogus"), None);
    }

    #[test]
    fn delete_refused_while_active() {
        assert!(ServerState::Offline.allows_delete());
        assert!(ServerState::Crashed.allows_delete());
        assert!(!ServerState::Running.allows_delete());
        assert!(!ServerState::Installing.allows_delete());
    }
}
