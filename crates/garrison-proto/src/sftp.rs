//! How a node's SFTP server asks the panel who is signing in. The panel owns users,
//! keys and permissions; the node owns the SSH connection and the files. In
//! `garrison serve` the panel implements this directly; a remote node will carry the
//! same calls over its link.

use crate::ids::ServerId;
use crate::permission::Permission;
use async_trait::async_trait;
use std::net::IpAddr;

#[derive(Clone, PartialEq, Eq)]
pub enum SftpCredential {
    Password(String),
    /// A public key whose signature the SSH layer has already verified: `algorithm`
    /// (`ssh-ed25519`, …) and the key blob in SSH wire format (what `authorized_keys`
    /// carries base64-encoded).
    PublicKey {
        algorithm: String,
        blob: Vec<u8>,
    },
}

impl std::fmt::Debug for SftpCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SftpCredential::Password(_) => f.write_str("Password(..)"),
            SftpCredential::PublicKey { algorithm, .. } => write!(f, "PublicKey({algorithm})"),
        }
    }
}

/// A signed-in SFTP user on one server, with the file permissions they hold now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpAccess {
    pub user_id: String,
    pub username: String,
    pub server: ServerId,
    pub permissions: Vec<Permission>,
}

impl SftpAccess {
    pub fn can(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SftpRefusal {
    /// Unknown user, wrong password, unregistered key, or a login name that does not
    /// name a server the user may use over SFTP: all look the same to the client.
    #[error("authentication failed")]
    BadCredentials,
    /// The user is disabled, lost `file.sftp` on the server, or the server is gone.
    #[error("access revoked")]
    Revoked,
    #[error("too many attempts; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("panel unavailable: {0}")]
    Unavailable(String),
}

/// One audit entry for something done over SFTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpAudit {
    /// `sftp.login`, `sftp.login_failed`, `sftp.write`, `sftp.delete`, `sftp.rename`,
    /// `sftp.mkdir`, `sftp.chmod`.
    pub action: String,
    pub path: Option<String>,
    pub to: Option<String>,
    pub bytes: Option<u64>,
}

#[async_trait]
pub trait SftpGate: Send + Sync + 'static {
    /// `login` is `<panel-username>.<server-short-id>`. Succeeds only when the
    /// credential is right, the user is enabled and holds `file.sftp` on the server.
    /// Failed attempts count against the panel's login limits for the user and `peer`.
    async fn authenticate(
        &self,
        login: &str,
        credential: &SftpCredential,
        peer: IpAddr,
    ) -> Result<SftpAccess, SftpRefusal>;

    /// The access as it stands now (permissions may have changed). `Revoked` when the
    /// user was disabled or lost `file.sftp`: the node ends the session.
    async fn recheck(&self, access: &SftpAccess) -> Result<SftpAccess, SftpRefusal>;

    /// Record an audit entry. A failed login has `access == None` and the login name
    /// in `entry.path`.
    async fn audit(&self, access: Option<&SftpAccess>, peer: IpAddr, entry: SftpAudit);
}
