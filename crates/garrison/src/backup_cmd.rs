//! `garrison backup verify`: re-read every ready backup's archive and manifest from its
//! storage and compare them with the checksums recorded when it was made; the panel's
//! list is marked `ok`, `missing` or `corrupt`. Works while `garrison serve` runs.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use garrison_panel::store::{BackupState, Store};
use garrison_proto::{Integrity, ServerId};
use std::path::PathBuf;

#[derive(Args)]
pub struct BackupArgs {
    /// The data dir of the Garrison whose backups to check (its garrison.toml and
    /// GARRISON_* settings, S3 included, are honoured).
    #[arg(
        long,
        env = "GARRISON_DATA_DIR",
        default_value = "garrison-data",
        global = true
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: BackupCommand,
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Check archives against their checksums and manifests. Exits with 1 when any
    /// backup is missing or corrupt.
    Verify {
        /// Only this server's backups.
        #[arg(long)]
        server: Option<String>,
        /// Only this backup.
        #[arg(long)]
        backup: Option<String>,
    },
}

pub async fn run(args: BackupArgs) -> Result<()> {
    let (data_dir, cfg, store) = crate::config::open_data_dir_with_config(&args.data_dir).await?;
    let result = match args.command {
        BackupCommand::Verify { server, backup } => {
            verify(&store, &data_dir, &cfg, server, backup).await
        }
    };
    store.close().await;
    result
}

async fn verify(
    store: &Store,
    data_dir: &std::path::Path,
    cfg: &crate::config::Config,
    server: Option<String>,
    backup: Option<String>,
) -> Result<()> {
    let agent_config = garrison_agent::AgentConfig {
        backups: cfg.backups.node.clone(),
        ..garrison_agent::AgentConfig::new(data_dir)
    };
    let stores = garrison_agent::backup::open_stores(&agent_config)
        .context("cannot open the backup storage")?;
    let mut backups = store.backups_in_state(BackupState::Ready).await?;
    if let Some(s) = &server {
        backups.retain(|b| b.server_id == ServerId::from(s.as_str()));
    }
    if let Some(id) = &backup {
        backups.retain(|b| &b.id == id);
    }
    if backups.is_empty() && (server.is_some() || backup.is_some()) {
        bail!("no ready backup matches");
    }
    let mut bad = 0;
    for b in &backups {
        let Some(digest) = b.digest() else { continue };
        let driver = stores
            .at(b.storage)
            .map_err(|e| anyhow::anyhow!("backup {}: {e}", b.id))?;
        let report = garrison_agent::backup::verify_stored(
            driver.as_ref(),
            &b.server_id,
            &b.location(),
            &digest,
        )
        .await
        .with_context(|| format!("backup {} of server {}", b.id, b.server_id))?;
        store.set_backup_integrity(&b.id, report.integrity).await?;
        let word = match report.integrity {
            Integrity::Ok => "ok",
            Integrity::Missing => "MISSING",
            Integrity::Corrupt => "CORRUPT",
        };
        if report.integrity != Integrity::Ok {
            bad += 1;
        }
        println!(
            "{word:8} {} {} ({} entries){}",
            b.server_id,
            b.id,
            report.entries,
            report.problem.map(|p| format!(": {p}")).unwrap_or_default()
        );
    }
    println!(
        "{} backups checked, {bad} missing or corrupt",
        backups.len()
    );
    if bad > 0 {
        std::process::exit(1);
    }
    Ok(())
}
