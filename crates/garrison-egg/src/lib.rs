//! Pterodactyl and Pelican eggs (`PTDL_v1`, `PTDL_v2` in JSON; `PLCN_v1`–`PLCN_v3` in
//! JSON or YAML) as Garrison templates. Eggs are the largest library of game server
//! definitions there is, so importing them is how most games reach Garrison; but an
//! egg assumes Wings and Docker, and not everything in one has an equivalent. The
//! import therefore never guesses silently: the report lists each thing it could not
//! carry over and each choice it made, and the template it returns always passes the
//! panel's checks (anything that would not is dropped and reported instead).

mod config_files;
mod fields;
mod install;
mod pcre;
mod placeholders;
mod ports;
mod raw;
mod rules;
mod slug;
mod startup;
mod variables;

use garrison_proto::{InstallStep, Requirements, Runtimes, Startup, Template};
use raw::Raw;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The egg formats this crate reads, by their `meta.version`.
pub const FORMATS: &[&str] = &["PTDL_v1", "PTDL_v2", "PLCN_v1", "PLCN_v2", "PLCN_v3"];

/// Placeholders the panel fills itself (its `CONTEXT_NAMES`): no variable may take
/// these names, or the panel refuses the template.
pub(crate) const CONTEXT_NAMES: &[&str] = &[
    "port",
    "ip",
    "server_dir",
    "server_id",
    "memory_mb",
    "garrison",
    "java",
];

/// How long the server gets to stop before it is killed; eggs do not say.
const STOP_TIMEOUT_SECS: u64 = 30;
/// The panel's limit on template names.
const MAX_NAME_CHARS: usize = 100;

