//! From a template and a server's settings to the `RunSpec` its node runs. Placeholders
//! see only the server's own variables and allocation (`CONTEXT_NAMES`), never panel or
//! node secrets.

use super::Compiled;
use crate::error::ApiError;
use garrison_proto::template::{render, render_shell};
use garrison_proto::{
    ConfigFile, ConfigSetting, DonePattern, InstallStep, RestartPolicy, RunSpec, ServerId,
    VariableType,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Everything a resolution needs besides the template and the server's settings.
#[derive(Debug, Clone)]
pub struct ResolveContext {
    /// Path of the garrison binary itself (`{{garrison}}`), for the demo server.
    pub garrison_exe: PathBuf,
    /// Where the node keeps server directories (`{{server_dir}}` = this + id).
    pub servers_dir: PathBuf,
    /// The panel's own address as the node's game servers reach it
    /// (`http://127.0.0.1:8080`); `None` outside `garrison serve`.
    pub panel_url: Option<String>,
    /// The secret the per-server announce tokens are made from (random per process).
    pub announce_key: String,
}

/// The token in a server's `{{announce_url}}`: only the panel can make it, so another
/// local process cannot report players for a server.
pub fn announce_token(key: &str, server: &ServerId) -> String {
    crate::auth::crypto::secret_hash(&format!("{key}:{}", server.as_str()))[..32].to_owned()
}

/// The parts of a server record a resolution reads.
#[derive(Debug, Clone)]
pub struct ServerSettings<'a> {
    pub id: &'a ServerId,
    pub port: u16,
    pub variables: &'a BTreeMap<String, String>,
    pub restart: &'a RestartPolicy,
    /// 0 = no limit set.
    pub memory_mb: u64,
    /// 0: no disk limit.
    pub disk_mb: u64,
}

/// The memory `{{memory_mb}}` stands for when the server has no limit.
const DEFAULT_MEMORY_MB: u64 = 1024;

impl Compiled {
    /// Every placeholder's value for this server.
    pub fn placeholder_values(
        &self,
        ctx: &ResolveContext,
        s: &ServerSettings<'_>,
    ) -> BTreeMap<String, String> {
        let mut values = self.effective(s.variables);
        values.insert("port".into(), s.port.to_string());
        for p in self.template.ports.iter().skip(1) {
            let port = s.port.saturating_add(p.offset);
            values.insert(format!("port_{}", p.name), port.to_string());
        }
        values.insert("ip".into(), "0.0.0.0".into());
        values.insert(
            "server_dir".into(),
            ctx.servers_dir.join(s.id.as_str()).display().to_string(),
        );
        values.insert("server_id".into(), s.id.as_str().to_owned());
        let memory = if s.memory_mb == 0 {
            DEFAULT_MEMORY_MB
        } else {
            s.memory_mb
        };
        values.insert("memory_mb".into(), memory.to_string());
        values.insert("garrison".into(), ctx.garrison_exe.display().to_string());
        values.insert("java".into(), "java".into());
        values.insert(
            "announce_url".into(),
            ctx.panel_url
                .as_ref()
                .map(|base| {
                    format!(
                        "{base}/api/luanti/{}/{}",
                        s.id.as_str(),
                        announce_token(&ctx.announce_key, s.id)
                    )
                })
                .unwrap_or_default(),
        );
        values
    }

