//! The agent: a registry of supervised servers behind the `Node` trait.

use crate::backup::Backups;
use crate::config::{AgentConfig, AgentError, RunAs};
use crate::console::Console;
use crate::files::{FilesHub, ServerFiles};
use crate::lock;
use crate::logwriter::{self, LogHandle};
use crate::sandbox::Sandbox;
use crate::stats::sampler;
use crate::supervisor::{Actor, COMMAND_QUEUE, Cmd, Reply, Shared, chown_to};
use async_trait::async_trait;
use garrison_proto::{
    ConsoleSnapshot, Event, Node, NodeError, PowerAction, RunSpec, ServerId, ServerState, Stats,
};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// The node daemon. Build with [`Agent::new`] inside a tokio runtime; call
/// [`Node::shutdown`] before exiting so every game server is stopped and every task ends.
pub struct Agent {
    pub(crate) config: Arc<AgentConfig>,
    pub(crate) events: mpsc::Sender<Event>,
    pub(crate) registry: Arc<Registry>,
    log: LogHandle,
    closed: AtomicBool,
    stop_tx: watch::Sender<bool>,
    background: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) files: Arc<FilesHub>,
    pub(crate) backups: Arc<Backups>,
    host: Arc<crate::host::HostSampler>,
    /// This agent, for tasks that outlive a call (backup jobs).
    pub(crate) me: std::sync::Weak<Agent>,
}

#[derive(Default)]
pub(crate) struct Registry {
    servers: Mutex<HashMap<ServerId, Entry>>,
}

struct Entry {
    tx: mpsc::Sender<Cmd>,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Registry {
    pub(crate) fn get_shared(&self, id: &ServerId) -> Option<Arc<Shared>> {
        lock(&self.servers).get(id).map(|e| e.shared.clone())
    }

    pub(crate) fn all_shared(&self) -> Vec<Arc<Shared>> {
        lock(&self.servers)
            .values()
            .map(|e| e.shared.clone())
            .collect()
    }
}

impl Agent {
    /// Start the agent's background tasks (stats sampler, console log writer). Must be
    /// called from within a tokio runtime.
    pub fn new(config: AgentConfig, events: mpsc::Sender<Event>) -> Arc<Agent> {
        let config = Arc::new(config);
        let registry = Arc::new(Registry::default());
        let (log, log_task) = logwriter::start(config.logs_root(), config.log_max_bytes);
        let (stop_tx, stop_rx) = watch::channel(false);
        let sampler_task = tokio::spawn(sampler(
            Arc::downgrade(&registry),
            events.clone(),
            config.stats_interval,
            stop_rx,
        ));
        let files = FilesHub::start(config.clone(), events.clone());
        let backups = Backups::new(&config);
        backups.clean_leftovers(&config);
        Arc::new_cyclic(|me| Agent {
            config,
            files,
            backups,
            host: Arc::default(),
            me: me.clone(),
            events,
            registry,
            log,
            closed: AtomicBool::new(false),
            stop_tx,
            background: Mutex::new(vec![sampler_task, log_task]),
        })
    }

    /// A server's files, for the SFTP server: the same sandbox, deny list, quota and
    /// events as the file API. Its methods block; call them from `spawn_blocking`.
    pub fn server_files(&self, id: &ServerId) -> Result<Arc<ServerFiles>, NodeError> {
        self.check_open()?;
        self.files
            .get(id)
            .ok_or_else(|| NodeError::UnknownServer(id.clone()))
    }

    pub(crate) fn check_open(&self) -> Result<(), NodeError> {
        if self.closed.load(Ordering::Acquire) {
            Err(NodeError::Unavailable("the node is shutting down".into()))
        } else {
            Ok(())
        }
    }

    pub(crate) fn get(&self, id: &ServerId) -> Result<(mpsc::Sender<Cmd>, Arc<Shared>), NodeError> {
        self.check_open()?;
        lock(&self.registry.servers)
            .get(id)
            .map(|e| (e.tx.clone(), e.shared.clone()))
            .ok_or_else(|| NodeError::UnknownServer(id.clone()))
    }

    /// Send a command to a server's actor and wait for its answer.
    async fn ask(&self, id: &ServerId, make: impl FnOnce(Reply) -> Cmd) -> Result<(), NodeError> {
        let (tx, _) = self.get(id)?;
        ask_actor(&tx, id, make).await
    }

