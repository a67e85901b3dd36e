//! Built-in templates (TOML files in the repository's `templates/`, compiled in) and
//! their resolution into the `RunSpec` a node runs.

use crate::error::ApiError;
use garrison_proto::template::render;
use garrison_proto::{RestartPolicy, RunSpec, SeedFile, ServerId, Template};
use regex::Regex;
use std::collections::BTreeMap;
use std::path::PathBuf;

const BUILT_IN: &[(&str, &str)] = &[
    ("demo.toml", include_str!("../../../templates/demo.toml")),
    (
        "openttd.toml",
        include_str!("../../../templates/openttd.toml"),
    ),
    (
        "luanti.toml",
        include_str!("../../../templates/luanti.toml"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template {file}: {message}")]
    Invalid { file: String, message: String },
}

/// Everything a resolution needs besides the template and the server's settings.
#[derive(Debug, Clone)]
pub struct ResolveContext {
    /// Path of the garrison binary itself (`{{garrison}}`), for the demo server.
    pub garrison_exe: PathBuf,
    /// Where the node keeps server directories (`{{server_dir}}` = this + id).
    pub servers_dir: PathBuf,
}

pub struct Templates {
    list: Vec<(Template, Vec<Option<Regex>>)>,
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
            let patterns = t
                .variables
                .iter()
                .map(|v| {
                    v.pattern
                        .as_deref()
                        .map(Regex::new)
                        .transpose()
                        .map_err(|e| invalid(format!("variable {}: {e}", v.key)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            list.push((t, patterns));
        }
        Ok(Templates { list })
    }

    pub fn get(&self, id: &str) -> Option<&Template> {
        self.list.iter().map(|(t, _)| t).find(|t| t.id == id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Template> {
        self.list.iter().map(|(t, _)| t)
    }

    /// Check user-supplied variables against a template: unknown keys and values that
    /// do not match the variable's pattern are 422 naming `variables.<key>`.
    pub fn validate_variables(
        &self,
        template: &str,
        vars: &BTreeMap<String, String>,
    ) -> Result<(), ApiError> {
        let Some((t, patterns)) = self.list.iter().find(|(t, _)| t.id == template) else {
            return Err(ApiError::invalid(
                "template",
                format!("unknown template {template:?}"),
            ));
        };
        for (key, value) in vars {
            let field = format!("variables.{key}");
            let Some(i) = t.variables.iter().position(|v| &v.key == key) else {
                return Err(ApiError::invalid(
                    field,
                    format!("template {template} has no variable {key:?}"),
                ));
            };
            if value.chars().any(char::is_control) {
                return Err(ApiError::invalid(
                    field,
                    "must not contain control characters",
                ));
            }
            if let Some(re) = &patterns[i]
                && !re.is_match(value)
            {
                return Err(ApiError::invalid(
                    field,
                    format!(
                        "must match {}",
                        t.variables[i].pattern.as_deref().unwrap_or("")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Turn a server's settings into the spec its node runs.
    pub fn resolve(
        &self,
        ctx: &ResolveContext,
        id: &ServerId,
        template: &str,
        port: u16,
        vars: &BTreeMap<String, String>,
        restart: &RestartPolicy,
    ) -> Result<RunSpec, ApiError> {
        let t = self.get(template).ok_or_else(|| {
            ApiError::invalid("template", format!("unknown template {template:?}"))
        })?;
        let mut values: BTreeMap<String, String> = t
            .variables
            .iter()
            .map(|v| (v.key.clone(), v.default.clone()))
            .collect();
        values.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        values.insert("port".into(), port.to_string());
        values.insert(
            "server_dir".into(),
            ctx.servers_dir.join(id.as_str()).display().to_string(),
        );
        values.insert("garrison".into(), ctx.garrison_exe.display().to_string());
        let r = |s: &str| {
            render(s, &values).map_err(|e| ApiError::Internal(format!("template {}: {e}", t.id)))
        };
        let argv = |a: &Vec<String>| a.iter().map(|s| r(s)).collect::<Result<Vec<_>, _>>();
        Ok(RunSpec {
            id: id.clone(),
            command: argv(&t.command)?,
            env: t
                .env
                .iter()
                .map(|(k, v)| Ok((k.clone(), r(v)?)))
                .collect::<Result<_, ApiError>>()?,
            install: t.install.as_ref().map(argv).transpose()?,
            seed_files: t
                .seed_files
                .iter()
                .map(|f| {
                    Ok(SeedFile {
                        path: f.path.clone(),
                        content: r(&f.content)?,
                    })
                })
                .collect::<Result<_, ApiError>>()?,
            done_pattern: t.done_pattern.clone(),
            stop: t.stop.clone(),
            stop_timeout_secs: t.stop_timeout_secs,
            restart: restart.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ResolveContext {
        ResolveContext {
            garrison_exe: "/usr/bin/garrison".into(),
            servers_dir: "/srv/g/servers".into(),
        }
    }

    #[test]
    fn built_ins_parse_and_resolve() {
        let t = Templates::built_in().unwrap();
        for id in ["demo", "openttd", "luanti"] {
            let spec = t
                .resolve(
                    &ctx(),
                    &ServerId::from("abc"),
                    id,
                    1234,
                    &BTreeMap::new(),
                    &RestartPolicy::default(),
                )
                .unwrap();
            assert!(
                spec.command.iter().any(|a| a.contains("1234")),
                "{id}: {:?}",
                spec.command
            );
            assert_eq!(spec.env["HOME"], "/srv/g/servers/abc");
        }
    }

    #[test]
    fn variables_are_checked() {
        let t = Templates::built_in().unwrap();
        let mut v = BTreeMap::new();
        v.insert("map_size".to_owned(), "99".to_owned());
        let e = t.validate_variables("openttd", &v).unwrap_err();
        assert_eq!(e.body()["error"]["field"], "variables.map_size");
        v.clear();
        v.insert("nope".to_owned(), "1".to_owned());
        assert!(t.validate_variables("openttd", &v).is_err());
        assert!(t.validate_variables("nope", &BTreeMap::new()).is_err());
        v.clear();
        v.insert("map_size".to_owned(), "7".to_owned());
        t.validate_variables("openttd", &v).unwrap();
    }
}
