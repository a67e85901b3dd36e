//! The install pipeline: a template's install steps, run in order by one task per
//! install, with progress events, output in the console, a timeout per command and
//! cancellation. Every file it writes goes through the server's path sandbox; every
//! program it runs runs in the server directory as the server's user, in its own
//! process group.

use crate::config::AgentConfig;
use crate::console::{Console, LineWatch, read_stream};
use crate::install::download::{DownloadProgress, DownloadRequest, build_client_with, download};
use crate::install::extract::{ArchiveFormat, ExtractOptions, ExtractProgress, extract_file};
use crate::process::{describe_exit, signal_group, spawn};
use crate::prompts::PromptWatch;
use crate::sandbox::Sandbox;
use garrison_proto::{
    ArchiveKind, Event, InstallEvent, InstallPhase, InstallStep, Prompt, PromptPattern, ServerId,
};
use nix::sys::signal::Signal;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// Progress events are sent at most this often per step (the last one always).
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// After SIGTERM to a cancelled or timed-out command's group, SIGKILL after this.
const KILL_GRACE: Duration = Duration::from_secs(5);
/// How many of the newest PaperMC versions `latest` looks at for a stable build.
const PAPERMC_LATEST_TRIES: usize = 5;
/// Version manifests and build lists are small; anything larger is not one.
const MAX_METADATA_BYTES: u64 = 16 * 1024 * 1024;

pub(crate) enum Outcome {
    Finished,
    Failed(String),
    Cancelled,
}

/// Everything one install needs; moved into its task.
pub(crate) struct Installer {
    pub server: ServerId,
    pub dir: PathBuf,
    pub config: Arc<AgentConfig>,
    pub steps: Vec<InstallStep>,
    pub env: BTreeMap<String, String>,
    pub java: Option<u32>,
    pub prompts: Vec<PromptPattern>,
    pub console: Arc<Console>,
    pub events: mpsc::Sender<Event>,
    pub cancel: watch::Receiver<bool>,
}

enum StepError {
    Failed(String),
    Cancelled,
}

impl From<String> for StepError {
    fn from(s: String) -> StepError {
        StepError::Failed(s)
    }
}

type StepResult = Result<(), StepError>;

