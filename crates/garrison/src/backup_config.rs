//! The `[backups]` table of `garrison.toml` and its `GARRISON_BACKUPS_*` variables:
//! the panel's storage and defaults, this node's own driver choice, and S3.

use anyhow::{Context, Result, bail};
use garrison_proto::{Compression, CompressionKind, StorageKind};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// The `[backups]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileBackups {
    /// `local` (default) or `s3`: where the panel asks nodes to keep archives.
    storage: Option<String>,
    /// This node's own driver, used whatever the panel asks.
    node_storage: Option<String>,
    /// The local driver's directory (default: `backups/` in the data dir).
    dir: Option<PathBuf>,
    /// `zstd` (default) or `gzip`.
    compression: Option<String>,
    /// zstd 1..=19 (default 1), gzip 1..=9.
    level: Option<i32>,
    /// MiB per second a backup reads at most (0: no limit).
    read_limit_mib_per_sec: Option<u64>,
    /// Backups a server keeps at most (per-server limits override it).
    max_per_server: Option<u32>,
    /// MiB a server's backups take at most.
    max_mib_per_server: Option<u64>,
    /// Seconds between two backups of one server at least (default 60; 0: no limit).
    min_interval_secs: Option<u64>,
    s3: Option<garrison_agent::S3Config>,
}

/// What `garrison serve` hands the panel and the local node.
#[derive(Debug, Clone, Default)]
pub struct BackupSettings {
    pub panel: garrison_panel::BackupSettings,
    pub node: garrison_agent::BackupsConfig,
}

/// Variables this module reads.
pub const ENV_KEYS: &[&str] = &[
    "GARRISON_BACKUPS_STORAGE",
    "GARRISON_BACKUPS_NODE_STORAGE",
    "GARRISON_BACKUPS_DIR",
    "GARRISON_BACKUPS_MIN_INTERVAL_SECS",
    "GARRISON_BACKUPS_READ_LIMIT_MIB_PER_SEC",
    "GARRISON_BACKUPS_S3_ACCESS_KEY_ID",
    "GARRISON_BACKUPS_S3_SECRET_ACCESS_KEY",
];

fn storage(v: &str) -> Result<StorageKind> {
    StorageKind::parse(v).ok_or_else(|| anyhow::anyhow!("{v:?} is not `local` or `s3`"))
}

fn number(v: &str) -> Result<u64> {
    v.parse()
        .map_err(|_| anyhow::anyhow!("not a number: {v:?}"))
}

impl BackupSettings {
    pub fn apply_file(&mut self, f: FileBackups, src: &str) -> Result<()> {
        let key = |k: &str| format!("{src} `backups.{k}`");
        if let Some(v) = f.storage {
            self.panel.storage = storage(&v).with_context(|| key("storage"))?;
        }
        if let Some(v) = f.node_storage {
            self.node.storage_override = Some(storage(&v).with_context(|| key("node_storage"))?);
        }
        if let Some(v) = f.dir {
            self.node.local_dir = Some(v);
        }
        if let Some(v) = f.compression {
            self.panel.compression.kind = CompressionKind::parse(&v)
                .ok_or_else(|| anyhow::anyhow!("{v:?} is not `zstd` or `gzip`"))
                .with_context(|| key("compression"))?;
        }
        if let Some(v) = f.level {
            self.panel.compression.level = v;
        }
        check_level(self.panel.compression).with_context(|| key("level"))?;
        if let Some(v) = f.read_limit_mib_per_sec {
            self.panel.rate_limit_bytes_per_sec = mib_per_sec(v);
        }
        if let Some(v) = f.max_per_server {
            self.panel.max_count = Some(v);
        }
        if let Some(v) = f.max_mib_per_server {
            self.panel.max_bytes = Some(v.saturating_mul(1024 * 1024));
        }
        if let Some(v) = f.min_interval_secs {
            self.panel.min_interval = Duration::from_secs(v);
        }
        if let Some(s3) = f.s3 {
            if s3.part_size < 5 * 1024 * 1024 {
                bail!(
                    "{}: at least 5 MiB (S3's minimum part size)",
                    key("s3.part_size")
                );
            }
            if s3.bucket.trim().is_empty() {
                bail!("{}: must not be empty", key("s3.bucket"));
            }
            self.node.s3 = Some(s3);
        }
        Ok(())
    }

