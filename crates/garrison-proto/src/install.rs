//! Install steps: what a template's install does, in order. In a template the string
//! fields may hold `{{placeholders}}`; in a `RunSpec` they are rendered. Paths are
//! relative to the server directory and go through the node's path sandbox.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum InstallStep {
    /// Fetch a file over HTTPS, check its size and hash, resume after a dropped
    /// connection, and place it at `dest`.
    Download {
        url: String,
        dest: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha1: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u64>,
    },
    /// Unpack an archive that is in the server directory into `dest`.
    Extract {
        archive: String,
        #[serde(default)]
        dest: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<ArchiveKind>,
        #[serde(default)]
        strip_components: u32,
        /// Remove the archive once it is unpacked.
        #[serde(default)]
        delete_archive: bool,
    },
    /// Write a file; an existing file is kept unless `overwrite`.
    Write {
        path: String,
        content: String,
        #[serde(default)]
        overwrite: bool,
    },
    /// Run a program in the server directory as the server's user; its output is the
    /// install output. With `shell`, `command` is one string run by `/bin/sh -c`.
    Command {
        command: Vec<String>,
        #[serde(default)]
        shell: bool,
        #[serde(default = "default_step_timeout")]
        timeout_secs: u64,
    },
    /// A shell script (Pterodactyl eggs' install scripts). `image` is the container it
    /// expects; a script with an image runs only on the Docker runtime.
    Script {
        script: String,
        #[serde(default = "default_interpreter")]
        interpreter: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        image: Option<String>,
        #[serde(default = "default_step_timeout")]
        timeout_secs: u64,
    },
    /// `steamcmd +force_install_dir DIR +login anonymous +app_update ID [-beta B] [validate] +quit`.
    Steamcmd {
        app_id: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        beta: Option<String>,
        #[serde(default = "yes")]
        validate: bool,
        #[serde(default = "default_steam_timeout")]
        timeout_secs: u64,
    },
    /// Minecraft Java server from Mojang's version manifest (`latest` = newest release).
    Mojang {
        version: String,
        #[serde(default = "default_mojang_manifest")]
        manifest_url: String,
        #[serde(default = "default_server_jar")]
        dest: String,
    },
    /// A PaperMC project build (Paper, Folia, Velocity) from the Fill API
    /// (`latest` version = newest; `latest` build = newest stable).
    Papermc {
        #[serde(default = "default_paper_project")]
        project: String,
        version: String,
        #[serde(default = "default_latest")]
        build: String,
        #[serde(default = "default_papermc_api")]
        api_url: String,
        #[serde(default = "default_server_jar")]
        dest: String,
    },
}

impl InstallStep {
    /// Short name for progress events and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            InstallStep::Download { .. } => "download",
            InstallStep::Extract { .. } => "extract",
            InstallStep::Write { .. } => "write",
            InstallStep::Command { .. } => "command",
            InstallStep::Script { .. } => "script",
            InstallStep::Steamcmd { .. } => "steamcmd",
            InstallStep::Mojang { .. } => "mojang",
            InstallStep::Papermc { .. } => "papermc",
        }
    }

    /// Every string field, for placeholder rendering and checks.
    pub fn strings_mut(&mut self) -> Vec<&mut String> {
        match self {
            InstallStep::Download {
                url,
                dest,
                sha256,
                sha1,
                ..
            } => {
                let mut v = vec![url, dest];
                v.extend(sha256.as_mut());
                v.extend(sha1.as_mut());
                v
            }
            InstallStep::Extract { archive, dest, .. } => vec![archive, dest],
            InstallStep::Write { path, content, .. } => vec![path, content],
            InstallStep::Command { command, .. } => command.iter_mut().collect(),
            InstallStep::Script {
                script,
                interpreter,
                image,
                ..
            } => {
                let mut v = vec![script, interpreter];
                v.extend(image.as_mut());
                v
            }
            InstallStep::Steamcmd { beta, .. } => beta.as_mut().into_iter().collect(),
            InstallStep::Mojang {
                version,
                manifest_url,
                dest,
            } => vec![version, manifest_url, dest],
            InstallStep::Papermc {
                project,
                version,
                build,
                api_url,
                dest,
            } => vec![project, version, build, api_url, dest],
        }
    }

    /// Whether the step needs a container engine (egg scripts with an image).
    pub fn needs_container(&self) -> bool {
        matches!(self, InstallStep::Script { image: Some(_), .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveKind {
    Tar,
    TarGz,
    TarXz,
    TarZst,
    Zip,
}

fn yes() -> bool {
    true
}
fn default_step_timeout() -> u64 {
    1800
}
fn default_steam_timeout() -> u64 {
    7200
}
fn default_interpreter() -> String {
    "bash".into()
}
fn default_mojang_manifest() -> String {
    "https://piston-meta.mojang.com/mc/game/version_manifest_v2.json".into()
}
fn default_server_jar() -> String {
    "server.jar".into()
}
fn default_paper_project() -> String {
    "paper".into()
}
fn default_latest() -> String {
    "latest".into()
}
fn default_papermc_api() -> String {
    "https://fill.papermc.io".into()
}
