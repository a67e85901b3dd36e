//! The SFTP server starts before the panel (the panel shows users its port), but only
//! the panel can say who may sign in. `LateGate` stands in until the panel's gate is
//! set: sign-ins in that moment are refused as "unavailable", never let through.

use async_trait::async_trait;
use garrison_proto::{SftpAccess, SftpAudit, SftpCredential, SftpGate, SftpRefusal};
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

#[derive(Default)]
pub struct LateGate {
    inner: OnceLock<Arc<dyn SftpGate>>,
}

impl LateGate {
    pub fn set(&self, gate: Arc<dyn SftpGate>) {
        if self.inner.set(gate).is_err() {
            tracing::warn!("the SFTP gate was set twice; keeping the first");
        }
    }

    fn get(&self) -> Result<&Arc<dyn SftpGate>, SftpRefusal> {
        self.inner
            .get()
            .ok_or_else(|| SftpRefusal::Unavailable("Garrison is still starting".into()))
    }
}

#[async_trait]
impl SftpGate for LateGate {
    async fn authenticate(
        &self,
        login: &str,
        credential: &SftpCredential,
        peer: IpAddr,
    ) -> Result<SftpAccess, SftpRefusal> {
        self.get()?.authenticate(login, credential, peer).await
    }

    async fn recheck(&self, access: &SftpAccess) -> Result<SftpAccess, SftpRefusal> {
        self.get()?.recheck(access).await
    }

    async fn audit(&self, access: Option<&SftpAccess>, peer: IpAddr, entry: SftpAudit) {
        if let Ok(gate) = self.get() {
            gate.audit(access, peer, entry).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_until_set() {
        let gate = LateGate::default();
        let r = gate
            .authenticate(
                "a.b",
                &SftpCredential::Password("x".into()),
                "127.0.0.1".parse().unwrap(),
            )
            .await;
        assert!(matches!(r, Err(SftpRefusal::Unavailable(_))));
    }
}
