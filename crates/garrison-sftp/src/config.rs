//! `SftpConfig`: the `[sftp]` table of `garrison.toml`.

use crate::SftpError;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How the SFTP server listens and what it allows. Every field has a default, so an
/// empty `[sftp]` table (or none) is a working server on port 2022.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SftpConfig {
    /// Off: `garrison serve` does not start the SFTP server.
    pub enabled: bool,
    pub listen: SocketAddr,
    /// The server's ed25519 host key (OpenSSH format), made on first start with mode
    /// 0600 and reused after. A relative path is resolved by [`SftpConfig::in_data_dir`].
    pub host_key: PathBuf,
    /// Refuse every operation that changes files.
    pub read_only: bool,
    /// Failed sign-in attempts (passwords, keys) on one connection before it is closed.
    pub max_auth_attempts: u32,
    /// New connections accepted from one IP address per minute.
    pub per_ip_per_minute: u32,
    /// Signed-in connections one panel user may hold at once.
    pub max_sessions_per_user: u32,
    /// A connection with no traffic this long is closed.
    pub idle_timeout_secs: u64,
    /// How often a session asks the panel whether its user still has access.
    pub recheck_secs: u64,
}

impl Default for SftpConfig {
    fn default() -> Self {
        SftpConfig {
            enabled: true,
            listen: SocketAddr::from(([0, 0, 0, 0], 2022)),
            host_key: PathBuf::from("sftp/ssh_host_ed25519_key"),
            read_only: false,
            max_auth_attempts: 3,
            per_ip_per_minute: 30,
            max_sessions_per_user: 8,
            idle_timeout_secs: 600,
            recheck_secs: 5,
        }
    }
}

impl SftpConfig {
    /// The config with a relative `host_key` placed under `data_dir`.
    pub fn in_data_dir(mut self, data_dir: &Path) -> SftpConfig {
        if self.host_key.is_relative() {
            self.host_key = data_dir.join(&self.host_key);
        }
        self
    }

    /// Refuse values the server cannot work with, naming the key.
    pub fn validate(&self) -> Result<(), SftpError> {
        let bad = |key: &str, why: &str| Err(SftpError::Config(format!("sftp.{key}: {why}")));
        if self.max_auth_attempts == 0 || self.max_auth_attempts > 100 {
            return bad("max_auth_attempts", "must be 1..=100");
        }
        if self.per_ip_per_minute == 0 {
            return bad("per_ip_per_minute", "must be at least 1");
        }
        if self.max_sessions_per_user == 0 {
            return bad("max_sessions_per_user", "must be at least 1");
        }
        if self.idle_timeout_secs == 0 || self.idle_timeout_secs > 7 * 24 * 3600 {
            return bad("idle_timeout_secs", "must be 1..=604800");
        }
        if self.recheck_secs == 0 || self.recheck_secs > 3600 {
            return bad("recheck_secs", "must be 1..=3600");
        }
        if self.host_key.as_os_str().is_empty() {
            return bad("host_key", "must not be empty");
        }
        Ok(())
    }

    pub(crate) fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    pub(crate) fn recheck_interval(&self) -> Duration {
        Duration::from_secs(self.recheck_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_table_is_the_default() {
        let c: SftpConfig = toml::from_str("").unwrap();
        assert_eq!(c, SftpConfig::default());
        assert_eq!(c.listen.port(), 2022);
        c.validate().unwrap();
    }

    #[test]
    fn keys_and_unknown_keys() {
        let c: SftpConfig =
            toml::from_str("listen = \"127.0.0.1:0\"\nread_only = true\nrecheck_secs = 2").unwrap();
        assert!(c.read_only);
        assert_eq!(c.recheck_secs, 2);
        assert!(toml::from_str::<SftpConfig>("recheck = 2").is_err());
        let bad = SftpConfig {
            max_auth_attempts: 0,
            ..SftpConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("max_auth_attempts")
        );
    }

    #[test]
    fn host_key_joins_the_data_dir() {
        let c = SftpConfig::default().in_data_dir(Path::new("/var/lib/garrison"));
        assert_eq!(
            c.host_key,
            Path::new("/var/lib/garrison/sftp/ssh_host_ed25519_key")
        );
        let abs = SftpConfig {
            host_key: PathBuf::from("/etc/k"),
            ..SftpConfig::default()
        }
        .in_data_dir(Path::new("/d"));
        assert_eq!(abs.host_key, Path::new("/etc/k"));
    }
}
