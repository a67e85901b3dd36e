//! Settings for `garrison serve`: `garrison.toml` in the data dir, then `GARRISON_*`
//! environment variables, then command-line flags, each overriding the one before.
//! Every problem names the key (or variable) that caused it.

use anyhow::{Context, Result, bail};
use garrison_panel::ratelimit::{RateLimitConfig, parse_trusted_proxy};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "garrison.toml";

/// The file's shape. Unknown keys are refused so a typo never goes unnoticed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database_url: Option<String>,
    run_as: Option<String>,
    secure_cookies: Option<bool>,
    allowed_origins: Option<Vec<String>>,
    session_ttl_hours: Option<u64>,
    session_idle_hours: Option<u64>,
    log: Option<String>,
    web_dir: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    trusted_proxies: Option<Vec<String>>,
    rate_limits: Option<FileRateLimits>,
    install: Option<FileInstall>,
    sftp: Option<FileSftp>,
    files: Option<FileFiles>,
    backups: Option<crate::backup_config::FileBackups>,
    schedules: Option<crate::automation_config::FileSchedules>,
    metrics: Option<crate::automation_config::FileMetrics>,
    alerts: Option<crate::automation_config::FileAlerts>,
    notifications: Option<crate::automation_config::FileNotifications>,
}

/// The `[files]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFiles {
    pull_max_bytes: Option<u64>,
}

/// The `[sftp]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSftp {
    enabled: Option<bool>,
    listen: Option<String>,
    public_host: Option<String>,
    read_only: Option<bool>,
    host_key: Option<PathBuf>,
    max_auth_attempts: Option<u32>,
    per_ip_per_minute: Option<u32>,
    max_sessions_per_user: Option<u32>,
    idle_timeout_secs: Option<u64>,
}

/// The node's SFTP server, as `garrison serve` runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpSettings {
    pub server: garrison_sftp::SftpConfig,
    /// The host name users are told to connect to; the panel's own when unset.
    pub public_host: Option<String>,
}

/// The `[install]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileInstall {
    allow_http: Option<bool>,
    allow_private: Option<bool>,
    /// URL prefix → replacement prefix.
    mirrors: Option<std::collections::BTreeMap<String, String>>,
    steamcmd: Option<PathBuf>,
    java_dirs: Option<Vec<PathBuf>>,
}

/// The `[rate_limits]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRateLimits {
    enabled: Option<bool>,
    api_per_minute: Option<u64>,
    anonymous_per_minute: Option<u64>,
    login_attempts: Option<u64>,
    login_window_secs: Option<u64>,
    lockout_base_secs: Option<u64>,
    lockout_max_secs: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    /// User the game servers run as when Garrison runs as root; `None` = same user.
    pub run_as: Option<String>,
    pub secure_cookies: bool,
    pub allowed_origins: Vec<String>,
    pub session_ttl_hours: u64,
    /// A session unused this long ends.
    pub session_idle_hours: u64,
    pub log: String,
    /// Serve the web UI from this directory (UI development) instead of the built-in one.
    pub web_dir: Option<PathBuf>,
    /// PEM certificate chain and key: serve HTTPS (and HSTS, Secure cookies).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// API rate limits, login lockout, and the trusted proxies (top-level
    /// `trusted_proxies`, as they decide every client IP, not only for limits).
    pub rate_limits: RateLimitConfig,
    /// How installs download (mirrors, plain HTTP), where SteamCMD and Java are.
    pub install: garrison_agent::InstallConfig,
    /// `None`: SFTP turned off.
    pub sftp: Option<SftpSettings>,
    /// The file manager's limits (URL pull size).
    pub files: garrison_agent::FilesConfig,
    /// Backup storage, compression, limits, S3.
    pub backups: crate::backup_config::BackupSettings,
    /// Schedule limits and history.
    pub schedules: garrison_panel::schedules::ScheduleSettings,
    /// Metrics history and the Prometheus endpoint.
    pub metrics: crate::automation_config::MetricsSettings,
    /// Alert evaluation and notification delivery.
    pub alerts: crate::automation_config::AlertsConfig,
}

