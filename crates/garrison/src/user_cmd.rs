//! `garrison user …`: manage accounts from the shell, also while `garrison serve` runs
//! on the same data dir (the database takes concurrent writers; the panel reads every
//! session and key from it, so ended sessions stop working at once, and open consoles
//! close within seconds).

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use garrison_panel::auth::crypto;
use garrison_panel::store::{Store, UserChanges};
use std::io::Read;
use std::path::PathBuf;

#[derive(Args)]
pub struct UserArgs {
    /// The data dir of the Garrison whose users to manage (its garrison.toml and
    /// GARRISON_DATABASE_URL are honoured).
    #[arg(
        long,
        env = "GARRISON_DATA_DIR",
        default_value = "garrison-data",
        global = true
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; prints a generated password unless --password-stdin is given.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: Option<String>,
        /// Make the user an admin.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password (generated, or from --password-stdin) and end all sessions.
    ResetPassword {
        #[arg(long)]
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: no login, sessions and API keys stop working.
    Disable {
        #[arg(long)]
        username: String,
    },
    /// Enable a disabled user again.
    Enable {
        #[arg(long)]
        username: String,
    },
    /// List users.
    List,
}

pub async fn run(args: UserArgs) -> Result<()> {
    let (_, store) = crate::config::open_data_dir(&args.data_dir).await?;
    let result = act(&store, args.command).await;
    store.close().await;
    result
}

async fn password(from_stdin: bool) -> Result<(String, bool)> {
    if !from_stdin {
        return Ok((crypto::random_password(), true));
    }
    let mut text = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut text)
        .context("cannot read the password from stdin")?;
    let pw = text.trim_end_matches(['\r', '\n']).to_owned();
    if pw.chars().count() < garrison_panel::api::admin::MIN_PASSWORD_CHARS {
        bail!(
            "the password must have at least {} characters",
            garrison_panel::api::admin::MIN_PASSWORD_CHARS
        );
    }
    Ok((pw, false))
}

/// The panel's validation error as a message naming the field.
fn field_error(e: garrison_panel::error::ApiError) -> anyhow::Error {
    match e.body()["error"]["field"].as_str() {
        Some(field) => anyhow::anyhow!("{field}: {e}"),
        None => anyhow::anyhow!("{e}"),
    }
}

async fn find(store: &Store, username: &str) -> Result<garrison_panel::store::User> {
    store
        .user_by_username(username)
        .await?
        .with_context(|| format!("no user {username:?}"))
}

async fn act(store: &Store, command: UserCommand) -> Result<()> {
    match command {
        UserCommand::Create {
            username,
            email,
            admin,
            password_stdin,
        } => {
            garrison_panel::api::admin::check_username(&username).map_err(field_error)?;
            if let Some(e) = &email {
                garrison_panel::api::admin::check_email(e).map_err(field_error)?;
            }
            let (pw, generated) = password(password_stdin).await?;
            let hash = crypto::hash_password(pw.clone()).await?;
            let user = store.create_user(&username, &hash, admin).await?;
            if email.is_some() {
                store
                    .update_user(
                        &user.id,
                        &UserChanges {
                            email: Some(email),
                            ..Default::default()
                        },
                    )
                    .await?;
            }
            store
                .audit(
                    None,
                    "user.create",
                    Some(&user.id),
                    None,
                    &serde_json::json!({"username": username, "via": "cli"}),
                )
                .await?;
            println!("Created user {username} ({}).", user.id);
            if generated {
                println!("  password: {pw}\nThis password is shown only once.");
            }
        }
        UserCommand::ResetPassword {
            username,
            password_stdin,
        } => {
            let user = find(store, &username).await?;
            let (pw, generated) = password(password_stdin).await?;
            let hash = crypto::hash_password(pw.clone()).await?;
            store.set_password_hash(&user.id, &hash).await?;
            let ended = store.delete_user_sessions(&user.id, None).await?;
            store
                .audit(
                    None,
                    "user.password_reset",
                    Some(&user.id),
                    None,
                    &serde_json::json!({"via": "cli"}),
                )
                .await?;
            println!("New password set for {username}; {ended} session(s) ended.");
            if generated {
                println!("  password: {pw}\nThis password is shown only once.");
            }
        }
        UserCommand::Disable { username } => set_disabled(store, &username, true).await?,
        UserCommand::Enable { username } => set_disabled(store, &username, false).await?,
        UserCommand::List => {
            for u in store.list_users().await? {
                println!(
                    "{}\t{}\t{}{}",
                    u.id,
                    u.username,
                    if u.is_admin { "admin" } else { "user" },
                    if u.disabled { "\tdisabled" } else { "" }
                );
            }
        }
    }
    Ok(())
}

async fn set_disabled(store: &Store, username: &str, disabled: bool) -> Result<()> {
    let user = find(store, username).await?;
    store
        .update_user(
            &user.id,
            &UserChanges {
                disabled: Some(disabled),
                ..Default::default()
            },
        )
        .await?;
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    store
        .audit(
            None,
            action,
            Some(&user.id),
            None,
            &serde_json::json!({"via": "cli"}),
        )
        .await?;
    println!(
        "{username} is {}.",
        if disabled {
            "disabled; their sessions ended"
        } else {
            "enabled"
        }
    );
    Ok(())
}
