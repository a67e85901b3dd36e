//! Optional HTTPS: a listener that completes TLS handshakes (rustls with the aws-lc-rs
//! provider) before axum sees a connection. Handshakes run in their own tasks with a
//! time limit, so a slow or silent client never holds up the others.

mod validity;

use validity::validity;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::{TlsAcceptor, rustls};

/// Handshakes not done by then are dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished handshakes waiting for axum to take them.
const READY_QUEUE: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{path} holds no certificate")]
    NoCertificate { path: String },
    #[error("TLS setup: {0}")]
    Config(String),
}

/// When the certificate chain Garrison serves stops being valid: the earliest
/// `notAfter` of its certificates (an expired intermediate breaks HTTPS as surely as
/// an expired leaf).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainExpiry {
    /// Unix milliseconds.
    pub not_after: i64,
    /// Which certificate in the file: 0 is the server's own, then its issuers.
    pub position: usize,
}

fn chain_expiry(certs: &[CertificateDer<'_>]) -> Option<ChainExpiry> {
    certs
        .iter()
        .enumerate()
        .filter_map(|(position, c)| match validity(c) {
            Ok(v) => Some(ChainExpiry {
                not_after: v.not_after,
                position,
            }),
            Err(e) => {
                // rustls serves it anyway; only the expiry alert cannot watch it.
                tracing::warn!(
                    position,
                    "cannot read the validity of a TLS certificate: {e}"
                );
                None
            }
        })
        .min_by_key(|e| e.not_after)
}

/// The TLS settings to serve, and when their certificate chain expires (`None` when no
/// certificate's validity could be read).
pub struct Served {
    pub config: Arc<rustls::ServerConfig>,
    pub expiry: Option<ChainExpiry>,
}

/// Load a PEM certificate chain and private key.
pub fn server_config(cert: &Path, key: &Path) -> Result<Served, TlsError> {
    let read_err = |p: &Path, e: &dyn std::fmt::Display| TlsError::Read {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| read_err(cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| read_err(cert, &e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.display().to_string(),
        });
    }
    let expiry = chain_expiry(&certs);
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| read_err(key, &e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    // HTTP/1.1 only: the server side speaks HTTP/1 (WebSocket upgrades need it).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Served {
        config: Arc::new(config),
        expiry,
    })
}

/// Accepts TCP connections and hands axum only those whose TLS handshake finished.
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn new(
        tcp: TcpListener,
        config: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        let accept_task = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            local,
            ready,
            accept_task,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept task only ends when the listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
