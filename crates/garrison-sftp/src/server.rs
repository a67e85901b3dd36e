//! The listener, one task per connection, and the handle that stops them all.

use crate::backend::Agent;
use crate::limits::{IpRateLimiter, UserSessions};
use crate::ssh::{ConnControl, SshHandler};
use crate::stream::KillableStream;
use crate::{SftpConfig, SftpError, hostkey};
use garrison_proto::SftpGate;
use russh::server::Config as SshConfig;
use russh::{Disconnect, MethodKind, MethodSet, Preferred, SshId, cipher, compression, kex};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Connections open at once, signed in or not.
const MAX_CONNECTIONS: usize = 1024;
/// Time from connect to signed in.
const LOGIN_GRACE: Duration = Duration::from_secs(60);
/// How long a connection told to go may take to say goodbye before it is cut.
const DISCONNECT_GRACE: Duration = Duration::from_secs(2);
/// How long `shutdown` waits for every task.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);
/// Our channel window and largest packet: big enough that one window is many SFTP
/// requests of the largest size.
const WINDOW_SIZE: u32 = 8 * 1024 * 1024;
const MAX_PACKET: u32 = 32 * 1024;

pub(crate) struct Shared {
    pub config: SftpConfig,
    pub agent: Arc<Agent>,
    pub gate: Arc<dyn SftpGate>,
    pub sessions: UserSessions,
    pub tracker: TaskTracker,
}

/// A running SFTP server. Dropping it does not stop it; call [`SftpServer::shutdown`].
pub struct SftpServer {
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl SftpServer {
    /// The address the server listens on (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stop listening, disconnect every session (open uploads are dropped, never half
    /// committed) and wait for all tasks.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(SHUTDOWN_WAIT, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                tasks = self.tracker.len(),
                "SFTP tasks still running after shutdown"
            );
        }
    }
}

fn ssh_config(config: &SftpConfig, key: russh::keys::PrivateKey) -> SshConfig {
    let preferred = Preferred {
        // russh's default order plus ECDH on the NIST curves, for clients without
        // curve25519.
        kex: Cow::Borrowed(&[
            kex::MLKEM768X25519_SHA256,
            kex::CURVE25519,
            kex::CURVE25519_PRE_RFC_8731,
            kex::ECDH_SHA2_NISTP256,
            kex::ECDH_SHA2_NISTP384,
            kex::ECDH_SHA2_NISTP521,
            kex::DH_GEX_SHA256,
            kex::DH_G18_SHA512,
            kex::DH_G17_SHA512,
            kex::DH_G16_SHA512,
            kex::DH_G15_SHA512,
            kex::DH_G14_SHA256,
            kex::EXTENSION_SUPPORT_AS_CLIENT,
            kex::EXTENSION_SUPPORT_AS_SERVER,
            kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
            kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
        ]),
        cipher: Cow::Borrowed(&[
            cipher::CHACHA20_POLY1305,
            cipher::AES_256_GCM,
            cipher::AES_128_GCM,
            cipher::AES_256_CTR,
            cipher::AES_192_CTR,
            cipher::AES_128_CTR,
        ]),
        compression: Cow::Borrowed(&[compression::NONE]),
        ..Preferred::default()
    };
    SshConfig {
        server_id: SshId::Standard(Cow::Borrowed("SSH-2.0-Garrison_SFTP")),
        methods: MethodSet::from(&[MethodKind::PublicKey, MethodKind::Password][..]),
        auth_rejection_time: Duration::from_secs(1),
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![key],
        window_size: WINDOW_SIZE,
        maximum_packet_size: MAX_PACKET,
        channel_buffer_size: 128,
        event_buffer_size: 64,
        preferred,
        // Ours is counted by the handler; this one (with the client's "none" probe) is
        // the backstop.
        max_auth_attempts: config.max_auth_attempts as usize + 1,
        inactivity_timeout: Some(config.idle_timeout()),
        keepalive_interval: Some(Duration::from_secs(30)),
        keepalive_max: 4,
        nodelay: true,
        ..SshConfig::default()
    }
}

