//! Templates: the built-in ones (TOML files in the repository's `templates/`, compiled
//! in) plus those admins add, checked once when they are loaded, and their resolution
//! into the `RunSpec` a node runs.

mod check;
pub mod library;
mod resolve;
mod values;

pub use check::{CONTEXT_NAMES, check_template};
pub use resolve::{ResolveContext, ServerSettings, announce_token};
pub use values::CompiledVariable;

use crate::error::ApiError;
use garrison_proto::Template;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

const BUILT_IN: &[(&str, &str)] = &[
    ("demo.toml", include_str!("../../../../templates/demo.toml")),
    (
        "openttd.toml",
        include_str!("../../../../templates/openttd.toml"),
    ),
    (
        "luanti.toml",
        include_str!("../../../../templates/luanti.toml"),
    ),
    (
        "minecraft-vanilla.toml",
        include_str!("../../../../templates/minecraft-vanilla.toml"),
    ),
    (
        "minecraft-paper.toml",
        include_str!("../../../../templates/minecraft-paper.toml"),
    ),
    (
        "hytale.toml",
        include_str!("../../../../templates/hytale.toml"),
    ),
    (
        "valheim.toml",
        include_str!("../../../../templates/valheim.toml"),
    ),
    (
        "terraria-tshock.toml",
        include_str!("../../../../templates/terraria-tshock.toml"),
    ),
    (
        "generic.toml",
        include_str!("../../../../templates/generic.toml"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template {file}: {message}")]
    Invalid { file: String, message: String },
}

/// Where a template came from; built-in ones cannot be changed or deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    BuiltIn,
    Custom,
}

/// A checked template with its variables' rules compiled.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub template: Template,
    pub variables: Vec<CompiledVariable>,
    pub origin: Origin,
}

impl Compiled {
    pub fn new(template: Template, origin: Origin) -> Result<Compiled, String> {
        check_template(&template)?;
        let variables = template
            .variables
            .iter()
            .cloned()
            .map(CompiledVariable::new)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Compiled {
            template,
            variables,
            origin,
        })
    }

    pub fn variable(&self, key: &str) -> Option<&CompiledVariable> {
        self.variables.iter().find(|v| v.var.key == key)
    }

    /// Defaults overlaid with `set`: the values a server with these settings runs with.
    pub fn effective(&self, set: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        self.variables
            .iter()
            .map(|v| {
                let value = set.get(&v.var.key).unwrap_or(&v.var.default);
                (v.var.key.clone(), value.clone())
            })
            .collect()
    }

    /// Check a server's whole variable map (defaults filled in): unknown keys and values
    /// that break a rule are 422 naming `variables.<key>`. All values are checked
    /// before anything is stored, so a PATCH applies all or nothing.
    pub fn validate(&self, set: &BTreeMap<String, String>) -> Result<(), ApiError> {
        for key in set.keys() {
            if self.variable(key).is_none() {
                return Err(ApiError::invalid(
                    format!("variables.{key}"),
                    format!("template {} has no variable {key:?}", self.template.id),
                ));
            }
        }
        for (key, value) in self.effective(set) {
            if let Some(v) = self.variable(&key)
                && let Err(message) = v.check(&value)
            {
                return Err(ApiError::invalid(
                    format!("variables.{key}"),
                    format!("{} {message}", v.var.name),
                ));
            }
        }
        Ok(())
    }
}

/// The template registry. Readers take a cheap snapshot; admin changes swap it.
pub struct Templates {
    list: RwLock<Arc<Vec<Arc<Compiled>>>>,
}

impl Templates {
    pub fn built_in() -> Result<Templates, TemplateError> {
        let mut list = Vec::new();
        for (file, text) in BUILT_IN {
            let invalid = |message: String| TemplateError::Invalid {
                file: (*file).to_owned(),
                message,
            };
            let t: Template = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
            list.push(Arc::new(
                Compiled::new(t, Origin::BuiltIn).map_err(invalid)?,
            ));
        }
        Ok(Templates {
            list: RwLock::new(Arc::new(list)),
        })
    }

