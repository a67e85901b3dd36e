//! Following players through a server's console output, for games that have
//! no query protocol or have it switched off.

use std::collections::BTreeSet;

use regex::Regex;

use crate::{QueryError, protocol};

/// Minecraft vanilla (`[12:34:56] [Server thread/INFO]: `) and Paper
/// (`[12:34:56 INFO]: `). Anchored at both ends so a chat line
/// (`<bob> alice joined the game`) cannot fake a join.
pub const MINECRAFT_JOIN: &str = r"^\[\d\d:\d\d:\d\d(?:\] \[Server thread/| )INFO\]: (?P<name>\w+)(?: \(formerly known as \w+\))? joined the game$";
pub const MINECRAFT_LEAVE: &str =
    r"^\[\d\d:\d\d:\d\d(?:\] \[Server thread/| )INFO\]: (?P<name>\w+) left the game$";
/// Luanti logs `2024-01-01 12:00:00: ACTION[Server]: ann [127.0.0.1] joins game. List of players: ...`.
/// Names are limited to `[A-Za-z0-9_-]`, which also keeps `CHAT:` lines out.
pub const LUANTI_JOIN: &str =
    r"^(?:\S+ \S+: )?ACTION\[Server\]: (?P<name>[A-Za-z0-9_-]+) (?:\[[^\]]*\] )?joins game";
pub const LUANTI_LEAVE: &str =
    r"^(?:\S+ \S+: )?ACTION\[Server\]: (?P<name>[A-Za-z0-9_-]+) (?:\[[^\]]*\] )?leaves game";
/// OpenTTD 13's dedicated console prints the network messages from its
/// language file: `*** ann has joined the game (Client #2)` and
/// `*** ann has left the game (leaving)`, optionally after a
/// `[date time] ` prefix (`show_date_in_logs`). Names may contain spaces.
pub const OPENTTD_JOIN: &str =
    r"^(?:\[[^\]]*\] )?\*\*\* (?P<name>.+) has joined the game \(Client #\d+\)$";
pub const OPENTTD_LEAVE: &str = r"^(?:\[[^\]]*\] )?\*\*\* (?P<name>.+) has left the game \(.*\)$";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlayerChange {
    Joined(String),
    Left(String),
}

/// Keeps the set of online players from join and leave lines.
#[derive(Clone, Debug)]
pub struct PlayerTracker {
    join: Regex,
    leave: Regex,
    online: BTreeSet<String>,
}

impl PlayerTracker {
    /// Both patterns need a named group `name`.
    pub fn new(join: &str, leave: &str) -> Result<Self, QueryError> {
        Ok(Self {
            join: compile(join)?,
            leave: compile(leave)?,
            online: BTreeSet::new(),
        })
    }

    /// Feeds one console line. A leave of a name never seen joining is still
    /// reported (the tracker may have started after the join); a second join
    /// of someone already online is not.
    pub fn line(&mut self, line: &str) -> Option<PlayerChange> {
        let line = line.trim_end_matches(['\r', '\n']);
        if let Some(name) = capture(&self.join, line) {
            return self
                .online
                .insert(name.clone())
                .then_some(PlayerChange::Joined(name));
        }
        let name = capture(&self.leave, line)?;
        self.online.remove(&name);
        Some(PlayerChange::Left(name))
    }

    /// Players online, sorted.
    pub fn online(&self) -> Vec<String> {
        self.online.iter().cloned().collect()
    }

    /// Forgets everyone, for when the server stops.
    pub fn reset(&mut self) {
        self.online.clear();
    }
}

fn compile(pattern: &str) -> Result<Regex, QueryError> {
    let re = Regex::new(pattern).map_err(|e| protocol(format!("bad pattern: {e}")))?;
    if !re.capture_names().any(|n| n == Some("name")) {
        return Err(protocol(format!(
            "pattern {pattern:?} has no (?P<name>...) group"
        )));
    }
    Ok(re)
}

fn capture(re: &Regex, line: &str) -> Option<String> {
    let name = re.captures(line)?.name("name")?.as_str();
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use PlayerChange::{Joined, Left};

    fn tracker(join: &str, leave: &str) -> PlayerTracker {
        match PlayerTracker::new(join, leave) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn minecraft_lines() {
        let mut t = tracker(MINECRAFT_JOIN, MINECRAFT_LEAVE);
        let j = "[12:00:01] [Server thread/INFO]: Steve joined the game";
        assert_eq!(t.line(j), Some(Joined("Steve".into())));
        assert_eq!(t.line(j), None, "duplicate join");
        assert_eq!(
            t.line("[12:00:02 INFO]: Alex joined the game\r\n"),
            Some(Joined("Alex".into()))
        );
        assert_eq!(t.online(), ["Alex", "Steve"]);
        assert_eq!(
            t.line("[12:00:03] [Server thread/INFO]: <Steve> Bob joined the game"),
            None,
            "chat must not count"
        );
        assert_eq!(
            t.line("[12:00:03] [Server thread/INFO]: Steve joined the game lol"),
            None
        );
        assert_eq!(
            t.line("[12:00:04] [Server thread/INFO]: Steve left the game"),
            Some(Left("Steve".into()))
        );
        assert_eq!(
            t.line("[12:00:05] [Server thread/INFO]: Ghost left the game"),
            Some(Left("Ghost".into())),
            "unknown leave still reported"
        );
        assert_eq!(t.online(), ["Alex"]);
        t.reset();
        assert!(t.online().is_empty());
    }

    #[test]
    fn luanti_lines() {
        let mut t = tracker(LUANTI_JOIN, LUANTI_LEAVE);
        assert_eq!(
            t.line("2026-12-02 05:49:51: ACTION[Server]: ann [127.0.0.1] joins game. List of players: ann"),
            Some(Joined("ann".into()))
        );
        assert_eq!(
            t.line("ACTION[Server]: bob-2 joins game. List of players: ann bob-2"),
            Some(Joined("bob-2".into()))
        );
        assert_eq!(
            t.line(
                "2026-12-02 05:49:52: ACTION[Server]: CHAT: <ann> ACTION[Server]: eve joins game"
            ),
            None
        );
        assert_eq!(
            t.line("2026-12-02 05:49:53: ACTION[Server]: ann leaves game (timed out). List of players: bob-2"),
            Some(Left("ann".into()))
        );
        assert_eq!(t.online(), ["bob-2"]);
    }

    #[test]
    fn openttd_lines() {
        let mut t = tracker(OPENTTD_JOIN, OPENTTD_LEAVE);
        assert_eq!(
            t.line("*** Big Bob has joined the game (Client #2)"),
            Some(Joined("Big Bob".into()))
        );
        assert_eq!(
            t.line("[2026-12-02 05:50:00] *** ann has joined the game (Client #3)"),
            Some(Joined("ann".into()))
        );
        assert_eq!(
            t.line("[All] ann: *** x has joined the game (Client #4)"),
            None
        );
        assert_eq!(
            t.line("*** Big Bob has left the game (leaving)"),
            Some(Left("Big Bob".into()))
        );
        assert_eq!(t.online(), ["ann"]);
    }

    #[test]
    fn patterns_need_a_name_group() {
        assert!(PlayerTracker::new(r"(\w+) joined", MINECRAFT_LEAVE).is_err());
        assert!(PlayerTracker::new(MINECRAFT_JOIN, r"(?P<name>").is_err());
    }
}
