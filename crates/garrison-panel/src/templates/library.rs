//! Templates beyond the built-in ones: reading a template from text (our TOML or JSON,
//! or a Pterodactyl/Pelican egg), writing one out, keeping the registry in step with
//! the store, and syncing template repositories (a git URL or a local directory).
//! Used by the API and by `garrison template sync`.

use super::{Compiled, Origin, Templates};
use crate::store::{Store, StoreError, TemplateRepo};
use garrison_proto::Template;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Bumped whenever stored templates change, so a running panel reloads what the CLI
/// wrote.
pub const REVISION_SETTING: &str = "templates_revision";
/// Files larger than this in a repository are not templates.
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// How deep a repository's folders are searched (egg repositories nest by game).
const MAX_DEPTH: usize = 4;
const GIT_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    Toml,
    Json,
    Egg,
}

/// A template read from text, with the egg importer's report when it was an egg.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub template: Template,
    pub format: SourceFormat,
    pub report: Option<garrison_egg::ImportReport>,
}

/// Read a template: our TOML, our JSON, or an egg (JSON or YAML, told apart by its
/// `meta.version`). `Err` says why in words.
pub fn parse(text: &str) -> Result<Parsed, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        if v.get("meta").is_some() {
            return egg(text);
        }
        let template: Template =
            serde_json::from_value(v).map_err(|e| format!("not a Garrison template: {e}"))?;
        return Ok(Parsed {
            template,
            format: SourceFormat::Json,
            report: None,
        });
    }
    match toml::from_str::<Template>(text) {
        Ok(template) => Ok(Parsed {
            template,
            format: SourceFormat::Toml,
            report: None,
        }),
        Err(toml_err) => {
            // YAML eggs carry a `meta:` block; anything else was meant to be TOML.
            if text.lines().any(|l| l.trim_end() == "meta:") {
                egg(text)
            } else {
                Err(format!("not a Garrison template (TOML): {toml_err}"))
            }
        }
    }
}

fn egg(text: &str) -> Result<Parsed, String> {
    let imported = garrison_egg::import(text.as_bytes()).map_err(|e| format!("egg: {e}"))?;
    Ok(Parsed {
        template: imported.template,
        format: SourceFormat::Egg,
        report: Some(imported.report),
    })
}

pub fn to_toml(t: &Template) -> Result<String, String> {
    toml::to_string_pretty(t).map_err(|e| format!("cannot write the template as TOML: {e}"))
}

pub fn to_json(t: &Template) -> Result<String, String> {
    serde_json::to_string(t).map_err(|e| format!("cannot write the template as JSON: {e}"))
}

/// The stored templates, checked; one that no longer passes is skipped with a warning
/// (its servers keep their records; they cannot start until it is fixed).
pub async fn load_stored(store: &Store) -> Result<Vec<Compiled>, StoreError> {
    let mut out = Vec::new();
    for row in store.list_templates().await? {
        let compiled = serde_json::from_str::<Template>(&row.body)
            .map_err(|e| e.to_string())
            .and_then(|t| Compiled::new(t, Origin::Custom));
        match compiled {
            Ok(c) => out.push(c),
            Err(e) => tracing::warn!(template = %row.id, error = %e, "stored template skipped"),
        }
    }
    Ok(out)
}

/// Make the registry hold the built-ins plus what the store has now.
pub async fn reload(templates: &Templates, store: &Store) -> Result<(), StoreError> {
    let stored = load_stored(store).await?;
    templates.replace_custom(stored);
    Ok(())
}

pub async fn bump_revision(store: &Store) -> Result<(), StoreError> {
    let id = crate::store::now_millis();
    store
        .put_setting(REVISION_SETTING, &serde_json::json!(id))
        .await
}

/// What one repository sync did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    pub imported: Vec<String>,
    /// Files that are not usable templates, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// `git` for URLs, `dir` for an existing local directory; anything else is refused.
pub async fn repo_kind(location: &str) -> Result<&'static str, String> {
    let l = location.trim();
    if l.is_empty() || l.chars().any(char::is_control) {
        return Err("location must be a git URL or a directory".into());
    }
    if l.starts_with("https://")
        || l.starts_with("http://")
        || l.starts_with("ssh://")
        || l.starts_with("git@")
        || l.starts_with("file://")
    {
        return Ok("git");
    }
    if l.starts_with('/') {
        let is_dir = tokio::fs::metadata(l).await.is_ok_and(|m| m.is_dir());
        return if is_dir {
            Ok("dir")
        } else {
            Err(format!("{l} is not a directory"))
        };
    }
    Err(
        "location must be a git URL (https://, ssh://, git@, file://) or an absolute directory"
            .into(),
    )
}