impl Installer {
    pub(crate) async fn run(mut self) -> Outcome {
        let total = self.steps.len();
        let steps = std::mem::take(&mut self.steps);
        for (i, step) in steps.iter().enumerate() {
            if *self.cancel.borrow() {
                return Outcome::Cancelled;
            }
            let mut ev = self.event(InstallPhase::Step, i, total, step.kind());
            ev.message = Some(describe(step));
            self.send(ev).await;
            // Shown in the console beside the install's own output.
            self.console.push(vec![format!(
                "[Garrison] install step {} of {total}: {}",
                i + 1,
                describe(step)
            )]);
            match self.step(i, total, step).await {
                Ok(()) => {}
                Err(StepError::Cancelled) => return Outcome::Cancelled,
                Err(StepError::Failed(m)) => {
                    return Outcome::Failed(format!(
                        "step {} of {total} ({}): {m}",
                        i + 1,
                        step.kind()
                    ));
                }
            }
        }
        let staging = self.staging();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(staging)).await;
        Outcome::Finished
    }

    fn event(&self, phase: InstallPhase, i: usize, total: usize, kind: &str) -> InstallEvent {
        InstallEvent {
            step: u32::try_from(i).ok(),
            steps: u32::try_from(total).ok(),
            kind: Some(kind.to_owned()),
            ..InstallEvent::new(self.server.clone(), phase)
        }
    }

    async fn send(&self, ev: InstallEvent) {
        let _ = self.events.send(Event::Install(ev)).await;
    }

    /// Downloads wait here until they are verified; outside every server directory.
    fn staging(&self) -> PathBuf {
        self.config
            .data_dir
            .join("install-cache")
            .join(self.server.as_str())
    }

    async fn step(&mut self, i: usize, total: usize, step: &InstallStep) -> StepResult {
        match step {
            InstallStep::Download {
                url,
                dest,
                sha256,
                sha1,
                size,
            } => {
                let req = self.download_request(url, *size, sha256.clone(), sha1.clone());
                self.fetch_into(i, total, step.kind(), req, dest).await
            }
            InstallStep::Extract {
                archive,
                dest,
                format,
                strip_components,
                delete_archive,
            } => {
                self.extract(
                    i,
                    total,
                    archive,
                    dest,
                    *format,
                    *strip_components,
                    *delete_archive,
                )
                .await
            }
            InstallStep::Write {
                path,
                content,
                overwrite,
            } => {
                let dir = self.dir.clone();
                let (path, content, overwrite) = (path.clone(), content.clone(), *overwrite);
                let run_as = self.config.run_as;
                blocking(move || {
                    let sb = Sandbox::open(&dir).map_err(|e| e.to_string())?;
                    let rel = Sandbox::rel(&path).map_err(|e| e.to_string())?;
                    if !overwrite && sb.exists(&rel).map_err(|e| e.to_string())? {
                        return Ok(());
                    }
                    if let Some(parent) = rel.parent() {
                        sb.create_dir_all(&parent).map_err(|e| e.to_string())?;
                    }
                    sb.write_atomic(&rel, content.as_bytes())
                        .map_err(|e| e.to_string())?;
                    chown_tree(&sb, run_as)
                })
                .await
            }
            InstallStep::Command {
                command,
                shell,
                timeout_secs,
            } => {
                let argv = if *shell {
                    vec!["/bin/sh".into(), "-c".into(), command.join(" ")]
                } else {
                    command.clone()
                };
                self.command(argv, *timeout_secs, None).await
            }
            InstallStep::Script {
                script,
                interpreter,
                image,
                timeout_secs,
            } => {
                if let Some(image) = image {
                    return Err(format!(
                        "this install script runs in the container image {image}; this node runs servers natively and has no container runtime"
                    )
                    .into());
                }
                let argv = vec![interpreter.clone(), "-c".into(), script.clone()];
                self.command(argv, *timeout_secs, None).await
            }
            InstallStep::Steamcmd {
                app_id,
                beta,
                validate,
                timeout_secs,
            } => {
                let mut argv = vec![
                    self.config.install.steamcmd.display().to_string(),
                    "+force_install_dir".into(),
                    self.dir.display().to_string(),
                    "+login".into(),
                    "anonymous".into(),
                    "+app_update".into(),
                    app_id.to_string(),
                ];
                if let Some(b) = beta.as_ref().filter(|b| !b.is_empty()) {
                    argv.push("-beta".into());
                    argv.push(b.clone());
                }
                if *validate {
                    argv.push("validate".into());
                }
                argv.push("+quit".into());
                // SteamCMD can exit 0 after a failed update; its success line is the proof.
                let success = format!("Success! App '{app_id}' fully installed");
                self.command(argv, *timeout_secs, Some(success)).await
            }
            InstallStep::Mojang {
                version,
                manifest_url,
                dest,
            } => {
                let req = self.mojang(manifest_url, version).await?;
                self.fetch_into(i, total, step.kind(), req, dest).await
            }
            InstallStep::Papermc {
                project,
                version,
                build,
                api_url,
                dest,
            } => {
                let req = self.papermc(api_url, project, version, build).await?;
                self.fetch_into(i, total, step.kind(), req, dest).await
            }
        }
    }

    fn download_request(
        &self,
        url: &str,
        size: Option<u64>,
        sha256: Option<String>,
        sha1: Option<String>,
    ) -> DownloadRequest {
        DownloadRequest {
            url: self.config.install.mirrored(url),
            size,
            sha256: sha256.filter(|s| !s.is_empty()),
            sha1: sha1.filter(|s| !s.is_empty()),
            max_bytes: self.config.install.max_download_bytes,
            allow_http: self.config.install.allow_http,
            allow_private: self.config.install.allow_private,
            attempts: self.config.install.download_attempts,
        }
    }

    /// Download into the staging directory, then move the verified file to `dest`.
    async fn fetch_into(
        &mut self,
        i: usize,
        total: usize,
        kind: &str,
        req: DownloadRequest,
        dest: &str,
    ) -> StepResult {
        let rel = Sandbox::rel(dest).map_err(|e| format!("destination {dest:?}: {e}"))?;
        let Some(file_name) = rel.file_name() else {
            return Err(format!("destination {dest:?} names no file").into());
        };
        let staging = self.staging();
        let part_name = format!("{i}-{file_name}.part");
        let part = staging.join(&part_name);
        let st = staging.clone();
        blocking(move || {
            std::fs::create_dir_all(&st).map_err(|e| format!("creating {}: {e}", st.display()))
        })
        .await?;
        let client = http_client(&self.config.install)?;
        self.console
            .push(vec![format!("[Garrison] downloading {}", req.url)]);
        let events = self.events.clone();
        let base = self.event(InstallPhase::Progress, i, total, kind);
        let mut last = Instant::now() - PROGRESS_EVERY;
        let mut progress = move |p: DownloadProgress| {
            if last.elapsed() < PROGRESS_EVERY && p.total != Some(p.bytes) {
                return;
            }
            last = Instant::now();
            let ev = InstallEvent {
                bytes: Some(p.bytes),
                total_bytes: p.total,
                percent: p.total.filter(|t| *t > 0).map(|t| {
                    let pct = p.bytes as f64 * 100.0 / t as f64;
                    pct.min(100.0) as f32
                }),
                ..base.clone()
            };
            // Progress may be dropped when the panel is slow; phases never are.
            let _ = events.try_send(Event::Install(ev));
        };
        let fetched = tokio::select! {
            r = download(&client, &req, &part, &mut progress) => r.map_err(|e| e.to_string()),
            () = cancelled(&mut self.cancel) => return Err(StepError::Cancelled),
        };
        fetched?;
        let dir = self.dir.clone();
        let run_as = self.config.run_as;
        blocking(move || {
            let sb = Sandbox::open(&dir).map_err(|e| e.to_string())?;
            if let Some(parent) = rel.parent() {
                sb.create_dir_all(&parent).map_err(|e| e.to_string())?;
            }
            let from = cap_std::fs::Dir::open_ambient_dir(&staging, cap_std::ambient_authority())
                .map_err(|e| format!("opening {}: {e}", staging.display()))?;
            sb.rename_in(&from, &part_name, &rel)
                .map_err(|e| e.to_string())?;
            chown_tree(&sb, run_as)
        })
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn extract(
        &mut self,
        i: usize,
        total: usize,
        archive: &str,
        dest: &str,
        format: Option<ArchiveKind>,
        strip: u32,
        delete_archive: bool,
    ) -> StepResult {
        let archive_rel = Sandbox::rel(archive).map_err(|e| format!("archive {archive:?}: {e}"))?;
        let dest_rel = Sandbox::rel(dest).map_err(|e| format!("destination {dest:?}: {e}"))?;
        let dir = self.dir.clone();
        let run_as = self.config.run_as;
        let opts = ExtractOptions {
            strip_components: strip,
            max_total_bytes: self.config.install.max_extract_bytes,
            ..ExtractOptions::default()
        };
        let events = self.events.clone();
        let base = self.event(InstallPhase::Progress, i, total, "extract");
        let cancel = self.cancel.clone();
        let archive_name = archive.to_owned();
        let res = tokio::task::spawn_blocking(move || -> Result<(), String> {
            let sb = Sandbox::open(&dir).map_err(|e| e.to_string())?;
            let file = sb
                .open_read(&archive_rel)
                .map_err(|e| format!("opening the archive: {e}"))?;
            let format = match format {
                Some(k) => archive_format(k),
                None => detect_format(&file, &archive_name).ok_or_else(|| {
                    format!("{archive_name}: not a tar, tar.gz, tar.xz, tar.zst or zip archive")
                })?,
            };
            sb.create_dir_all(&dest_rel).map_err(|e| e.to_string())?;
            let mut last = std::time::Instant::now() - PROGRESS_EVERY;
            let mut progress = |p: ExtractProgress| {
                if last.elapsed() < PROGRESS_EVERY {
                    return;
                }
                last = std::time::Instant::now();
                let ev = InstallEvent {
                    bytes: Some(p.bytes),
                    message: Some(format!("{} entries", p.entries)),
                    ..base.clone()
                };
                let _ = events.try_send(Event::Install(ev));
            };
            let name = Path::new(&archive_name);
            extract_file(
                file,
                name,
                format,
                &sb,
                &dest_rel,
                &opts,
                &mut progress,
                &|| *cancel.borrow(),
            )
            .map_err(|e| e.to_string())?;
            if delete_archive {
                sb.remove_file(&archive_rel).map_err(|e| e.to_string())?;
            }
            chown_tree(&sb, run_as)
        })
        .await
        .map_err(|e| format!("the extract task failed: {e}"))?;
        if *self.cancel.borrow() {
            return Err(StepError::Cancelled);
        }
        res.map_err(StepError::Failed)
    }

    /// Run a program to its end: output to the console (watched for prompts), stdin
    /// closed, killed with its group on timeout or cancel. `success_line`: the output
    /// must contain it, whatever the exit code says.
    async fn command(
        &mut self,
        mut argv: Vec<String>,
        timeout_secs: u64,
        success_line: Option<String>,
    ) -> StepResult {
        if argv.first().is_some_and(|p| p == "java")
            && let Some(min) = self.java
        {
            let dirs = self.config.install.java_dirs.clone();
            let jre = blocking(move || crate::java::select(&dirs, min)).await?;
            argv[0] = jre.binary().display().to_string();
        }
        let env = self.env.clone();
        let dir = self.dir.clone();
        let run_as = self.config.run_as;
        let what = argv.first().cloned().unwrap_or_default();
        let spawned = tokio::task::spawn_blocking(move || spawn(&argv, &env, &dir, run_as))
            .await
            .map_err(|e| format!("spawning failed: {e}"))?;
        let mut child = spawned.map_err(|e| format!("{what}: {e}"))?;
        let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) else {
            return Err("the install process ended before it was watched"
                .to_owned()
                .into());
        };
        let run_dir = crate::leftovers::run_dir(&self.config.data_dir);
        let server = self.server.as_str().to_owned();
        let rd = run_dir.clone();
        let sv = server.clone();
        let _ = tokio::task::spawn_blocking(move || crate::leftovers::record(&rd, &sv, pid)).await;
        drop(child.stdin.take());
        self.console
            .marker(format!("install process started (pid {pid})"));
        let start_seq = self.console.next_seq();
        let mut watchers: Vec<Arc<dyn LineWatch>> = Vec::new();
        let events = self.events.clone();
        let sid = self.server.clone();
        if let Some(w) = PromptWatch::new(
            &self.prompts,
            Box::new(move |prompt: Prompt| {
                let ev = InstallEvent {
                    message: Some(prompt.message.clone()),
                    prompt: Some(prompt),
                    ..InstallEvent::new(sid.clone(), InstallPhase::Prompt)
                };
                let _ = events.try_send(Event::Install(ev));
            }),
        ) {
            watchers.push(Arc::new(w));
        }
        let max = self.config.max_line_bytes;
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(tokio::spawn(read_stream(
                out,
                self.console.clone(),
                max,
                watchers.clone(),
            )));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(tokio::spawn(read_stream(
                err,
                self.console.clone(),
                max,
                watchers,
            )));
        }
        let deadline = tokio::time::sleep(Duration::from_secs(timeout_secs.max(1)));
        tokio::pin!(deadline);
        let mut ended_by: Option<&str> = None;
        let status = loop {
            tokio::select! {
                s = child.wait() => break s,
                () = &mut deadline => {
                    if ended_by.is_none() {
                        ended_by = Some("timeout");
                        signal_group(pid, Signal::SIGTERM);
                        deadline.as_mut().reset(Instant::now() + KILL_GRACE);
                    } else {
                        signal_group(pid, Signal::SIGKILL);
                        deadline.as_mut().reset(Instant::now() + Duration::from_secs(86_400));
                    }
                }
                () = cancelled(&mut self.cancel), if ended_by.is_none() => {
                    ended_by = Some("cancel");
                    signal_group(pid, Signal::SIGTERM);
                    deadline.as_mut().reset(Instant::now() + KILL_GRACE);
                }
            }
        };
        // Nothing the step started outlives it.
        signal_group(pid, Signal::SIGKILL);
        for mut r in readers {
            if tokio::time::timeout(Duration::from_secs(2), &mut r)
                .await
                .is_err()
            {
                r.abort();
            }
        }
        let _ =
            tokio::task::spawn_blocking(move || crate::leftovers::forget(&run_dir, &server)).await;
        use std::os::unix::process::ExitStatusExt;
        let (code, signal) = match &status {
            Ok(s) => (s.code(), s.signal()),
            Err(_) => (None, None),
        };
        let desc = describe_exit(code, signal);
        self.console
            .marker(format!("install process {pid} ({desc})"));
        match ended_by {
            Some("cancel") => return Err(StepError::Cancelled),
            Some(_) => {
                return Err(format!("timed out after {timeout_secs}s and was stopped").into());
            }
            None => {}
        }
        if code != Some(0) {
            return Err(desc.into());
        }
        if let Some(line) = success_line {
            let out = self.console.last_lines_since(start_seq, 10_000);
            if !out.iter().any(|l| l.contains(&line)) {
                return Err(format!("it exited without printing {line:?}").into());
            }
        }
        Ok(())
    }

    async fn get_json(&mut self, url: &str) -> Result<serde_json::Value, StepError> {
        let client = http_client(&self.config.install)?;
        let url = self.config.install.mirrored(url);
        let allow_http = self.config.install.allow_http;
        if !self.config.install.allow_private
            && let Some(host) = reqwest::Url::parse(&url)
                .ok()
                .and_then(|u| garrison_outbound::private_host(&u))
        {
            return Err(StepError::Failed(format!(
                "{url}: {host} is a private or loopback address (install.allow_private is off)"
            )));
        }
        let fetch = get_small(&client, &url, allow_http, MAX_METADATA_BYTES);
        let body = tokio::select! {
            r = fetch => r?,
            () = cancelled(&mut self.cancel) => return Err(StepError::Cancelled),
        };
        serde_json::from_slice(&body)
            .map_err(|e| StepError::Failed(format!("{url}: not the JSON expected: {e}")))
    }

    /// Mojang's manifest → the version's own JSON → its server jar with size and SHA-1.
    async fn mojang(
        &mut self,
        manifest_url: &str,
        version: &str,
    ) -> Result<DownloadRequest, StepError> {
        let manifest = self.get_json(manifest_url).await?;
        let id = if version == "latest" || version.is_empty() {
            manifest["latest"]["release"]
                .as_str()
                .ok_or_else(|| "the version manifest names no latest release".to_owned())?
                .to_owned()
        } else {
            version.to_owned()
        };
        let entry = manifest["versions"]
            .as_array()
            .and_then(|v| v.iter().find(|e| e["id"].as_str() == Some(id.as_str())))
            .ok_or_else(|| {
                format!("Minecraft version {id:?} is not in Mojang's version manifest")
            })?;
        let url = entry["url"]
            .as_str()
            .ok_or_else(|| format!("version {id}: no url in the manifest"))?
            .to_owned();
        let meta = self.get_json(&url).await?;
        let server = &meta["downloads"]["server"];
        let jar = server["url"]
            .as_str()
            .ok_or_else(|| format!("Minecraft {id} has no server download"))?;
        self.console
            .push(vec![format!("[Garrison] Minecraft {id}: {jar}")]);
        Ok(self.download_request(
            jar,
            server["size"].as_u64(),
            None,
            server["sha1"].as_str().map(str::to_owned),
        ))
    }

    /// PaperMC's Fill v3 API: the version (newest when `latest`), then the build
    /// (newest stable when `latest`), whose `server:default` download has a SHA-256.
    async fn papermc(
        &mut self,
        api: &str,
        project: &str,
        version: &str,
        build: &str,
    ) -> Result<DownloadRequest, StepError> {
        let api = api.trim_end_matches('/');
        let stable = |b: &&serde_json::Value| {
            matches!(b["channel"].as_str(), Some("STABLE" | "RECOMMENDED"))
        };
        // `latest`: the newest versions first, until one has a stable build (a version
        // that just came out often has only alpha builds for days).
        let candidates: Vec<String> = if version == "latest" || version.is_empty() {
            let p = self
                .get_json(&format!("{api}/v3/projects/{project}"))
                .await?;
            // Families map to version lists; JSON object order is not to be relied on.
            let mut all: Vec<&str> = p["versions"]
                .as_object()
                .into_iter()
                .flat_map(|families| families.values())
                .filter_map(|list| list.as_array())
                .flatten()
                .filter_map(|v| v.as_str())
                .collect();
            let mut newest_first = Vec::new();
            while let Some(v) = newest_version(&all) {
                newest_first.push(v.to_owned());
                all.retain(|x| *x != v);
                if newest_first.len() == PAPERMC_LATEST_TRIES {
                    break;
                }
            }
            if newest_first.is_empty() {
                return Err(format!("{project}: the API lists no versions").into());
            }
            newest_first
        } else {
            vec![version.to_owned()]
        };
        let mut found = None;
        for version in &candidates {
            let builds = self
                .get_json(&format!(
                    "{api}/v3/projects/{project}/versions/{version}/builds"
                ))
                .await?;
            let list = builds
                .as_array()
                .ok_or_else(|| format!("{project} {version}: {}", api_error(&builds)))?;
            let chosen = if build == "latest" || build.is_empty() {
                list.iter().find(stable)
            } else {
                let b = list
                    .iter()
                    .find(|b| b["id"].as_u64().map(|n| n.to_string()).as_deref() == Some(build));
                Some(b.ok_or_else(|| format!("{project} {version} has no build {build}"))?)
            };
            if let Some(c) = chosen {
                found = Some((version.clone(), c.clone()));
                break;
            }
        }
        let Some((version, chosen)) = found else {
            return Err(format!("{project} {} has no stable build", candidates.join(", ")).into());
        };
        let dl = &chosen["downloads"]["server:default"];
        let url = dl["url"]
            .as_str()
            .ok_or_else(|| format!("{project} {version}: the build has no server download"))?;
        self.console.push(vec![format!(
            "[Garrison] {project} {version} build {}: {url}",
            chosen["id"]
        )]);
        Ok(self.download_request(
            url,
            dl["size"].as_u64(),
            dl["checksums"]["sha256"].as_str().map(str::to_owned),
            None,
        ))
    }
}

