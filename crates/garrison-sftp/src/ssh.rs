//! The SSH side of a connection: sign-in through the gate, session channels, and the
//! `sftp` subsystem. Everything else a client may ask for (shell, exec, pty, env,
//! forwarding, agent forwarding) is refused.

use crate::backend::ServerFiles;
use crate::limits::SessionSlot;
use crate::server::Shared;
use crate::sftp::{self, SftpContext};
use garrison_proto::{SftpAccess, SftpAudit, SftpCredential, SftpRefusal};
use russh::keys::Algorithm;
use russh::server::{Auth, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelMsg, MethodKind, MethodSet};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Session channels one connection may open.
const MAX_CHANNELS: usize = 2;
/// Longest login name passed to the gate.
const MAX_LOGIN_LEN: usize = 256;
/// Consecutive rechecks the panel may fail to answer before the session ends.
const MAX_RECHECK_FAILURES: u32 = 3;

/// How the connection task and the handler tell each other to end the connection.
#[derive(Clone)]
pub(crate) struct ConnControl {
    /// Cancelled: disconnect now (revoked, too many attempts, server shutdown).
    pub stop: CancellationToken,
    pub reason: Arc<OnceLock<String>>,
    /// Cancelled once a user has signed in (ends the login grace timer).
    pub signed_in: CancellationToken,
    /// When the connection last did something (an SFTP request), as milliseconds
    /// since `epoch`.
    epoch: Instant,
    last_active: Arc<AtomicU64>,
}

impl ConnControl {
    pub fn new(stop: CancellationToken) -> ConnControl {
        ConnControl {
            stop,
            reason: Arc::new(OnceLock::new()),
            signed_in: CancellationToken::new(),
            epoch: Instant::now(),
            last_active: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_active.store(ms, Ordering::Relaxed);
    }

    /// The moment of the last [`ConnControl::touch`].
    pub fn last_active(&self) -> Instant {
        self.epoch + std::time::Duration::from_millis(self.last_active.load(Ordering::Relaxed))
    }

    pub fn close(&self, reason: &str) {
        let _ = self.reason.set(reason.to_owned());
        self.stop.cancel();
    }

    pub fn reason(&self) -> &str {
        self.reason
            .get()
            .map_or("server shutting down", String::as_str)
    }
}

struct SignedIn {
    access: watch::Receiver<SftpAccess>,
    files: Arc<ServerFiles>,
    _slot: SessionSlot,
}

pub(crate) struct SshHandler {
    shared: Arc<Shared>,
    peer: IpAddr,
    ctl: ConnControl,
    failures: u32,
    signed_in: Option<SignedIn>,
    /// Open session channels that have not started a subsystem yet: where to send the
    /// answer to their next subsystem request.
    channels: HashMap<ChannelId, mpsc::Sender<bool>>,
    opened: usize,
}

fn methods() -> MethodSet {
    MethodSet::from(&[MethodKind::PublicKey, MethodKind::Password][..])
}

fn retry() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(methods()),
        partial_success: false,
    }
}

fn no_more() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(MethodSet::empty()),
        partial_success: false,
    }
}

impl SshHandler {
    pub fn new(shared: Arc<Shared>, peer: IpAddr, ctl: ConnControl) -> SshHandler {
        SshHandler {
            shared,
            peer,
            ctl,
            failures: 0,
            signed_in: None,
            channels: HashMap::new(),
            opened: 0,
        }
    }

    fn exhausted(&self) -> bool {
        self.failures >= self.shared.config.max_auth_attempts || self.ctl.stop.is_cancelled()
    }

