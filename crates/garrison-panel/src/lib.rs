//! The Garrison panel: HTTP API, auth, store, event fan-out. It talks to game servers
//! only through `garrison_proto::Node`.

pub mod alerts;
pub mod api;
pub mod audit;
pub mod auth;
pub mod error;
pub mod events;
pub mod history;
pub mod hub;
pub mod json;
pub mod notify;
pub mod players;
pub mod prometheus;
pub mod ratelimit;
pub mod schedules;
pub mod sftp;
pub mod store;
pub mod templates;
pub mod tls;
pub mod web;

use garrison_proto::{Event, Node, PowerAction};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use templates::{ResolveContext, Templates};
use tokio::sync::{mpsc, watch};

#[derive(Debug, Clone)]
pub struct PanelConfig {
    pub session_ttl: Duration,
    /// A session unused for this long ends (besides `session_ttl` from its start).
    pub session_idle: Duration,
    /// Add `Secure` to the session cookie (when served over HTTPS).
    pub secure_cookies: bool,
    /// Browser origins besides the request's own host allowed to use cookies and the
    /// console WebSocket, e.g. `https://panel.example.com`.
    pub allowed_origins: Vec<String>,
    pub resolve: ResolveContext,
    /// Serve the web UI from this directory instead of the embedded copy.
    pub web_dir: Option<std::path::PathBuf>,
    /// Served over HTTPS: responses carry Strict-Transport-Security.
    pub https: bool,
    /// API rate limits, login lockout and trusted proxies.
    pub rate_limits: ratelimit::RateLimitConfig,
    /// Garrison's data directory (template repository clones live below it).
    pub data_dir: std::path::PathBuf,
    /// Where users reach the node's SFTP server; `None` when it is turned off.
    pub sftp: Option<SftpInfo>,
    pub backups: BackupSettings,
    pub schedules: schedules::ScheduleSettings,
    /// Metrics history sampling and retention.
    pub history: history::HistorySettings,
    pub prometheus: PrometheusSettings,
    pub alerts: alerts::engine::AlertSettings,
    pub notifications: notify::NotifySettings,
    pub players: players::PlayerSettings,
    /// When the served HTTPS certificate chain expires (for the certificate alert).
    pub certificate: Option<tls::ChainExpiry>,
}

pub use prometheus::PrometheusSettings;

/// How the panel asks for backups, and the defaults of the per-server limits.
#[derive(Debug, Clone)]
pub struct BackupSettings {
    /// The panel's storage driver (a node may override it with its own).
    pub storage: garrison_proto::StorageKind,
    pub compression: garrison_proto::Compression,
    /// Bytes per second a backup reads at most; `None`: no limit.
    pub rate_limit_bytes_per_sec: Option<u64>,
    /// Backups a server keeps at most, unless its own limits say otherwise.
    pub max_count: Option<u32>,
    /// Total archive bytes a server's backups take at most, unless its limits say.
    pub max_bytes: Option<u64>,
    /// A server's backups are started at most this often (0: no limit).
    pub min_interval: Duration,
}

impl Default for BackupSettings {
    /// Local storage, zstd level 1, no read limit, no count or size limit, one backup
    /// per server per minute.
    fn default() -> Self {
        BackupSettings {
            storage: garrison_proto::StorageKind::Local,
            compression: garrison_proto::Compression::default(),
            rate_limit_bytes_per_sec: None,
            max_count: None,
            max_bytes: None,
            min_interval: Duration::from_secs(60),
        }
    }
}

/// What the panel tells users about SFTP (the server itself runs on the node).
#[derive(Debug, Clone)]
pub struct SftpInfo {
    pub port: u16,
    /// The host name to show; the one the browser used when unset.
    pub public_host: Option<String>,
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub node: Arc<dyn Node>,
    pub hub: Arc<hub::Hub>,
    pub templates: Arc<Templates>,
    pub tickets: Arc<auth::tickets::Tickets>,
    /// Logins waiting for their second factor.
    pub two_factor_challenges: Arc<api::two_factor::Challenges>,
    pub config: Arc<PanelConfig>,
    /// Rate limits, login lockout and the client IP (see `ratelimit`).
    pub limits: Arc<ratelimit::Limits>,
    /// Flips to true when Garrison shuts down; long-lived handlers watch it.
    pub shutdown: watch::Receiver<bool>,
    /// The admin setting "every user must use 2FA", kept here so the session check
    /// does not read it from the store on every request.
    pub two_factor_required: Arc<std::sync::atomic::AtomicBool>,
    /// Running backups' progress and the per-server creation rate limit.
    pub backups: Arc<api::backups::Live>,
    /// Schedule leases and the guard that lets shutdown wait for running runs.
    pub scheduler: Arc<schedules::engine::Scheduler>,
    /// Every running server's latest stats and player count.
    pub history: Arc<history::Recorder>,
    /// Open alerts and the conditions being timed.
    pub alerts: Arc<alerts::engine::AlertEngine>,
    /// Notification channels and their delivery queue.
    pub notifier: Arc<notify::Notifier>,
    /// Who plays on each running server (console trackers, query answers).
    pub players: Arc<players::Players>,
}