/// Environment variables read as settings. Anything else starting with `GARRISON_`
/// is refused, except the two that are not settings.
const ENV_KEYS: &[&str] = &[
    "GARRISON_LISTEN",
    "GARRISON_SFTP",
    "GARRISON_FILES_PULL_MAX_BYTES",
    "GARRISON_SFTP_LISTEN",
    "GARRISON_SFTP_PUBLIC_HOST",
    "GARRISON_SFTP_READ_ONLY",
    "GARRISON_DATABASE_URL",
    "GARRISON_RUN_AS",
    "GARRISON_SECURE_COOKIES",
    "GARRISON_ALLOWED_ORIGINS",
    "GARRISON_SESSION_TTL_HOURS",
    "GARRISON_SESSION_IDLE_HOURS",
    "GARRISON_LOG",
    "GARRISON_WEB_DIR",
    "GARRISON_TLS_CERT",
    "GARRISON_TLS_KEY",
    "GARRISON_TRUSTED_PROXIES",
    "GARRISON_RATE_LIMITS",
    "GARRISON_RATE_LIMIT_API_PER_MINUTE",
    "GARRISON_RATE_LIMIT_ANONYMOUS_PER_MINUTE",
    "GARRISON_RATE_LIMIT_LOGIN_ATTEMPTS",
    "GARRISON_RATE_LIMIT_LOGIN_WINDOW_SECS",
    "GARRISON_RATE_LIMIT_LOCKOUT_BASE_SECS",
    "GARRISON_RATE_LIMIT_LOCKOUT_MAX_SECS",
    "GARRISON_INSTALL_ALLOW_HTTP",
    "GARRISON_INSTALL_ALLOW_PRIVATE",
    "GARRISON_INSTALL_MIRRORS",
    "GARRISON_STEAMCMD",
    "GARRISON_JAVA_DIRS",
];
// GARRISON_SKIP_WEB_BUILD is read by the build, so it is often still set at run time.
const ENV_OTHER: &[&str] = &[
    "GARRISON_DATA_DIR",
    "GARRISON_ADMIN_PASSWORD",
    "GARRISON_SKIP_WEB_BUILD",
];

