//! The template model (minimal for now): how to run one kind of game server, with
//! `{{name}}` placeholders that the panel fills from the server's settings. Built-in
//! templates are TOML files in the repository's `templates/` directory.

use crate::spec::{SeedFile, StopMethod};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub game: String,
    #[serde(default)]
    pub description: String,
    pub command: Vec<String>,
    #[serde(default)]
    pub install: Option<Vec<String>>,
    #[serde(default)]
    pub seed_files: Vec<SeedFile>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub done_pattern: Option<String>,
    pub stop: StopMethod,
    pub stop_timeout_secs: u64,
    pub default_port: u16,
    #[serde(default)]
    pub variables: Vec<TemplateVariable>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateVariable {
    /// Placeholder name, used as `{{key}}`.
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub default: String,
    /// A regex the whole value must match.
    #[serde(default)]
    pub pattern: Option<String>,
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
        out.push_str(value);
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
}
