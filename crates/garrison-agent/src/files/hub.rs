//! The agent's registry of [`ServerFiles`], the one inotify watcher, the debouncer task
//! and the background work (usage walks, upload expiry).

use super::deny::DenyList;
use super::events::{self, Change, EventSink};
use super::server::ServerFiles;
use super::upload::{Table, Uploads};
use super::usage::Usage;
use super::{Ctx, tree};
use crate::config::{AgentConfig, AgentError};
use crate::console::Console;
use crate::lock;
use crate::sandbox::Sandbox;
use garrison_proto::{Event, FileSource, NodeError, RunSpec, ServerId};
use notify::Watcher;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Upload expiry runs every this many debouncer ticks (seconds).
const EXPIRE_EVERY_TICKS: u64 = 60;

pub(crate) struct FilesHub {
    pub ctx: Arc<Ctx>,
    servers: Mutex<HashMap<ServerId, Arc<ServerFiles>>>,
    sink: EventSink,
    watcher: Mutex<Option<notify::RecommendedWatcher>>,
    stop_tx: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    ticks: AtomicU64,
}

fn uploads_dir(config: &AgentConfig, id: &ServerId) -> PathBuf {
    config.data_dir.join("uploads").join(id.as_str())
}

pub(crate) fn staging_dir(config: &AgentConfig, id: &ServerId) -> PathBuf {
    config.data_dir.join("file-staging").join(id.as_str())
}

/// Start afresh: nothing staged by an earlier run can be resumed (upload state lives in
/// memory), so it is only in the way.
fn fresh_dir(path: &Path) -> Result<(), AgentError> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(AgentError::io(format!("clearing {}", path.display()), e));
        }
        _ => {}
    }
    std::fs::create_dir_all(path)
        .map_err(|e| AgentError::io(format!("creating {}", path.display()), e))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| AgentError::io(format!("chmod {}", path.display()), e))
}

