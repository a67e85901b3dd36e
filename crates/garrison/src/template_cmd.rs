//! `garrison template …`: template repositories from the shell. `sync` refreshes every
//! repository (or one) straight in the store, also while `garrison serve` runs: the
//! panel notices the new template revision within seconds and reloads.

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use garrison_panel::store::Store;
use garrison_panel::templates::{Templates, library};
use std::path::PathBuf;

#[derive(Args)]
pub struct TemplateArgs {
    /// The data dir of the Garrison whose templates to manage.
    #[arg(
        long,
        env = "GARRISON_DATA_DIR",
        default_value = "garrison-data",
        global = true
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: TemplateCommand,
}

#[derive(Subcommand)]
enum TemplateCommand {
    /// Fetch every template repository again (or only the one at --location) and
    /// replace the templates it provides.
    Sync {
        #[arg(long)]
        location: Option<String>,
    },
    /// Add a template repository (a git URL or a local directory) and sync it.
    AddRepo {
        #[arg(long)]
        location: String,
    },
    /// List template repositories with their last sync.
    Repos,
}

pub async fn run(args: TemplateArgs) -> Result<()> {
    let (data_dir, store) = crate::config::open_data_dir(&args.data_dir).await?;
    let result = act(&store, &data_dir, args.command).await;
    store.close().await;
    result
}

async fn act(store: &Store, data_dir: &std::path::Path, command: TemplateCommand) -> Result<()> {
    let built_in = Templates::built_in()?.built_in_ids();
    match command {
        TemplateCommand::Repos => {
            for r in store.list_template_repos().await? {
                let synced = match (r.synced_at, &r.sync_error) {
                    (_, Some(e)) => format!("last sync failed: {e}"),
                    (Some(_), None) => format!("{} templates", r.template_count),
                    (None, None) => "never synced".into(),
                };
                println!("{}\t{}\t{}\t{synced}", r.id, r.kind, r.location);
            }
            Ok(())
        }
        TemplateCommand::AddRepo { location } => {
            let kind = library::repo_kind(&location)
                .await
                .map_err(anyhow::Error::msg)?;
            let repo = store.add_template_repo(location.trim(), kind).await?;
            sync_and_print(store, data_dir, &repo, &built_in).await
        }
        TemplateCommand::Sync { location } => {
            let repos = store.list_template_repos().await?;
            let chosen: Vec<_> = repos
                .iter()
                .filter(|r| location.as_deref().is_none_or(|l| r.location == l.trim()))
                .collect();
            if chosen.is_empty() {
                match location {
                    Some(l) => bail!("no template repository at {l}"),
                    None => {
                        println!(
                            "no template repositories; add one with `garrison template add-repo`"
                        );
                        return Ok(());
                    }
                }
            }
            let mut failed = 0;
            for repo in chosen {
                if sync_and_print(store, data_dir, repo, &built_in)
                    .await
                    .is_err()
                {
                    failed += 1;
                }
            }
            if failed > 0 {
                bail!("{failed} repository sync(s) failed");
            }
            Ok(())
        }
    }
}

async fn sync_and_print(
    store: &Store,
    data_dir: &std::path::Path,
    repo: &garrison_panel::store::TemplateRepo,
    built_in: &[String],
) -> Result<()> {
    match library::sync_repo(store, data_dir, repo, built_in).await {
        Ok(report) => {
            println!(
                "{}: {} template(s): {}",
                repo.location,
                report.imported.len(),
                report.imported.join(", ")
            );
            for (file, why) in &report.skipped {
                println!("  skipped {file}: {why}");
            }
            Ok(())
        }
        Err(e) => {
            eprintln!("{}: sync failed: {e}", repo.location);
            bail!(e)
        }
    }
}
