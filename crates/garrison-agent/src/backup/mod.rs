//! Backups: archives of a server's directory written to a storage driver, verified,
//! downloaded and restored.
//!
//! `mod.rs` holds the [`NodeBackups`] impl and the registry of running jobs (one backup
//! or restore per server); `create.rs` the archive writer, `restore.rs` the staging and
//! swap, `verify.rs` the checks against digest and manifest, `local.rs` the local
//! driver, `throttle.rs` the read rate limit.

mod create;
pub mod local;
mod restore;
pub mod s3;
pub mod store;
mod throttle;
mod verify;

pub use local::LocalStore;
pub use verify::verify_stored;

use crate::agent::Agent;
use crate::config::AgentConfig;
use crate::files::ServerFiles;
use crate::lock;
use crate::sandbox::RelPath;
use crate::supervisor::Shared;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use garrison_proto::{
    BackupDigest, BackupError, BackupErrorKind, BackupEvent, BackupHooks, BackupLocation, BackupOp,
    BackupRequest, BackupResult, BackupStage, Download, Event, Integrity, Manifest, ManifestKind,
    NodeBackups, NodeError, RestoreRequest, ServerId, ServerState, StorageKind, VerifyReport,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{BackupStore, StoreError, archive_key, manifest_key};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Progress events at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// Compressed chunks in flight between the archive thread and the storage writer.
const CHUNK_QUEUE: usize = 8;
/// A reliable event waits at most this long for a stalled consumer.
const EVENT_WAIT: Duration = Duration::from_secs(10);

/// The storage drivers this node has.
#[derive(Clone)]
pub struct Stores {
    pub local: Arc<LocalStore>,
    pub s3: Option<Arc<dyn BackupStore>>,
    /// Why the S3 driver could not be built from the settings (`s3` is `None` then):
    /// only S3 use fails with it, local backups keep working.
    pub s3_error: Option<String>,
    /// The node's own choice, over the panel's.
    pub storage_override: Option<StorageKind>,
}

impl Stores {
    /// The driver of `kind` (after the node's override).
    pub fn get(&self, kind: StorageKind) -> Result<Arc<dyn BackupStore>, BackupError> {
        self.at(self.storage_override.unwrap_or(kind))
    }

    /// The driver of `kind` exactly as stored (a location names where the backup is).
    pub fn at(&self, kind: StorageKind) -> Result<Arc<dyn BackupStore>, BackupError> {
        match kind {
            StorageKind::Local => Ok(self.local.clone()),
            StorageKind::S3 => self.s3.clone().ok_or_else(|| {
                let message = match &self.s3_error {
                    Some(e) => format!("S3 storage cannot be used: {e}"),
                    None => "S3 storage is not configured on this node".to_owned(),
                };
                BackupError::new(BackupErrorKind::Storage, message)
            }),
        }
    }
}

/// The storage drivers from the agent's config, for the agent and for offline tools
/// (the CLI's verify). Bad S3 settings do not fail it: they are logged and kept for
/// [`Stores::at`] to report when S3 is asked for.
pub fn open_stores(config: &AgentConfig) -> Result<Stores, StoreError> {
    let local = Arc::new(LocalStore::new(config.backups_dir()));
    let (s3, s3_error): (Option<Arc<dyn BackupStore>>, _) = match &config.backups.s3 {
        Some(c) => match s3::S3Store::new(c) {
            Ok(store) => (Some(Arc::new(store)), None),
            Err(e) => {
                tracing::warn!(error = %e, "the S3 backup storage cannot be opened; local backups still work");
                (None, Some(e.to_string()))
            }
        },
        None => (None, None),
    };
    Ok(Stores {
        local,
        s3,
        s3_error,
        storage_override: config.backups.storage_override,
    })
}

fn storage(e: StoreError) -> NodeError {
    NodeError::Backup(match e {
        StoreError::NotFound(k) => {
            BackupError::new(BackupErrorKind::Missing, format!("{k} is not in storage"))
        }
        e => BackupError::new(BackupErrorKind::Storage, e.to_string()),
    })
}

fn berr(kind: BackupErrorKind, message: impl Into<String>) -> NodeError {
    NodeError::Backup(BackupError::new(kind, message))
}

/// A running job, as the registry sees it.
struct Running {
    backup: String,
    cancel: Arc<AtomicBool>,
    cancel_tx: watch::Sender<bool>,
}

/// The agent's backup state: drivers, running jobs, their tasks.
pub(crate) struct Backups {
    stores: Result<Stores, String>,
    running: Mutex<HashMap<ServerId, Running>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    closed: AtomicBool,
    /// When this agent's backups began: staging newer than that is a running job's.
    started: std::time::SystemTime,
}

/// Whether `path` (not followed) was modified at or after `t`: made by this process,
/// so not a leftover of an earlier run.
pub(crate) fn newer_than(path: &std::path::Path, t: std::time::SystemTime) -> bool {
    std::fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|m| m >= t)
}

