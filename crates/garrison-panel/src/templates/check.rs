//! Is a template usable? Checked when it is loaded, created, updated or imported, so a
//! broken template never reaches a server: ids, variable keys, rules, placeholders,
//! ports, patterns and config keys.

use super::values::CompiledVariable;
use garrison_proto::template::{RenderError, render};
use garrison_proto::{ConfigSetting, DonePattern, InstallStep, Template, VariableType};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};

/// Placeholders Garrison fills itself; no variable may take these names. `port_<name>`
/// for each extra port is added per template.
pub const CONTEXT_NAMES: &[&str] = &[
    "port",
    "ip",
    "server_dir",
    "server_id",
    "memory_mb",
    "garrison",
    "java",
    "announce_url",
];

pub fn check_template(t: &Template) -> Result<(), String> {
    let id_ok = Regex::new("^[a-z0-9][a-z0-9_-]{0,63}$").map_err(|e| e.to_string())?;
    if !id_ok.is_match(&t.id) {
        return Err(format!(
            "id {:?} must be 1-64 lower-case letters, digits, '-' or '_'",
            t.id
        ));
    }
    if t.name.trim().is_empty() || t.name.chars().count() > 100 {
        return Err("name must be 1-100 characters".into());
    }
    let key_ok = Regex::new("^[A-Za-z_][A-Za-z0-9_]{0,63}$").map_err(|e| e.to_string())?;
    let mut names: BTreeMap<String, String> = CONTEXT_NAMES
        .iter()
        .map(|n| ((*n).to_owned(), "x".to_owned()))
        .collect();
    check_ports(t, &mut names)?;
    let mut envs = BTreeSet::new();
    for v in &t.variables {
        if !key_ok.is_match(&v.key) {
            return Err(format!(
                "variable key {:?} must be letters, digits and '_', not starting with a digit",
                v.key
            ));
        }
        if names.contains_key(&v.key) {
            return Err(format!(
                "variable key {:?} is taken (Garrison fills it, or another variable has it)",
                v.key
            ));
        }
        names.insert(v.key.clone(), "x".into());
        let env = v.env_name();
        if !key_ok.is_match(&env) || !envs.insert(env.clone()) {
            return Err(format!(
                "variable {}: environment name {env:?} is invalid or used twice",
                v.key
            ));
        }
        if v.kind == VariableType::Enum && v.rules.one_of.is_empty() {
            return Err(format!("variable {}: an enum needs rules.one_of", v.key));
        }
        let compiled = CompiledVariable::new(v.clone())?;
        // An empty default of a required variable asks the user for a value.
        if !(v.default.is_empty() && v.rules.required) {
            compiled
                .check(&v.default)
                .map_err(|m| format!("variable {}: the default {m}", v.key))?;
        }
    }
    let placeholders = |what: &str, text: &str| -> Result<(), String> {
        match render(text, &names) {
            Ok(_) => Ok(()),
            Err(RenderError::UnknownPlaceholder(p)) => Err(format!(
                "{what}: unknown placeholder {{{{{p}}}}} (not a variable of this template)"
            )),
            Err(e) => Err(format!("{what}: {e}")),
        }
    };
    if t.startup
        .command
        .first()
        .is_none_or(|c| c.trim().is_empty())
    {
        return Err("startup.command is empty".into());
    }
    if t.startup.shell && t.startup.command.len() != 1 {
        return Err("startup.command with shell = true must be one string".into());
    }
    for a in &t.startup.command {
        placeholders("startup.command", a)?;
    }
    if let garrison_proto::StopMethod::Command { command } = &t.startup.stop
        && (command.trim().is_empty() || command.contains(['\n', '\r']))
    {
        return Err("startup.stop: the stop command must be one non-empty line".into());
    }
    if t.startup.stop_timeout_secs == 0 || t.startup.stop_timeout_secs > 3600 {
        return Err("startup.stop_timeout_secs must be 1 to 3600".into());
    }
    for d in &t.startup.done {
        if let DonePattern::Regex(r) = d {
            Regex::new(r).map_err(|e| format!("startup.done: regex does not compile: {e}"))?;
        }
    }
    for (k, v) in &t.env {
        if !key_ok.is_match(k) {
            return Err(format!("env: {k:?} is not a valid variable name"));
        }
        placeholders(&format!("env.{k}"), v)?;
    }
    for (i, step) in t.install.iter().enumerate() {
        let mut step = step.clone();
        if matches!(&step, InstallStep::Command { command, .. } if command.is_empty()) {
            return Err(format!("install step {}: the command is empty", i + 1));
        }
        // Paths stay inside the server directory (values filled in later are checked
        // again by the node's sandbox).
        let paths: Vec<&String> = match &step {
            InstallStep::Download { dest, .. } => vec![dest],
            InstallStep::Extract { archive, dest, .. } => vec![archive, dest],
            InstallStep::Write { path, .. } => vec![path],
            InstallStep::Mojang { dest, .. } | InstallStep::Papermc { dest, .. } => vec![dest],
            _ => vec![],
        };
        for p in paths {
            if p.starts_with('/') || p.split('/').any(|c| c == "..") || p.contains('\0') {
                return Err(format!(
                    "install step {}: path {p:?} must be relative to the server directory, without `..`",
                    i + 1
                ));
            }
        }
        // Scripts read variables from the environment; their text is not rendered.
        if matches!(step, InstallStep::Script { .. }) {
            continue;
        }
        for s in step.strings_mut() {
            placeholders(&format!("install step {} ({})", i + 1, "text"), s)?;
        }
    }
    for f in &t.config_files {
        if f.path.is_empty() || f.path.starts_with('/') || f.path.split('/').any(|c| c == "..") {
            return Err(format!(
                "config file {:?}: the path must be relative, without `..`",
                f.path
            ));
        }
        for s in &f.set {
            placeholders(&format!("config file {} key {}", f.path, s.key), &s.value)?;
            let probe = ConfigSetting {
                key: s.key.clone(),
                value: "1".into(),
                kind: s.kind,
            };
            garrison_patch::check_setting(f.format, &probe)
                .map_err(|e| format!("config file {}: {e}", f.path))?;
        }
    }
    for p in &t.prompts {
        Regex::new(&p.url_regex).map_err(|e| format!("prompts: url_regex: {e}"))?;
        if let Some(c) = &p.code_regex {
            Regex::new(c).map_err(|e| format!("prompts: code_regex: {e}"))?;
        }
    }
    if let Some(q) = &t.query
        && let Some(port) = &q.port
        && !t.ports.iter().any(|p| &p.name == port)
    {
        return Err(format!(
            "query: port {port:?} is not one of the template's ports"
        ));
    }
    if let Some(p) = &t.players {
        for (what, re) in [("join", &p.join), ("leave", &p.leave)] {
            let re = Regex::new(re).map_err(|e| format!("players: {what}: {e}"))?;
            if !re.capture_names().any(|n| n == Some("name")) {
                return Err(format!("players: {what} needs a (?P<name>...) group"));
            }
        }
    }
    for pattern in &t.file_deny {
        if pattern.trim().is_empty() || pattern.len() > 1024 || pattern.contains(['\0', '\n', '\r'])
        {
            return Err(format!(
                "file_deny: {pattern:?} must be one non-empty line of at most 1024 bytes"
            ));
        }
    }
    check_backup_hooks(&t.backup)?;
    if !t.runtimes.native && t.runtimes.docker.is_empty() {
        return Err("runtimes: neither native nor a docker image".into());
    }
    Ok(())
}