#[derive(Debug, thiserror::Error)]
pub enum PanelError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Template(#[from] templates::TemplateError),
    #[error("could not serve HTTP: {0}")]
    Serve(#[from] std::io::Error),
    #[error("password hashing failed: {0}")]
    Crypto(String),
    #[error("cannot read the panel settings: {0}")]
    Settings(String),
}

/// Resolves once `rx` says Garrison is shutting down (or its sender is gone).
pub async fn shutting_down(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

pub struct Panel {
    state: AppState,
    shutdown_tx: watch::Sender<bool>,
    node_stopped_tx: watch::Sender<bool>,
    pump: tokio::task::JoinHandle<()>,
    scheduler: tokio::task::JoinHandle<()>,
    /// Tasks that end on shutdown and write to the store (metrics history).
    background: Vec<tokio::task::JoinHandle<()>>,
}

/// The admin account made on the very first start.
pub struct FirstAdmin {
    pub username: String,
    /// Set when Garrison generated the password (to be printed once).
    pub generated_password: Option<String>,
}

impl Panel {
    /// Load templates, hand every stored server to the node, start the event pump and
    /// the servers marked auto-start.
    pub async fn start(
        config: PanelConfig,
        store: Store,
        node: Arc<dyn Node>,
        events: mpsc::Receiver<Event>,
    ) -> Result<Panel, PanelError> {
        prometheus::install();
        let (shutdown_tx, shutdown) = watch::channel(false);
        let two_factor_required = api::two_factor::required(&store)
            .await
            .map_err(|e| PanelError::Settings(e.to_string()))?;
        let (scheduler, runs_done) = schedules::engine::Scheduler::new(config.schedules.clone());
        let (notifier, jobs) = notify::Notifier::new(&config.notifications);
        let state = AppState {
            scheduler: Arc::new(scheduler),
            history: Arc::default(),
            alerts: Arc::default(),
            notifier: Arc::new(notifier),
            players: Arc::default(),
            two_factor_required: Arc::new(std::sync::atomic::AtomicBool::new(two_factor_required)),
            store,
            node,
            hub: Arc::new(hub::Hub::default()),
            templates: Arc::new(Templates::built_in()?),
            tickets: Arc::new(auth::tickets::Tickets::default()),
            two_factor_challenges: Arc::new(api::two_factor::Challenges::default()),
            limits: Arc::new(ratelimit::Limits::new(config.rate_limits.clone())),
            config: Arc::new(config),
            shutdown: shutdown.clone(),
            backups: Arc::new(api::backups::Live::default()),
        };
        templates::library::reload(&state.templates, &state.store).await?;
        tokio::spawn(templates::watch_revision(state.clone()));
        let (node_stopped_tx, node_stopped) = watch::channel(false);
        let pump = tokio::spawn(events::pump(state.clone(), events, node_stopped));
        events::restore_servers(&state).await?;
        api::backups::after_restart(&state).await?;
        for record in state.store.list_servers().await? {
            if record.auto_start
                && let Err(e) = state.node.power(&record.id, PowerAction::Start).await
            {
                tracing::warn!(server = %record.id, error = %e, "auto-start failed");
            }
        }
        let scheduler = tokio::spawn(schedules::engine::run(state.clone(), runs_done));
        state.notifier.reload(&state).await;
        let background = vec![
            tokio::spawn(history::run(state.clone())),
            tokio::spawn(alerts::engine::run(state.clone())),
            tokio::spawn(notify::run(state.clone(), jobs)),
            tokio::spawn(players::run(state.clone())),
        ];
        Ok(Panel {
            state,
            shutdown_tx,
            node_stopped_tx,
            pump,
            scheduler,
            background,
        })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Create the admin account if no user exists yet.
    pub async fn ensure_admin(
        &self,
        password: Option<String>,
    ) -> Result<Option<FirstAdmin>, PanelError> {
        if self.state.store.count_users().await? > 0 {
            return Ok(None);
        }
        let (password, generated) = match password {
            Some(p) => (p, false),
            None => {
                let p = auth::crypto::random_password();
                (p, true)
            }
        };
        let hash = auth::crypto::hash_password(password.clone())
            .await
            .map_err(|e| PanelError::Crypto(e.to_string()))?;
        let user = self.state.store.create_user("admin", &hash, true).await?;
        self.state
            .store
            .audit(
                Some(&user.id),
                "user.create",
                Some(&user.id),
                None,
                &serde_json::json!({"username": "admin", "first_start": true}),
            )
            .await?;
        Ok(Some(FirstAdmin {
            username: user.username,
            generated_password: generated.then_some(password),
        }))
    }

    /// Serve the API until `shutdown` resolves, then stop every game server, persist
    /// their final states and end all tasks.
    pub async fn serve<L>(
        self,
        listener: L,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), PanelError>
    where
        L: axum::serve::Listener<Addr = SocketAddr>,
    {
        let app = api::router(self.state.clone());
        let tx = self.shutdown_tx.clone();
        use axum::serve::ListenerExt;
        // Wrapping any listener this way gives handlers the peer address
        // (`ConnectInfo<SocketAddr>`), for plain TCP and TLS alike.
        let listener = listener.tap_io(|_| {});
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Tell WebSocket handlers first: hyper does not wait for upgraded
            // connections, and they must not hold the node up.
            let _ = tx.send(true);
        })
        .await;
        let _ = self.shutdown_tx.send(true);
        // Running schedule runs end as interrupted and write that down first.
        if let Err(e) = self.scheduler.await {
            tracing::error!(error = %e, "scheduler ended abnormally");
        }
        for task in self.background {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a background task ended abnormally");
            }
        }
        self.state.node.shutdown().await;
        // The pump drains what the node emitted while stopping, then ends.
        let _ = self.node_stopped_tx.send(true);
        if let Err(e) = self.pump.await {
            tracing::error!(error = %e, "event pump ended abnormally");
        }
        self.state.store.close().await;
        served?;
        Ok(())
    }
}