    fn snapshot(&self) -> Arc<Vec<Arc<Compiled>>> {
        self.list
            .read()
            .map(|l| l.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    pub fn get(&self, id: &str) -> Option<Arc<Compiled>> {
        self.snapshot()
            .iter()
            .find(|c| c.template.id == id)
            .cloned()
    }

    /// `get`, or 422 naming `template` when there is no such template.
    pub fn require(&self, id: &str) -> Result<Arc<Compiled>, ApiError> {
        self.get(id)
            .ok_or_else(|| ApiError::invalid("template", format!("unknown template {id:?}")))
    }

    pub fn all(&self) -> Vec<Arc<Compiled>> {
        self.snapshot().as_ref().clone()
    }

    /// Add or replace a custom template (built-in ids are refused by the caller).
    pub fn put(&self, compiled: Compiled) {
        let mut guard = self.list.write().unwrap_or_else(|e| e.into_inner());
        let mut next: Vec<Arc<Compiled>> = guard
            .iter()
            .filter(|c| c.template.id != compiled.template.id)
            .cloned()
            .collect();
        next.push(Arc::new(compiled));
        next.sort_by(|a, b| a.template.name.cmp(&b.template.name));
        *guard = Arc::new(next);
    }

    /// Keep the built-ins, replace every custom template with `custom` (a custom one
    /// never shadows a built-in).
    pub fn replace_custom(&self, custom: Vec<Compiled>) {
        let mut guard = self.list.write().unwrap_or_else(|e| e.into_inner());
        let mut next: Vec<Arc<Compiled>> = guard
            .iter()
            .filter(|c| c.origin == Origin::BuiltIn)
            .cloned()
            .collect();
        for c in custom {
            if !next.iter().any(|b| b.template.id == c.template.id) {
                next.push(Arc::new(c));
            }
        }
        next.sort_by(|a, b| a.template.name.cmp(&b.template.name));
        *guard = Arc::new(next);
    }

    pub fn built_in_ids(&self) -> Vec<String> {
        self.snapshot()
            .iter()
            .filter(|c| c.origin == Origin::BuiltIn)
            .map(|c| c.template.id.clone())
            .collect()
    }

    pub fn remove(&self, id: &str) {
        let mut guard = self.list.write().unwrap_or_else(|e| e.into_inner());
        let next: Vec<Arc<Compiled>> = guard
            .iter()
            .filter(|c| c.template.id != id)
            .cloned()
            .collect();
        *guard = Arc::new(next);
    }
}

/// How often a running panel looks for templates changed by `garrison template sync`.
const REVISION_POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// Reload the registry when the stored revision changes; ends on shutdown.
pub async fn watch_revision(state: crate::AppState) {
    let mut shutdown = state.shutdown.clone();
    let mut seen = state
        .store
        .get_setting(library::REVISION_SETTING)
        .await
        .ok()
        .flatten();
    loop {
        tokio::select! {
            () = tokio::time::sleep(REVISION_POLL) => {}
            () = crate::shutting_down(&mut shutdown) => return,
        }
        let now = match state.store.get_setting(library::REVISION_SETTING).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the template revision");
                continue;
            }
        };
        if now != seen {
            seen = now;
            if let Err(e) = library::reload(&state.templates, &state.store).await {
                tracing::warn!(error = %e, "cannot reload templates");
            }
            // Which templates changed is not known here: every custom one may have.
            let built_in = state.templates.built_in_ids();
            crate::events::reregister_servers(&state, |t| !built_in.iter().any(|b| b == t)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use garrison_proto::{RestartPolicy, ServerId};

    fn ctx() -> ResolveContext {
        ResolveContext {
            garrison_exe: "/usr/bin/garrison".into(),
            servers_dir: "/srv/g/servers".into(),
            panel_url: None,
            announce_key: "k".into(),
        }
    }

    fn settings<'a>(
        id: &'a ServerId,
        vars: &'a BTreeMap<String, String>,
        restart: &'a RestartPolicy,
    ) -> ServerSettings<'a> {
        ServerSettings {
            id,
            port: 1234,
            variables: vars,
            restart,
            memory_mb: 0,
            disk_mb: 0,
        }
    }

    #[test]
    fn built_ins_parse_and_resolve() {
        let t = Templates::built_in().unwrap();
        let id = ServerId::from("abc");
        let vars = BTreeMap::new();
        let restart = RestartPolicy::default();
        for c in t.all() {
            let spec = c.resolve(&ctx(), &settings(&id, &vars, &restart)).unwrap();
            // The port reaches the game through its command line or its config files.
            let in_files = spec
                .config_files
                .iter()
                .flat_map(|f| &f.set)
                .any(|s| s.value.contains("1234"));
            let in_command = spec.command.iter().any(|a| a.contains("1234"));
            // `generic` leaves it to the user's command ($SERVER_PORT).
            assert!(
                in_command || in_files || c.template.id == "generic",
                "{}: {:?}",
                c.template.id,
                spec.command
            );
            assert_eq!(spec.env["HOME"], "/srv/g/servers/abc");
            assert_eq!(spec.env["SERVER_PORT"], "1234");
        }
        let openttd = t.get("openttd").unwrap();
        let spec = openttd
            .resolve(&ctx(), &settings(&id, &vars, &restart))
            .unwrap();
        assert_eq!(spec.env["MAX_CLIENTS"], "25");
        assert_eq!(spec.config_files[0].path, "private.cfg");
        let cfg = &spec.config_files[1];
        assert_eq!(cfg.path, "openttd.cfg");
        assert!(
            cfg.set
                .iter()
                .any(|s| s.key == "network.server_port" && s.value == "1234")
        );
        assert_eq!(
            spec.done_pattern.as_deref(),
            Some("Map generated, starting game")
        );
    }

    #[test]
    fn variables_are_checked_as_a_whole() {
        let t = Templates::built_in().unwrap();
        let openttd = t.get("openttd").unwrap();
        let mut v = BTreeMap::new();
        v.insert("map_size".to_owned(), "99".to_owned());
        let e = openttd.validate(&v).unwrap_err();
        assert_eq!(e.body()["error"]["field"], "variables.map_size");
        v.insert("map_size".to_owned(), "7".to_owned());
        openttd.validate(&v).unwrap();
        v.insert("nope".to_owned(), "1".to_owned());
        assert_eq!(
            openttd.validate(&v).unwrap_err().body()["error"]["field"],
            "variables.nope"
        );
        assert!(t.require("nope").is_err());
    }

    #[test]
    fn shell_startup_quotes_values_and_preview_hides_secrets() {
        let t: garrison_proto::Template = toml::from_str(
            r#"
id = "sh"
name = "Sh"
game = "x"
ports = [{ name = "game", default = 1000 }]
[startup]
command = ["./run --name {{name}} --token {{token}}"]
shell = true
stop = { type = "signal", signal = "SIGTERM" }
stop_timeout_secs = 5
[[variables]]
key = "name"
name = "Name"
default = "a; rm -rf /"
[[variables]]
key = "token"
name = "Token"
type = "secret"
default = "hunter2"
"#,
        )
        .unwrap();
        let c = Compiled::new(t, Origin::Custom).unwrap();
        let id = ServerId::from("x");
        let vars = BTreeMap::new();
        let restart = RestartPolicy::default();
        let s = settings(&id, &vars, &restart);
        let spec = c.resolve(&ctx(), &s).unwrap();
        assert_eq!(
            spec.command,
            vec![
                "/bin/sh".to_owned(),
                "-c".to_owned(),
                "./run --name 'a; rm -rf /' --token 'hunter2'".to_owned()
            ]
        );
        let preview = c.startup_preview(&ctx(), &s);
        assert!(!preview.contains("hunter2"), "{preview}");
        assert!(preview.contains("********"));
    }
}