/// Fetch (git) or read (dir) the repository and replace its templates in the store.
/// The sync's outcome is recorded on the repository either way.
pub async fn sync_repo(
    store: &Store,
    data_dir: &Path,
    repo: &TemplateRepo,
    built_in: &[String],
) -> Result<SyncReport, String> {
    let result = sync_inner(store, data_dir, repo, built_in).await;
    match &result {
        Ok(_) => {}
        Err(e) => {
            if let Err(se) = store.repo_sync_failed(&repo.id, e).await {
                tracing::error!(repo = %repo.id, error = %se, "could not record a failed sync");
            }
        }
    }
    if let Err(e) = bump_revision(store).await {
        tracing::warn!(error = %e, "could not bump the template revision");
    }
    result
}

async fn sync_inner(
    store: &Store,
    data_dir: &Path,
    repo: &TemplateRepo,
    built_in: &[String],
) -> Result<SyncReport, String> {
    let root = match repo.kind.as_str() {
        "git" => fetch_git(data_dir, repo).await?,
        _ => PathBuf::from(&repo.location),
    };
    let files = tokio::task::spawn_blocking(move || collect_files(&root))
        .await
        .map_err(|e| format!("reading the repository failed: {e}"))??;
    let mut report = SyncReport::default();
    let mut rows: Vec<(String, String)> = Vec::new();
    for (name, text) in files {
        let compiled = parse(&text).and_then(|p| Compiled::new(p.template, Origin::Custom));
        match compiled {
            Ok(c) if built_in.contains(&c.template.id) => report
                .skipped
                .push((name, format!("{} is a built-in template id", c.template.id))),
            Ok(c) if rows.iter().any(|(id, _)| *id == c.template.id) => report
                .skipped
                .push((name, format!("id {} appears twice", c.template.id))),
            Ok(c) => {
                let body = to_json(&c.template)?;
                rows.push((c.template.id.clone(), body));
            }
            Err(e) => report.skipped.push((name, e)),
        }
    }
    let foreign = store
        .replace_repo_templates(&repo.id, &rows)
        .await
        .map_err(|e| e.to_string())?;
    for (id, _) in rows {
        if foreign.contains(&id) {
            report.skipped.push((
                id,
                "a template with this id exists from another source".into(),
            ));
        } else {
            report.imported.push(id);
        }
    }
    Ok(report)
}

/// A shallow clone kept under the data directory, fetched again on each sync. The
/// clone is Garrison's own: a fetch replaces whatever it held (history may be rewritten
/// upstream, and a shallow clone cannot merge).
async fn fetch_git(data_dir: &Path, repo: &TemplateRepo) -> Result<PathBuf, String> {
    let dir = data_dir.join("template-repos").join(&repo.id);
    let d = dir.display().to_string();
    let cloned = tokio::fs::metadata(dir.join(".git"))
        .await
        .is_ok_and(|m| m.is_dir());
    let steps: Vec<Vec<String>> = if cloned {
        vec![
            vec![
                "-C".into(),
                d.clone(),
                "fetch".into(),
                "--depth".into(),
                "1".into(),
                "origin".into(),
            ],
            vec![
                "-C".into(),
                d.clone(),
                "reset".into(),
                "--hard".into(),
                "-q".into(),
                "FETCH_HEAD".into(),
            ],
            vec!["-C".into(), d.clone(), "clean".into(), "-fdxq".into()],
        ]
    } else {
        if let Some(parent) = dir.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| format!("creating {}: {e}", parent.display()))?;
        }
        let _ = tokio::fs::remove_dir_all(&dir).await;
        vec![vec![
            "clone".into(),
            "-q".into(),
            "--depth".into(),
            "1".into(),
            "--".into(),
            repo.location.clone(),
            d.clone(),
        ]]
    };
    for args in steps {
        run_git(&args).await?;
    }
    Ok(dir)
}

async fn run_git(args: &[String]) -> Result<(), String> {
    let mut cmd = tokio::process::Command::new("git");
    cmd.args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(GIT_TIMEOUT, cmd.output())
        .await
        .map_err(|_| format!("git timed out after {}s", GIT_TIMEOUT.as_secs()))?
        .map_err(|e| format!("running git: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("git failed: {}", err.trim()));
    }
    Ok(())
}

/// Template-looking files (`.toml`, `.json`, `.yaml`, `.yml`) under `root`, as
/// (path relative to root, text). Hidden entries and symlinks are skipped. Blocking.
fn collect_files(root: &Path) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            let path = entry.path();
            if meta.is_dir() {
                if depth < MAX_DEPTH {
                    stack.push((path, depth + 1));
                }
                continue;
            }
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !meta.is_file() || !matches!(ext, "toml" | "json" | "yaml" | "yml") {
                continue;
            }
            let rel = path
                .strip_prefix(root)
                .map(|p| p.display().to_string())
                .unwrap_or(name);
            if meta.len() > MAX_FILE_BYTES {
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(text) => out.push((rel, text)),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "unreadable template file")
                }
            }
        }
    }
    out.sort();
    Ok(out)
}