/// Frees the server's job slot when the job ends, however it ends.
struct Slot {
    backups: Arc<Backups>,
    server: ServerId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.backups.running).remove(&self.server);
    }
}

/// Ends the restoring mark (actor and files) when dropped, panics included.
struct RestoreLock {
    shared: Arc<Shared>,
    files: Arc<ServerFiles>,
}

impl Drop for RestoreLock {
    fn drop(&mut self) {
        self.files.restoring.store(false, Ordering::Release);
        self.shared.restoring.store(false, Ordering::Release);
    }
}

impl Backups {
    pub(crate) fn new(config: &AgentConfig) -> Arc<Backups> {
        let stores = open_stores(config).map_err(|e| {
            tracing::warn!(error = %e, "backup storage cannot be opened");
            e.to_string()
        });
        Arc::new(Backups {
            stores,
            running: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            started: std::time::SystemTime::now(),
        })
    }

    fn stores(&self) -> Result<&Stores, NodeError> {
        self.stores
            .as_ref()
            .map_err(|e| berr(BackupErrorKind::Storage, e.clone()))
    }

    fn track(&self, task: JoinHandle<()>) {
        let mut tasks = lock(&self.tasks);
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    /// Claim the server's slot (`Busy` when taken).
    fn claim(
        self: &Arc<Self>,
        server: &ServerId,
        backup: &str,
    ) -> Result<(Slot, Arc<AtomicBool>, watch::Receiver<bool>), NodeError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(NodeError::Unavailable("the node is shutting down".into()));
        }
        let mut running = lock(&self.running);
        if let Some(r) = running.get(server) {
            return Err(berr(
                BackupErrorKind::Busy,
                format!("backup {} of this server is running", r.backup),
            ));
        }
        let cancel = Arc::new(AtomicBool::new(false));
        let (cancel_tx, cancel_rx) = watch::channel(false);
        running.insert(
            server.clone(),
            Running {
                backup: backup.to_owned(),
                cancel: cancel.clone(),
                cancel_tx,
            },
        );
        Ok((
            Slot {
                backups: self.clone(),
                server: server.clone(),
            },
            cancel,
            cancel_rx,
        ))
    }

    /// Cancel every job and wait for them all to end.
    pub(crate) async fn shutdown(&self) {
        self.closed.store(true, Ordering::Release);
        for r in lock(&self.running).values() {
            r.cancel.store(true, Ordering::Release);
            let _ = r.cancel_tx.send(true);
        }
        let tasks: Vec<JoinHandle<()>> = lock(&self.tasks).drain(..).collect();
        for t in tasks {
            let _ = t.await;
        }
    }

    /// Clear what an earlier run left: staging trees and unfinished objects. Blocking
    /// parts in their own thread; tracked so shutdown waits for it.
    pub(crate) fn clean_leftovers(self: &Arc<Self>, config: &AgentConfig) {
        let roots = [
            restore::staging_root(&config.data_dir),
            restore::download_root(&config.data_dir),
        ];
        let local = self.stores.as_ref().ok().map(|s| s.local.clone());
        let started = self.started;
        self.track(tokio::spawn(async move {
            let cleared = tokio::task::spawn_blocking(move || {
                for root in roots {
                    let Ok(rd) = std::fs::read_dir(&root) else {
                        continue;
                    };
                    for entry in rd.flatten() {
                        // A job already running in this process (started at once).
                        if newer_than(&entry.path(), started) {
                            continue;
                        }
                        if let Err(e) = restore::remove_all(&entry.path()) {
                            tracing::warn!(path = %entry.path().display(), error = %e, "cannot remove a leftover staging tree");
                        }
                    }
                }
            })
            .await;
            if cleared.is_err() {
                tracing::warn!("clearing backup staging failed");
            }
            if let Some(local) = local
                && let Err(e) = local.clean_partial().await
            {
                tracing::warn!(error = %e, "cannot clear unfinished backup objects");
            }
        }));
    }
}

/// The event channel, with reliable sends that cannot hang a job forever.
#[derive(Clone)]
struct Emitter {
    tx: mpsc::Sender<Event>,
    server: ServerId,
    backup: String,
    op: BackupOp,
}

