//! The supervisor actor: one tokio task per registered server owns its state, its
//! process and its restart policy. Everything else talks to it through a bounded
//! command channel; its process tasks talk back through a small internal channel.

use crate::config::{AgentConfig, AgentError, RunAs};
use crate::console::{Console, LineWatch, ReadyWatch, read_stream};
use crate::installer::{Installer, Outcome};
use crate::lock;
use crate::process::{describe_exit, signal_group, spawn, stop_signal};
use crate::prompts::PromptWatch;
use garrison_proto::{
    Event, ExitInfo, InstallEvent, InstallPhase, NodeError, PowerAction, PromptEvent, RunSpec,
    ServerId, ServerState, Stats, StatsEvent, StatusEvent, StopMethod,
};
use nix::sys::signal::Signal;
use regex::Regex;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub(crate) const COMMAND_QUEUE: usize = 32;
const STDIN_QUEUE: usize = 64;
const PROC_QUEUE: usize = 8;
const EXIT_LINES: usize = 20;
/// How long to wait for output pipes to close after the process group is gone.
const READER_GRACE: Duration = Duration::from_secs(2);

pub(crate) type Reply = oneshot::Sender<Result<(), NodeError>>;

pub(crate) enum Cmd {
    Power(PowerAction, Reply),
    Install(Reply),
    CancelInstall(Reply),
    ApplyConfig(Reply),
    Command(String, Reply),
    Update(Box<RunSpec>, Reply),
    Remove(Reply),
    /// Mark the server restoring if it is offline or crashed (decided here, in order
    /// with power actions, so a start cannot slip in between the check and the mark).
    BeginRestore(Reply),
    Shutdown(oneshot::Sender<()>),
}

/// What the rest of the agent may read about a server without asking its actor.
pub(crate) struct Shared {
    pub id: ServerId,
    pub dir: PathBuf,
    pub console: Arc<Console>,
    pub state: Mutex<ServerState>,
    pub live: Mutex<Live>,
    /// A restore runs: start, install and remove are refused until it ends.
    pub restoring: std::sync::atomic::AtomicBool,
    /// The spec's backup hooks (the latest registered).
    pub backup_hooks: Mutex<garrison_proto::BackupHooks>,
}

#[derive(Default)]
pub(crate) struct Live {
    pub proc: Option<ProcInfo>,
    pub stats: Stats,
    pub disk_known: bool,
}

#[derive(Clone)]
pub(crate) struct ProcInfo {
    /// Leader pid = process group id = session id.
    pub pid: i32,
    pub started: std::time::Instant,
}

impl Shared {
    pub(crate) fn new(id: ServerId, dir: PathBuf, console: Arc<Console>) -> Shared {
        Shared {
            id,
            dir,
            console,
            state: Mutex::new(ServerState::Offline),
            live: Mutex::new(Live::default()),
            restoring: Default::default(),
            backup_hooks: Mutex::default(),
        }
    }
}

enum ProcMsg {
    Ready {
        gen_id: u64,
    },
    Exited {
        gen_id: u64,
        code: Option<i32>,
        signal: Option<i32>,
    },
    InstallDone {
        gen_id: u64,
        outcome: Outcome,
    },
}

struct Proc {
    gen_id: u64,
    pid: i32,
    stdin: mpsc::Sender<String>,
    start_seq: u64,
}

/// A running install: its task ends with `ProcMsg::InstallDone`.
struct InstallTask {
    gen_id: u64,
    cancel: watch::Sender<bool>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Intent {
    Stop,
    Kill,
}

#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Exit,
}

pub(crate) struct Actor {
    config: Arc<AgentConfig>,
    spec: RunSpec,
    /// A spec registered while a process runs; applied at the next start or install.
    next_spec: Option<RunSpec>,
    state: ServerState,
    shared: Arc<Shared>,
    events: mpsc::Sender<Event>,
    cmd_rx: mpsc::Receiver<Cmd>,
    proc_tx: mpsc::Sender<ProcMsg>,
    proc_rx: mpsc::Receiver<ProcMsg>,
    gen_id: u64,
    proc: Option<Proc>,
    install: Option<InstallTask>,
    intent: Option<Intent>,
    killed_after_timeout: bool,
    stop_deadline: Option<Instant>,
    restart_at: Option<Instant>,
    /// When automatic restarts happened (pruned to the policy window).
    restarts: VecDeque<Instant>,
    restart_after_stop: bool,
    shutting_down: bool,
    shutdown_waiters: Vec<oneshot::Sender<()>>,
}

