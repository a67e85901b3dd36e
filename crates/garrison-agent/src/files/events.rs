//! `server.file` events: changes made through the API or SFTP, and changes the game
//! makes (seen by inotify), debounced into one event per burst per server and source.

use super::hub::FilesHub;
use crate::sandbox::{RelPath, TMP_PREFIX};
use garrison_proto::{Event, FileAction, FileChange, FileEvent, FileSource, ServerId};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Weak;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Changes are collected this long after the first one of a burst.
pub(crate) const DEBOUNCE: Duration = Duration::from_millis(300);
/// Changes per event at most; a bigger burst is summarised by directory.
pub(crate) const MAX_CHANGES: usize = 100;
/// Game events for a path the API or SFTP changed this recently are echoes of that
/// change (inotify sees the agent's own writes too).
const ECHO_WINDOW: Duration = Duration::from_secs(2);
/// Queue between the operations / the watcher and the debouncer. Full means events are
/// dropped (they are hints for the UI, never worth blocking a write for).
const QUEUE: usize = 4096;
/// How often rescans and upload expiry are looked at.
const TICK: Duration = Duration::from_secs(1);

pub(crate) struct Change {
    pub server: ServerId,
    pub source: FileSource,
    pub change: FileChange,
}

/// Where operations report what they changed. Cheap to clone; never blocks.
#[derive(Clone)]
pub(crate) struct EventSink {
    tx: mpsc::Sender<Change>,
}

impl EventSink {
    pub(crate) fn channel() -> (EventSink, mpsc::Receiver<Change>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (EventSink { tx }, rx)
    }

    pub(crate) fn emit(
        &self,
        server: &ServerId,
        source: FileSource,
        action: FileAction,
        path: &RelPath,
        to: Option<&RelPath>,
    ) {
        let _ = self.tx.try_send(Change {
            server: server.clone(),
            source,
            change: FileChange {
                action,
                path: path.as_str().to_owned(),
                to: to.map(|t| t.as_str().to_owned()),
            },
        });
    }

    pub(crate) fn raw(&self) -> mpsc::Sender<Change> {
        self.tx.clone()
    }
}

struct Burst {
    first: Instant,
    changes: Vec<FileChange>,
    seen: HashSet<(u8, String, Option<String>)>,
}

fn action_key(a: FileAction) -> u8 {
    match a {
        FileAction::Created => 0,
        FileAction::Modified => 1,
        FileAction::Deleted => 2,
        FileAction::Renamed => 3,
    }
}

fn source_key(s: FileSource) -> u8 {
    match s {
        FileSource::Api => 0,
        FileSource::Sftp => 1,
        FileSource::Game => 2,
    }
}

fn source_of(k: u8) -> FileSource {
    match k {
        0 => FileSource::Api,
        1 => FileSource::Sftp,
        _ => FileSource::Game,
    }
}

fn parent_of(path: &str) -> String {
    path.rfind('/')
        .map(|i| path[..i].to_owned())
        .unwrap_or_default()
}

/// A burst too big for one event becomes "these directories changed".
fn summarise(changes: Vec<FileChange>) -> Vec<FileChange> {
    if changes.len() <= MAX_CHANGES {
        return changes;
    }
    let mut dirs: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for c in &changes {
        for p in std::iter::once(&c.path).chain(c.to.as_ref()) {
            let d = parent_of(p);
            if seen.insert(d.clone()) {
                dirs.push(d);
            }
        }
    }
    if dirs.len() > MAX_CHANGES {
        dirs = vec![String::new()];
    }
    dirs.into_iter()
        .map(|path| FileChange {
            action: FileAction::Modified,
            path,
            to: None,
        })
        .collect()
}

fn is_tmp(path: &str) -> bool {
    path.split('/').any(|c| c.starts_with(TMP_PREFIX))
}

/// The debouncer: runs until `stop`. Also drives the periodic work that needs the hub
/// (usage rescans, upload expiry).
pub(crate) async fn run(
    mut rx: mpsc::Receiver<Change>,
    events: mpsc::Sender<Event>,
    hub: Weak<FilesHub>,
    mut stop: watch::Receiver<bool>,
) {
    let mut pending: HashMap<(ServerId, u8), Burst> = HashMap::new();
    let mut recent: HashMap<(ServerId, String), Instant> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let next = pending.values().map(|b| b.first + DEBOUNCE).min();
        let flush_at = async {
            match next {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.changed() => break,
            msg = rx.recv() => {
                let Some(msg) = msg else { break };
                accept(msg, &mut pending, &mut recent);
            }
            _ = flush_at => {
                let now = Instant::now();
                let due: Vec<(ServerId, u8)> = pending
                    .iter()
                    .filter(|(_, b)| b.first + DEBOUNCE <= now)
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in due {
                    if let Some(b) = pending.remove(&key) {
                        let source = source_of(key.1);
                        let changes = if source == FileSource::Game {
                            game_changes(&key.0, b.changes, &recent, &hub)
                        } else {
                            b.changes
                        };
                        if changes.is_empty() {
                            continue;
                        }
                        let event = Event::File(FileEvent {
                            server: key.0,
                            source,
                            changes: summarise(changes),
                        });
                        let _ = events.try_send(event);
                    }
                }
            }
            _ = tick.tick() => {
                recent.retain(|_, t| t.elapsed() < ECHO_WINDOW);
                match hub.upgrade() {
                    Some(h) => h.maintain(),
                    None => break,
                }
            }
        }
        if *stop.borrow() {
            break;
        }
    }
}