impl Config {
    pub fn load(
        data_dir: &Path,
        listen_flag: Option<SocketAddr>,
        env: &[(String, String)],
        is_root: bool,
    ) -> Result<Config> {
        let path = data_dir.join(CONFIG_FILE);
        let file: FileConfig = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| {
                let key = e.span().and_then(|span| key_at(&text, span.start));
                match key {
                    Some(key) => {
                        anyhow::anyhow!("{}: key `{key}`: {}", path.display(), e.message().trim())
                    }
                    None => anyhow::anyhow!("{}: {}", path.display(), e.message().trim()),
                }
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileConfig::default(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut cfg = Config {
            listen: "127.0.0.1:8080".parse()?,
            database_url: format!("sqlite://{}", data_dir.join("garrison.db").display()),
            run_as: is_root.then(|| "nobody".to_owned()),
            secure_cookies: false,
            allowed_origins: Vec::new(),
            session_ttl_hours: 24 * 7,
            session_idle_hours: 72,
            log: "info".into(),
            web_dir: None,
            tls: None,
            rate_limits: RateLimitConfig::default(),
            install: garrison_agent::InstallConfig::default(),
            files: garrison_agent::FilesConfig::default(),
            backups: Default::default(),
            schedules: Default::default(),
            metrics: Default::default(),
            alerts: Default::default(),
            sftp: Some(SftpSettings {
                server: garrison_sftp::SftpConfig::default(),
                public_host: None,
            }),
        };
        let mut sftp_enabled = true;
        let file_src = format!("{} key", path.display());
        if let Some(v) = file.listen {
            cfg.listen = parse_listen(&v).with_context(|| format!("{file_src} `listen`"))?;
        }
        if let Some(v) = file.database_url {
            cfg.database_url =
                check_db_url(&v).with_context(|| format!("{file_src} `database_url`"))?;
        }
        if let Some(v) = file.run_as {
            cfg.run_as = run_as(&v);
        }
        if let Some(v) = file.secure_cookies {
            cfg.secure_cookies = v;
        }
        if let Some(v) = file.allowed_origins {
            cfg.allowed_origins = v;
        }
        if let Some(v) = file.session_idle_hours {
            cfg.session_idle_hours =
                check_ttl(v).with_context(|| format!("{file_src} `session_idle_hours`"))?;
        }
        if let Some(v) = file.session_ttl_hours {
            cfg.session_ttl_hours =
                check_ttl(v).with_context(|| format!("{file_src} `session_ttl_hours`"))?;
        }
        if let Some(v) = file.log {
            cfg.log = v;
        }
        let (mut tls_cert, mut tls_key) = (file.tls_cert, file.tls_key);
        if let Some(v) = file.web_dir {
            cfg.web_dir = Some(check_web_dir(&v).with_context(|| format!("{file_src} `web_dir`"))?);
        }
        if let Some(v) = file.trusted_proxies {
            cfg.rate_limits.trusted_proxies = v
                .iter()
                .map(|s| parse_trusted_proxy(s).map_err(anyhow::Error::msg))
                .collect::<Result<_>>()
                .with_context(|| format!("{file_src} `trusted_proxies`"))?;
        }
        if let Some(r) = file.rate_limits {
            let rl = &mut cfg.rate_limits;
            if let Some(v) = r.enabled {
                rl.enabled = v;
            }
            let keys = [
                ("api_per_minute", r.api_per_minute),
                ("anonymous_per_minute", r.anonymous_per_minute),
                ("login_attempts", r.login_attempts),
                ("login_window_secs", r.login_window_secs),
                ("lockout_base_secs", r.lockout_base_secs),
                ("lockout_max_secs", r.lockout_max_secs),
            ];
            for (key, v) in keys {
                if let Some(v) = v {
                    set_rate_limit(rl, key, v)
                        .with_context(|| format!("{file_src} `rate_limits.{key}`"))?;
                }
            }
        }
        if let Some(i) = file.install {
            if let Some(v) = i.allow_http {
                cfg.install.allow_http = v;
            }
            if let Some(v) = i.allow_private {
                cfg.install.allow_private = v;
            }
            if let Some(m) = i.mirrors {
                cfg.install.mirrors = check_mirrors(m.into_iter().collect())
                    .with_context(|| format!("{file_src} `install.mirrors`"))?;
            }
            if let Some(v) = i.steamcmd {
                cfg.install.steamcmd = v;
            }
            if let Some(v) = i.java_dirs {
                cfg.install.java_dirs = v;
            }
        }
        if let Some(v) = file.files.and_then(|f| f.pull_max_bytes) {
            cfg.files.pull_max_bytes =
                check_pull_max(v).with_context(|| format!("{file_src} `files.pull_max_bytes`"))?;
        }
        if let Some(b) = file.backups {
            cfg.backups.apply_file(b, &file_src)?;
        }
        if let Some(f) = file.schedules {
            crate::automation_config::apply_file(&mut cfg.schedules, f, &file_src)?;
        }
        if let Some(f) = file.metrics {
            cfg.metrics.apply_file(f, &file_src)?;
        }
        if let Some(f) = file.alerts {
            cfg.alerts.apply_alerts(f, &file_src)?;
        }
        if let Some(f) = file.notifications {
            cfg.alerts.apply_notifications(f, &file_src)?;
        }
        if let (Some(f), Some(sftp)) = (file.sftp, cfg.sftp.as_mut()) {
            if let Some(v) = f.enabled {
                sftp_enabled = v;
            }
            if let Some(v) = f.listen {
                sftp.server.listen =
                    parse_listen(&v).with_context(|| format!("{file_src} `sftp.listen`"))?;
            }
            let server = &mut sftp.server;
            if let Some(v) = f.host_key {
                server.host_key = v;
            }
            if let Some(v) = f.max_auth_attempts {
                server.max_auth_attempts = v;
            }
            if let Some(v) = f.per_ip_per_minute {
                server.per_ip_per_minute = v;
            }
            if let Some(v) = f.max_sessions_per_user {
                server.max_sessions_per_user = v;
            }
            if let Some(v) = f.idle_timeout_secs {
                server.idle_timeout_secs = v;
            }
            if let Some(v) = f.public_host {
                sftp.public_host =
                    Some(check_host(&v).with_context(|| format!("{file_src} `sftp.public_host`"))?);
            }
            if let Some(v) = f.read_only {
                sftp.server.read_only = v;
            }
        }
        for (key, value) in env {
            if !key.starts_with("GARRISON_") || ENV_OTHER.contains(&key.as_str()) {
                continue;
            }
            let ctx = || format!("environment variable {key}");
            if crate::backup_config::ENV_KEYS.contains(&key.as_str()) {
                cfg.backups.apply_env(key, value).with_context(ctx)?;
                continue;
            }
            if crate::automation_config::ALERT_ENV_KEYS.contains(&key.as_str()) {
                cfg.alerts.apply_env(key, value).with_context(ctx)?;
                continue;
            }
            if crate::automation_config::METRICS_ENV_KEYS.contains(&key.as_str()) {
                cfg.metrics.apply_env(key, value).with_context(ctx)?;
                continue;
            }
            if crate::automation_config::ENV_KEYS.contains(&key.as_str()) {
                crate::automation_config::apply_env(&mut cfg.schedules, key, value)
                    .with_context(ctx)?;
                continue;
            }
            if !ENV_KEYS.contains(&key.as_str()) {
                bail!(
                    "unknown environment variable {key}; settings are {}, {}, {}, {}, {}",
                    ENV_KEYS.join(", "),
                    crate::backup_config::ENV_KEYS.join(", "),
                    crate::automation_config::ENV_KEYS.join(", "),
                    crate::automation_config::METRICS_ENV_KEYS.join(", "),
                    crate::automation_config::ALERT_ENV_KEYS.join(", ")
                );
            }
            match key.as_str() {
                "GARRISON_LISTEN" => cfg.listen = parse_listen(value).with_context(ctx)?,
                "GARRISON_DATABASE_URL" => {
                    cfg.database_url = check_db_url(value).with_context(ctx)?
                }
                "GARRISON_RUN_AS" => cfg.run_as = run_as(value),
                "GARRISON_SECURE_COOKIES" => {
                    cfg.secure_cookies = parse_bool(value).with_context(ctx)?
                }
                "GARRISON_ALLOWED_ORIGINS" => {
                    cfg.allowed_origins = value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                }
                "GARRISON_SESSION_IDLE_HOURS" => {
                    let n: u64 = value
                        .parse()
                        .map_err(|_| anyhow::anyhow!("not a number: {value:?}"))
                        .with_context(ctx)?;
                    cfg.session_idle_hours = check_ttl(n).with_context(ctx)?;
                }
                "GARRISON_SESSION_TTL_HOURS" => {
                    let n: u64 = value
                        .parse()
                        .map_err(|_| anyhow::anyhow!("not a number: {value:?}"))
                        .with_context(ctx)?;
                    cfg.session_ttl_hours = check_ttl(n).with_context(ctx)?;
                }
                "GARRISON_LOG" => cfg.log = value.clone(),
                "GARRISON_SFTP" => sftp_enabled = parse_bool(value).with_context(ctx)?,
                "GARRISON_FILES_PULL_MAX_BYTES" => {
                    let n: u64 = value
                        .parse()
                        .map_err(|_| anyhow::anyhow!("not a number: {value:?}"))
                        .with_context(ctx)?;
                    cfg.files.pull_max_bytes = check_pull_max(n).with_context(ctx)?
                }
                "GARRISON_SFTP_LISTEN" => {
                    if let Some(s) = cfg.sftp.as_mut() {
                        s.server.listen = parse_listen(value).with_context(ctx)?
                    }
                }
                "GARRISON_SFTP_PUBLIC_HOST" => {
                    if let Some(s) = cfg.sftp.as_mut() {
                        s.public_host = Some(check_host(value).with_context(ctx)?)
                    }
                }
                "GARRISON_SFTP_READ_ONLY" => {
                    if let Some(s) = cfg.sftp.as_mut() {
                        s.server.read_only = parse_bool(value).with_context(ctx)?
                    }
                }
                "GARRISON_WEB_DIR" => {
                    cfg.web_dir = Some(check_web_dir(Path::new(value)).with_context(ctx)?)
                }
                "GARRISON_TRUSTED_PROXIES" => {
                    cfg.rate_limits.trusted_proxies = value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| parse_trusted_proxy(s).map_err(anyhow::Error::msg))
                        .collect::<Result<_>>()
                        .with_context(ctx)?
                }
                "GARRISON_INSTALL_ALLOW_HTTP" => {
                    cfg.install.allow_http = parse_bool(value).with_context(ctx)?
                }
                "GARRISON_INSTALL_ALLOW_PRIVATE" => {
                    cfg.install.allow_private = parse_bool(value).with_context(ctx)?
                }
                "GARRISON_INSTALL_MIRRORS" => {
                    let pairs = value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|p| match p.split_once('=') {
                            Some((from, to)) => Ok((from.to_owned(), to.to_owned())),
                            None => bail!("{p:?} is not FROM=TO"),
                        })
                        .collect::<Result<Vec<_>>>()
                        .with_context(ctx)?;
                    cfg.install.mirrors = check_mirrors(pairs).with_context(ctx)?;
                }
                "GARRISON_STEAMCMD" => cfg.install.steamcmd = PathBuf::from(value),
                "GARRISON_JAVA_DIRS" => {
                    cfg.install.java_dirs = std::env::split_paths(value).collect()
                }
                "GARRISON_TLS_CERT" => tls_cert = Some(PathBuf::from(value)),
                "GARRISON_TLS_KEY" => tls_key = Some(PathBuf::from(value)),
                "GARRISON_RATE_LIMITS" => {
                    cfg.rate_limits.enabled = parse_bool(value).with_context(ctx)?
                }
                k if k.starts_with("GARRISON_RATE_LIMIT_") => {
                    let key = k["GARRISON_RATE_LIMIT_".len()..].to_lowercase();
                    let n: u64 = value
                        .parse()
                        .map_err(|_| anyhow::anyhow!("not a number: {value:?}"))
                        .with_context(ctx)?;
                    set_rate_limit(&mut cfg.rate_limits, &key, n).with_context(ctx)?;
                }
                _ => {}
            }
        }
        if let Some(l) = listen_flag {
            cfg.listen = l;
        }
        cfg.backups.check()?;
        if !sftp_enabled {
            cfg.sftp = None;
        }
        if let Some(s) = cfg.sftp.as_mut() {
            s.server = s.server.clone().in_data_dir(data_dir);
            s.server
                .validate()
                .map_err(|e| anyhow::anyhow!("{} key {e}", path.display()))?;
        }
        cfg.tls = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => {
                for (name, p) in [("tls_cert", &cert), ("tls_key", &key)] {
                    if !p.is_file() {
                        bail!("{name}: {} is not a readable file", p.display());
                    }
                }
                // Over HTTPS the session cookie is always Secure.
                cfg.secure_cookies = true;
                Some((cert, key))
            }
            (None, None) => None,
            (Some(_), None) => bail!("tls_cert is set but tls_key is not: HTTPS needs both"),
            (None, Some(_)) => bail!("tls_key is set but tls_cert is not: HTTPS needs both"),
        };
        let rl = &cfg.rate_limits;
        if rl.lockout_max_secs < rl.lockout_base_secs {
            bail!(
                "rate_limits.lockout_max_secs ({}) must be at least rate_limits.lockout_base_secs ({})",
                rl.lockout_max_secs,
                rl.lockout_base_secs
            );
        }
        for o in &cfg.allowed_origins {
            if !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/') {
                bail!("allowed_origins: {o:?} must look like https://panel.example.com");
            }
        }
        Ok(cfg)
    }
}