impl Actor {
    pub(crate) fn new(
        config: Arc<AgentConfig>,
        spec: RunSpec,
        shared: Arc<Shared>,
        events: mpsc::Sender<Event>,
        cmd_rx: mpsc::Receiver<Cmd>,
    ) -> Actor {
        let (proc_tx, proc_rx) = mpsc::channel(PROC_QUEUE);
        Actor {
            config,
            spec,
            next_spec: None,
            state: ServerState::Offline,
            shared,
            events,
            cmd_rx,
            proc_tx,
            proc_rx,
            gen_id: 0,
            proc: None,
            install: None,
            intent: None,
            killed_after_timeout: false,
            stop_deadline: None,
            restart_at: None,
            restarts: VecDeque::new(),
            restart_after_stop: false,
            shutting_down: false,
            shutdown_waiters: Vec::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        let mut cmd_open = true;
        loop {
            if self.shutting_down && self.proc.is_none() && self.install.is_none() {
                for w in self.shutdown_waiters.drain(..) {
                    let _ = w.send(());
                }
                break;
            }
            let far = Instant::now() + Duration::from_secs(86_400);
            let stop_deadline = self.stop_deadline;
            let restart_at = self.restart_at;
            tokio::select! {
                cmd = self.cmd_rx.recv(), if cmd_open => match cmd {
                    // Shutting down: finish stopping the process.
                    None if self.shutting_down => cmd_open = false,
                    // The agent is gone without a shutdown: leave the process alone.
                    None => break,
                    Some(cmd) => if self.on_cmd(cmd).await == Flow::Exit { break },
                },
                Some(msg) = self.proc_rx.recv() => self.on_proc(msg).await,
                () = tokio::time::sleep_until(stop_deadline.unwrap_or(far)), if stop_deadline.is_some() => {
                    self.stop_deadline = None;
                    if let Some(p) = &self.proc {
                        self.killed_after_timeout = true;
                        signal_group(p.pid, Signal::SIGKILL);
                    }
                }
                () = tokio::time::sleep_until(restart_at.unwrap_or(far)), if restart_at.is_some() => {
                    self.restart_at = None;
                    if self.state == ServerState::Crashed && !self.shutting_down && !self.restoring() {
                        self.restarts.push_back(Instant::now());
                        let _ = self.start("automatic restart after a crash").await;
                    }
                }
            }
        }
    }

    async fn on_cmd(&mut self, cmd: Cmd) -> Flow {
        match cmd {
            Cmd::Power(action, reply) => {
                let res = self.power(action).await;
                let _ = reply.send(res);
            }
            Cmd::Install(reply) => {
                if self.restoring() {
                    let _ = reply.send(Err(conflict(self.state, RESTORING_INSTALL)));
                } else {
                    self.install(reply).await;
                }
            }
            Cmd::BeginRestore(reply) => {
                let res = if self.shutting_down {
                    Err(NodeError::Unavailable("the node is shutting down".into()))
                } else if !matches!(self.state, ServerState::Offline | ServerState::Crashed)
                    || self.install.is_some()
                {
                    Err(conflict(self.state, "restore"))
                } else {
                    // A pending automatic restart would start the server mid-restore.
                    self.restart_at = None;
                    self.shared
                        .restoring
                        .store(true, std::sync::atomic::Ordering::Release);
                    Ok(())
                };
                let _ = reply.send(res);
            }
            Cmd::CancelInstall(reply) => {
                let res = match &self.install {
                    Some(task) => {
                        let _ = task.cancel.send(true);
                        Ok(())
                    }
                    None => Err(conflict(self.state, "cancel the install")),
                };
                let _ = reply.send(res);
            }
            Cmd::ApplyConfig(reply) => {
                // An install in progress writes files itself; patches apply at start.
                let res = if self.install.is_some() {
                    Ok(())
                } else {
                    let spec = self.next_spec.as_ref().unwrap_or(&self.spec);
                    self.apply_config(spec.config_files.clone()).await
                };
                let _ = reply.send(res);
            }
            Cmd::Command(line, reply) => {
                let _ = reply.send(self.command(line));
            }
            Cmd::Update(spec, reply) => {
                if self.proc.is_some() || self.install.is_some() {
                    self.next_spec = Some(*spec);
                } else {
                    self.spec = *spec;
                    self.next_spec = None;
                }
                let _ = reply.send(Ok(()));
            }
            Cmd::Remove(reply) => {
                if self.restoring() {
                    let _ = reply.send(Err(conflict(self.state, RESTORING_REMOVE)));
                } else if self.state.is_active() {
                    let _ = reply.send(Err(conflict(self.state, "remove")));
                } else {
                    let _ = reply.send(Ok(()));
                    return Flow::Exit;
                }
            }
            Cmd::Shutdown(done) => {
                self.shutting_down = true;
                self.restart_at = None;
                self.restart_after_stop = false;
                self.shutdown_waiters.push(done);
                match self.state {
                    ServerState::Starting | ServerState::Running => {
                        self.begin_stop("the node is shutting down").await;
                    }
                    ServerState::Installing => {
                        if let Some(task) = &self.install {
                            let _ = task.cancel.send(true);
                        }
                    }
                    _ => {}
                }
            }
        }
        Flow::Continue
    }

    async fn power(&mut self, action: PowerAction) -> Result<(), NodeError> {
        if self.shutting_down {
            return Err(NodeError::Unavailable("the node is shutting down".into()));
        }
        // A user stop or kill cancels a pending automatic restart.
        if matches!(action, PowerAction::Stop | PowerAction::Kill)
            && self.state == ServerState::Crashed
            && self.restart_at.is_some()
        {
            self.restart_at = None;
            self.set_state(ServerState::Offline, "pending restart cancelled", None)
                .await;
            return Ok(());
        }
        if !action.allowed_in(self.state) {
            return Err(conflict(self.state, action.as_str()));
        }
        if matches!(action, PowerAction::Start | PowerAction::Restart) && self.restoring() {
            return Err(conflict(self.state, RESTORING_START));
        }
        match action {
            PowerAction::Start => {
                self.restart_at = None;
                self.start("start requested").await
            }
            PowerAction::Stop => {
                self.restart_after_stop = false;
                self.begin_stop("stop requested").await;
                Ok(())
            }
            PowerAction::Kill => {
                self.restart_after_stop = false;
                if self.state != ServerState::Stopping {
                    self.set_state(ServerState::Stopping, "kill requested", None)
                        .await;
                }
                self.intent = Some(Intent::Kill);
                self.stop_deadline = None;
                if let Some(p) = &self.proc {
                    signal_group(p.pid, Signal::SIGKILL);
                }
                Ok(())
            }
            PowerAction::Restart => {
                self.restart_at = None;
                if matches!(self.state, ServerState::Starting | ServerState::Running) {
                    self.restart_after_stop = true;
                    self.begin_stop("restart requested").await;
                    Ok(())
                } else {
                    self.start("restart requested").await
                }
            }
        }
    }

    fn restoring(&self) -> bool {
        self.shared
            .restoring
            .load(std::sync::atomic::Ordering::Acquire)
    }

    fn stop_timeout(&self) -> Duration {
        Duration::from_secs(self.spec.stop_timeout_secs)
    }

    /// starting|running → stopping, then the spec's stop method; SIGKILL to the group
    /// when the stop timeout passes.
    async fn begin_stop(&mut self, reason: &str) {
        self.set_state(ServerState::Stopping, reason, None).await;
        self.intent = Some(Intent::Stop);
        self.stop_deadline = Some(Instant::now() + self.stop_timeout());
        let Some(p) = &self.proc else { return };
        match &self.spec.stop {
            StopMethod::Command { command } => {
                // If the input queue is full or closed the timeout still applies.
                let _ = p.stdin.try_send(format!("{command}\n"));
            }
            StopMethod::Signal { signal } => {
                signal_group(p.pid, stop_signal(*signal));
            }
        }
    }

    fn command(&self, line: String) -> Result<(), NodeError> {
        if line.contains(['\n', '\r']) {
            return Err(NodeError::InvalidSpec("command contains a newline".into()));
        }
        if !matches!(
            self.state,
            ServerState::Starting | ServerState::Running | ServerState::Stopping
        ) {
            return Err(NodeError::NotRunning);
        }
        let Some(p) = self.proc.as_ref() else {
            return Err(NodeError::NotRunning);
        };
        match p.stdin.try_send(format!("{line}\n")) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(NodeError::Unavailable(
                "the server is not reading its input".into(),
            )),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(NodeError::NotRunning),
        }
    }

