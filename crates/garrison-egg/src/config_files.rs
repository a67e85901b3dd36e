//! `config.files` (Wings' config file parsers) to Garrison's `config_files`. Each
//! `find` entry becomes one setting; the checks here are the ones the panel and the
//! node's patcher apply to keys and values, so a setting they would refuse is reported
//! and left out instead of making the whole template unloadable.

use crate::Log;
use crate::placeholders;
use crate::raw::Raw;
use garrison_proto::{ConfigFile, ConfigFormat, ConfigSetting, ValueKind};
use std::collections::BTreeSet;

/// Map the decoded `config.files` value.
pub(crate) fn map_files(
    files: &Raw,
    declared: &BTreeSet<String>,
    log: &mut Log,
) -> Vec<ConfigFile> {
    let entries = match files {
        Raw::Null => return Vec::new(),
        Raw::Map(entries) => entries,
        other => {
            log.unmapped(format!(
                "config.files: {} instead of a map of files: ignored",
                other.kind()
            ));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (path, spec) in entries {
        let field = format!("config.files.{path}");
        if let Some(file) = map_file(&field, path, spec, declared, log) {
            out.push(file);
        }
    }
    out
}

fn map_file(
    field: &str,
    path: &str,
    spec: &Raw,
    declared: &BTreeSet<String>,
    log: &mut Log,
) -> Option<ConfigFile> {
    if path.is_empty() || path.starts_with('/') || path.split(['/', '\\']).any(|c| c == "..") {
        log.unmapped(format!(
            "{field}: the path must be relative, without `..`: file not carried over"
        ));
        return None;
    }
    if let Raw::Map(keys) = spec {
        for (k, v) in keys {
            if k != "parser" && k != "find" && !v.is_empty() {
                log.unmapped(format!("{field}: {k} is not supported: ignored"));
            }
        }
    }
    let parser = spec
        .get("parser")
        .and_then(Raw::as_str)
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let format = match parser.as_str() {
        "properties" => ConfigFormat::Properties,
        "yaml" | "yml" => ConfigFormat::Yaml,
        "json" => ConfigFormat::Json,
        "ini" => ConfigFormat::Ini,
        "file" => ConfigFormat::Line,
        "" => {
            log.unmapped(format!("{field}: no parser: file not carried over"));
            return None;
        }
        other => {
            log.unmapped(format!("{field}: parser {other} is not supported"));
            return None;
        }
    };
    let find = match spec.get("find") {
        Some(Raw::Map(find)) => find,
        None | Some(Raw::Null) => return None,
        Some(other) if other.is_empty() => return None,
        Some(other) => {
            log.unmapped(format!(
                "{field}: find is {} instead of a map: file not carried over",
                other.kind()
            ));
            return None;
        }
    };
    let mut set = Vec::new();
    for (key, value) in find {
        let what = format!("{field}: key {key}");
        if key.contains('*') {
            log.unmapped(format!(
                "{what}: wildcard keys are not supported: setting dropped"
            ));
            continue;
        }
        let Some(text) = value.scalar_text() else {
            let why = match value {
                Raw::Map(_) => "Wings' match/replace form is not supported".to_owned(),
                other => format!("{} has no equivalent", other.kind()),
            };
            log.unmapped(format!("{what}: {why}: setting dropped"));
            continue;
        };
        let value = match placeholders::convert(&text, declared) {
            Ok(v) => v,
            Err(e) => {
                log.unmapped(format!("{what}: {}: setting dropped", e.describe()));
                continue;
            }
        };
        if let Err(why) = check_key(format, key).and_then(|()| check_value(format, &value)) {
            log.unmapped(format!("{what}: {why}: setting dropped"));
            continue;
        }
        set.push(ConfigSetting {
            key: key.clone(),
            value,
            kind: ValueKind::Auto,
        });
    }
    if set.is_empty() {
        return None;
    }
    Some(ConfigFile {
        path: path.to_owned(),
        format,
        create: true,
        set,
    })
}

fn is_line_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

/// The key rules of `garrison-patch`, which the panel runs on every setting.
fn check_key(format: ConfigFormat, key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("the key is empty".into());
    }
    let tab_ok = format == ConfigFormat::Line;
    if key
        .chars()
        .any(|c| (c.is_control() && !(tab_ok && c == '\t')) || is_line_separator(c))
    {
        return Err("the key holds a control character".into());
    }
    match format {
        ConfigFormat::Json | ConfigFormat::Yaml | ConfigFormat::Toml => tree_path(key),
        ConfigFormat::Ini => ini_key(key),
        ConfigFormat::Properties | ConfigFormat::Line | ConfigFormat::KeyValue => Ok(()),
    }
}

/// `a.b[0]."c.d"`: what the patcher can address in JSON and YAML.
fn tree_path(key: &str) -> Result<(), String> {
    let mut rest = key;
    let mut first = true;
    loop {
        if let Some(after) = rest.strip_prefix('"') {
            let close = after
                .find('"')
                .ok_or("a quoted path segment is not closed")?;
            if close == 0 {
                return Err("a quoted path segment is empty".into());
            }
            rest = &after[close + 1..];
        } else {
            let end = rest.find(['.', '[', ']', '"']).unwrap_or(rest.len());
            let name = &rest[..end];
            if name.is_empty() && !(first && rest.starts_with('[')) {
                return Err("a path segment is empty".into());
            }
            if name.trim() != name {
                return Err("a path segment starts or ends with whitespace".into());
            }
            rest = &rest[end..];
        }
        first = false;
        while let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']').ok_or("a `[` is not closed")?;
            let digits = &after[..close];
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 7
            {
                return Err("an index must be a number in brackets, like `[0]`".into());
            }
            rest = &after[close + 1..];
        }
        if rest.is_empty() {
            return Ok(());
        }
        match rest.strip_prefix('.') {
            Some(after) if !after.is_empty() => rest = after,
            _ => return Err("the path has an unexpected character or ends with `.`".into()),
        }
    }
}