/// For the commands that work straight on a data dir beside a running panel
/// (`garrison user`, `garrison template`): its absolute path and its open store, with
/// its garrison.toml and GARRISON_DATABASE_URL honoured.
pub async fn open_data_dir(dir: &Path) -> Result<(PathBuf, garrison_panel::store::Store)> {
    let (data_dir, _, store) = open_data_dir_with_config(dir).await?;
    Ok((data_dir, store))
}

/// [`open_data_dir`], also returning the settings it read.
pub async fn open_data_dir_with_config(
    dir: &Path,
) -> Result<(PathBuf, Config, garrison_panel::store::Store)> {
    let data_dir =
        std::path::absolute(dir).with_context(|| format!("bad data dir {}", dir.display()))?;
    if !data_dir.join("garrison.db").exists() && !data_dir.join(CONFIG_FILE).exists() {
        bail!(
            "{} is not a Garrison data dir (no garrison.db or garrison.toml)",
            data_dir.display()
        );
    }
    let env: Vec<(String, String)> = std::env::vars().collect();
    let cfg = Config::load(&data_dir, None, &env, false)?;
    let store = garrison_panel::store::Store::open(&cfg.database_url)
        .await
        .context("cannot open the database (setting `database_url`)")?;
    Ok((data_dir, cfg, store))
}