    /// One `GARRISON_BACKUPS_*` variable; `false` when `key` is not one of them.
    pub fn apply_env(&mut self, key: &str, value: &str) -> Result<bool> {
        match key {
            "GARRISON_BACKUPS_STORAGE" => self.panel.storage = storage(value)?,
            "GARRISON_BACKUPS_NODE_STORAGE" => self.node.storage_override = Some(storage(value)?),
            "GARRISON_BACKUPS_DIR" => self.node.local_dir = Some(PathBuf::from(value)),
            "GARRISON_BACKUPS_MIN_INTERVAL_SECS" => {
                self.panel.min_interval = Duration::from_secs(number(value)?)
            }
            "GARRISON_BACKUPS_READ_LIMIT_MIB_PER_SEC" => {
                self.panel.rate_limit_bytes_per_sec = mib_per_sec(number(value)?)
            }
            "GARRISON_BACKUPS_S3_ACCESS_KEY_ID" | "GARRISON_BACKUPS_S3_SECRET_ACCESS_KEY" => {
                let Some(s3) = self.node.s3.as_mut() else {
                    bail!("set the [backups.s3] table in garrison.toml first");
                };
                if key.ends_with("ACCESS_KEY_ID") {
                    s3.access_key_id = value.to_owned();
                } else {
                    s3.secret_access_key = value.to_owned();
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// After all sources: S3 chosen needs S3 configured.
    pub fn check(&self) -> Result<()> {
        let wanted = self.node.storage_override.unwrap_or(self.panel.storage);
        if wanted == StorageKind::S3 && self.node.s3.is_none() {
            bail!("backups use S3 storage but the [backups.s3] table is missing");
        }
        Ok(())
    }
}

fn mib_per_sec(v: u64) -> Option<u64> {
    (v > 0).then(|| v.saturating_mul(1024 * 1024))
}

fn check_level(c: Compression) -> Result<()> {
    let range = match c.kind {
        CompressionKind::Zstd => 1..=19,
        CompressionKind::Gzip => 1..=9,
    };
    if !range.contains(&c.level) {
        bail!(
            "{} level must be {} to {}, not {}",
            c.kind.as_str(),
            range.start(),
            range.end(),
            c.level
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<BackupSettings> {
        #[derive(Deserialize)]
        struct T {
            backups: FileBackups,
        }
        let t: T = toml::from_str(toml_text)?;
        let mut s = BackupSettings::default();
        s.apply_file(t.backups, "garrison.toml key")?;
        s.check()?;
        Ok(s)
    }

    #[test]
    fn file_and_env() {
        let s = parse(
            "[backups]\nstorage = \"s3\"\ncompression = \"gzip\"\nlevel = 6\nmax_per_server = 5\n\
             max_mib_per_server = 100\nmin_interval_secs = 0\nread_limit_mib_per_sec = 50\n\
             [backups.s3]\nendpoint = \"http://127.0.0.1:9000\"\nbucket = \"b\"\npath_style = true\n\
             access_key_id = \"a\"\nsecret_access_key = \"s\"\nallow_http = true\n",
        )
        .unwrap();
        assert_eq!(s.panel.storage, StorageKind::S3);
        assert_eq!(s.panel.compression.kind, CompressionKind::Gzip);
        assert_eq!(s.panel.max_count, Some(5));
        assert_eq!(s.panel.max_bytes, Some(100 * 1024 * 1024));
        assert_eq!(s.panel.min_interval, Duration::ZERO);
        assert_eq!(s.panel.rate_limit_bytes_per_sec, Some(50 * 1024 * 1024));
        assert_eq!(s.node.s3.as_ref().unwrap().part_size, 16 * 1024 * 1024);
        let mut s = s;
        assert!(
            s.apply_env("GARRISON_BACKUPS_S3_SECRET_ACCESS_KEY", "new")
                .unwrap()
        );
        assert_eq!(s.node.s3.unwrap().secret_access_key, "new");
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = parse("[backups]\nstorage = \"ftp\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("backups.storage"), "{e:#}");
        let e = parse("[backups]\nlevel = 30\n").unwrap_err();
        assert!(format!("{e:#}").contains("backups.level"), "{e:#}");
        let e = parse("[backups]\nstorage = \"s3\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("backups.s3"), "{e:#}");
        assert!(parse("[backups]\nspeed = 1\n").is_err());
        let e = parse(
            "[backups.s3]\nbucket = \"b\"\naccess_key_id = \"a\"\nsecret_access_key = \"s\"\npart_size = 1024\n",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("part_size"), "{e:#}");
    }
}