    /// offline|crashed → starting (→ running at once without a ready pattern). A spawn
    /// failure ends crashed, without an automatic restart.
    async fn start(&mut self, reason: &str) -> Result<(), NodeError> {
        if let Some(spec) = self.next_spec.take() {
            self.spec = spec;
        }
        let prepared = self.prepare_start().await;
        let spawned = match prepared {
            Ok(argv) => self.spawn(argv).await,
            Err(e) => Err(e),
        };
        self.set_state(ServerState::Starting, reason, None).await;
        match spawned {
            Ok(()) => {
                if self.spec.done_pattern.is_none() {
                    self.set_state(ServerState::Running, "started (no ready pattern)", None)
                        .await;
                }
                Ok(())
            }
            Err(e) => {
                let msg = format!("failed to start: {e}");
                self.set_state(ServerState::Crashed, &msg, None).await;
                Err(NodeError::Io(msg))
            }
        }
    }

    async fn install(&mut self, reply: Reply) {
        if self.shutting_down {
            let _ = reply.send(Err(NodeError::Unavailable(
                "the node is shutting down".into(),
            )));
            return;
        }
        if !matches!(self.state, ServerState::Offline | ServerState::Crashed) {
            let _ = reply.send(Err(conflict(self.state, "install")));
            return;
        }
        self.restart_at = None;
        if let Some(spec) = self.next_spec.take() {
            self.spec = spec;
        }
        self.set_state(ServerState::Installing, "install requested", None)
            .await;
        if let Err(e) = self.check_requirements().await {
            let _ = reply.send(Ok(()));
            let mut started = InstallEvent::new(self.shared.id.clone(), InstallPhase::Started);
            started.steps = u32::try_from(self.spec.install.len()).ok();
            let _ = self.events.send(Event::Install(started)).await;
            self.install_failed(e.to_string()).await;
            return;
        }
        let mut started = InstallEvent::new(self.shared.id.clone(), InstallPhase::Started);
        started.steps = u32::try_from(self.spec.install.len()).ok();
        let _ = self.events.send(Event::Install(started)).await;
        let _ = reply.send(Ok(()));

        self.gen_id += 1;
        let gen_id = self.gen_id;
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let installer = Installer {
            server: self.shared.id.clone(),
            dir: self.shared.dir.clone(),
            config: self.config.clone(),
            steps: self.spec.install.clone(),
            env: self.spec.env.clone(),
            java: self.spec.java,
            prompts: self.spec.prompts.clone(),
            console: self.shared.console.clone(),
            events: self.events.clone(),
            cancel: cancel_rx,
        };
        let tx = self.proc_tx.clone();
        tokio::spawn(async move {
            let outcome = installer.run().await;
            let _ = tx.send(ProcMsg::InstallDone { gen_id, outcome }).await;
        });
        self.install = Some(InstallTask {
            gen_id,
            cancel: cancel_tx,
        });
    }