impl Emitter {
    fn event(&self, stage: BackupStage) -> Event {
        Event::Backup(BackupEvent {
            server: self.server.clone(),
            backup: self.backup.clone(),
            op: self.op,
            stage,
        })
    }

    async fn send(&self, stage: BackupStage) {
        let ev = self.event(stage);
        if tokio::time::timeout(EVENT_WAIT, self.tx.send(ev))
            .await
            .is_err()
        {
            tracing::warn!(server = %self.server, "backup event dropped: the event channel is stalled");
        }
    }

    fn progress(&self, bytes: u64, files: u64, total: Option<u64>, done: bool) {
        let percent = total.map(|t| {
            let p = if t == 0 {
                100.0
            } else {
                bytes as f64 * 100.0 / t as f64
            };
            let cap = if done { 100.0 } else { 99.0 };
            p.clamp(0.0, cap) as f32
        });
        let _ = self.tx.try_send(self.event(BackupStage::Progress {
            bytes,
            files,
            total_bytes: total,
            percent,
        }));
    }
}

/// A backup id names files in storage: it must be safe as a path component.
fn check_backup_id(id: &str) -> Result<(), NodeError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(NodeError::InvalidSpec(format!(
            "backup id {id:?} must be 1 to 128 letters, digits, '-' or '_'"
        )))
    }
}

impl Agent {
    fn backups_ready(&self) -> Result<(&Arc<Backups>, &Stores), NodeError> {
        let b = &self.backups;
        Ok((b, b.stores()?))
    }

    /// Send the `before` hooks and wait as they ask; `false` when cancelled meanwhile.
    async fn hooks_before(
        &self,
        id: &ServerId,
        hooks: &BackupHooks,
        shared: &Shared,
        cancel: &mut watch::Receiver<bool>,
    ) -> bool {
        let from = shared.console.next_seq();
        for line in &hooks.before {
            if let Err(e) = garrison_proto::Node::command(self, id, line).await {
                tracing::warn!(server = %id, error = %e, "backup hook command not sent");
            }
        }
        let wait = Duration::from_secs(hooks.wait_secs);
        if wait.is_zero() {
            return true;
        }
        let pattern = hooks
            .wait_for
            .as_deref()
            .and_then(|p| regex::Regex::new(p).ok());
        let deadline = tokio::time::Instant::now() + wait;
        let mut seen = from;
        loop {
            if let Some(re) = &pattern {
                let (lines, next) = shared.console.lines_since(seen);
                seen = next;
                if lines.iter().any(|l| re.is_match(l)) {
                    return true;
                }
            }
            let step = tokio::time::sleep_until(
                deadline.min(tokio::time::Instant::now() + Duration::from_millis(100)),
            );
            tokio::select! {
                () = step => {}
                _ = cancel.changed() => return false,
            }
            if tokio::time::Instant::now() >= deadline {
                if pattern.is_some() {
                    tracing::warn!(server = %id, "backup hook: no console line matched in time; archiving anyway");
                }
                return true;
            }
        }
    }

    async fn hooks_after(&self, id: &ServerId, hooks: &BackupHooks) {
        for line in &hooks.after {
            if let Err(e) = garrison_proto::Node::command(self, id, line).await {
                tracing::warn!(server = %id, error = %e, "backup hook command not sent");
            }
        }
    }

    fn shared_of(&self, id: &ServerId) -> Result<Arc<Shared>, NodeError> {
        self.check_open()?;
        self.registry
            .get_shared(id)
            .ok_or_else(|| NodeError::UnknownServer(id.clone()))
    }
}

/// Archive a server's files into `store`; the outcome as the end stage.
async fn run_create(
    agent: Arc<Agent>,
    files: Arc<ServerFiles>,
    shared: Arc<Shared>,
    store: Arc<dyn BackupStore>,
    req: BackupRequest,
    (cancel, mut cancel_rx): (Arc<AtomicBool>, watch::Receiver<bool>),
    emit: Emitter,
) -> BackupStage {
    let id = files.id.clone();
    let hooks = lock(&shared.backup_hooks).clone();
    let running = matches!(
        *lock(&shared.state),
        ServerState::Running | ServerState::Starting
    );
    let use_hooks = running && !hooks.is_empty();
    if use_hooks
        && !agent
            .hooks_before(&id, &hooks, &shared, &mut cancel_rx)
            .await
    {
        agent.hooks_after(&id, &hooks).await;
        return BackupStage::Cancelled;
    }
    let outcome = write_backup(&files, &store, &req, &cancel, &emit).await;
    if use_hooks {
        agent.hooks_after(&id, &hooks).await;
    }
    match outcome {
        Ok(result) => BackupStage::Finished {
            result: Some(result),
        },
        Err(create::CreateError::Cancelled) => BackupStage::Cancelled,
        Err(create::CreateError::Failed(error)) => BackupStage::Failed {
            error,
            integrity: None,
        },
    }
}

