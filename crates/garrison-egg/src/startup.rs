//! The egg's startup command, stop method and "server is up" patterns.

use crate::placeholders::{self, PlaceholderError};
use crate::raw::Raw;
use crate::{EggError, Log};
use garrison_proto::{DonePattern, StopMethod, StopSignal};
use std::collections::{BTreeMap, BTreeSet};

/// The command to run with `/bin/sh -c`, converted. A template needs one, so a command
/// that cannot be converted is an error rather than a report line.
pub(crate) fn command(
    egg: &Raw,
    declared: &BTreeSet<String>,
    defaults: &BTreeMap<String, String>,
    log: &mut Log,
) -> Result<String, EggError> {
    // PLCN_v3 has named commands instead of `startup`; the first is the default one.
    let text = match egg.get("startup_commands") {
        Some(Raw::Map(commands)) if !commands.is_empty() => {
            let (label, first) = &commands[0];
            if commands.len() > 1 {
                let others: Vec<&str> = commands[1..].iter().map(|(l, _)| l.as_str()).collect();
                log.note(format!(
                    "startup_commands: the template runs {label:?}; the other commands ({}) are not carried over",
                    others.join(", ")
                ));
            }
            first.scalar_text().unwrap_or_default()
        }
        _ => match egg.get("startup") {
            None | Some(Raw::Null) => String::new(),
            Some(Raw::String(s)) => s.clone(),
            Some(other) => {
                return Err(EggError::Invalid {
                    field: "startup".into(),
                    message: format!("is {} instead of a command line", other.kind()),
                });
            }
        },
    };
    let text = text.replace("\r\n", "\n");
    let text = text.trim();
    if text.is_empty() {
        return Err(EggError::Missing("startup"));
    }
    let converted = placeholders::convert_shell(text, declared).map_err(|e| {
        let message = match &e {
            PlaceholderError::Unknown(_) => {
                format!(
                    "{}, and a template cannot do without its command",
                    e.describe()
                )
            }
            PlaceholderError::Unclosed => e.describe(),
        };
        EggError::Invalid {
            field: "startup".into(),
            message,
        }
    })?;
    if converted.unescaped_quotes {
        log.note(
            "startup: Pterodactyl evaluates the command twice and Garrison once, so its \\\" quotes became plain quotes"
                .to_owned(),
        );
    }
    if converted.unquoted_placeholders {
        log.note(
            "startup: placeholders inside quotes were moved out of them, since Garrison quotes each value itself"
                .to_owned(),
        );
    }
    let mut split: Vec<&str> = Vec::new();
    for key in &converted.bare_variables {
        let looks_like_args = ["ARG", "FLAG", "PARAM", "OPTION"]
            .iter()
            .any(|w| key.to_ascii_uppercase().contains(w));
        let spaced = defaults
            .get(key)
            .is_some_and(|d| d.contains(char::is_whitespace));
        if (looks_like_args || spaced) && !split.contains(&key.as_str()) {
            split.push(key);
        }
    }
    if !split.is_empty() {
        let names: Vec<String> = split.iter().map(|k| format!("{{{{{k}}}}}")).collect();
        let (what, it) = if names.len() == 1 {
            ("is", "it")
        } else {
            ("are each", "them")
        };
        log.note(format!(
            "startup: {} {what} passed as one argument, where Pterodactyl split {it} at spaces",
            names.join(", ")
        ));
    }
    Ok(converted.command)
}

/// `config.stop`: `^C`-style signals or a console command.
pub(crate) fn stop(raw: Option<&Raw>, log: &mut Log) -> StopMethod {
    let text = raw.and_then(Raw::scalar_text).unwrap_or_default();
    let text = text.trim();
    let signal = |signal| StopMethod::Signal { signal };
    if text.is_empty() {
        return signal(StopSignal::Term);
    }
    match text.strip_prefix('^') {
        Some("C" | "c" | "SIGINT") => signal(StopSignal::Int),
        Some("SIGTERM") => signal(StopSignal::Term),
        Some("SIGHUP") => signal(StopSignal::Hup),
        Some("SIGQUIT") => signal(StopSignal::Quit),
        Some(other) => {
            log.unmapped(format!(
                "config.stop: the signal ^{other} is not supported: SIGTERM instead"
            ));
            signal(StopSignal::Term)
        }
        None => StopMethod::Command {
            command: text.to_owned(),
        },
    }
}

/// `config.startup` (decoded): `done` is one string or a list; `regex:` marks a
/// regular expression, as in Wings.
pub(crate) fn done(startup: &Raw, log: &mut Log) -> Vec<DonePattern> {
    let mut out = Vec::new();
    if let Raw::Map(entries) = startup {
        for (k, v) in entries {
            if k != "done" && !v.is_empty() {
                log.unmapped(format!("config.startup.{k}: not carried over"));
            }
        }
    } else if !startup.is_empty() {
        log.unmapped(format!(
            "config.startup: {} instead of a map: ignored",
            startup.kind()
        ));
    }
    let patterns: Vec<String> = match startup.get("done") {
        Some(Raw::List(items)) => items.iter().filter_map(Raw::scalar_text).collect(),
        Some(other) => other.scalar_text().into_iter().collect(),
        None => Vec::new(),
    };
    for p in patterns {
        if p.is_empty() {
            continue;
        }
        match p.strip_prefix("regex:") {
            Some(re) => match regex::Regex::new(re) {
                Ok(_) => out.push(DonePattern::Regex(re.to_owned())),
                Err(_) => log.unmapped(format!(
                    "config.startup.done: {p:?} does not compile as a Rust regex: dropped"
                )),
            },
            None => out.push(DonePattern::Contains(p)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops() {
        let mut log = Log::default();
        let s = |t: &str, log: &mut Log| stop(Some(&Raw::String(t.into())), log);
        let sig = |signal| StopMethod::Signal { signal };
        assert_eq!(s("^C", &mut log), sig(StopSignal::Int));
        assert_eq!(s("^SIGINT", &mut log), sig(StopSignal::Int));
        assert_eq!(s("^SIGHUP", &mut log), sig(StopSignal::Hup));
        assert_eq!(s("^SIGQUIT", &mut log), sig(StopSignal::Quit));
        assert_eq!(s("^SIGTERM", &mut log), sig(StopSignal::Term));
        assert_eq!(s("", &mut log), sig(StopSignal::Term));
        assert!(log.unmapped.is_empty());
        assert_eq!(s("^SIGKILL", &mut log), sig(StopSignal::Term));
        assert_eq!(log.unmapped.len(), 1);
        assert_eq!(
            s("stop", &mut log),
            StopMethod::Command {
                command: "stop".into()
            }
        );
        assert_eq!(stop(None, &mut log), sig(StopSignal::Term));
    }

    #[test]
    fn done_patterns() {
        let mut log = Log::default();
        let raw: Raw =
            serde_json::from_str(r#"{"done": ["Ready", "regex:^Done \\(\\d+s\\)", "regex:("], "userInteraction": ["x"]}"#)
                .unwrap();
        let d = done(&raw, &mut log);
        assert_eq!(
            d,
            [
                DonePattern::Contains("Ready".into()),
                DonePattern::Regex(r"^Done \(\d+s\)".into())
            ]
        );
        assert_eq!(log.unmapped.len(), 2, "{:?}", log.unmapped);
    }
}