    async fn install_done(&mut self, outcome: Outcome) {
        self.install = None;
        match outcome {
            Outcome::Finished => {
                self.set_state(ServerState::Offline, "install finished", None)
                    .await;
                self.install_event(InstallPhase::Finished, None).await;
            }
            Outcome::Cancelled => {
                self.set_state(ServerState::Offline, "install cancelled", None)
                    .await;
                self.install_event(InstallPhase::Cancelled, Some("cancelled".into()))
                    .await;
            }
            Outcome::Failed(reason) => self.install_failed(reason).await,
        }
    }

    /// The programs the spec needs are on this node, or an error naming the missing ones.
    async fn check_requirements(&self) -> Result<(), AgentError> {
        let needed = self.spec.requires.clone();
        if needed.is_empty() {
            return Ok(());
        }
        let missing =
            tokio::task::spawn_blocking(move || crate::process::missing_programs(&needed)).await?;
        if missing.is_empty() {
            Ok(())
        } else {
            Err(AgentError::Task(format!(
                "this node does not have {} (install the game's server there first)",
                missing.join(", ")
            )))
        }
    }

    /// Patch the config files now. Blocking work in `spawn_blocking`.
    async fn apply_config(&self, files: Vec<garrison_proto::ConfigFile>) -> Result<(), NodeError> {
        if files.is_empty() {
            return Ok(());
        }
        let dir = self.shared.dir.clone();
        let run_as = self.config.run_as;
        tokio::task::spawn_blocking(move || crate::configs::apply(&dir, &files, run_as))
            .await
            .map_err(|e| NodeError::Io(format!("the config task failed: {e}")))?
    }

