//! The template model: how to install, configure and run one kind of game server, with
//! typed variables that users fill in. Built-in templates are TOML files in the
//! repository's `templates/`; `docs/templates.md` documents the format and
//! `docs/template.schema.json` is its JSON Schema. Text fields may hold `{{key}}`
//! placeholders that the panel fills from the server's variables and allocation.

use crate::config::ConfigFile;
use crate::install::InstallStep;
use crate::spec::StopMethod;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub id: String,
    pub name: String,
    /// The game it runs, shown beside the server ("minecraft", "openttd").
    pub game: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub startup: Startup,
    #[serde(default)]
    pub variables: Vec<TemplateVariable>,
    /// The ports it needs. The first is the server's allocation (`{{port}}`); the others
    /// sit at fixed offsets from it (`{{port_<name>}}`).
    pub ports: Vec<PortSpec>,
    #[serde(default)]
    pub install: Vec<InstallStep>,
    #[serde(default)]
    pub config_files: Vec<ConfigFile>,
    /// The process's whole environment besides the variables' own entries.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub runtimes: Runtimes,
    #[serde(default)]
    pub requirements: Requirements,
    /// Console lines that ask the user to do something (sign in on a web page with a
    /// code), shown as a prompt during install and while running.
    #[serde(default)]
    pub prompts: Vec<PromptPattern>,
    /// Files users may not see or touch through the file manager and SFTP (gitignore
    /// syntax, relative to the server root), such as a game's secrets.
    #[serde(default)]
    pub file_deny: Vec<String>,
    /// Console commands sent to a running server around a backup (save, pause saving,
    /// resume), so the archive holds a consistent world.
    #[serde(default, skip_serializing_if = "crate::backup::BackupHooks::is_empty")]
    pub backup: crate::backup::BackupHooks,
    /// How the panel asks the running game how many players it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<QueryConfig>,
    /// Console lines that say a player joined or left (regexes with a `name` group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub players: Option<PlayerPatterns>,
}