/// A game burst as users may see it: echoes of the API's and SFTP's own changes and
/// changes to denied paths (whose names would give them away) removed. Checked at
/// flush time, because inotify often reports a rename before the operation that made
/// it has reported itself.
fn game_changes(
    server: &ServerId,
    changes: Vec<FileChange>,
    recent: &HashMap<(ServerId, String), Instant>,
    hub: &Weak<FilesHub>,
) -> Vec<FileChange> {
    let Some(files) = hub.upgrade().and_then(|h| h.get(server)) else {
        return Vec::new();
    };
    // A path under one the API changed is part of that change (a tree deleted, an
    // archive unpacked).
    let echo = |p: &str| {
        let mut cur = p;
        loop {
            if recent
                .get(&(server.clone(), cur.to_owned()))
                .is_some_and(|t| t.elapsed() < ECHO_WINDOW)
            {
                return true;
            }
            match cur.rfind('/') {
                Some(i) => cur = &cur[..i],
                None => return false,
            }
        }
    };
    let out: Vec<FileChange> = changes
        .into_iter()
        .filter(|c| !(echo(&c.path) && c.to.as_deref().is_none_or(echo)))
        .filter(|c| {
            std::iter::once(&c.path)
                .chain(c.to.as_ref())
                .all(|p| RelPath::new(p).is_ok_and(|rel| !files.deny_hides(&rel)))
        })
        .collect();
    if !out.is_empty() {
        files.usage_changed_outside();
    }
    out
}

fn accept(
    msg: Change,
    pending: &mut HashMap<(ServerId, u8), Burst>,
    recent: &mut HashMap<(ServerId, String), Instant>,
) {
    let Change {
        server,
        source,
        mut change,
    } = msg;
    if source == FileSource::Game {
        // The agent's own temp files: a rename out of one is the real change.
        if is_tmp(&change.path) {
            match change.to.take() {
                Some(to) if !is_tmp(&to) => {
                    change = FileChange {
                        action: FileAction::Modified,
                        path: to,
                        to: None,
                    }
                }
                _ => return,
            }
        }
        if change.to.as_deref().is_some_and(is_tmp) {
            change = FileChange {
                action: FileAction::Deleted,
                path: change.path,
                to: None,
            };
        }
    } else {
        let now = Instant::now();
        recent.insert((server.clone(), change.path.clone()), now);
        if let Some(to) = &change.to {
            recent.insert((server.clone(), to.clone()), now);
        }
    }
    let burst = pending
        .entry((server, source_key(source)))
        .or_insert_with(|| Burst {
            first: Instant::now(),
            changes: Vec::new(),
            seen: HashSet::new(),
        });
    let key = (
        action_key(change.action),
        change.path.clone(),
        change.to.clone(),
    );
    if burst.seen.insert(key) {
        // Summarising keeps only parents past MAX_CHANGES, so the list need not grow
        // without bound either.
        if burst.changes.len() <= MAX_CHANGES * 50 {
            burst.changes.push(change);
        }
    }
}

/// Map a notify event to changes under one server.
pub(crate) fn from_notify(servers_root: &Path, ev: &notify::Event) -> Vec<(ServerId, FileChange)> {
    use notify::EventKind;
    use notify::event::{ModifyKind, RenameMode};
    let split = |p: &PathBuf| -> Option<(ServerId, String)> {
        let rest = p.strip_prefix(servers_root).ok()?;
        let mut comps = rest.components();
        let id = comps.next()?.as_os_str().to_str()?.to_owned();
        let rel = comps.as_path().to_str()?.to_owned();
        if rel.is_empty() {
            return None;
        }
        Some((ServerId::from(id.as_str()), rel))
    };
    let simple = |action: FileAction| -> Vec<(ServerId, FileChange)> {
        ev.paths
            .iter()
            .filter_map(split)
            .map(|(id, path)| {
                (
                    id,
                    FileChange {
                        action,
                        path,
                        to: None,
                    },
                )
            })
            .collect()
    };
    match &ev.kind {
        EventKind::Create(_) => simple(FileAction::Created),
        EventKind::Remove(_) => simple(FileAction::Deleted),
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            match (
                ev.paths.first().and_then(split),
                ev.paths.get(1).and_then(split),
            ) {
                (Some((a, from)), Some((b, to))) if a == b => vec![(
                    a,
                    FileChange {
                        action: FileAction::Renamed,
                        path: from,
                        to: Some(to),
                    },
                )],
                _ => simple(FileAction::Modified),
            }
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => simple(FileAction::Deleted),
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => simple(FileAction::Created),
        EventKind::Modify(_) => simple(FileAction::Modified),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_bursts_are_summarised() {
        let changes: Vec<FileChange> = (0..500)
            .map(|i| FileChange {
                action: FileAction::Created,
                path: format!("world/region/r.{i}.mca"),
                to: None,
            })
            .collect();
        let s = summarise(changes);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].path, "world/region");
        assert_eq!(s[0].action, FileAction::Modified);
    }
}
