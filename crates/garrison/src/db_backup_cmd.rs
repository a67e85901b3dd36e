//! `garrison db-backup`: a consistent snapshot of the panel database, taken while
//! `garrison serve` keeps running. Restoring a whole installation is described in
//! docs/operations.md.

use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct DbBackupArgs {
    /// The data dir of the Garrison whose database to copy (its garrison.toml and
    /// GARRISON_DATABASE_URL are honoured).
    #[arg(long, env = "GARRISON_DATA_DIR", default_value = "garrison-data")]
    data_dir: PathBuf,
    /// Where to write the copy (must not exist). Default:
    /// DATA_DIR/db-backups/garrison-<UTC time>.db
    #[arg(long, short)]
    output: Option<PathBuf>,
}

pub async fn run(args: DbBackupArgs) -> Result<()> {
    let (_, store) = crate::config::open_data_dir(&args.data_dir).await?;
    let result = snapshot(&store, &args).await;
    store.close().await;
    let path = result?;
    println!("{}", path.display());
    Ok(())
}

async fn snapshot(store: &garrison_panel::store::Store, args: &DbBackupArgs) -> Result<PathBuf> {
    let out = match &args.output {
        Some(p) => std::path::absolute(p).with_context(|| format!("bad path {}", p.display()))?,
        None => {
            let dir = std::path::absolute(&args.data_dir)?.join("db-backups");
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            dir.join(format!("garrison-{stamp}.db"))
        }
    };
    if out.exists() {
        bail!("{} exists already; choose another --output", out.display());
    }
    let parent = out
        .parent()
        .with_context(|| format!("{} has no parent directory", out.display()))?;
    if !parent.is_dir() {
        bail!("{} is not a directory", parent.display());
    }
    // Written under a temporary name and renamed, so a cut-short copy never looks whole.
    let tmp = parent.join(format!(
        ".{}.partial",
        out.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("garrison.db")
    ));
    let _ = std::fs::remove_file(&tmp);
    if let Err(e) = store.snapshot_to(&tmp).await {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).context("cannot copy the database");
    }
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot sync {}", tmp.display()))?;
    std::fs::rename(&tmp, &out)
        .with_context(|| format!("cannot move the copy to {}", out.display()))?;
    Ok(out)
}
