//! Config files a template keeps in step with a server's settings: which file, in which
//! format, and which keys get which values. The panel renders the values; the node's
//! patcher (`garrison-patch`) edits the file keeping its formatting and comments.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigFormat {
    /// Java `.properties` (`key=value`, `#`/`!` comments), e.g. Minecraft's `server.properties`.
    Properties,
    /// Block-style YAML; keys are dotted paths (`settings.port`, `listeners[0].host`).
    Yaml,
    /// JSON; keys are dotted paths.
    Json,
    /// INI; keys are `section.key` (a key without a dot lives before the first section).
    Ini,
    /// TOML; keys are dotted paths of tables.
    Toml,
    /// Plain `key = value` lines (`#` comments), e.g. Luanti's `minetest.conf`.
    KeyValue,
    /// A line that starts with the key is replaced by the value as a whole line
    /// (Pterodactyl's `file` parser).
    Line,
}

impl ConfigFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigFormat::Properties => "properties",
            ConfigFormat::Yaml => "yaml",
            ConfigFormat::Json => "json",
            ConfigFormat::Ini => "ini",
            ConfigFormat::Toml => "toml",
            ConfigFormat::KeyValue => "key_value",
            ConfigFormat::Line => "line",
        }
    }
}

/// How a value is written in typed formats (JSON, YAML, TOML). `Auto` keeps the type
/// the key already has in the file when the value fits it; for a new key it writes
/// integers, floats and `true`/`false` unquoted and anything else as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    #[default]
    Auto,
    String,
    Integer,
    Float,
    Boolean,
}

/// One key to set. In the template `value` may hold `{{placeholders}}`; in a `RunSpec`
/// it is rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSetting {
    pub key: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "is_auto")]
    pub kind: ValueKind,
}

fn is_auto(k: &ValueKind) -> bool {
    *k == ValueKind::Auto
}

/// One file to patch, relative to the server directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub path: String,
    pub format: ConfigFormat,
    /// Create the file with just these keys when it does not exist yet (otherwise a
    /// missing file is left alone until the game writes it).
    #[serde(default = "yes")]
    pub create: bool,
    pub set: Vec<ConfigSetting>,
}

fn yes() -> bool {
    true
}
