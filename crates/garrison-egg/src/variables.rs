//! Egg variables to template variables. An egg variable is an environment variable its
//! startup and install script read, so the Garrison key and environment name are both
//! the egg's `env_variable`: scripts keep working and `{{VAR}}` keeps its name.

use crate::raw::Raw;
use crate::rules;
use crate::{CONTEXT_NAMES, EggError, Log};
use garrison_proto::TemplateVariable;
use std::collections::BTreeSet;

/// Fields of an egg variable that mean nothing to Garrison and are dropped silently:
/// `field_type` is always "text", `sort` is applied as the order, the rest is database
/// bookkeeping some exports carry.
const IGNORED: &[&str] = &[
    "field_type",
    "sort",
    "id",
    "egg_id",
    "created_at",
    "updated_at",
];

pub(crate) fn map_variables(
    raw: Option<&Raw>,
    log: &mut Log,
) -> Result<Vec<TemplateVariable>, EggError> {
    let mut items: Vec<&Raw> = match raw {
        None | Some(Raw::Null) => return Ok(Vec::new()),
        Some(r @ (Raw::List(_) | Raw::Map(_))) => r.items(),
        Some(other) => {
            return Err(EggError::Invalid {
                field: "variables".into(),
                message: format!("is {} instead of a list", other.kind()),
            });
        }
    };
    // Pelican orders variables by `sort`; without one they keep the file's order.
    items.sort_by_key(|v| {
        v.get("sort")
            .and_then(Raw::scalar_text)
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(i64::MAX)
    });
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, v) in items.into_iter().enumerate() {
        let Raw::Map(fields) = v else {
            return Err(EggError::Invalid {
                field: format!("variables[{i}]"),
                message: format!("is {} instead of a map", v.kind()),
            });
        };
        let env = v
            .get("env_variable")
            .and_then(Raw::scalar_text)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| EggError::Invalid {
                field: format!("variables[{i}]"),
                message: "has no env_variable".into(),
            })?;
        let field = format!("variables.{env}");
        if !env_name_ok(&env) {
            return Err(EggError::Invalid {
                field,
                message: format!(
                    "env_variable {env:?} is not an environment variable name (letters, digits and '_', not starting with a digit, at most 64)"
                ),
            });
        }
        if CONTEXT_NAMES.contains(&env.as_str()) {
            return Err(EggError::Invalid {
                field,
                message: format!("{env:?} is a name Garrison fills itself ({{{{{env}}}}})"),
            });
        }
        if !seen.insert(env.clone()) {
            return Err(EggError::Invalid {
                field,
                message: "the egg declares this variable twice".into(),
            });
        }
        if matches!(
            env.as_str(),
            "SERVER_PORT" | "SERVER_IP" | "SERVER_MEMORY" | "SERVER_ID"
        ) {
            log.unmapped(format!(
                "{field}: Garrison sets {env} itself (from the allocation and limits): the variable's value is not used"
            ));
        }
        let name = text(v.get("name"));
        let name = if name.is_empty() { env.clone() } else { name };
        let default = default_value(&field, v.get("default_value"), log);
        let rule_list = match v.get("rules") {
            None | Some(Raw::Null) => Vec::new(),
            Some(Raw::String(s)) => rules::split_rule_string(s),
            Some(Raw::List(items)) => items
                .iter()
                .filter_map(Raw::scalar_text)
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty())
                .collect(),
            Some(other) => {
                log.unmapped(format!(
                    "{field}: rules are {} instead of a string or list: not checked",
                    other.kind()
                ));
                Vec::new()
            }
        };
        let mapped = rules::map_rules(&env, &rule_list, &default);
        log.unmapped.extend(mapped.unmapped);
        log.notes.extend(mapped.notes);
        for (k, value) in fields {
            let known = matches!(
                k.as_str(),
                "name"
                    | "description"
                    | "env_variable"
                    | "default_value"
                    | "user_viewable"
                    | "user_editable"
                    | "rules"
            );
            if !known && !IGNORED.contains(&k.as_str()) && !value.is_empty() {
                log.unmapped(format!("{field}: {k} is not carried over"));
            }
        }
        out.push(TemplateVariable {
            key: env.clone(),
            env: Some(env),
            name,
            description: text(v.get("description")),
            kind: mapped.kind,
            default,
            user_viewable: flag(v.get("user_viewable")),
            user_editable: flag(v.get("user_editable")),
            rules: mapped.rules,
        });
    }
    Ok(out)
}

/// A text field: trimmed, `\r\n` as `\n`, null as empty.
pub(crate) fn text(raw: Option<&Raw>) -> String {
    raw.and_then(Raw::scalar_text)
        .unwrap_or_default()
        .replace("\r\n", "\n")
        .trim()
        .to_owned()
}

/// Booleans as eggs write them: `true`, `1`, `"1"`. Missing is false, as in
/// Pterodactyl's database.
fn flag(raw: Option<&Raw>) -> bool {
    match raw {
        Some(Raw::Bool(b)) => *b,
        Some(Raw::Number(n) | Raw::String(n)) => matches!(n.trim(), "1" | "true"),
        _ => false,
    }
}

/// The default as one line of text. Garrison refuses control characters in values
/// (a value lands in a command line or a config line), so line breaks become spaces.
fn default_value(field: &str, raw: Option<&Raw>, log: &mut Log) -> String {
    let value = match raw {
        None | Some(Raw::Null) => String::new(),
        Some(r) => match r.scalar_text() {
            Some(s) => s,
            None => {
                log.unmapped(format!("{field}: the default is {}: left empty", r.kind()));
                String::new()
            }
        },
    };
    if !value.chars().any(char::is_control) {
        return value;
    }
    log.unmapped(format!(
        "{field}: the default held line breaks or control characters: they became spaces"
    ));
    value
        .replace("\r\n", " ")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `^[A-Za-z_][A-Za-z0-9_]{0,63}$`: what the panel accepts as a key and as an
/// environment variable name.
fn env_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        for ok in ["A", "_x", "SERVER_JARFILE", &"a".repeat(64)] {
            assert!(env_name_ok(ok), "{ok}");
        }
        for bad in ["", "1A", "MY VAR", "A-B", "É", &"a".repeat(65)] {
            assert!(!env_name_ok(bad), "{bad}");
        }
    }
}