/// The key on the line of `text` that holds byte `offset`, for error messages.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(start..)?.lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty()).then(|| key.to_owned())
}

/// Mirror prefixes must be http(s) URLs; longer prefixes are tried first.
fn check_mirrors(mut pairs: Vec<(String, String)>) -> Result<Vec<(String, String)>> {
    for (from, to) in &pairs {
        for u in [from, to] {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                bail!("{u:?} must start with https:// or http://");
            }
        }
    }
    pairs.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
    Ok(pairs)
}

fn check_web_dir(dir: &Path) -> Result<PathBuf> {
    if dir.join("index.html").is_file() {
        Ok(dir.to_owned())
    } else {
        bail!("{} has no index.html", dir.display())
    }
}

fn parse_listen(v: &str) -> Result<SocketAddr> {
    v.parse()
        .map_err(|_| anyhow::anyhow!("{v:?} is not an address like 127.0.0.1:8080 or [::1]:8080"))
}

fn check_pull_max(n: u64) -> Result<u64> {
    if n == 0 {
        bail!("must be at least 1 byte");
    }
    Ok(n)
}

/// A host name or address to show users: no scheme, port, path or spaces.
fn check_host(v: &str) -> Result<String> {
    let v = v.trim();
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
    if !ok {
        bail!("{v:?} is not a host name or address (like panel.example.com)");
    }
    Ok(v.to_owned())
}