fn check_backup_hooks(h: &garrison_proto::BackupHooks) -> Result<(), String> {
    for line in h.before.iter().chain(&h.after) {
        if line.trim().is_empty() || line.len() > 1024 || line.contains(['\0', '\n', '\r']) {
            return Err(format!(
                "backup: {line:?} must be one non-empty console line of at most 1024 bytes"
            ));
        }
    }
    if let Some(w) = &h.wait_for {
        Regex::new(w).map_err(|e| format!("backup: wait_for: {e}"))?;
    }
    if h.wait_secs > 600 {
        return Err(format!("backup: wait_secs is {}, at most 600", h.wait_secs));
    }
    Ok(())
}

fn check_ports(t: &Template, names: &mut BTreeMap<String, String>) -> Result<(), String> {
    let Some(first) = t.ports.first() else {
        return Err("ports: a template needs at least one port".into());
    };
    if first.default.is_none_or(|p| p == 0) {
        return Err(format!(
            "ports: the first port ({}) needs a default",
            first.name
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, p) in t.ports.iter().enumerate() {
        if !seen.insert(p.name.clone()) || p.name.is_empty() {
            return Err(format!("ports: name {:?} is empty or used twice", p.name));
        }
        if i > 0 {
            if p.offset == 0 {
                return Err(format!(
                    "ports: {} needs an offset from the first port",
                    p.name
                ));
            }
            names.insert(format!("port_{}", p.name), "x".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Template {
        toml::from_str(
            r#"
id = "t"
name = "T"
game = "t"
ports = [{ name = "game", default = 1000 }, { name = "query", offset = 1 }]
[startup]
command = ["run", "{{port}}", "{{port_query}}", "{{level}}"]
stop = { type = "signal", signal = "SIGTERM" }
stop_timeout_secs = 5
[[variables]]
key = "level"
name = "Level"
default = "world"
"#,
        )
        .unwrap()
    }

    #[test]
    fn good_template_passes() {
        check_template(&base()).unwrap();
    }

    #[test]
    fn broken_templates_are_refused() {
        type Breaker = fn(&mut Template);
        let cases: Vec<(Breaker, &str)> = vec![
            (|t| t.id = "Bad Id".into(), "id"),
            (
                |t| t.startup.command[0] = "{{nope}}".into(),
                "unknown placeholder",
            ),
            (|t| t.variables[0].key = "port".into(), "taken"),
            (|t| t.variables[0].kind = VariableType::Enum, "one_of"),
            (|t| t.variables[0].rules.max_length = Some(2), "default"),
            (|t| t.variables[0].rules.regex = Some("(".into()), "regex"),
            (|t| t.ports.clear(), "at least one port"),
            (|t| t.ports[1].offset = 0, "offset"),
            (
                |t| t.startup.done = vec![DonePattern::Regex("(".into())],
                "done",
            ),
            (|t| t.startup.shell = true, "one string"),
            (
                |t| {
                    t.startup.stop = garrison_proto::StopMethod::Command {
                        command: "stop\nop me".into(),
                    }
                },
                "one non-empty line",
            ),
            (
                |t| {
                    t.install = vec![InstallStep::Write {
                        path: "../outside".into(),
                        content: String::new(),
                        overwrite: false,
                    }]
                },
                "without `..`",
            ),
            (
                |t| {
                    t.query = Some(garrison_proto::QueryConfig {
                        protocol: garrison_proto::QueryProtocol::A2s,
                        port: Some("rcon".into()),
                    })
                },
                "not one of the template's ports",
            ),
            (
                |t| {
                    t.players = Some(garrison_proto::PlayerPatterns {
                        join: "(\\w+) joined".into(),
                        leave: "(?P<name>\\w+) left".into(),
                    })
                },
                "needs a (?P<name>...) group",
            ),
        ];
        for (break_it, want) in cases {
            let mut t = base();
            break_it(&mut t);
            let e = check_template(&t).unwrap_err();
            assert!(e.contains(want), "{e} should mention {want}");
        }
    }
}