    /// Before a start: config files patched, and `java` resolved to the node's Java of
    /// the version the template asks for. Returns the argv to run.
    async fn prepare_start(&mut self) -> Result<Vec<String>, AgentError> {
        self.check_requirements().await?;
        self.apply_config(self.spec.config_files.clone())
            .await
            .map_err(|e| AgentError::Task(format!("config file {e}")))?;
        let mut argv = self.spec.command.clone();
        if argv.first().is_some_and(|p| p == "java")
            && let Some(min) = self.spec.java
        {
            let dirs = self.config.install.java_dirs.clone();
            let jre = tokio::task::spawn_blocking(move || crate::java::select(&dirs, min))
                .await?
                .map_err(AgentError::Task)?;
            argv[0] = jre.binary().display().to_string();
        }
        Ok(argv)
    }

    /// Install failures end `offline` (not `crashed`): nothing was running, and the
    /// Failed install event carries the reason; a crash would suggest a restart.
    async fn install_failed(&mut self, reason: String) {
        self.set_state(
            ServerState::Offline,
            &format!("install failed: {reason}"),
            None,
        )
        .await;
        self.install_event(InstallPhase::Failed, Some(reason)).await;
    }

    async fn spawn(&mut self, argv: Vec<String>) -> Result<(), AgentError> {
        let env = self.spec.env.clone();
        let dir = self.shared.dir.clone();
        let run_as = self.config.run_as;
        let what = argv.first().cloned().unwrap_or_default();
        let mut child = tokio::task::spawn_blocking(move || spawn(&argv, &env, &dir, run_as))
            .await?
            .map_err(|e| AgentError::io(what, e))?;
        let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) else {
            return Err(AgentError::Task(
                "the process ended before it was watched".into(),
            ));
        };
        // Remembered until it ends, so a Garrison that dies meanwhile can clean up next start.
        let run_dir = crate::leftovers::run_dir(&self.config.data_dir);
        let server = self.shared.id.as_str().to_owned();
        let recorded =
            tokio::task::spawn_blocking(move || crate::leftovers::record(&run_dir, &server, pid))
                .await;
        if let Ok(Err(e)) | Err(e) = recorded.map_err(std::io::Error::other) {
            tracing::warn!(server = %self.shared.id, error = %e, "cannot record a started process");
        }
        self.gen_id += 1;
        let gen_id = self.gen_id;
        let console = self.shared.console.clone();
        let start_seq = console.next_seq();
        console.marker(format!("process started (pid {pid})"));

