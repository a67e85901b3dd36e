//! The `garrison` binary: wires the panel and the local agent together.

mod automation_config;
mod backup_cmd;
mod backup_config;
mod config;
mod db_backup_cmd;
mod demo_server;
mod late_gate;
mod template_cmd;
mod user_cmd;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use garrison_agent::{Agent, AgentConfig, RunAs};
use garrison_panel::templates::ResolveContext;
use garrison_panel::{Panel, PanelConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "garrison",
    version,
    about = "Self-hosted game server control plane: panel, API and node in one binary.",
    long_about = "Garrison installs, runs, watches and controls game servers. \
        `garrison serve` starts the panel with an embedded node and an SQLite database \
        in the data directory; everything else is done through the REST/WebSocket API."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the panel and a local node in one process (the all-in-one default).
    ///
    /// Settings come from DATA_DIR/garrison.toml, then GARRISON_* environment
    /// variables (GARRISON_LISTEN, GARRISON_DATABASE_URL, GARRISON_RUN_AS,
    /// GARRISON_SECURE_COOKIES, GARRISON_ALLOWED_ORIGINS, GARRISON_SESSION_TTL_HOURS,
    /// GARRISON_LOG, GARRISON_WEB_DIR, GARRISON_TLS_CERT, GARRISON_TLS_KEY, GARRISON_TRUSTED_PROXIES, GARRISON_RATE_LIMITS=off,
    /// GARRISON_RATE_LIMIT_*), then flags. On the first start an `admin` account is created and
    /// its password printed once, unless GARRISON_ADMIN_PASSWORD sets it. SIGINT or
    /// SIGTERM stops every game server gracefully, then exits.
    Serve(ServeArgs),
    /// Run Garrison's built-in demo game server (used by the `demo` template).
    ///
    /// It prints a ready line, echoes what it reads on stdin, and understands
    /// `stop`, `flood N`, `crash`, `ignore-stop`, `spawn-child` and `players`.
    DemoServer(demo_server::DemoArgs),
    /// Manage user accounts (create, reset-password, disable, enable, list), also
    /// while `garrison serve` runs on the same data dir.
    User(user_cmd::UserArgs),
    /// Template repositories: add one, list them, `sync` to fetch them again (also
    /// while `garrison serve` runs on the same data dir).
    Template(template_cmd::TemplateArgs),
    /// Write a consistent copy of the panel database (SQLite; also while `garrison
    /// serve` runs). PostgreSQL installs use pg_dump; see docs/operations.md.
    DbBackup(db_backup_cmd::DbBackupArgs),
    /// Backups: `verify` re-checks archives against their checksums and manifests
    /// (also while `garrison serve` runs).
    Backup(backup_cmd::BackupArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Where Garrison keeps its database, settings, server files and logs.
    #[arg(long, env = "GARRISON_DATA_DIR", default_value = "garrison-data")]
    data_dir: PathBuf,
    /// Address for the web API, e.g. 0.0.0.0:8080 (default 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            rt.block_on(serve(args))
        }
        Command::User(args) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            rt.block_on(user_cmd::run(args))
        }
        Command::Template(args) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            rt.block_on(template_cmd::run(args))
        }
        Command::Backup(args) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            rt.block_on(backup_cmd::run(args))
        }
        Command::DbBackup(args) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            rt.block_on(db_backup_cmd::run(args))
        }
        Command::DemoServer(args) => {
            let code = demo_server::run(args).context("demo server failed")?;
            std::process::exit(code)
        }
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    // Installed first, so a signal that arrives while starting is not fatal.
    let shutdown = shutdown_signal()?;
    let data_dir = std::path::absolute(&args.data_dir)
        .with_context(|| format!("bad data dir {}", args.data_dir.display()))?;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    let env: Vec<(String, String)> = std::env::vars().collect();
    let is_root = nix::unistd::geteuid().is_root();
    let cfg = config::Config::load(&data_dir, args.listen, &env, is_root)?;

    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cfg.log)
                .with_context(|| format!("setting `log`: bad filter {:?}", cfg.log))?,
        )
        .with_writer(std::io::stderr)
        .init();

    let store = garrison_panel::store::Store::open(&cfg.database_url)
        .await
        .with_context(|| "cannot open the database (setting `database_url`)")?;

    let run_as = match &cfg.run_as {
        Some(name) => {
            Some(RunAs::lookup(name).with_context(|| format!("setting `run_as`: user {name:?}"))?)
        }
        None => None,
    };
    // A previous Garrison that was killed may have left game servers running.
    let reap_dir = data_dir.clone();
    let reaped = tokio::task::spawn_blocking(move || garrison_agent::reap_orphans(&reap_dir))
        .await
        .context("cannot look for game servers left running")?;
    if !reaped.is_empty() {
        tracing::warn!(servers = ?reaped, "ended game servers a killed Garrison left running");
    }
    let (events_tx, events_rx) = tokio::sync::mpsc::channel(4096);
    let agent = Agent::new(
        AgentConfig {
            run_as,
            install: cfg.install.clone(),
            files: cfg.files.clone(),
            backups: cfg.backups.node.clone(),
            ..AgentConfig::new(data_dir.clone())
        },
        events_tx,
    );
    // SFTP listens before the panel starts so the panel can tell users its real port;
    // sign-ins wait for the panel's gate, which is set once the panel is up.
    let gate = Arc::new(late_gate::LateGate::default());
    let sftp = match &cfg.sftp {
        Some(s) => {
            let server = garrison_sftp::start(s.server.clone(), agent.clone(), gate.clone())
                .await
                .with_context(|| {
                    format!(
                        "cannot start SFTP on {} (setting `sftp.listen`)",
                        s.server.listen
                    )
                })?;
            println!("SFTP server at {}", server.local_addr());
            Some(server)
        }
        None => None,
    };
    let servers_dir = data_dir.join("servers");
    let panel_config =
        PanelConfig {
            session_ttl: Duration::from_secs(cfg.session_ttl_hours * 3600),
            session_idle: Duration::from_secs(cfg.session_idle_hours * 3600),
            secure_cookies: cfg.secure_cookies,
            allowed_origins: cfg.allowed_origins.clone(),
            resolve: ResolveContext {
                garrison_exe: std::env::current_exe()
                    .context("cannot find the garrison binary's path")?,
                servers_dir,
                // Set once the listener is bound (its port may be 0 until then).
                panel_url: None,
                announce_key: garrison_panel::auth::crypto::random_password(),
            },
            web_dir: cfg.web_dir.clone(),
            https: cfg.tls.is_some(),
            rate_limits: cfg.rate_limits.clone(),
            data_dir: data_dir.clone(),
            sftp: cfg.sftp.as_ref().zip(sftp.as_ref()).map(|(s, server)| {
                garrison_panel::SftpInfo {
                    port: server.local_addr().port(),
                    public_host: s.public_host.clone(),
                }
            }),
            backups: cfg.backups.panel.clone(),
            schedules: cfg.schedules.clone(),
            history: cfg.metrics.history.clone(),
            prometheus: cfg.metrics.prometheus.clone(),
            alerts: cfg.alerts.alerts.clone(),
            notifications: cfg.alerts.notifications.clone(),
            players: cfg.alerts.players.clone(),
            certificate: None,
        };
    let tls = match &cfg.tls {
        Some((cert, key)) => Some(
            garrison_panel::tls::server_config(cert, key)
                .context("settings `tls_cert`/`tls_key`")?,
        ),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {} (setting `listen`)", cfg.listen))?;
    let mut panel_config = panel_config;
    panel_config.certificate = tls.as_ref().and_then(|t| t.expiry);
    // Game servers on this node reach the panel on loopback (Luanti's announce).
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    let bound = listener.local_addr().context("the listener's address")?;
    let host = match bound.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => "127.0.0.1".to_owned(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        ip => ip.to_string(),
    };
    panel_config.resolve.panel_url = Some(format!("{scheme}://{host}:{}", bound.port()));
    let panel = Panel::start(
        panel_config,
        store,
        agent as Arc<dyn garrison_proto::Node>,
        events_rx,
    )
    .await?;
    gate.set(Arc::new(garrison_panel::sftp::PanelSftpGate::new(
        panel.state().clone(),
    )));
    let admin_password = std::env::var("GARRISON_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    if let Some(first) = panel.ensure_admin(admin_password).await? {
        match first.generated_password {
            Some(p) => println!(
                "Created the admin account.\n  username: {}\n  password: {p}\nThis password is shown only once.",
                first.username
            ),
            None => println!(
                "Created the admin account `{}` with the password from GARRISON_ADMIN_PASSWORD.",
                first.username
            ),
        }
    }
    // On a stop signal SFTP sessions end first, so nothing writes files while the
    // node stops the game servers.
    let shutdown = async move {
        shutdown.await;
        if let Some(server) = sftp {
            server.shutdown().await;
        }
    };
    let addr = listener.local_addr().context("listener has no address")?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "Garrison is listening on {scheme}://{addr} (data in {})",
        data_dir.display()
    );
    tracing::info!(%addr, database = panel.state().store.backend(), "garrison serve started");
    match tls {
        Some(served) => {
            let listener = garrison_panel::tls::TlsListener::new(listener, served.config)
                .context("cannot start the HTTPS listener")?;
            panel.serve(listener, shutdown).await?
        }
        None => panel.serve(listener, shutdown).await?,
    }
    tracing::info!("garrison serve stopped");
    Ok(())
}

/// A future that resolves on SIGTERM or SIGINT; the handlers are installed right away.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = int.recv() => tracing::info!("SIGINT: stopping"),
        }
    })
}