    /// One password or (verified) key attempt. The attempt that reaches the limit ends
    /// the connection (as OpenSSH's `MaxAuthTries`) instead of inviting another.
    async fn attempt(
        &mut self,
        login: &str,
        credential: SftpCredential,
    ) -> Result<Auth, russh::Error> {
        if self.signed_in.is_some() || self.exhausted() {
            return Err(russh::Error::Disconnect);
        }
        let result = if login.len() > MAX_LOGIN_LEN {
            Err(SftpRefusal::BadCredentials)
        } else {
            self.shared
                .gate
                .authenticate(login, &credential, self.peer)
                .await
        };
        let refusal = match result {
            Ok(access) => match self.sign_in(access).await {
                Ok(()) => return Ok(Auth::Accept),
                Err(refusal) => refusal,
            },
            Err(refusal) => {
                let path: String = login.chars().take(MAX_LOGIN_LEN).collect();
                self.shared
                    .gate
                    .audit(
                        None,
                        self.peer,
                        SftpAudit {
                            action: "sftp.login_failed".into(),
                            path: Some(path),
                            to: None,
                            bytes: None,
                        },
                    )
                    .await;
                refusal
            }
        };
        self.failures += 1;
        tracing::info!(peer = %self.peer, login = %login.chars().take(64).collect::<String>(),
            %refusal, failures = self.failures, "SFTP sign-in refused");
        if self.exhausted() {
            self.ctl.close("too many authentication attempts");
            return Err(russh::Error::Disconnect);
        }
        Ok(retry())
    }

    /// The gate said yes: check the node side (server known here, session limit),
    /// start rechecking, audit the login.
    async fn sign_in(&mut self, access: SftpAccess) -> Result<(), SftpRefusal> {
        let files = self.shared.agent.server_files(&access.server).map_err(|e| {
            tracing::warn!(server = %access.server, error = %e, "SFTP sign-in for a server this node cannot open");
            SftpRefusal::Revoked
        })?;
        let Some(slot) = self
            .shared
            .sessions
            .try_acquire(&access.user_id, self.shared.config.max_sessions_per_user)
        else {
            tracing::warn!(user = %access.username, "SFTP sign-in refused: too many sessions");
            self.ctl.close("too many sessions");
            return Err(SftpRefusal::RateLimited {
                retry_after_secs: 0,
            });
        };
        self.shared
            .gate
            .audit(
                Some(&access),
                self.peer,
                SftpAudit {
                    action: "sftp.login".into(),
                    path: None,
                    to: None,
                    bytes: None,
                },
            )
            .await;
        tracing::info!(peer = %self.peer, user = %access.username, server = %access.server, "SFTP sign-in");
        let (tx, rx) = watch::channel(access);
        self.shared.tracker.spawn(recheck(
            self.shared.clone(),
            tx,
            self.ctl.clone(),
            self.peer,
        ));
        self.signed_in = Some(SignedIn {
            access: rx,
            files,
            _slot: slot,
        });
        self.ctl.touch();
        self.ctl.signed_in.cancel();
        Ok(())
    }
}

/// Ask the gate every `recheck_secs` whether the user still has access; publish changed
/// permissions, end the connection when access is gone.
async fn recheck(
    shared: Arc<Shared>,
    tx: watch::Sender<SftpAccess>,
    ctl: ConnControl,
    peer: IpAddr,
) {
    let interval = shared.config.recheck_interval();
    let mut failures = 0u32;
    loop {
        tokio::select! {
            _ = ctl.stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let current = tx.borrow().clone();
        let result = tokio::select! {
            _ = ctl.stop.cancelled() => return,
            r = shared.gate.recheck(&current) => r,
        };
        match result {
            Ok(access) => {
                failures = 0;
                tx.send_if_modified(|a| {
                    if *a == access {
                        false
                    } else {
                        *a = access;
                        true
                    }
                });
            }
            Err(SftpRefusal::Revoked) | Err(SftpRefusal::BadCredentials) => {
                tracing::info!(%peer, user = %current.username, "SFTP access revoked; disconnecting");
                ctl.close("access revoked");
                return;
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(%peer, user = %current.username, error = %e, "SFTP access recheck failed");
                if failures >= MAX_RECHECK_FAILURES {
                    ctl.close("cannot confirm access");
                    return;
                }
            }
        }
    }
}

/// A session channel until it asks for the `sftp` subsystem: other messages are read
/// and dropped (so the connection never stalls on a full channel), each subsystem
/// request waits for the handler's answer.
async fn channel_task(
    mut channel: Channel<Msg>,
    mut answers: mpsc::Receiver<bool>,
    ctx: SftpContext,
) {
    loop {
        let msg = tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            m = channel.wait() => m,
        };
        match msg {
            None | Some(ChannelMsg::Close) | Some(ChannelMsg::Eof) => return,
            Some(ChannelMsg::RequestSubsystem { .. }) => {
                let answer = tokio::select! {
                    _ = ctx.cancel.cancelled() => return,
                    a = answers.recv() => a,
                };
                match answer {
                    Some(true) => break,
                    Some(false) => continue,
                    None => return,
                }
            }
            Some(_) => {}
        }
    }
    drop(answers);
    sftp::serve(channel, ctx).await;
}