/// Bind, load or make the host key, and serve until [`SftpServer::shutdown`].
pub async fn start(
    config: SftpConfig,
    agent: Arc<Agent>,
    gate: Arc<dyn SftpGate>,
) -> Result<SftpServer, SftpError> {
    config.validate()?;
    let key_path = config.host_key.clone();
    let key = tokio::task::spawn_blocking(move || hostkey::load_or_create(&key_path))
        .await
        .map_err(|e| SftpError::Internal(e.to_string()))??;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| SftpError::Bind {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| SftpError::Bind {
        addr: config.listen,
        source,
    })?;
    let ssh = Arc::new(ssh_config(&config, key));
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let shared = Arc::new(Shared {
        config,
        agent,
        gate,
        sessions: UserSessions::default(),
        tracker: tracker.clone(),
    });
    tracker.spawn(accept_loop(listener, shared, ssh, shutdown.clone()));
    tracing::info!(%local_addr, "SFTP server listening");
    Ok(SftpServer {
        local_addr,
        shutdown,
        tracker,
    })
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    ssh: Arc<SshConfig>,
    shutdown: CancellationToken,
) {
    let limiter = IpRateLimiter::new(shared.config.per_ip_per_minute);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (socket, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors and the like: wait a moment instead of spinning.
                tracing::warn!(error = %e, "SFTP accept failed");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        if !limiter.allow(peer.ip()) {
            tracing::info!(%peer, "SFTP connection refused: too many from this address");
            drop(socket);
            continue;
        }
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "SFTP connection refused: too many connections");
            drop(socket);
            continue;
        };
        let shared2 = shared.clone();
        let ssh = ssh.clone();
        let stop = shutdown.child_token();
        shared.tracker.spawn(async move {
            connection(shared2, ssh, socket, peer, stop).await;
            drop(permit);
        });
    }
    tracing::info!("SFTP server stopped listening");
}

async fn connection(
    shared: Arc<Shared>,
    ssh: Arc<SshConfig>,
    socket: TcpStream,
    peer: SocketAddr,
    stop: CancellationToken,
) {
    let _ = socket.set_nodelay(true);
    let shared_idle = shared.config.idle_timeout();
    let cut = CancellationToken::new();
    let ctl = ConnControl::new(stop);
    let handler = SshHandler::new(shared, peer.ip(), ctl.clone());
    let stream = KillableStream::new(socket, cut.clone());
    let started = tokio::select! {
        _ = ctl.stop.cancelled() => None,
        r = tokio::time::timeout(LOGIN_GRACE, russh::server::run_stream(ssh, stream, handler)) => match r {
            Ok(Ok(s)) => Some(s),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "SSH handshake failed");
                None
            }
            Err(_) => None,
        },
    };
    if let Some(session) = started {
        let handle = session.handle();
        tokio::pin!(session);
        // Before sign-in: the login grace time. After: no SFTP request for the idle
        // time (keepalives do not count).
        let idle = shared_idle;
        let deadline = tokio::time::sleep(LOGIN_GRACE);
        tokio::pin!(deadline);
        let mut armed = false;
        let reason = loop {
            tokio::select! {
                _ = ctl.signed_in.cancelled(), if !armed => {
                    armed = true;
                    deadline.as_mut().reset((ctl.last_active() + idle).into());
                }
                r = &mut session => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "SSH session ended");
                    }
                    break None;
                }
                _ = ctl.stop.cancelled() => break Some(ctl.reason().to_owned()),
                _ = &mut deadline => {
                    if !ctl.signed_in.is_cancelled() {
                        break Some("login timeout".to_owned());
                    }
                    let until = ctl.last_active() + idle;
                    if until <= tokio::time::Instant::now().into_std() {
                        break Some("idle timeout".to_owned());
                    }
                    deadline.as_mut().reset(until.into());
                }
            }
        };
        if let Some(reason) = reason {
            let goodbye = async {
                let _ = handle
                    .disconnect(Disconnect::ByApplication, reason, String::new())
                    .await;
                let _ = (&mut session).await;
            };
            let _ = tokio::time::timeout(DISCONNECT_GRACE, goodbye).await;
        }
    }
    // Whatever state the session is in, its stream is dead now and its tasks end.
    cut.cancel();
    ctl.stop.cancel();
}