    /// The startup command as a user sees it: secrets shown as `********`.
    pub fn startup_preview(&self, ctx: &ResolveContext, s: &ServerSettings<'_>) -> String {
        let mut values = self.placeholder_values(ctx, s);
        for v in &self.variables {
            if v.var.kind == VariableType::Secret {
                values.insert(v.var.key.clone(), "********".into());
            }
        }
        let t = &self.template.startup;
        if t.shell {
            render(&t.command[0], &values).unwrap_or_default()
        } else {
            t.command
                .iter()
                .map(|a| render(a, &values).unwrap_or_default())
                .map(|a| {
                    if a.is_empty() || a.contains([' ', '"', '\'']) {
                        garrison_proto::shell_quote(&a)
                    } else {
                        a
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        }
    }

    /// Turn a server's settings into the spec its node runs. A rendered config value
    /// the file's format cannot hold is 422 naming the variable it came from.
    pub fn resolve(
        &self,
        ctx: &ResolveContext,
        s: &ServerSettings<'_>,
    ) -> Result<RunSpec, ApiError> {
        let t = &self.template;
        let values = self.placeholder_values(ctx, s);
        let internal =
            |e: garrison_proto::RenderError| ApiError::Internal(format!("template {}: {e}", t.id));
        let r = |text: &str| render(text, &values).map_err(internal);
        let argv = |a: &[String]| a.iter().map(|s| r(s)).collect::<Result<Vec<_>, _>>();
        let command = if t.startup.shell {
            vec![
                "/bin/sh".into(),
                "-c".into(),
                render_shell(&t.startup.command[0], &values).map_err(internal)?,
            ]
        } else {
            argv(&t.startup.command)?
        };
        let mut env = BTreeMap::new();
        // The variables and the allocation as environment variables, under the names
        // Pterodactyl's eggs expect too; the template's own env comes last and wins.
        for v in &self.variables {
            if let Some(value) = values.get(&v.var.key) {
                env.insert(v.var.env_name(), value.clone());
            }
        }
        env.insert("SERVER_PORT".into(), s.port.to_string());
        env.insert("SERVER_IP".into(), "0.0.0.0".into());
        env.insert("SERVER_MEMORY".into(), values["memory_mb"].clone());
        env.insert("SERVER_ID".into(), s.id.as_str().to_owned());
        for (k, v) in &t.env {
            env.insert(k.clone(), r(v)?);
        }
        let mut install = Vec::with_capacity(t.install.len());
        for step in &t.install {
            let mut step = step.clone();
            match &mut step {
                InstallStep::Script { .. } => {}
                InstallStep::Command {
                    command,
                    shell: true,
                    ..
                } => {
                    let line = command.join(" ");
                    *command = vec![render_shell(&line, &values).map_err(internal)?];
                }
                other => {
                    for field in other.strings_mut() {
                        *field = r(field)?;
                    }
                }
            }
            install.push(step);
        }
        let mut config_files = Vec::with_capacity(t.config_files.len());
        for f in &t.config_files {
            let mut set = Vec::with_capacity(f.set.len());
            for item in &f.set {
                let rendered = ConfigSetting {
                    key: item.key.clone(),
                    value: r(&item.value)?,
                    kind: item.kind,
                };
                if let Err(e) = garrison_patch::check_setting(f.format, &rendered) {
                    return Err(ApiError::invalid(
                        self.blame(&item.value),
                        format!("{} in {}: {e}", item.key, f.path),
                    ));
                }
                set.push(rendered);
            }
            config_files.push(ConfigFile {
                path: f.path.clone(),
                format: f.format,
                create: f.create,
                set,
            });
        }
        Ok(RunSpec {
            id: s.id.clone(),
            command,
            env,
            install,
            config_files,
            done_pattern: done_regex(&t.startup.done),
            stop: t.startup.stop.clone(),
            stop_timeout_secs: t.startup.stop_timeout_secs,
            restart: s.restart.clone(),
            restart_exit_codes: t.startup.restart_exit_codes.clone(),
            java: t.requirements.java,
            prompts: t.prompts.clone(),
            requires: t.requirements.binaries.clone(),
            disk_limit_bytes: (s.disk_mb > 0).then(|| s.disk_mb * 1024 * 1024),
            file_deny: t.file_deny.clone(),
            backup_hooks: t.backup.clone(),
        })
    }
}

/// One regex for the node: any of the done patterns.
fn done_regex(done: &[DonePattern]) -> Option<String> {
    if done.is_empty() {
        return None;
    }
    let parts: Vec<String> = done
        .iter()
        .map(|d| match d {
            DonePattern::Contains(s) => regex::escape(s),
            DonePattern::Regex(r) => format!("(?:{r})"),
        })
        .collect();
    Some(parts.join("|"))
}

impl Compiled {
    /// The field a bad rendered value is blamed on: the first variable its text names,
    /// `port` for the allocation, else `variables`.
    fn blame(&self, value_template: &str) -> String {
        for part in value_template.split("{{").skip(1) {
            let key = part.split("}}").next().unwrap_or("").trim();
            if self.variable(key).is_some() {
                return format!("variables.{key}");
            }
            if key == "port" || key.starts_with("port_") {
                return "port".into();
            }
        }
        "variables".into()
    }
}