/// One HTTP client for every install (connection reuse), with the download module's
/// redirect policy, the configured User-Agent and, unless private addresses are allowed,
/// a resolver that drops them.
fn http_client(cfg: &crate::config::InstallConfig) -> Result<reqwest::Client, String> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c.clone());
    }
    let c = build_client_with(&cfg.user_agent, cfg.allow_private)
        .map_err(|e| format!("HTTP client: {e}"))?;
    Ok(CLIENT.get_or_init(|| c).clone())
}

/// A small document (a version manifest): 2xx only, at most `max` bytes.
async fn get_small(
    client: &reqwest::Client,
    url: &str,
    allow_http: bool,
    max: u64,
) -> Result<Vec<u8>, String> {
    let insecure = url.starts_with("http://");
    if !(url.starts_with("https://") || insecure) || (insecure && !allow_http) {
        return Err(format!("{url}: only https:// URLs are allowed"));
    }
    let mut resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("{url}: the server answered {}", resp.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("{url}: {e}"))? {
        if body.len() as u64 + chunk.len() as u64 > max {
            return Err(format!("{url}: larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// By magic bytes, then by the file name. Blocking.
fn detect_format(file: &std::fs::File, name: &str) -> Option<ArchiveFormat> {
    use std::io::{Read, Seek};
    let mut head = Vec::with_capacity(512);
    let mut f = file;
    let _ = f.take(512).read_to_end(&mut head);
    let _ = f.rewind();
    ArchiveFormat::from_magic(&head).or_else(|| ArchiveFormat::from_file_name(name))
}

/// The highest of dotted versions ("1.21.10" > "1.21.9"); a version with a suffix
/// ("1.21-pre1") ranks below the release with the same numbers.
fn newest_version<'a>(versions: &[&'a str]) -> Option<&'a str> {
    fn key(v: &str) -> (Vec<u64>, bool) {
        let (nums, suffix) = match v.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
            Some(i) => (&v[..i], true),
            None => (v, false),
        };
        let parts = nums
            .split('.')
            .filter(|p| !p.is_empty())
            .map(|p| p.parse().unwrap_or(0))
            .collect();
        (parts, !suffix)
    }
    versions.iter().copied().max_by(|a, b| key(a).cmp(&key(b)))
}

fn api_error(v: &serde_json::Value) -> String {
    v["message"]
        .as_str()
        .unwrap_or("the API answered something unexpected")
        .to_owned()
}

fn archive_format(k: ArchiveKind) -> ArchiveFormat {
    match k {
        ArchiveKind::Tar => ArchiveFormat::Tar,
        ArchiveKind::TarGz => ArchiveFormat::TarGz,
        ArchiveKind::TarXz => ArchiveFormat::TarXz,
        ArchiveKind::TarZst => ArchiveFormat::TarZst,
        ArchiveKind::Zip => ArchiveFormat::Zip,
    }
}

/// A step in words, for the console and the step event.
fn describe(step: &InstallStep) -> String {
    match step {
        InstallStep::Download { url, dest, .. } => format!("download {url} to {dest}"),
        InstallStep::Extract { archive, dest, .. } => {
            let to = if dest.is_empty() { "." } else { dest };
            format!("extract {archive} into {to}")
        }
        InstallStep::Write { path, .. } => format!("write {path}"),
        InstallStep::Command { command, .. } => format!("run {}", command.join(" ")),
        InstallStep::Script { interpreter, .. } => {
            format!("run the install script ({interpreter})")
        }
        InstallStep::Steamcmd { app_id, .. } => format!("SteamCMD app {app_id}"),
        InstallStep::Mojang { version, dest, .. } => {
            format!("Minecraft server {version} from Mojang to {dest}")
        }
        InstallStep::Papermc {
            project,
            version,
            dest,
            ..
        } => format!("{project} {version} from PaperMC to {dest}"),
    }
}

/// Resolves when the install is cancelled (or its actor is gone).
async fn cancelled(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, StepError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StepError::Failed(format!("a file task failed: {e}")))?
        .map_err(StepError::Failed)
}

/// Give everything in the server directory to the server's user, through the sandbox
/// and never following a link: what the agent wrote as root must be the game's to
/// change. Blocking.
fn chown_tree(sb: &Sandbox, run_as: Option<crate::config::RunAs>) -> Result<(), String> {
    let Some(r) = run_as else { return Ok(()) };
    sb.chown_tree(&crate::sandbox::RelPath::root(), r.uid, r.gid)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn newest_version_compares_numbers() {
        assert_eq!(
            super::newest_version(&["1.20.6", "1.21.9", "1.21.10", "1.21.10-pre1", "1.8"]),
            Some("1.21.10")
        );
        assert_eq!(super::newest_version(&[]), None);
    }
}
