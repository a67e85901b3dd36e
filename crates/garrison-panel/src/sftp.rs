//! The panel's side of SFTP sign-in (`SftpGate`): the node's SFTP server asks who a
//! login is, the panel answers from its users, SSH keys and permissions, with the same
//! login limits, the same permission check and the same audit log as the HTTP API.

use crate::AppState;
use crate::api::ssh_keys::fingerprint;
use crate::auth::{Credential, Principal, check, crypto, server_role};
use crate::store::{ServerRecord, StoreError, User};
use async_trait::async_trait;
use garrison_proto::{
    Permission, ServerId, SftpAccess, SftpAudit, SftpCredential, SftpGate, SftpRefusal,
};
use serde_json::json;
use std::net::IpAddr;

/// Characters of a server id shown in SFTP logins. Ids are UUIDv7, whose leading
/// characters are a timestamp shared by servers made in the same minute, so the short
/// id is taken from the random end.
pub const SHORT_ID_LEN: usize = 8;

/// The part of a server's id that goes into its SFTP login name.
pub fn short_id(id: &ServerId) -> String {
    let chars: Vec<char> = id
        .as_str()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let start = chars.len().saturating_sub(SHORT_ID_LEN);
    chars[start..].iter().collect::<String>().to_lowercase()
}

pub struct PanelSftpGate {
    state: AppState,
}

impl PanelSftpGate {
    pub fn new(state: AppState) -> PanelSftpGate {
        PanelSftpGate { state }
    }

    /// The one server whose short (or full) id is `short`; ambiguous or unknown: none.
    async fn server_by_short_id(&self, short: &str) -> Result<Option<ServerRecord>, StoreError> {
        let short = short.to_lowercase();
        if let Some(r) = self
            .state
            .store
            .get_server(&ServerId::from(short.as_str()))
            .await?
        {
            return Ok(Some(r));
        }
        if short.len() != SHORT_ID_LEN || !short.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Ok(None);
        }
        let mut found = self
            .state
            .store
            .list_servers()
            .await?
            .into_iter()
            .filter(|r| short_id(&r.id) == short);
        match (found.next(), found.next()) {
            (Some(r), None) => Ok(Some(r)),
            _ => Ok(None),
        }
    }

    /// The file permissions `user` holds on `server` now, or `None` without `file.sftp`.
    async fn access(
        &self,
        user: User,
        server: &ServerRecord,
    ) -> Result<Option<SftpAccess>, SftpRefusal> {
        let principal = Principal {
            user,
            via: Credential::Sftp,
            key_id: None,
            key_permissions: None,
            must_enrol_two_factor: false,
        };
        let role = server_role(&self.state, &principal, server)
            .await
            .map_err(|e| SftpRefusal::Unavailable(e.to_string()))?;
        if check(&principal, Permission::FileSftp, &role).is_err() {
            return Ok(None);
        }
        let permissions = Permission::server_permissions()
            .filter(|perm| check(&principal, *perm, &role).is_ok())
            .collect();
        Ok(Some(SftpAccess {
            user_id: principal.user.id,
            username: principal.user.username,
            server: server.id.clone(),
            permissions,
        }))
    }

    async fn credential_ok(
        &self,
        user: Option<&User>,
        credential: &SftpCredential,
    ) -> Result<bool, SftpRefusal> {
        let unavailable = |e: String| SftpRefusal::Unavailable(e);
        match (credential, user) {
            (SftpCredential::Password(pw), Some(u)) => {
                // A password alone would get around a second factor: users with 2FA
                // sign in to SFTP with an SSH key.
                let has_2fa = self
                    .state
                    .store
                    .two_factor(&u.id)
                    .await
                    .map_err(|e| unavailable(e.to_string()))?
                    .is_some_and(|t| t.enabled);
                let ok = crypto::verify_password(pw.clone(), u.password_hash.clone())
                    .await
                    .map_err(|e| unavailable(e.to_string()))?;
                Ok(ok && !has_2fa)
            }
            (SftpCredential::Password(pw), None) => {
                // Spend the same time as a real check so usernames cannot be probed.
                let _ = crypto::hash_password(pw.clone()).await;
                Ok(false)
            }
            (SftpCredential::PublicKey { blob, .. }, Some(u)) => {
                let offered = fingerprint(blob);
                let keys = self
                    .state
                    .store
                    .list_ssh_keys(&u.id)
                    .await
                    .map_err(|e| unavailable(e.to_string()))?;
                Ok(keys.iter().any(|k| k.fingerprint == offered))
            }
            (SftpCredential::PublicKey { .. }, None) => Ok(false),
        }
    }
}