/// `section.key`, or a key before the first section.
fn ini_key(key: &str) -> Result<(), String> {
    let (section, name) = match key.split_once('.') {
        Some((s, n)) => (Some(s), n),
        None => (None, key),
    };
    if let Some(section) = section
        && (section.is_empty() || section.contains(['[', ']']))
    {
        return Err("the section name is empty or holds `[` or `]`".into());
    }
    if name.is_empty() || name.trim() != name || name.contains('=') {
        return Err("the key name is empty, padded with spaces or holds `=`".into());
    }
    if name.starts_with([';', '#', '[']) {
        return Err("a line starting with `;`, `#` or `[` is not a key".into());
    }
    Ok(())
}

fn check_value(format: ConfigFormat, value: &str) -> Result<(), String> {
    let escaped = matches!(format, ConfigFormat::Json | ConfigFormat::Toml);
    for c in value.chars() {
        if (matches!(c, '\n' | '\r') || is_line_separator(c)) && !escaped {
            return Err(format!(
                "the value holds a line break, which a {} file cannot hold",
                format.as_str()
            ));
        }
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
            return Err("the value holds a control character".into());
        }
    }
    if format == ConfigFormat::Ini && value.trim_matches([' ', '\t']) != value {
        return Err("the value starts or ends with whitespace, which INI readers trim".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(json: &str, declared: &[&str]) -> (Vec<ConfigFile>, Log) {
        let raw: Raw = serde_json::from_str(json).unwrap();
        let declared = declared.iter().map(|s| (*s).to_owned()).collect();
        let mut log = Log::default();
        (map_files(&raw, &declared, &mut log), log)
    }

    #[test]
    fn maps_parsers_and_values() {
        let (f, log) = files(
            r#"{
              "server.properties": {"parser": "properties", "find": {"server-port": "{{server.build.default.port}}", "max": 20, "pvp": true}},
              "config.yml": {"parser": "yaml", "find": {"listeners[0].host": "0.0.0.0:{{server.build.default.port}}"}},
              "start.cfg": {"parser": "file", "find": {"port=": "port={{server.build.env.PORT2}}"}},
              "server.xml": {"parser": "xml", "find": {"a": "b"}}
            }"#,
            &["PORT2"],
        );
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].format, ConfigFormat::Properties);
        assert_eq!(f[0].set[0].value, "{{port}}");
        assert_eq!(f[0].set[1].value, "20");
        assert_eq!(f[0].set[2].value, "true");
        assert_eq!(f[1].format, ConfigFormat::Yaml);
        assert_eq!(f[2].format, ConfigFormat::Line);
        assert_eq!(f[2].set[0].value, "port={{PORT2}}");
        assert_eq!(
            log.unmapped,
            ["config.files.server.xml: parser xml is not supported"]
        );
    }

    #[test]
    fn drops_what_cannot_be_carried() {
        let (f, log) = files(
            r#"{
              "a.json": {"parser": "json", "find": {
                "servers.*.address": "x",
                "motd": {"regex:^a": "b"},
                "ip": "{{config.docker.interface}}",
                "bad..path": "1",
                "ok": "1"
              }},
              "/etc/x.ini": {"parser": "ini", "find": {"a": "b"}},
              "b.ini": {"parser": "ini", "find": {"x": " padded"}}
            }"#,
            &[],
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].set.len(), 1);
        assert_eq!(log.unmapped.len(), 6, "{:#?}", log.unmapped);
        assert!(log.unmapped[2].contains("{{config.docker.interface}}"));
    }
}