/// A game's query protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryProtocol {
    /// Valve's A2S (Source and GoldSrc games, Valheim, Rust, ARK, …).
    A2s,
    /// Minecraft's Server List Ping (TCP, the game port).
    MinecraftSlp,
    /// Minecraft's GameSpy4 query (UDP, `enable-query`).
    MinecraftQuery,
    /// OpenTTD's game info on the game port.
    Openttd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryConfig {
    pub protocol: QueryProtocol,
    /// The port to ask, by its name in `ports` (default: the server's port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlayerPatterns {
    pub join: String,
    pub leave: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Startup {
    /// argv; with `shell`, one string run by `/bin/sh -c` (placeholders in it are
    /// substituted shell-quoted).
    pub command: Vec<String>,
    #[serde(default)]
    pub shell: bool,
    /// The server is running when a console line matches any of these. None: running
    /// once spawned.
    #[serde(default)]
    pub done: Vec<DonePattern>,
    pub stop: StopMethod,
    pub stop_timeout_secs: u64,
    /// Exit codes that mean "start me again" (an update staged by the game), not a crash.
    #[serde(default)]
    pub restart_exit_codes: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DonePattern {
    /// The line contains this text.
    Contains(String),
    /// The line matches this regular expression.
    Regex(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortSpec {
    pub name: String,
    #[serde(default)]
    pub protocol: PortProtocol,
    /// For the first port: the port a new server gets when it is free.
    #[serde(default)]
    pub default: Option<u16>,
    /// For the other ports: distance from the first.
    #[serde(default)]
    pub offset: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortProtocol {
    #[default]
    Tcp,
    Udp,
    TcpUdp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateVariable {
    /// Placeholder name, used as `{{key}}`.
    pub key: String,
    /// Environment variable the value is exposed as; the key upper-cased when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(rename = "type", default)]
    pub kind: VariableType,
    #[serde(default, deserialize_with = "scalar_string")]
    pub default: String,
    /// Users (not admins) may see it.
    #[serde(default = "yes")]
    pub user_viewable: bool,
    /// Users (not admins) may change it.
    #[serde(default = "yes")]
    pub user_editable: bool,
    #[serde(default)]
    pub rules: Rules,
}

impl TemplateVariable {
    pub fn env_name(&self) -> String {
        self.env.clone().unwrap_or_else(|| {
            self.key
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect()
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariableType {
    #[default]
    String,
    Integer,
    /// `true` or `false`.
    Boolean,
    /// One of `rules.one_of`.
    Enum,
    /// A string never shown back once set (passwords, tokens).
    Secret,
}

/// Validation rules; every rule that is set must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// An empty value is refused.
    #[serde(default)]
    pub required: bool,
    /// Integers: smallest and largest value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    /// Strings: shortest and longest, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// A regular expression the whole value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub one_of: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtimes {
    /// Runs as a plain process on the node (Garrison's default runtime).
    #[serde(default = "yes")]
    pub native: bool,
    /// Container images it can run in, by label ("Java 21" → image).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub docker: Vec<DockerImage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerImage {
    pub name: String,
    pub image: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// Programs the node must have (on its PATH or absolute).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binaries: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_memory_mb: Option<u64>,
    /// Smallest Java major version; a command whose program is `java` runs the node's
    /// oldest installed Java that is at least this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub java: Option<u32>,
    /// Runs only where a container engine is available (an imported egg's install).
    #[serde(default)]
    pub docker: bool,
}

/// A console line asking the user to act: `url` (capture group 1 of `url_regex`) and
/// optionally a code (group 1 of `code_regex`, on the same or a later line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptPattern {
    pub url_regex: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_regex: Option<String>,
    /// What the user is asked to do, shown with the link.
    #[serde(default)]
    pub message: String,
}

impl Default for Runtimes {
    fn default() -> Self {
        Runtimes {
            native: true,
            docker: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}

/// Accept a TOML/JSON string, integer, float or boolean as a variable's default.
fn scalar_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        S(String),
        I(i64),
        F(f64),
        B(bool),
    }
    Ok(match Scalar::deserialize(d)? {
        Scalar::S(s) => s,
        Scalar::I(i) => i.to_string(),
        Scalar::F(f) => f.to_string(),
        Scalar::B(b) => b.to_string(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("unknown placeholder {{{{{0}}}}}")]
    UnknownPlaceholder(String),
    #[error("unclosed placeholder")]
    Unclosed,
}

/// Replace every `{{key}}` in `text` with its value. An unknown key is an error so a
/// typo in a template never reaches a game server's command line.
pub fn render(text: &str, values: &BTreeMap<String, String>) -> Result<String, RenderError> {
    render_with(text, values, |v| v.to_owned())
}

/// Like `render`, for a `/bin/sh -c` command line: every value is substituted as one
/// single-quoted word, so no value can add shell syntax.
pub fn render_shell(text: &str, values: &BTreeMap<String, String>) -> Result<String, RenderError> {
    render_with(text, values, shell_quote)
}

pub fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

fn render_with(
    text: &str,
    values: &BTreeMap<String, String>,
    mut subst: impl FnMut(&str) -> String,
) -> Result<String, RenderError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(RenderError::Unclosed)?;
        let key = after[..end].trim();
        let value = values
            .get(key)
            .ok_or_else(|| RenderError::UnknownPlaceholder(key.to_owned()))?;
        out.push_str(&subst(value));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_known_and_refuses_unknown() {
        let mut v = BTreeMap::new();
        v.insert("port".to_owned(), "3979".to_owned());
        assert_eq!(
            render("-D 0.0.0.0:{{port}}", &v).unwrap(),
            "-D 0.0.0.0:3979"
        );
        assert_eq!(render("{{ port }}x", &v).unwrap(), "3979x");
        assert_eq!(
            render("{{nope}}", &v),
            Err(RenderError::UnknownPlaceholder("nope".into()))
        );
        assert_eq!(render("{{port", &v), Err(RenderError::Unclosed));
        assert_eq!(render("plain", &v).unwrap(), "plain");
    }

    #[test]
    fn shell_rendering_quotes_values() {
        let mut v = BTreeMap::new();
        v.insert("name".to_owned(), "a'b; rm -rf /".to_owned());
        assert_eq!(
            render_shell("echo {{name}}", &v).unwrap(),
            "echo 'a'\\''b; rm -rf /'"
        );
    }

    #[test]
    fn templates_parse_with_typed_defaults() {
        let t: Template = toml::from_str(
            r#"
id = "x"
name = "X"
game = "x"
ports = [{ name = "game", default = 1000 }, { name = "query", protocol = "udp", offset = 1 }]
[startup]
command = ["run", "{{port}}"]
done = [{ contains = "ready" }, { regex = "^Done" }]
stop = { type = "signal", signal = "SIGTERM" }
stop_timeout_secs = 5
[[variables]]
key = "max_players"
name = "Players"
type = "integer"
default = 20
rules = { min = 1, max = 100 }
[[install]]
type = "download"
url = "https://example.com/a.zip"
dest = "a.zip"
[[install]]
type = "extract"
archive = "a.zip"
"#,
        )
        .unwrap();
        assert_eq!(t.variables[0].default, "20");
        assert_eq!(t.variables[0].env_name(), "MAX_PLAYERS");
        assert!(t.runtimes.native);
        assert_eq!(t.install.len(), 2);
        assert_eq!(t.startup.done.len(), 2);
    }
}
