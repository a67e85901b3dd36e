use std::path::PathBuf;

/// Why the SFTP server could not start.
#[derive(Debug, thiserror::Error)]
pub enum SftpError {
    #[error("invalid SFTP config: {0}")]
    Config(String),
    #[error("SFTP host key {path}: {message}")]
    HostKey { path: PathBuf, message: String },
    #[error("cannot listen for SFTP on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("SFTP server: {0}")]
    Internal(String),
}
