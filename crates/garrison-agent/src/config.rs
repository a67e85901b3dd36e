use garrison_proto::{NodeError, ServerId};
use std::path::PathBuf;
use std::time::Duration;

/// How the agent runs. Build with [`AgentConfig::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Servers live in `data_dir/servers/<id>/`, console logs in
    /// `data_dir/logs/<id>/console.log`.
    pub data_dir: PathBuf,
    /// When set (Garrison running as root), game and install processes run as this
    /// uid/gid and the server directory is chowned to it.
    pub run_as: Option<RunAs>,
    /// Console lines kept in memory per server.
    pub console_ring_lines: usize,
    /// `console.log` is rotated at this size; `console.log.1` .. `.3` are kept.
    pub log_max_bytes: u64,
    /// How often resource usage is sampled.
    pub stats_interval: Duration,
    /// Longer console lines are cut; the rest is dropped up to the newline.
    pub max_line_bytes: usize,
    pub install: InstallConfig,
    pub files: FilesConfig,
    pub backups: BackupsConfig,
}

/// Where backups are written and how.
#[derive(Debug, Clone, Default)]
pub struct BackupsConfig {
    /// The local driver's directory; `None`: `data_dir/backups`.
    pub local_dir: Option<PathBuf>,
    /// The S3 driver; backups asking for S3 fail clearly when it is not configured.
    pub s3: Option<S3Config>,
    /// This node's own choice of driver, used whatever the panel asks.
    pub storage_override: Option<garrison_proto::StorageKind>,
}

/// An S3-compatible bucket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// `https://s3.example.com`; `None`: AWS for the region.
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default = "default_region")]
    pub region: String,
    pub bucket: String,
    /// Keys start with this (`garrison/` gives `garrison/<server>/<backup>.tar.zst`).
    #[serde(default)]
    pub prefix: String,
    /// Path-style requests (`endpoint/bucket/key`), which MinIO and most self-hosted
    /// servers need.
    #[serde(default)]
    pub path_style: bool,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Plain-HTTP endpoints (a local MinIO); off by default.
    #[serde(default)]
    pub allow_http: bool,
    /// Bytes per multipart part (at least 5 MiB, S3's minimum).
    #[serde(default = "default_part_size")]
    pub part_size: usize,
    /// Tries per request (parts included) before the backup fails.
    #[serde(default = "default_s3_attempts")]
    pub max_attempts: usize,
}

fn default_region() -> String {
    "us-east-1".into()
}

fn default_part_size() -> usize {
    16 * 1024 * 1024
}

fn default_s3_attempts() -> usize {
    5
}

/// The file API's limits.
#[derive(Debug, Clone)]
pub struct FilesConfig {
    /// Largest file a URL pull may fetch (the server's quota applies too).
    pub pull_max_bytes: u64,
    /// After the game changed files, disk usage is walked again at most this often
    /// (the agent's own changes are counted as they happen).
    pub usage_rescan_every: Duration,
}

impl Default for FilesConfig {
    /// 4 GiB pulls, rescans at most every 30 s.
    fn default() -> Self {
        FilesConfig {
            pull_max_bytes: 4 * 1024 * 1024 * 1024,
            usage_rescan_every: Duration::from_secs(30),
        }
    }
}

/// How installs fetch and unpack things.
#[derive(Debug, Clone)]
pub struct InstallConfig {
    /// Plain-HTTP downloads (off: HTTPS only). For local mirrors.
    pub allow_http: bool,
    /// Downloads from private, loopback and link-local addresses (off: refused, so a
    /// template URL cannot reach the node's own network). For LAN mirrors.
    pub allow_private: bool,
    /// URL prefix rewrites (`from` → `to`), for hosts behind a cache or mirror. The
    /// first matching prefix wins.
    pub mirrors: Vec<(String, String)>,
    pub max_download_bytes: u64,
    /// Total unpacked size one extract may write.
    pub max_extract_bytes: u64,
    /// Tries per download, resuming where the last one stopped.
    pub download_attempts: u32,
    /// The `steamcmd` program (a bare name is looked up on PATH).
    pub steamcmd: PathBuf,
    /// Where Java runtimes are looked for (each subdirectory with a `release` file).
    pub java_dirs: Vec<PathBuf>,
    /// Sent with every request (some APIs, PaperMC's among them, require a real one).
    pub user_agent: String,
}

impl Default for InstallConfig {
    fn default() -> Self {
        InstallConfig {
            allow_http: false,
            allow_private: false,
            mirrors: Vec::new(),
            max_download_bytes: 64 * 1024 * 1024 * 1024,
            max_extract_bytes: 256 * 1024 * 1024 * 1024,
            download_attempts: 5,
            steamcmd: "steamcmd".into(),
            java_dirs: vec!["/usr/lib/jvm".into()],
            user_agent: format!(
                "garrison/{} (self-hosted game server panel; https://github.com/garrison-panel/garrison)",
                env!("CARGO_PKG_VERSION")
            ),
        }
    }
}

impl InstallConfig {
    /// `url` with the first matching mirror prefix swapped in.
    pub fn mirrored(&self, url: &str) -> String {
        for (from, to) in &self.mirrors {
            if let Some(rest) = url.strip_prefix(from.as_str()) {
                return format!("{to}{rest}");
            }
        }
        url.to_owned()
    }
}

impl AgentConfig {
    /// The defaults: 1000 ring lines, 8 MiB logs, stats every 2 s, 8 KiB lines.
    pub fn new(data_dir: impl Into<PathBuf>) -> AgentConfig {
        AgentConfig {
            data_dir: data_dir.into(),
            run_as: None,
            console_ring_lines: 1000,
            log_max_bytes: 8 * 1024 * 1024,
            stats_interval: Duration::from_secs(2),
            max_line_bytes: 8192,
            install: InstallConfig::default(),
            files: FilesConfig::default(),
            backups: BackupsConfig::default(),
        }
    }

    pub(crate) fn server_dir(&self, id: &ServerId) -> PathBuf {
        self.data_dir.join("servers").join(id.as_str())
    }

    pub(crate) fn backups_dir(&self) -> PathBuf {
        self.backups
            .local_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("backups"))
    }

    pub(crate) fn logs_root(&self) -> PathBuf {
        self.data_dir.join("logs")
    }

    pub(crate) fn log_dir(&self, id: &ServerId) -> PathBuf {
        self.logs_root().join(id.as_str())
    }
}

/// The unprivileged user game servers run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// Look a user up by name (its primary group becomes the gid).
    pub fn lookup(user_name: &str) -> Result<RunAs, AgentError> {
        match nix::unistd::User::from_name(user_name) {
            Ok(Some(user)) => Ok(RunAs {
                uid: user.uid.as_raw(),
                gid: user.gid.as_raw(),
            }),
            Ok(None) => Err(AgentError::UnknownUser(user_name.to_owned())),
            Err(source) => Err(AgentError::UserLookup {
                name: user_name.to_owned(),
                source,
            }),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("no user named {0:?}")]
    UnknownUser(String),
    #[error("looking up user {name:?}: {source}")]
    UserLookup {
        name: String,
        #[source]
        source: nix::Error,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("a background task failed: {0}")]
    Task(String),
}

impl AgentError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> AgentError {
        AgentError::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<AgentError> for NodeError {
    fn from(e: AgentError) -> NodeError {
        NodeError::Io(e.to_string())
    }
}

impl From<tokio::task::JoinError> for AgentError {
    fn from(e: tokio::task::JoinError) -> AgentError {
        AgentError::Task(e.to_string())
    }
}