/// `alice.0a1b2c3d` → (`alice`, `0a1b2c3d`). Usernames may hold dots; the server part
/// is after the last one.
fn split_login(login: &str) -> Option<(&str, &str)> {
    let (user, server) = login.rsplit_once('.')?;
    (!user.is_empty() && !server.is_empty()).then_some((user, server))
}

#[async_trait]
impl SftpGate for PanelSftpGate {
    async fn authenticate(
        &self,
        login: &str,
        credential: &SftpCredential,
        peer: IpAddr,
    ) -> Result<SftpAccess, SftpRefusal> {
        if login.len() > 200 {
            return Err(SftpRefusal::BadCredentials);
        }
        let (username, short) = split_login(login).unwrap_or((login, ""));
        let attempt = self
            .state
            .limits
            .check_login(peer, username)
            .map_err(|e| match e {
                crate::error::ApiError::TooManyRequests { retry_after_secs } => {
                    SftpRefusal::RateLimited { retry_after_secs }
                }
                other => SftpRefusal::Unavailable(other.to_string()),
            })?;
        let store = &self.state.store;
        let unavailable = |e: StoreError| SftpRefusal::Unavailable(e.to_string());
        let user = store
            .user_by_username(username)
            .await
            .map_err(unavailable)?;
        let ok = self.credential_ok(user.as_ref(), credential).await?;
        let server = if short.is_empty() {
            None
        } else {
            self.server_by_short_id(short).await.map_err(unavailable)?
        };
        let access = match (user.filter(|u| ok && !u.disabled), server) {
            (Some(u), Some(s)) => self.access(u, &s).await?,
            _ => None,
        };
        match access {
            Some(access) => {
                attempt.succeeded();
                Ok(access)
            }
            None => {
                // A wrong password is a guess and counts towards the lockout. A key is
                // not: clients offer every key they hold in turn, and a key cannot be
                // guessed (the signature was checked), so it must not lock the account.
                if matches!(credential, SftpCredential::Password(_)) {
                    let _ = attempt.failed(store).await;
                }
                Err(SftpRefusal::BadCredentials)
            }
        }
    }

    async fn recheck(&self, access: &SftpAccess) -> Result<SftpAccess, SftpRefusal> {
        let store = &self.state.store;
        let unavailable = |e: StoreError| SftpRefusal::Unavailable(e.to_string());
        let user = store
            .user_by_id(&access.user_id)
            .await
            .map_err(unavailable)?
            .filter(|u| !u.disabled)
            .ok_or(SftpRefusal::Revoked)?;
        let server = store
            .get_server(&access.server)
            .await
            .map_err(unavailable)?
            .ok_or(SftpRefusal::Revoked)?;
        self.access(user, &server)
            .await?
            .ok_or(SftpRefusal::Revoked)
    }

    async fn audit(&self, access: Option<&SftpAccess>, peer: IpAddr, entry: SftpAudit) {
        let ip = peer.to_string();
        let mut detail = json!({});
        if let Some(to) = &entry.to {
            detail["to"] = json!(to);
        }
        if let Some(bytes) = entry.bytes {
            detail["bytes"] = json!(bytes);
        }
        if access.is_none() {
            detail["login"] = json!(entry.path);
        }
        let result = self
            .state
            .store
            .audit_entry(&crate::store::NewAudit {
                user_id: access.map(|a| a.user_id.as_str()),
                via: Some(crate::audit::VIA_SFTP),
                ip: Some(&ip),
                server_id: access.map(|a| a.server.as_str()),
                action: &entry.action,
                target: if access.is_some() {
                    entry.path.as_deref()
                } else {
                    None
                },
                detail: &detail,
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, action = %entry.action, "cannot record an SFTP audit entry");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_come_from_the_random_end() {
        let id = ServerId::from("0193a1b2-7c00-7000-8000-00000000ABCD");
        assert_eq!(short_id(&id), "0000abcd");
        assert_eq!(short_id(&ServerId::from("s1")), "s1");
    }

    #[test]
    fn logins_split_at_the_last_dot() {
        assert_eq!(split_login("alice.0a1b2c3d"), Some(("alice", "0a1b2c3d")));
        assert_eq!(split_login("a.b.c"), Some(("a.b", "c")));
        assert_eq!(split_login("alice"), None);
        assert_eq!(split_login(".x"), None);
        assert_eq!(split_login("x."), None);
    }
}