    fn validate(spec: &RunSpec) -> Result<(), NodeError> {
        let bad = |m: String| Err(NodeError::InvalidSpec(m));
        if !spec.id.is_path_safe() {
            return bad(format!("server id {:?} is not path-safe", spec.id.as_str()));
        }
        if spec.command.first().is_none_or(|c| c.is_empty()) {
            return bad("the command is empty".into());
        }
        for step in &spec.install {
            if let garrison_proto::InstallStep::Write { path, .. } = step
                && !file_path_ok(path)
            {
                return bad(format!(
                    "install file path {path:?} must be relative, without `..`"
                ));
            }
        }
        for f in &spec.config_files {
            if !file_path_ok(&f.path) {
                return bad(format!(
                    "config file path {:?} must be relative, without `..`",
                    f.path
                ));
            }
        }
        if let Err(e) = crate::files::check_deny(&spec.file_deny) {
            return bad(e);
        }
        if let Some(p) = &spec.done_pattern
            && let Err(e) = regex::Regex::new(p)
        {
            return bad(format!("done pattern does not compile: {e}"));
        }
        if spec
            .env
            .keys()
            .any(|k| k.is_empty() || k.contains(['=', '\0']))
        {
            return bad("an environment variable name is empty or contains '=' or NUL".into());
        }
        if let garrison_proto::StopMethod::Command { command } = &spec.stop
            && command.contains(['\n', '\r'])
        {
            return bad("the stop command contains a newline".into());
        }
        Ok(())
    }
}

pub(crate) async fn ask_actor(
    tx: &mpsc::Sender<Cmd>,
    id: &ServerId,
    make: impl FnOnce(Reply) -> Cmd,
) -> Result<(), NodeError> {
    let (reply, answer) = oneshot::channel();
    tx.send(make(reply))
        .await
        .map_err(|_| NodeError::UnknownServer(id.clone()))?;
    answer
        .await
        .map_err(|_| NodeError::UnknownServer(id.clone()))?
}

fn make_dirs(server_dir: &Path, log_dir: &Path, run_as: Option<RunAs>) -> Result<(), AgentError> {
    std::fs::create_dir_all(server_dir)
        .map_err(|e| AgentError::io(format!("creating {}", server_dir.display()), e))?;
    chown_to(server_dir, server_dir, run_as)?;
    std::fs::create_dir_all(log_dir)
        .map_err(|e| AgentError::io(format!("creating {}", log_dir.display()), e))
}

fn remove_dir(path: &Path) -> Result<(), AgentError> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(AgentError::io(format!("deleting {}", path.display()), e))
        }
        _ => Ok(()),
    }
}

impl Agent {
    async fn register_inner(&self, spec: RunSpec) -> Result<(), NodeError> {
        let id = spec.id.clone();
        let existing = lock(&self.registry.servers).get(&id).map(|e| e.tx.clone());
        if let Some(tx) = existing {
            self.files.update(&spec)?;
            return ask_actor(&tx, &id, |r| Cmd::Update(Box::new(spec), r)).await;
        }
        let dir = self.config.server_dir(&id);
        let log_dir = self.config.log_dir(&id);
        let run_as = self.config.run_as;
        let d = dir.clone();
        tokio::task::spawn_blocking(move || make_dirs(&d, &log_dir, run_as))
            .await
            .map_err(AgentError::from)??;

        let files_spec = spec.clone();
        // Ok: registered concurrently, update that one; Err: the new server's console.
        let raced: Result<_, Arc<Console>> = {
            let mut servers = lock(&self.registry.servers);
            self.check_open()?;
            match servers.get(&id) {
                // Registered concurrently: this spec replaces that one.
                Some(e) => Ok((e.tx.clone(), spec)),
                None => {
                    let console = Arc::new(Console::new(
                        id.clone(),
                        self.config.console_ring_lines,
                        self.events.clone(),
                        self.log.clone(),
                    ));
                    let shared = Arc::new(Shared::new(id.clone(), dir, console.clone()));
                    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
                    let actor = Actor::new(
                        self.config.clone(),
                        spec,
                        shared.clone(),
                        self.events.clone(),
                        rx,
                    );
                    let task = tokio::spawn(actor.run());
                    servers.insert(id.clone(), Entry { tx, shared, task });
                    Err(console)
                }
            }
        };
        match raced {
            Ok((tx, spec)) => {
                self.files.update(&spec)?;
                ask_actor(&tx, &id, |r| Cmd::Update(Box::new(spec), r)).await
            }
            Err(console) => self.files.add(&files_spec, console).await,
        }
    }
}