fn check_db_url(v: &str) -> Result<String> {
    if v.starts_with("sqlite:") || v.starts_with("postgres://") || v.starts_with("postgresql://") {
        Ok(v.to_owned())
    } else {
        bail!("{v:?} must start with sqlite:// or postgres://")
    }
}

fn check_ttl(v: u64) -> Result<u64> {
    if (1..=24 * 365).contains(&v) {
        Ok(v)
    } else {
        bail!("must be between 1 and 8760 hours, got {v}")
    }
}

/// One numeric `[rate_limits]` setting, by its key, checked against its range.
fn set_rate_limit(rl: &mut RateLimitConfig, key: &str, v: u64) -> Result<()> {
    const WEEK: u64 = 7 * 24 * 3600;
    let (min, max) = match key {
        "api_per_minute" | "anonymous_per_minute" => (1, 1_000_000),
        "login_attempts" => (1, 1000),
        "login_window_secs" | "lockout_base_secs" | "lockout_max_secs" => (1, WEEK),
        _ => bail!("unknown rate limit setting {key}"),
    };
    if !(min..=max).contains(&v) {
        bail!("must be between {min} and {max}, got {v}");
    }
    let small = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    match key {
        "api_per_minute" => rl.api_per_minute = small(v),
        "anonymous_per_minute" => rl.anonymous_per_minute = small(v),
        "login_attempts" => rl.login_attempts = small(v),
        "login_window_secs" => rl.login_window_secs = v,
        "lockout_base_secs" => rl.lockout_base_secs = v,
        _ => rl.lockout_max_secs = v,
    }
    Ok(())
}

fn parse_bool(v: &str) -> Result<bool> {
    match v {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => bail!("{v:?} is not true or false"),
    }
}