impl russh::server::Handler for SshHandler {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(if self.exhausted() { no_more() } else { retry() })
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        self.attempt(user, SftpCredential::Password(password.to_owned()))
            .await
    }

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        // Only the signed attempt counts and goes to the gate. RSA signatures with
        // SHA-1 are not accepted.
        if self.exhausted() || self.signed_in.is_some() {
            return Ok(no_more());
        }
        if matches!(offer.algorithm, Algorithm::Rsa { hash: None }) {
            return Ok(retry());
        }
        Ok(Auth::Accept)
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if matches!(key.algorithm, Algorithm::Rsa { hash: None }) {
            return Ok(retry());
        }
        let Ok(blob) = key.public_key.to_bytes() else {
            return Ok(retry());
        };
        let credential = SftpCredential::PublicKey {
            algorithm: key.public_key.algorithm().as_str().to_owned(),
            blob,
        };
        self.attempt(user, credential).await
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        _user: &str,
        _submethods: &str,
        _response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        Ok(if self.exhausted() { no_more() } else { retry() })
    }

    async fn auth_openssh_certificate(
        &mut self,
        _user: &str,
        _certificate: &russh::keys::Certificate,
    ) -> Result<Auth, Self::Error> {
        Ok(if self.exhausted() { no_more() } else { retry() })
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(signed_in) = &self.signed_in else {
            return Ok(()); // dropping `reply` refuses the channel
        };
        if self.opened >= MAX_CHANNELS {
            return Ok(());
        }
        self.opened += 1;
        let ctx = SftpContext {
            files: signed_in.files.clone(),
            access: signed_in.access.clone(),
            gate: self.shared.gate.clone(),
            peer: self.peer,
            read_only: self.shared.config.read_only,
            idle_timeout: self.shared.config.idle_timeout(),
            cancel: self.ctl.stop.clone(),
            conn: self.ctl.clone(),
        };
        let (tx, rx) = mpsc::channel(MAX_CHANNELS);
        self.channels.insert(channel.id(), tx);
        reply.accept().await;
        self.shared.tracker.spawn(channel_task(channel, rx, ctx));
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let start = name == "sftp";
        let sent = match self.channels.get(&channel) {
            Some(tx) => tx.try_send(start).is_ok(),
            None => false,
        };
        if start && sent {
            self.channels.remove(&channel);
            session.channel_success(channel)?;
        } else {
            if !sent && self.channels.contains_key(&channel) {
                // The channel task is not keeping up with answers: a misbehaving client.
                self.ctl.close("protocol error");
            }
            session.channel_failure(channel)?;
        }
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.remove(&channel);
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _variable_name: &str,
        _variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn window_change_request(
        &mut self,
        channel: ChannelId,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn agent_request(
        &mut self,
        _channel: ChannelId,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }

    async fn tcpip_forward(
        &mut self,
        _address: &str,
        _port: &mut u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }

    async fn streamlocal_forward(
        &mut self,
        _socket_path: &str,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }
}