        let mut watchers: Vec<Arc<dyn LineWatch>> = Vec::new();
        if let Some(p) = &self.spec.done_pattern
            && let Ok(pattern) = Regex::new(p)
        {
            let tx = self.proc_tx.clone();
            watchers.push(Arc::new(ReadyWatch {
                pattern,
                fired: Arc::new(AtomicBool::new(false)),
                notify: Box::new(move || {
                    let _ = tx.try_send(ProcMsg::Ready { gen_id });
                }),
            }));
        }
        let events = self.events.clone();
        let sid = self.shared.id.clone();
        if let Some(w) = PromptWatch::new(
            &self.spec.prompts,
            Box::new(move |prompt| {
                let _ = events.try_send(Event::Prompt(PromptEvent {
                    server: sid.clone(),
                    prompt,
                }));
            }),
        ) {
            watchers.push(Arc::new(w));
        }
        let max = self.config.max_line_bytes;
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(tokio::spawn(read_stream(
                out,
                console.clone(),
                max,
                watchers.clone(),
            )));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(tokio::spawn(read_stream(
                err,
                console.clone(),
                max,
                watchers,
            )));
        }
        let (stdin_tx, stdin_rx) = mpsc::channel(STDIN_QUEUE);
        if let Some(stdin) = child.stdin.take() {
            tokio::spawn(write_stdin(stdin, stdin_rx));
        }
        tokio::spawn(wait_process(
            child,
            pid,
            readers,
            gen_id,
            self.proc_tx.clone(),
        ));
        lock(&self.shared.live).proc = Some(ProcInfo {
            pid,
            started: std::time::Instant::now(),
        });
        self.proc = Some(Proc {
            gen_id,
            pid,
            stdin: stdin_tx,
            start_seq,
        });
        Ok(())
    }

    async fn on_proc(&mut self, msg: ProcMsg) {
        match msg {
            ProcMsg::Ready { gen_id } => {
                if self.proc.as_ref().is_some_and(|p| p.gen_id == gen_id)
                    && self.state == ServerState::Starting
                {
                    self.set_state(ServerState::Running, "ready line seen", None)
                        .await;
                }
            }
            ProcMsg::Exited {
                gen_id,
                code,
                signal,
            } => {
                if self.proc.as_ref().is_none_or(|p| p.gen_id != gen_id) {
                    return;
                }
                let Some(proc) = self.proc.take() else { return };
                self.on_exit(proc, code, signal).await;
            }
            ProcMsg::InstallDone { gen_id, outcome } => {
                if self.install.as_ref().is_some_and(|t| t.gen_id == gen_id) {
                    self.install_done(outcome).await;
                }
            }
        }
    }

    async fn on_exit(&mut self, proc: Proc, code: Option<i32>, signal: Option<i32>) {
        self.stop_deadline = None;
        let run_dir = crate::leftovers::run_dir(&self.config.data_dir);
        let server = self.shared.id.as_str().to_owned();
        let _ =
            tokio::task::spawn_blocking(move || crate::leftovers::forget(&run_dir, &server)).await;
        let intent = self.intent.take();
        let killed_after_timeout = std::mem::take(&mut self.killed_after_timeout);
        let desc = describe_exit(code, signal);
        let console = self.shared.console.clone();
        let exit = ExitInfo {
            code,
            signal,
            last_lines: console.last_lines_since(proc.start_seq, EXIT_LINES),
        };
        console.marker(format!("process {} ({desc})", proc.pid));
        self.clear_live().await;

        match self.state {
            ServerState::Stopping => {
                let how = match (intent, killed_after_timeout) {
                    (Some(Intent::Kill), _) => "killed",
                    (_, true) => "stopped (killed after the stop timeout)",
                    _ => "stopped",
                };
                self.set_state(ServerState::Offline, &format!("{how}; {desc}"), Some(exit))
                    .await;
                if std::mem::take(&mut self.restart_after_stop) && !self.shutting_down {
                    let _ = self.start("restart requested").await;
                }
            }
            ServerState::Starting | ServerState::Running => {
                if code.is_some_and(|c| self.spec.restart_exit_codes.contains(&c)) {
                    self.set_state(
                        ServerState::Offline,
                        &format!("{desc}: the server asked to be started again"),
                        Some(exit),
                    )
                    .await;
                    if !self.shutting_down {
                        let _ = self.start("restart asked for by the server").await;
                    }
                } else if code == Some(0) {
                    self.set_state(
                        ServerState::Offline,
                        "exited by itself (code 0)",
                        Some(exit),
                    )
                    .await;
                } else {
                    self.crashed(desc, exit).await;
                }
            }
            _ => {}
        }
    }

    /// An unexpected exit: crashed, with an automatic restart when the policy allows.
    async fn crashed(&mut self, desc: String, exit: ExitInfo) {
        let policy = self.spec.restart.clone();
        let now = Instant::now();
        let window = Duration::from_secs(policy.window_secs);
        while self
            .restarts
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > window)
        {
            self.restarts.pop_front();
        }
        if !policy.enabled || self.shutting_down {
            self.set_state(ServerState::Crashed, &desc, Some(exit))
                .await;
            return;
        }
        let made = self.restarts.len();
        if (made as u64) < u64::from(policy.max_restarts) {
            let factor = 1u64.checked_shl(made as u32).unwrap_or(u64::MAX);
            let delay = policy.backoff_secs.saturating_mul(factor).min(86_400);
            self.restart_at = Some(now + Duration::from_secs(delay));
            let reason = format!(
                "{desc}; restarting in {delay}s (restart {} of {})",
                made + 1,
                policy.max_restarts
            );
            self.set_state(ServerState::Crashed, &reason, Some(exit))
                .await;
        } else {
            let reason = format!(
                "{desc}; crash limit reached ({} restarts in {}s)",
                policy.max_restarts, policy.window_secs
            );
            self.set_state(ServerState::Crashed, &reason, Some(exit))
                .await;
        }
    }

    /// The process is gone: no live info, and one final zero sample (disk kept).
    async fn clear_live(&self) {
        let mut live = lock(&self.shared.live);
        live.proc = None;
        live.stats = Stats {
            disk_bytes: live.stats.disk_bytes,
            sampled_at: crate::now_millis(),
            ..Stats::default()
        };
        let _ = self.events.try_send(Event::Stats(StatsEvent {
            server: self.shared.id.clone(),
            stats: live.stats.clone(),
        }));
    }

    async fn set_state(&mut self, to: ServerState, reason: &str, exit: Option<ExitInfo>) {
        let previous = self.state;
        let next = match previous.transition(to) {
            Ok(next) => next,
            Err(e) => {
                tracing::error!(server = %self.shared.id, error = %e, reason, "refused state change");
                return;
            }
        };
        self.state = next;
        *lock(&self.shared.state) = next;
        let _ = self
            .events
            .send(Event::Status(StatusEvent {
                server: self.shared.id.clone(),
                state: next,
                previous,
                at: crate::now_millis(),
                reason: Some(reason.to_owned()),
                exit,
            }))
            .await;
    }

    async fn install_event(&self, phase: InstallPhase, message: Option<String>) {
        let _ = self
            .events
            .send(Event::Install(InstallEvent {
                message,
                ..InstallEvent::new(self.shared.id.clone(), phase)
            }))
            .await;
    }
}