async fn write_backup(
    files: &Arc<ServerFiles>,
    store: &Arc<dyn BackupStore>,
    req: &BackupRequest,
    cancel: &Arc<AtomicBool>,
    emit: &Emitter,
) -> Result<BackupResult, create::CreateError> {
    use create::CreateError::{Cancelled, Failed};
    let id = files.id.clone();
    let loc = BackupLocation {
        backup: req.backup.clone(),
        storage: store.kind(),
        compression: req.compression.kind,
    };
    let (akey, mkey) = (archive_key(&id, &loc), manifest_key(&id, &loc));
    let mut writer = store
        .create(&akey)
        .await
        .map_err(|e| Failed(e.to_string()))?;
    let progress = Arc::new(create::Progress::default());
    let params = create::Params {
        compression: req.compression.kind,
        level: req.compression.level,
        ignore: req.ignore.clone(),
        rate: req.rate_limit_bytes_per_sec,
        cancel: cancel.clone(),
        progress: progress.clone(),
    };
    let (tx, mut rx) = mpsc::channel::<Bytes>(CHUNK_QUEUE);
    let sandbox = files.sandbox();
    let mut builder = tokio::task::spawn_blocking(move || create::build(&sandbox, &params, tx));
    let mut ticker = tokio::time::interval(PROGRESS_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut write_err: Option<StoreError> = None;
    let built = loop {
        tokio::select! {
            chunk = rx.recv(), if write_err.is_none() => {
                match chunk {
                    Some(c) => {
                        if let Err(e) = writer.write(c).await {
                            // Closing the receiver stops the archive thread.
                            write_err = Some(e);
                            rx.close();
                        }
                    }
                    // The archive thread is ending: wait for it rather than spin.
                    None => break (&mut builder).await,
                }
            }
            done = &mut builder => break done,
            _ = ticker.tick() => {
                let total = Some(files.usage().used_bytes);
                emit.progress(progress.bytes.load(Ordering::Relaxed), progress.files.load(Ordering::Relaxed), total, false);
            }
        }
    };
    // The archive thread ended; what it sent before ending is still queued.
    let built = match built {
        Ok(r) => r,
        Err(e) => Err(Failed(format!("the archive task failed: {e}"))),
    };
    let built = match built {
        Ok(b) if write_err.is_none() => {
            let mut err = None;
            while let Some(c) = rx.recv().await {
                if let Err(e) = writer.write(c).await {
                    err = Some(e);
                    break;
                }
            }
            match err {
                None => Ok(b),
                Some(e) => Err(Failed(e.to_string())),
            }
        }
        Ok(_) => Err(Failed(write_err.map(|e| e.to_string()).unwrap_or_default())),
        Err(e) => Err(match (e, write_err) {
            (_, Some(w)) => Failed(w.to_string()),
            (e, None) => e,
        }),
    };
    let built = match built {
        Ok(b) if cancel.load(Ordering::Relaxed) => {
            drop(b);
            Err(Cancelled)
        }
        other => other,
    };
    let built = match built {
        Ok(b) => b,
        Err(e) => {
            writer.abort().await;
            return Err(e);
        }
    };
    tracing::debug!(server = %id, counted = built.throttled.0, waited_ms = built.throttled.1.as_millis() as u64, "backup read limiter");
    let cleanup = |store: Arc<dyn BackupStore>, a: String, m: String| async move {
        let _ = store.delete(&a).await;
        let _ = store.delete(&m).await;
    };
    let finished = writer.finish().await.map_err(|e| Failed(e.to_string()));
    let checked = match finished {
        Ok(n) if n != built.archive_size => Err(Failed(format!(
            "storage took {n} bytes of the archive's {}",
            built.archive_size
        ))),
        Ok(_) => match store.size(&akey).await {
            Ok(Some(n)) if n == built.archive_size => Ok(()),
            Ok(other) => Err(Failed(format!(
                "the stored archive is {other:?} bytes, {} were written",
                built.archive_size
            ))),
            Err(e) => Err(Failed(e.to_string())),
        },
        Err(e) => Err(e),
    };
    if let Err(e) = checked {
        cleanup(store.clone(), akey, mkey).await;
        return Err(e);
    }
    let manifest = Manifest {
        version: 1,
        backup: req.backup.clone(),
        server: id.clone(),
        created_at: crate::now_millis(),
        compression: req.compression.kind,
        archive_size: built.archive_size,
        archive_sha256: built.archive_sha256.clone(),
        entries: built.entries,
    };
    let stored = async {
        let json = serde_json::to_vec(&manifest).map_err(|e| Failed(e.to_string()))?;
        let sha = hex::encode(Sha256::digest(&json));
        let len = json.len() as u64;
        let mut w = store
            .create(&mkey)
            .await
            .map_err(|e| Failed(e.to_string()))?;
        if let Err(e) = w.write(Bytes::from(json)).await {
            w.abort().await;
            return Err(Failed(e.to_string()));
        }
        let n = w.finish().await.map_err(|e| Failed(e.to_string()))?;
        match store.size(&mkey).await {
            Ok(Some(s)) if s == len && n == len => Ok(sha),
            Ok(_) => Err(Failed("the stored manifest has the wrong size".into())),
            Err(e) => Err(Failed(e.to_string())),
        }
    }
    .await;
    let manifest_sha256 = match stored {
        Ok(s) => s,
        Err(e) => {
            cleanup(store.clone(), akey, mkey).await;
            return Err(e);
        }
    };
    if cancel.load(Ordering::Relaxed) {
        cleanup(store.clone(), akey, mkey).await;
        return Err(Cancelled);
    }
    emit.progress(
        built.file_bytes,
        manifest.entries.len() as u64,
        Some(built.file_bytes),
        true,
    );
    Ok(BackupResult {
        storage: store.kind(),
        compression: req.compression.kind,
        digest: BackupDigest {
            size: built.archive_size,
            sha256: built.archive_sha256,
            manifest_sha256,
        },
        files: manifest.entries.len() as u64,
        bytes: built.file_bytes,
    })
}

struct RestorePlan {
    files: Arc<ServerFiles>,
    store: Arc<dyn BackupStore>,
    local: Arc<LocalStore>,
    req: RestoreRequest,
    manifest: Manifest,
    paths: Vec<RelPath>,
    data_dir: PathBuf,
    server_dir: PathBuf,
    run_as: Option<crate::config::RunAs>,
}

fn restore_failed(error: String, integrity: Option<Integrity>) -> BackupStage {
    BackupStage::Failed { error, integrity }
}

async fn run_restore(
    agent: Arc<Agent>,
    plan: RestorePlan,
    cancel: Arc<AtomicBool>,
    emit: Emitter,
    aside: &mut Option<PathBuf>,
) -> BackupStage {
    let id = plan.files.id.clone();
    let (delete_extra, no_paths) = (plan.req.delete_extra, plan.paths.is_empty());
    let loc = plan.req.location.clone();
    let digest = plan.req.digest.clone();
    let akey = archive_key(&id, &loc);
    let total = plan.manifest.total_bytes();
    let bytes = Arc::new(AtomicU64::new(0));
    let files_done = Arc::new(AtomicU64::new(0));

    // (1) The archive as a local file, checked against the digest.
    let (archive_path, downloaded) = if plan.store.kind() == StorageKind::Local {
        match plan.local.path_of(&akey) {
            Ok(p) => (p, None),
            Err(e) => return restore_failed(e.to_string(), None),
        }
    } else {
        let dir = restore::download_root(&plan.data_dir).join(id.as_str());
        let path = dir.join(format!("{}.{}", loc.backup, loc.compression.extension()));
        match download(&plan.store, &akey, &dir, &path, &cancel).await {
            Ok(()) => (path.clone(), Some(dir)),
            Err(stage) => {
                let _ = tokio::task::spawn_blocking(move || restore::remove_all(&dir)).await;
                return stage;
            }
        }
    };
    let drop_download = |d: Option<PathBuf>| async move {
        if let Some(d) = d {
            let _ = tokio::task::spawn_blocking(move || restore::remove_all(&d)).await;
        }
    };
    // The archive's bytes are checked against the digest as they are extracted (one
    // read of the file): into staging only, and refused before the swap.
    let p = archive_path.clone();
    if !tokio::task::spawn_blocking(move || p.exists())
        .await
        .unwrap_or(false)
    {
        drop_download(downloaded).await;
        return restore_failed(
            format!("{akey} is not in storage"),
            Some(Integrity::Missing),
        );
    }

    // (2)-(3) Staging, extraction, swap.
    let staging = restore::staging_root(&plan.data_dir).join(id.as_str());
    let blocking = {
        let (bytes, files_done, cancel) = (bytes.clone(), files_done.clone(), cancel.clone());
        let staging = staging.clone();
        let archive = archive_path.clone();
        let server_dir = plan.server_dir.clone();
        let manifest = plan.manifest;
        let paths = plan.paths;
        let (delete_extra, run_as, compression) =
            (plan.req.delete_extra, plan.run_as, loc.compression);
        tokio::task::spawn_blocking(move || {
            restore::run(&restore::Job {
                archive: &archive,
                digest: &digest,
                compression,
                manifest: &manifest,
                server_dir: &server_dir,
                staging: &staging,
                delete_extra,
                paths: &paths,
                run_as,
                cancel: &cancel,
                bytes: &bytes,
                files: &files_done,
            })
        })
    };
    tokio::pin!(blocking);
    let mut ticker = tokio::time::interval(PROGRESS_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let swapped = loop {
        tokio::select! {
            r = &mut blocking => break r,
            _ = ticker.tick() => emit.progress(bytes.load(Ordering::Relaxed), files_done.load(Ordering::Relaxed), Some(total), false),
        }
    };
    drop_download(downloaded).await;
    match swapped {
        Ok(Ok(())) => {}
        Ok(Err(restore::RestoreError::Cancelled)) => return BackupStage::Cancelled,
        Ok(Err(restore::RestoreError::Corrupt(e))) => {
            return restore_failed(e, Some(Integrity::Corrupt));
        }
        Ok(Err(restore::RestoreError::Failed(e))) => return restore_failed(e, None),
        Err(e) => return restore_failed(format!("the restore task failed: {e}"), None),
    }

    // (4) The new tree is live: re-point the file layer, drop the old tree. After a
    // hard-link clone the old tree shares inodes with the new one (their link counts
    // are above one until it goes), so it goes now; a full delete_extra restore shares
    // nothing, so its old tree is moved aside and removed after the `Finished` event.
    let hub = agent.files.clone();
    let sid = id.clone();
    let shares_inodes = !(delete_extra && no_paths);
    let after = tokio::task::spawn_blocking(move || {
        let reopened = hub.reopen_tree(&sid);
        let mut later = None;
        if shares_inodes {
            if let Err(e) = restore::remove_all(&staging) {
                tracing::warn!(server = %sid, error = %e, "cannot remove the replaced files");
            }
        } else {
            let aside = restore::aside_path(&staging);
            match std::fs::rename(&staging, &aside) {
                Ok(()) => later = Some(aside),
                Err(e) => {
                    tracing::debug!(server = %sid, error = %e, "cannot move the replaced files aside");
                    if let Err(e) = restore::remove_all(&staging) {
                        tracing::warn!(server = %sid, error = %e, "cannot remove the replaced files");
                    }
                }
            }
        }
        hub.rescan_usage(&sid);
        (reopened, later)
    })
    .await;
    *aside = match after {
        Ok((Ok(()), later)) => later,
        Ok((Err(e), later)) => {
            tracing::error!(server = %id, error = %e, "the restored files cannot be reopened");
            later
        }
        Err(e) => {
            tracing::error!(server = %id, error = %e, "the restore's last step failed");
            None
        }
    };
    emit.progress(total, files_done.load(Ordering::Relaxed), Some(total), true);
    BackupStage::Finished { result: None }
}

/// Fetch a remote archive into `path` (hashed later with the local ones).
async fn download(
    store: &Arc<dyn BackupStore>,
    key: &str,
    dir: &std::path::Path,
    path: &std::path::Path,
    cancel: &AtomicBool,
) -> Result<(), BackupStage> {
    let fail = |e: String| restore_failed(e, None);
    let (_, mut stream) = match store.open(key, 0).await {
        Ok(s) => s,
        Err(StoreError::NotFound(k)) => {
            return Err(restore_failed(
                format!("{k} is not in storage"),
                Some(Integrity::Missing),
            ));
        }
        Err(e) => return Err(fail(e.to_string())),
    };
    let (d, p) = (dir.to_path_buf(), path.to_path_buf());
    let file = tokio::task::spawn_blocking(move || {
        let _ = restore::remove_all(&d);
        std::fs::create_dir_all(&d)?;
        std::fs::File::create(&p)
    })
    .await
    .map_err(|e| fail(e.to_string()))?
    .map_err(|e| fail(format!("{}: {e}", path.display())))?;
    let mut file = tokio::fs::File::from_std(file);
    use tokio::io::AsyncWriteExt;
    while let Some(chunk) = stream.next().await {
        if cancel.load(Ordering::Relaxed) {
            return Err(BackupStage::Cancelled);
        }
        let chunk = chunk.map_err(|e| fail(format!("reading {key}: {e}")))?;
        file.write_all(&chunk)
            .await
            .map_err(|e| fail(format!("{}: {e}", path.display())))?;
    }
    file.flush()
        .await
        .map_err(|e| fail(format!("{}: {e}", path.display())))?;
    Ok(())
}

#[async_trait]
impl NodeBackups for Agent {
    async fn create_backup(&self, id: &ServerId, req: BackupRequest) -> Result<(), NodeError> {
        check_backup_id(&req.backup)?;
        let shared = self.shared_of(id)?;
        let files = self.server_files(id)?;
        let (backups, stores) = self.backups_ready()?;
        let store = stores.get(req.storage).map_err(NodeError::Backup)?;
        let (slot, cancel, cancel_rx) = backups.claim(id, &req.backup)?;
        let Some(agent) = self.me.upgrade() else {
            return Err(NodeError::Unavailable("the node is shutting down".into()));
        };
        let emit = Emitter {
            tx: self.events.clone(),
            server: id.clone(),
            backup: req.backup.clone(),
            op: BackupOp::Create,
        };
        emit.send(BackupStage::Started {
            storage: store.kind(),
        })
        .await;
        let task = tokio::spawn(async move {
            let e = emit.clone();
            let stage = run_create(agent, files, shared, store, req, (cancel, cancel_rx), e).await;
            // Free the slot first: the panel may start the next job on this event.
            drop(slot);
            emit.send(stage).await;
        });
        backups.track(task);
        Ok(())
    }

    async fn cancel_backup(&self, id: &ServerId, backup: &str) -> Result<(), NodeError> {
        let running = lock(&self.backups.running);
        match running.get(id) {
            Some(r) if r.backup == backup => {
                r.cancel.store(true, Ordering::Release);
                let _ = r.cancel_tx.send(true);
                Ok(())
            }
            _ => Err(berr(
                BackupErrorKind::NotRunning,
                format!("no backup or restore {backup} is running for this server"),
            )),
        }
    }

    async fn restore_backup(&self, id: &ServerId, req: RestoreRequest) -> Result<(), NodeError> {
        check_backup_id(&req.location.backup)?;
        let (tx, shared) = self.get(id)?;
        let files = self.server_files(id)?;
        let (backups, stores) = self.backups_ready()?;
        let store = stores.at(req.location.storage).map_err(NodeError::Backup)?;
        let local = stores.local.clone();
        let (slot, cancel, _cancel_rx) = backups.claim(id, &req.location.backup)?;
        crate::agent::ask_actor(&tx, id, crate::supervisor::Cmd::BeginRestore).await?;
        files.restoring.store(true, Ordering::Release);
        let guard = RestoreLock {
            shared,
            files: files.clone(),
        };
        let manifest = match verify::read_manifest(&*store, id, &req.location, &req.digest).await {
            Ok(m) => m,
            Err(verify::Bad::Missing(m)) => return Err(berr(BackupErrorKind::Missing, m)),
            Err(verify::Bad::Corrupt(m)) => return Err(berr(BackupErrorKind::Corrupt, m)),
            Err(verify::Bad::Store(e)) => return Err(storage(e)),
        };
        let mut paths = Vec::new();
        for p in &req.paths {
            let rel = RelPath::new(p.trim_start_matches('/'))
                .map_err(|e| berr(BackupErrorKind::InvalidPath, e.to_string()))?;
            if rel.is_root() {
                paths.clear();
                break;
            }
            let found = manifest.entries.iter().any(|e| {
                e.path == rel.as_str()
                    || (e.path.starts_with(rel.as_str())
                        && e.path.as_bytes().get(rel.as_str().len()) == Some(&b'/'))
            });
            if !found {
                return Err(berr(
                    BackupErrorKind::InvalidPath,
                    format!("{rel} is not in the backup"),
                ));
            }
            paths.push(rel);
        }
        let server_dir = self.config.server_dir(id);
        let usage = files.usage();
        if let Some(limit) = usage.limit_bytes {
            let restored: u64 = manifest
                .entries
                .iter()
                .filter(|e| e.kind == ManifestKind::File)
                .filter(|e| {
                    paths.is_empty()
                        || RelPath::new(&e.path)
                            .is_ok_and(|r| paths.iter().any(|p| r.starts_with(p)))
                })
                .map(|e| e.size)
                .sum();
            let after = if req.delete_extra && paths.is_empty() {
                restored
            } else {
                let (d, m, p) = (server_dir.clone(), manifest.clone(), paths.clone());
                let replaced =
                    tokio::task::spawn_blocking(move || restore::replaced_bytes(&d, &m, &p))
                        .await
                        .map_err(|e| NodeError::Io(e.to_string()))?
                        .map_err(NodeError::Io)?;
                usage
                    .used_bytes
                    .saturating_sub(replaced)
                    .saturating_add(restored)
            };
            if after > limit {
                return Err(berr(
                    BackupErrorKind::QuotaExceeded,
                    format!(
                        "the restore would use {} of the disk limit of {} (now {} used)",
                        crate::files::human(after),
                        crate::files::human(limit),
                        crate::files::human(usage.used_bytes)
                    ),
                ));
            }
        }
        let Some(agent) = self.me.upgrade() else {
            return Err(NodeError::Unavailable("the node is shutting down".into()));
        };
        let emit = Emitter {
            tx: self.events.clone(),
            server: id.clone(),
            backup: req.location.backup.clone(),
            op: BackupOp::Restore,
        };
        emit.send(BackupStage::Started {
            storage: store.kind(),
        })
        .await;
        let plan = RestorePlan {
            files,
            store,
            local,
            req,
            manifest,
            paths,
            data_dir: self.config.data_dir.clone(),
            server_dir,
            run_as: self.config.run_as,
        };
        let task = tokio::spawn(async move {
            let e = emit.clone();
            let mut aside = None;
            let stage = run_restore(agent, plan, cancel, e, &mut aside).await;
            drop(guard);
            drop(slot);
            emit.send(stage).await;
            // The replaced tree, outside the server directory and sharing nothing
            // with it: removed after the event (shutdown still waits for it; a crash
            // leaves it for `clean_leftovers`).
            if let Some(old) = aside {
                let removed = tokio::task::spawn_blocking(move || {
                    restore::remove_all(&old).map_err(|e| (old, e))
                })
                .await;
                if let Ok(Err((old, e))) = removed {
                    tracing::warn!(path = %old.display(), error = %e, "cannot remove the replaced files");
                }
            }
        });
        backups.track(task);
        Ok(())
    }

    async fn delete_backup(
        &self,
        id: &ServerId,
        location: &BackupLocation,
    ) -> Result<(), NodeError> {
        check_backup_id(&location.backup)?;
        self.check_open()?;
        let (_, stores) = self.backups_ready()?;
        let store = stores.at(location.storage).map_err(NodeError::Backup)?;
        store
            .delete(&archive_key(id, location))
            .await
            .map_err(storage)?;
        store
            .delete(&manifest_key(id, location))
            .await
            .map_err(storage)
    }

    async fn download_backup(
        &self,
        id: &ServerId,
        location: &BackupLocation,
        offset: u64,
    ) -> Result<Download, NodeError> {
        check_backup_id(&location.backup)?;
        self.check_open()?;
        let (_, stores) = self.backups_ready()?;
        let store = stores.at(location.storage).map_err(NodeError::Backup)?;
        let (size, stream) = store
            .open(&archive_key(id, location), offset)
            .await
            .map_err(storage)?;
        Ok(Download {
            name: format!("{}.{}", location.backup, location.compression.extension()),
            size: Some(size),
            archive: false,
            stream,
        })
    }

    async fn verify_backup(
        &self,
        id: &ServerId,
        location: &BackupLocation,
        digest: &BackupDigest,
    ) -> Result<VerifyReport, NodeError> {
        check_backup_id(&location.backup)?;
        self.check_open()?;
        let (_, stores) = self.backups_ready()?;
        let store = stores.at(location.storage).map_err(NodeError::Backup)?;
        verify_stored(&*store, id, location, digest)
            .await
            .map_err(storage)
    }

    async fn backup_manifest(
        &self,
        id: &ServerId,
        location: &BackupLocation,
        digest: &BackupDigest,
    ) -> Result<Manifest, NodeError> {
        check_backup_id(&location.backup)?;
        self.check_open()?;
        let (_, stores) = self.backups_ready()?;
        let store = stores.at(location.storage).map_err(NodeError::Backup)?;
        read_stored_manifest(&*store, id, location, digest).await
    }
}

/// The stored manifest, checked against the digest; usable without an agent.
pub async fn read_stored_manifest(
    store: &dyn BackupStore,
    server: &ServerId,
    loc: &BackupLocation,
    digest: &BackupDigest,
) -> Result<Manifest, NodeError> {
    verify::read_manifest(store, server, loc, digest)
        .await
        .map_err(|e| match e {
            verify::Bad::Missing(m) => berr(BackupErrorKind::Missing, m),
            verify::Bad::Corrupt(m) => berr(BackupErrorKind::Corrupt, m),
            verify::Bad::Store(e) => storage(e),
        })
}
