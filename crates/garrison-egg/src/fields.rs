//! The egg's smaller fields: Docker images, tags, and what has no equivalent at all
//! (features, the file deny list, unknown fields), plus report notes that look at the
//! mapped template as a whole.

use crate::Log;
use crate::raw::Raw;
use garrison_proto::template::DockerImage;
use garrison_proto::{ConfigFile, TemplateVariable};

/// Top-level egg fields that are read, or ignored on purpose (authorship and export
/// bookkeeping mean nothing to a template). Anything else is reported.
const KNOWN_FIELDS: &[&str] = &[
    "_comment",
    "meta",
    "exported_at",
    "name",
    "author",
    "uuid",
    "description",
    "features",
    "docker_images",
    "images",
    "file_denylist",
    "startup",
    "startup_commands",
    "config",
    "scripts",
    "variables",
    "tags",
    "image",
];

/// `docker_images` (label → image; PTDL_v2 and PLCN) or `images` (a list; PTDL_v1).
pub(crate) fn docker_images(egg: &Raw) -> Vec<DockerImage> {
    let image = |name: String, image: String| DockerImage { name, image };
    match (egg.get("docker_images"), egg.get("images")) {
        (Some(Raw::Map(entries)), _) if !entries.is_empty() => entries
            .iter()
            .filter_map(|(label, v)| {
                let img = v.scalar_text()?.trim().to_owned();
                let label = if label.trim().is_empty() {
                    img.clone()
                } else {
                    label.trim().to_owned()
                };
                (!img.is_empty()).then(|| image(label, img))
            })
            .collect(),
        (_, Some(r @ Raw::List(_))) | (Some(r @ Raw::List(_)), _) => r
            .items()
            .into_iter()
            .filter_map(Raw::scalar_text)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .map(|s| image(s.clone(), s))
            .collect(),
        _ => Vec::new(),
    }
}

/// Report what `config` holds besides stop, startup, files and logs.
pub(crate) fn check_config(config: Option<&Raw>, log: &mut Log) {
    let Some(Raw::Map(entries)) = config else {
        return;
    };
    for (k, v) in entries {
        match k.as_str() {
            "stop" | "startup" | "files" | "logs" => {}
            "extends" if !v.is_empty() => log.unmapped(format!(
                "config.extends: the egg copies its configuration from egg {}: copy it by hand",
                v.scalar_text().unwrap_or_default()
            )),
            _ if !v.is_empty() => log.unmapped(format!("config.{k}: not carried over")),
            _ => {}
        }
    }
}

/// Report what `scripts` holds besides the install script's three fields.
pub(crate) fn check_scripts(scripts: Option<&Raw>, log: &mut Log) {
    let Some(Raw::Map(entries)) = scripts else {
        return;
    };
    for (k, v) in entries {
        if k == "installation" {
            if let Raw::Map(fields) = v {
                for (f, value) in fields {
                    if !matches!(f.as_str(), "script" | "container" | "entrypoint")
                        && !value.is_empty()
                    {
                        log.unmapped(format!("scripts.installation.{f}: not carried over"));
                    }
                }
            }
        } else if !v.is_empty() {
            log.unmapped(format!("scripts.{k}: not carried over"));
        }
    }
}

/// PLCN's tags, trimmed and without repeats.
pub(crate) fn tags(raw: Option<&Raw>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in raw.map(Raw::items).unwrap_or_default() {
        if let Some(t) = t.scalar_text().map(|t| t.trim().to_owned())
            && !t.is_empty()
            && !out.contains(&t)
        {
            out.push(t);
        }
    }
    out
}

/// Fields with no equivalent at all: features, the file deny list, the icon, and any
/// field this crate does not know.
pub(crate) fn report_leftovers(egg: &Raw, log: &mut Log) {
    let list = |r: &Raw| -> String {
        r.items()
            .into_iter()
            .filter_map(Raw::scalar_text)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(f) = egg.get("features").filter(|f| !f.is_empty()) {
        log.unmapped(format!("features: {} (no equivalent)", list(f)));
    }
    if let Some(d) = egg.get("file_denylist").filter(|d| !d.is_empty()) {
        log.unmapped(format!(
            "file_denylist: {} (Garrison has no file deny list)",
            list(d)
        ));
    }
    if egg.get("image").is_some_and(|i| !i.is_empty()) {
        log.unmapped("image: the egg's icon is not carried over".into());
    }
    if let Raw::Map(entries) = egg {
        for (k, v) in entries {
            if !KNOWN_FIELDS.contains(&k.as_str()) && !v.is_empty() {
                log.unmapped(format!(
                    "{k}: not part of the egg formats Garrison reads: ignored"
                ));
            }
        }
    }
}

/// Eggs often take more ports as variables (a query or RCON port). Garrison only
/// reserves the game port for them, so say so.
pub(crate) fn note_extra_ports(variables: &[TemplateVariable], log: &mut Log) {
    let ports: Vec<&str> = variables
        .iter()
        .map(|v| v.key.as_str())
        .filter(|k| k.ends_with("_PORT") && *k != "SERVER_PORT")
        .collect();
    if !ports.is_empty() {
        log.note(format!(
            "variables {} look like extra ports: Garrison reserves only the game port, so set them to free ports",
            ports.join(", ")
        ));
    }
}

/// Yolks images run the server in `/home/container`; natively the server directory is
/// elsewhere, and which path a container runtime mounts is not the importer's to know,
/// so such paths are kept as written and pointed out.
pub(crate) fn note_container_paths(command: &str, files: &[ConfigFile], log: &mut Log) {
    const HOME: &str = "/home/container";
    let mut places = Vec::new();
    if command.contains(HOME) {
        places.push("startup".to_owned());
    }
    for f in files {
        if f.set.iter().any(|s| s.value.contains(HOME)) {
            places.push(format!("config.files.{}", f.path));
        }
    }
    if !places.is_empty() {
        log.note(format!(
            "{}: kept the egg's container path {HOME} as written; the native runtime runs in the server directory instead",
            places.join(", ")
        ));
    }
}