const RESTORING_START: &str = "start (a backup is being restored)";
const RESTORING_INSTALL: &str = "install (a backup is being restored)";
const RESTORING_REMOVE: &str = "remove (a backup is being restored)";

fn conflict(state: ServerState, action: &str) -> NodeError {
    NodeError::Conflict {
        state,
        action: action.to_owned(),
    }
}

/// Reap the process, then SIGKILL its group so nothing it started survives, then let
/// the output readers drain (bounded wait) and report the exit.
async fn wait_process(
    mut child: Child,
    pid: i32,
    readers: Vec<JoinHandle<()>>,
    gen_id: u64,
    tx: mpsc::Sender<ProcMsg>,
) {
    use std::os::unix::process::ExitStatusExt;
    let status = child.wait().await;
    signal_group(pid, Signal::SIGKILL);
    for mut r in readers {
        if tokio::time::timeout(READER_GRACE, &mut r).await.is_err() {
            // Something outside the group still holds the pipe open.
            r.abort();
        }
    }
    let (code, signal) = match status {
        Ok(s) => (s.code(), s.signal()),
        Err(_) => (None, None),
    };
    let _ = tx
        .send(ProcMsg::Exited {
            gen_id,
            code,
            signal,
        })
        .await;
}

async fn write_stdin(mut stdin: ChildStdin, mut rx: mpsc::Receiver<String>) {
    while let Some(line) = rx.recv().await {
        if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
            break;
        }
    }
}

/// Give `path` (and its parents up to `root`) to the run-as user. Blocking.
pub(crate) fn chown_to(path: &Path, root: &Path, run_as: Option<RunAs>) -> Result<(), AgentError> {
    let Some(r) = run_as else { return Ok(()) };
    let mut cur = Some(path);
    while let Some(p) = cur {
        nix::unistd::chown(
            p,
            Some(nix::unistd::Uid::from_raw(r.uid)),
            Some(nix::unistd::Gid::from_raw(r.gid)),
        )
        .map_err(|e| AgentError::io(format!("chown {}", p.display()), e.into()))?;
        if p == root {
            break;
        }
        cur = p.parent().filter(|q| q.starts_with(root));
    }
    Ok(())
}