/// An imported egg: the template, and what the import could not carry over.
#[derive(Debug, Clone)]
pub struct Imported {
    pub template: Template,
    pub report: ImportReport,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// The egg's `meta.version`: "PTDL_v2", "PLCN_v3", …
    pub format: String,
    /// The egg's name.
    pub source_name: String,
    /// Each thing not carried over, naming the field, e.g.
    /// "config.files.server.xml: parser xml is not supported".
    pub unmapped: Vec<String>,
    /// Choices the import made, e.g. "no ports in the egg: the template uses port 25565, …".
    pub notes: Vec<String>,
    /// The install script runs in a container, so the template needs Docker.
    pub requires_docker: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EggError {
    /// Not JSON or YAML, or not a map of fields.
    #[error("not an egg: {0}")]
    NotAnEgg(String),
    /// `meta.version` is missing or not one of `FORMATS`.
    #[error("unsupported egg version: {0}")]
    UnsupportedVersion(String),
    /// A field no template can do without.
    #[error("the egg has no {0}")]
    Missing(&'static str),
    /// A field whose value cannot become a template.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

/// Report lines gathered while mapping.
#[derive(Debug, Default)]
pub(crate) struct Log {
    pub unmapped: Vec<String>,
    pub notes: Vec<String>,
}

impl Log {
    pub(crate) fn unmapped(&mut self, line: String) {
        self.unmapped.push(line);
    }
    pub(crate) fn note(&mut self, line: String) {
        self.notes.push(line);
    }
}

/// Import an egg file. JSON and YAML are told apart by their first character, since a
/// JSON egg always starts with `{`.
pub fn import(bytes: &[u8]) -> Result<Imported, EggError> {
    let egg = parse_document(bytes)?;
    let format = version(&egg)?;
    let name = match egg.get("name") {
        Some(r) => r.scalar_text().ok_or_else(|| EggError::Invalid {
            field: "name".into(),
            message: format!("is {} instead of text", r.kind()),
        })?,
        None => String::new(),
    };
    let source_name = name.trim().to_owned();
    if source_name.is_empty() {
        return Err(EggError::Missing("name"));
    }
    let mut log = Log::default();
    let name = if source_name.chars().count() > MAX_NAME_CHARS {
        log.note(format!(
            "name: cut to {MAX_NAME_CHARS} characters, the panel's limit"
        ));
        source_name
            .chars()
            .take(MAX_NAME_CHARS)
            .collect::<String>()
            .trim()
            .to_owned()
    } else {
        source_name.clone()
    };
    let id = slug::slug(&source_name);

    let variables = variables::map_variables(egg.get("variables"), &mut log)?;
    let declared: BTreeSet<String> = variables.iter().map(|v| v.key.clone()).collect();
    let defaults: BTreeMap<String, String> = variables
        .iter()
        .map(|v| (v.key.clone(), v.default.clone()))
        .collect();
    let command = startup::command(&egg, &declared, &defaults, &mut log)?;

    let config = egg.get("config");
    let config_field = |k: &str| config.and_then(|c| c.get(k));
    let stop = startup::stop(config_field("stop"), &mut log);
    let startup_config = decoded("config.startup", config_field("startup"), &mut log);
    let done = startup::done(&startup_config, &mut log);
    let files = decoded("config.files", config_field("files"), &mut log);
    let config_files = config_files::map_files(&files, &declared, &mut log);
    if !decoded("config.logs", config_field("logs"), &mut log).is_empty() {
        log.unmapped("config.logs: Wings' log settings are not carried over".into());
    }
    fields::check_config(config, &mut log);

    fields::note_container_paths(&command, &config_files, &mut log);

    let docker = fields::docker_images(&egg);
    let mut requirements = Requirements::default();
    let mut install = Vec::new();
    fields::check_scripts(egg.get("scripts"), &mut log);
    if let Some(step) = install::script_step(egg.get("scripts")) {
        if let InstallStep::Script {
            image: Some(image), ..
        } = &step
        {
            requirements.docker = true;
            log.note(format!(
                "install script needs the container {image}: marked as requiring Docker"
            ));
        }
        install.push(step);
    }

    let tags = fields::tags(egg.get("tags"));
    fields::report_leftovers(&egg, &mut log);

    let (port, why) = ports::guess(&source_name, &command, &config_files, &variables);
    log.note(why);
    fields::note_extra_ports(&variables, &mut log);

    let template = Template {
        id: id.clone(),
        name,
        game: id,
        description: variables::text(egg.get("description")),
        category: "imported".into(),
        tags,
        startup: Startup {
            command: vec![command],
            shell: true,
            done,
            stop,
            stop_timeout_secs: STOP_TIMEOUT_SECS,
            restart_exit_codes: Vec::new(),
        },
        variables,
        ports: vec![port],
        install,
        config_files,
        env: BTreeMap::new(),
        runtimes: Runtimes {
            native: true,
            docker,
        },
        requirements,
        prompts: Vec::new(),
        file_deny: Vec::new(),
        backup: Default::default(),
        query: None,
        players: None,
    };
    let report = ImportReport {
        format,
        source_name,
        unmapped: log.unmapped,
        notes: log.notes,
        requires_docker: template.requirements.docker,
    };
    Ok(Imported { template, report })
}

/// The document as a map of fields, from JSON or YAML text.
fn parse_document(bytes: &[u8]) -> Result<Raw, EggError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| EggError::NotAnEgg(format!("the file is not UTF-8 text ({e})")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(EggError::NotAnEgg("the file is empty".into()));
    }
    let doc: Raw = if text.trim_start().starts_with('{') {
        match serde_json::from_str(text) {
            Ok(doc) => doc,
            // YAML's flow style also starts with `{`.
            Err(json) => serde_saphyr::from_str_with_options(text, yaml_options())
                .map_err(|_| EggError::NotAnEgg(format!("not valid JSON: {json}")))?,
        }
    } else {
        serde_saphyr::from_str_with_options(text, yaml_options()).map_err(|e| {
            let detail = e.to_string();
            let first = detail.lines().next().unwrap_or_default().to_owned();
            EggError::NotAnEgg(format!("neither JSON nor valid YAML: {first}"))
        })?
    };
    match doc {
        Raw::Map(_) => Ok(doc),
        other => Err(EggError::NotAnEgg(format!(
            "the document is {}, not a map of egg fields",
            other.kind()
        ))),
    }
}

/// YAML read the way Pelican writes and reads it (Symfony's YAML 1.2): only `true`
/// and `false` are booleans (`yes` stays text), a repeated key keeps its last value
/// as in PHP, and numbers that a YAML 1.1 reader would reinterpret (`0755`, `1_000`)
/// keep their text, since values end up as text anyway.
fn yaml_options() -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    o.strict_booleans = true;
    o.leading_zero_numbers_as_strings = true;
    o.underscored_numbers_as_strings = true;
    o.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    o
}

/// `meta.version`, which decides how the rest reads.
fn version(egg: &Raw) -> Result<String, EggError> {
    let known = FORMATS.join(", ");
    let Some(v) = egg.get("meta").and_then(|m| m.get("version")) else {
        return Err(EggError::UnsupportedVersion(format!(
            "meta.version is missing; an egg names one of {known}"
        )));
    };
    let v = v.scalar_text().unwrap_or_default();
    let v = v.trim();
    if FORMATS.contains(&v) {
        Ok(v.to_owned())
    } else {
        Err(EggError::UnsupportedVersion(format!(
            "meta.version {v:?} is not one of {known}"
        )))
    }
}

/// An embedded `config.*` value, decoded; one that does not parse is reported and
/// treated as absent, since none of them is essential.
fn decoded(field: &str, value: Option<&Raw>, log: &mut Log) -> Raw {
    raw::embedded(field, value).unwrap_or_else(|e| {
        log.unmapped(format!("{e}: not carried over"));
        Raw::Null
    })
}