impl FilesHub {
    pub(crate) fn start(config: Arc<AgentConfig>, events: mpsc::Sender<Event>) -> Arc<FilesHub> {
        let (sink, rx) = EventSink::channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let servers_root = config.data_dir.join("servers");
        let raw = sink.raw();
        let handler = move |res: notify::Result<notify::Event>| {
            let Ok(ev) = res else { return };
            for (server, change) in events::from_notify(&servers_root, &ev) {
                let _ = raw.try_send(Change {
                    server,
                    source: FileSource::Game,
                    change,
                });
            }
        };
        let watcher = match notify::RecommendedWatcher::new(
            handler,
            notify::Config::default().with_follow_symlinks(false),
        ) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "no file watcher: game-side file changes will not be reported");
                None
            }
        };
        let ctx = Arc::new(Ctx {
            config,
            stopping: Default::default(),
        });
        let hub = Arc::new(FilesHub {
            ctx,
            servers: Mutex::new(HashMap::new()),
            sink,
            watcher: Mutex::new(watcher),
            stop_tx,
            tasks: Mutex::new(Vec::new()),
            ticks: AtomicU64::new(0),
        });
        // Spawned only once the hub exists: the debouncer's first tick upgrades its
        // weak handle at once, and a hub still under construction would end it.
        let task = tokio::spawn(events::run(rx, events, Arc::downgrade(&hub), stop_rx));
        hub.track(task);
        hub
    }

    pub(crate) fn get(&self, id: &ServerId) -> Option<Arc<ServerFiles>> {
        lock(&self.servers).get(id).cloned()
    }

    fn track(&self, task: JoinHandle<()>) {
        let mut tasks = lock(&self.tasks);
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    /// A server was registered for the first time (its directory exists).
    pub(crate) async fn add(
        self: &Arc<Self>,
        spec: &RunSpec,
        console: Arc<Console>,
    ) -> Result<(), NodeError> {
        let id = spec.id.clone();
        let deny = DenyList::new(&spec.file_deny).map_err(NodeError::InvalidSpec)?;
        let config = self.ctx.config.clone();
        let (dir, uploads, staging) = (
            config.server_dir(&id),
            uploads_dir(&config, &id),
            staging_dir(&config, &id),
        );
        let d = dir.clone();
        let opened = tokio::task::spawn_blocking(move || -> Result<_, AgentError> {
            fresh_dir(&uploads)?;
            fresh_dir(&staging)?;
            let sandbox = Sandbox::open(&d)
                .map_err(|e| AgentError::io(d.display().to_string(), std::io::Error::other(e)))?;
            let up = cap_std::fs::Dir::open_ambient_dir(&uploads, cap_std::ambient_authority())
                .map_err(|e| AgentError::io(uploads.display().to_string(), e))?;
            Ok((sandbox, up))
        })
        .await
        .map_err(AgentError::from)??;
        let (sandbox, up) = opened;
        let files = Arc::new(ServerFiles {
            id: id.clone(),
            sandbox: RwLock::new(Arc::new(sandbox)),
            restoring: Arc::new(AtomicBool::new(false)),
            deny: RwLock::new(deny),
            usage: Arc::new(Usage::new(spec.disk_limit_bytes, console)),
            sink: self.sink.clone(),
            ctx: self.ctx.clone(),
            uploads: Uploads {
                dir: up,
                table: Mutex::new(Table::default()),
            },
        });
        {
            let mut servers = lock(&self.servers);
            if servers.contains_key(&id) {
                // Raced with another registration of the same server: that one stays.
                return Ok(());
            }
            servers.insert(id.clone(), files.clone());
        }
        files.usage.begin_first_scan();
        let hub = self.clone();
        self.track(tokio::task::spawn_blocking(move || {
            if let Some(w) = lock(&hub.watcher).as_mut()
                && let Err(e) = w.watch(&dir, notify::RecursiveMode::Recursive)
            {
                tracing::warn!(server = %files.id, error = %e, "cannot watch the server directory");
            }
            let bytes = tree::disk_usage(&files);
            files.usage.finish_scan(bytes);
        }));
        Ok(())
    }

    /// A registered server's spec changed: new limit and deny list.
    pub(crate) fn update(&self, spec: &RunSpec) -> Result<(), NodeError> {
        let deny = DenyList::new(&spec.file_deny).map_err(NodeError::InvalidSpec)?;
        if let Some(files) = self.get(&spec.id) {
            files.set_deny(deny);
            files.usage.set_limit(spec.disk_limit_bytes);
        }
        Ok(())
    }

    /// Forget a server: its uploads, staging and watch go.
    pub(crate) async fn remove(self: &Arc<Self>, id: &ServerId) {
        let Some(files) = lock(&self.servers).remove(id) else {
            return;
        };
        let hub = self.clone();
        let config = self.ctx.config.clone();
        let id = id.clone();
        let _ = tokio::task::spawn_blocking(move || {
            files.abort_all_uploads();
            if let Some(w) = lock(&hub.watcher).as_mut() {
                let _ = w.unwatch(&config.server_dir(&id));
            }
            let _ = std::fs::remove_dir_all(uploads_dir(&config, &id));
            let _ = std::fs::remove_dir_all(staging_dir(&config, &id));
        })
        .await;
    }

    /// A restore swapped a new tree in at the server's path: point the sandbox at it and
    /// move the watch onto it (both held the old directory's inode), then count its
    /// usage again. Called before the old tree (now elsewhere) is deleted, so the
    /// watcher never reports that deletion as the game's. Blocking.
    pub(crate) fn reopen_tree(&self, id: &ServerId) -> Result<(), AgentError> {
        let Some(files) = self.get(id) else {
            return Ok(());
        };
        let dir = self.ctx.config.server_dir(id);
        let sandbox = Sandbox::open(&dir)
            .map_err(|e| AgentError::io(dir.display().to_string(), std::io::Error::other(e)))?;
        *files.sandbox.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(sandbox);
        if let Some(w) = lock(&self.watcher).as_mut() {
            let _ = w.unwatch(&dir);
            if let Err(e) = w.watch(&dir, notify::RecursiveMode::Recursive) {
                tracing::warn!(server = %id, error = %e, "cannot watch the restored server directory");
            }
        }
        Ok(())
    }

    /// Walk the server's files again now (after a restore replaced them). Blocking.
    pub(crate) fn rescan_usage(&self, id: &ServerId) {
        if let Some(files) = self.get(id) {
            files.usage.begin_first_scan();
            let bytes = tree::disk_usage(&files);
            files.usage.finish_scan(bytes);
        }
    }

    /// Called by the debouncer once per tick.
    pub(crate) fn maintain(self: &Arc<Self>) {
        if self.ctx.stopping() {
            return;
        }
        let servers: Vec<Arc<ServerFiles>> = lock(&self.servers).values().cloned().collect();
        let tick = self.ticks.fetch_add(1, Ordering::Relaxed);
        let every = self.ctx.config.files.usage_rescan_every;
        for files in servers {
            if files.usage.begin_scan_if_due(every) {
                let f = files.clone();
                self.track(tokio::task::spawn_blocking(move || {
                    let bytes = tree::disk_usage(&f);
                    f.usage.finish_scan(bytes);
                }));
            }
            if tick % EXPIRE_EVERY_TICKS == EXPIRE_EVERY_TICKS - 1 {
                self.track(tokio::task::spawn_blocking(move || files.expire_uploads()));
            }
        }
    }

    pub(crate) async fn shutdown(&self) {
        self.ctx
            .stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.stop_tx.send(true);
        let watcher = lock(&self.watcher).take();
        // Dropping the watcher joins its thread.
        let _ = tokio::task::spawn_blocking(move || drop(watcher)).await;
        let tasks: Vec<JoinHandle<()>> = lock(&self.tasks).drain(..).collect();
        for t in tasks {
            let _ = t.await;
        }
        lock(&self.servers).clear();
    }
}