/// `root` or an empty value keeps game servers under Garrison's own user.
fn run_as(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty() && v != "root").then(|| v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn file_env_flag_precedence_and_errors_name_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "listen = \"127.0.0.1:9000\"\n",
        )
        .unwrap();
        let c = Config::load(dir.path(), None, &[], false).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert!(c.database_url.starts_with("sqlite://"));
        assert_eq!(c.run_as, None);
        let c = Config::load(
            dir.path(),
            None,
            &env(&[("GARRISON_LISTEN", "127.0.0.1:9001")]),
            true,
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9001);
        assert_eq!(c.run_as.as_deref(), Some("nobody"));
        let c = Config::load(
            dir.path(),
            Some("127.0.0.1:9002".parse().unwrap()),
            &[],
            false,
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9002);

        let e =
            Config::load(dir.path(), None, &env(&[("GARRISON_LISTN", "x")]), false).unwrap_err();
        assert!(format!("{e:#}").contains("GARRISON_LISTN"), "{e:#}");
        let e = Config::load(
            dir.path(),
            None,
            &env(&[("GARRISON_LISTEN", "nope")]),
            false,
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("GARRISON_LISTEN"), "{e:#}");

        std::fs::write(dir.path().join(CONFIG_FILE), "lissten = \"x\"\n").unwrap();
        let e = Config::load(dir.path(), None, &[], false).unwrap_err();
        assert!(format!("{e:#}").contains("lissten"), "{e:#}");
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "database_url = \"mysql://x\"\n",
        )
        .unwrap();
        let e = Config::load(dir.path(), None, &[], false).unwrap_err();
        assert!(format!("{e:#}").contains("database_url"), "{e:#}");
    }

    #[test]
    fn rate_limits_from_file_and_env_with_errors_naming_keys() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(dir.path(), None, &[], false).unwrap();
        assert_eq!(c.rate_limits, RateLimitConfig::default());
        assert!(c.rate_limits.enabled);

        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n\
             [rate_limits]\napi_per_minute = 100\nlogin_attempts = 3\nlockout_max_secs = 120\n",
        )
        .unwrap();
        let c = Config::load(dir.path(), None, &[], false).unwrap();
        let rl = &c.rate_limits;
        assert_eq!(rl.api_per_minute, 100);
        assert_eq!(rl.login_attempts, 3);
        assert_eq!(rl.lockout_max_secs, 120);
        assert_eq!(rl.anonymous_per_minute, 60);
        let proxies: Vec<String> = rl.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(proxies, ["127.0.0.1/32", "10.0.0.0/8"]);

        let c = Config::load(
            dir.path(),
            None,
            &env(&[
                ("GARRISON_RATE_LIMITS", "off"),
                ("GARRISON_RATE_LIMIT_API_PER_MINUTE", "7"),
                ("GARRISON_RATE_LIMIT_LOCKOUT_BASE_SECS", "2"),
                ("GARRISON_TRUSTED_PROXIES", "::1, 192.168.0.0/16"),
            ]),
            false,
        )
        .unwrap();
        let rl = &c.rate_limits;
        assert!(!rl.enabled);
        assert_eq!(rl.api_per_minute, 7);
        assert_eq!(rl.lockout_base_secs, 2);
        assert_eq!(rl.login_attempts, 3, "the file's value stays");
        assert_eq!(rl.trusted_proxies.len(), 2);

        for (var, value) in [
            ("GARRISON_RATE_LIMIT_API_PER_MINUTE", "0"),
            ("GARRISON_RATE_LIMIT_LOGIN_ATTEMPTS", "many"),
            ("GARRISON_RATE_LIMITS", "sometimes"),
            ("GARRISON_TRUSTED_PROXIES", "10.0.0.0/33"),
            ("GARRISON_RATE_LIMIT_BURST", "5"),
        ] {
            let e = Config::load(dir.path(), None, &env(&[(var, value)]), false).unwrap_err();
            assert!(format!("{e:#}").contains(var), "{var}: {e:#}");
        }
        let e = Config::load(
            dir.path(),
            None,
            &env(&[("GARRISON_RATE_LIMIT_LOCKOUT_BASE_SECS", "600")]),
            false,
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("lockout_max_secs"), "{e:#}");

        for (text, key) in [
            (
                "[rate_limits]\nlogin_attempts = 0\n",
                "rate_limits.login_attempts",
            ),
            ("[rate_limits]\nburst = 5\n", "burst"),
            ("trusted_proxies = [\"proxy.local\"]\n", "trusted_proxies"),
        ] {
            std::fs::write(dir.path().join(CONFIG_FILE), text).unwrap();
            let e = Config::load(dir.path(), None, &[], false).unwrap_err();
            assert!(format!("{e:#}").contains(key), "{text}: {e:#}");
        }
    }
}
