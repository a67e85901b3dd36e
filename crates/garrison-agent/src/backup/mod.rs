//! Backups: archives of a server's directory written to a storage driver, verified,
//! downloaded and restored.

pub mod s3;
pub mod store;

use crate::agent::Agent;
use async_trait::async_trait;
use garrison_proto::{
    BackupDigest, BackupError, BackupErrorKind, BackupLocation, BackupRequest, Download, Manifest,
    NodeBackups, NodeError, RestoreRequest, ServerId, VerifyReport,
};

fn unbuilt() -> NodeError {
    NodeError::Backup(BackupError::new(
        BackupErrorKind::Storage,
        "backups are being built",
    ))
}

#[async_trait]
impl NodeBackups for Agent {
    async fn create_backup(&self, _id: &ServerId, _req: BackupRequest) -> Result<(), NodeError> {
        Err(unbuilt())
    }
    async fn cancel_backup(&self, _id: &ServerId, _backup: &str) -> Result<(), NodeError> {
        Err(unbuilt())
    }
    async fn restore_backup(&self, _id: &ServerId, _req: RestoreRequest) -> Result<(), NodeError> {
        Err(unbuilt())
    }
    async fn delete_backup(&self, _id: &ServerId, _l: &BackupLocation) -> Result<(), NodeError> {
        Err(unbuilt())
    }
    async fn download_backup(
        &self,
        _id: &ServerId,
        _l: &BackupLocation,
        _offset: u64,
    ) -> Result<Download, NodeError> {
        Err(unbuilt())
    }
    async fn verify_backup(
        &self,
        _id: &ServerId,
        _l: &BackupLocation,
        _d: &BackupDigest,
    ) -> Result<VerifyReport, NodeError> {
        Err(unbuilt())
    }
    async fn backup_manifest(
        &self,
        _id: &ServerId,
        _l: &BackupLocation,
        _d: &BackupDigest,
    ) -> Result<Manifest, NodeError> {
        Err(unbuilt())
    }
}