#[async_trait]
impl Node for Agent {
    async fn register(&self, spec: RunSpec) -> Result<(), NodeError> {
        Agent::validate(&spec)?;
        self.check_open()?;
        let id = spec.id.clone();
        let hooks = spec.backup_hooks.clone();
        let result = self.register_inner(spec).await;
        if let Some(e) = lock(&self.registry.servers).get(&id) {
            *lock(&e.shared.backup_hooks) = hooks;
        }
        result
    }

    async fn install(&self, id: &ServerId) -> Result<(), NodeError> {
        self.ask(id, Cmd::Install).await
    }

    async fn cancel_install(&self, id: &ServerId) -> Result<(), NodeError> {
        self.ask(id, Cmd::CancelInstall).await
    }

    async fn apply_config(&self, id: &ServerId) -> Result<(), NodeError> {
        self.ask(id, Cmd::ApplyConfig).await
    }

    async fn remove(&self, id: &ServerId) -> Result<(), NodeError> {
        self.ask(id, Cmd::Remove).await?;
        self.files.remove(id).await;
        // The actor has ended; forget it, close its log file, delete its files.
        let entry = lock(&self.registry.servers).remove(id);
        if let Some(e) = entry {
            let _ = e.task.await;
        }
        self.log.forget(id.clone()).await;
        let dir = self.config.server_dir(id);
        let log_dir = self.config.log_dir(id);
        tokio::task::spawn_blocking(move || {
            remove_dir(&dir)?;
            remove_dir(&log_dir)
        })
        .await
        .map_err(AgentError::from)??;
        Ok(())
    }

    async fn power(&self, id: &ServerId, action: PowerAction) -> Result<(), NodeError> {
        self.ask(id, |r| Cmd::Power(action, r)).await
    }

    async fn command(&self, id: &ServerId, line: &str) -> Result<(), NodeError> {
        if line.contains(['\n', '\r']) {
            return Err(NodeError::InvalidSpec("command contains a newline".into()));
        }
        let line = line.to_owned();
        self.ask(id, |r| Cmd::Command(line, r)).await
    }

    async fn state(&self, id: &ServerId) -> Result<ServerState, NodeError> {
        let (_, shared) = self.get(id)?;
        Ok(*lock(&shared.state))
    }

    async fn console(&self, id: &ServerId, lines: usize) -> Result<ConsoleSnapshot, NodeError> {
        let (_, shared) = self.get(id)?;
        Ok(shared.console.snapshot(lines))
    }

    async fn stats(&self, id: &ServerId) -> Result<Stats, NodeError> {
        let (_, shared) = self.get(id)?;
        Ok(lock(&shared.live).stats.clone())
    }

    async fn host_stats(&self) -> Result<garrison_proto::HostStats, NodeError> {
        let host = self.host.clone();
        let dir = self.config.data_dir.clone();
        tokio::task::spawn_blocking(move || host.sample(&dir))
            .await
            .map_err(|e| NodeError::Io(e.to_string()))?
            .map_err(|e| NodeError::Io(format!("cannot read the host's stats: {e}")))
    }

    async fn shutdown(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        // Jobs first: a backup's hooks talk to its running server.
        self.backups.shutdown().await;
        let entries: Vec<(ServerId, Entry)> = lock(&self.registry.servers).drain().collect();
        // Ask every actor first so all servers stop concurrently, then wait.
        let mut waits = Vec::new();
        for (id, e) in entries {
            let (done, wait) = oneshot::channel();
            if e.tx.send(Cmd::Shutdown(done)).await.is_err() {
                tracing::warn!(server = %id, "supervisor already gone at shutdown");
            }
            waits.push((wait, e.task, e.tx));
        }
        for (wait, task, tx) in waits {
            let _ = wait.await;
            drop(tx);
            let _ = task.await;
        }
        let _ = self.stop_tx.send(true);
        self.files.shutdown().await;
        self.log.shutdown().await;
        let tasks: Vec<JoinHandle<()>> = lock(&self.background).drain(..).collect();
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// A file path in a spec names a file inside the server directory (the sandbox's rules).
fn file_path_ok(path: &str) -> bool {
    Sandbox::rel(path).is_ok_and(|r| !r.is_root())
}
