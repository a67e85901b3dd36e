//! Keeps `docs/template.schema.json` true to the template model: the schema is a valid
//! draft 2020-12 schema; every built-in template (as written in `templates/*.toml`, and
//! fully defaulted after a trip through `garrison_proto::Template`) and the annotated
//! example in `docs/templates.md` pass it; broken documents fail it the way the Rust
//! model refuses them; and for every object in the schema the `required` lists, the
//! property names, the closed objects and the string enums agree with serde.

use garrison_proto::template::DockerImage;
use garrison_proto::{
    ConfigFile, ConfigSetting, DonePattern, InstallStep, PortSpec, PromptPattern, Requirements,
    Rules, Runtimes, Startup, StopMethod, Template, TemplateVariable,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn schema() -> Value {
    let path = repo_root().join("docs/template.schema.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("the schema is JSON")
}

fn validator_for(schema: &Value) -> jsonschema::Validator {
    jsonschema::draft202012::new(schema).expect("the schema compiles")
}

/// Every error the schema finds, one per line, or empty.
fn errors(v: &jsonschema::Validator, doc: &Value) -> String {
    v.iter_errors(doc)
        .map(|e| format!("  at {:?}: {e}", e.instance_path().to_string()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value, what: &str) {
    let found = errors(v, doc);
    assert!(
        found.is_empty(),
        "{what} does not pass the schema:\n{found}"
    );
}

/// The built-in template files, by name.
fn template_files() -> Vec<(String, String)> {
    let dir = repo_root().join("templates");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_schema_is_a_valid_draft_2020_12_schema() {
    let s = schema();
    assert_eq!(
        s["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "the schema names draft 2020-12"
    );
    if let Err(e) = jsonschema::meta::validate(&s) {
        panic!("the schema breaks the draft 2020-12 meta-schema: {e}");
    }
    validator_for(&s);
}

#[test]
fn built_in_templates_pass_as_written_and_fully_defaulted() {
    let v = validator_for(&schema());
    let files = template_files();
    assert!(
        files.len() >= 9,
        "found only {} template files",
        files.len()
    );
    for (name, text) in &files {
        let raw: Value = toml::from_str(text).unwrap_or_else(|e| panic!("{name} is not TOML: {e}"));
        assert_valid(&v, &raw, &format!("{name} as written"));
        let t: Template =
            toml::from_str(text).unwrap_or_else(|e| panic!("{name} is not a template: {e}"));
        let full = serde_json::to_value(&t).unwrap();
        assert_valid(&v, &full, &format!("{name} fully defaulted"));
        // The JSON form reads back as the same template.
        let back: Template = serde_json::from_value(full).unwrap();
        assert_eq!(back, t, "{name}: JSON round trip");
    }
    // The templates compiled into the panel are the same files.
    let compiled = garrison_panel::templates::Templates::built_in().unwrap();
    for c in compiled.all() {
        let full = serde_json::to_value(&c.template).unwrap();
        assert_valid(&v, &full, &format!("built-in {}", c.template.id));
    }
}

/// The first ```toml block of docs/templates.md: the annotated example.
fn doc_example() -> String {
    let path = repo_root().join("docs/templates.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let start = text
        .find("```toml\n")
        .expect("docs/templates.md has a toml block")
        + 8;
    let len = text[start..]
        .find("\n```")
        .expect("the toml block is closed");
    text[start..start + len].to_owned()
}

#[test]
fn the_documented_example_is_a_usable_template() {
    let v = validator_for(&schema());
    let text = doc_example();
    let raw: Value = toml::from_str(&text).expect("the example is TOML");
    assert_valid(&v, &raw, "the example in docs/templates.md");
    let t: Template = toml::from_str(&text).expect("the example is a template");
    garrison_panel::templates::check_template(&t)
        .unwrap_or_else(|e| panic!("the example fails the panel's checks: {e}"));
    assert_valid(
        &v,
        &serde_json::to_value(&t).unwrap(),
        "the example, defaulted",
    );
}

fn base() -> Value {
    let text = template_files()
        .into_iter()
        .find(|(n, _)| n == "minecraft-vanilla.toml")
        .expect("minecraft-vanilla.toml exists")
        .1;
    toml::from_str(&text).unwrap()
}

#[test]
fn broken_templates_are_refused_by_the_schema_and_the_model() {
    let v = validator_for(&schema());
    let base = base();
    assert_valid(&v, &base, "the base document");
    type Breaker = fn(&mut Value);
    let cases: Vec<(&str, Breaker)> = vec![
        ("an unknown top-level field", |t| {
            t["colour"] = json!("red");
        }),
        ("an unknown install step type", |t| {
            t["install"] = json!([{"type": "torrent", "url": "https://x/a", "dest": "a"}]);
        }),
        ("variable type float", |t| {
            t["variables"][0]["type"] = json!("float");
        }),
        ("a missing startup", |t| {
            t.as_object_mut().unwrap().remove("startup");
        }),
        ("missing ports", |t| {
            t.as_object_mut().unwrap().remove("ports");
        }),
        ("a done pattern with both contains and regex", |t| {
            t["startup"]["done"] = json!([{"contains": "a", "regex": "b"}]);
        }),
        ("a done pattern of another kind", |t| {
            t["startup"]["done"] = json!([{"starts_with": "a"}]);
        }),
        ("stop by SIGKILL", |t| {
            t["startup"]["stop"] = json!({"type": "signal", "signal": "SIGKILL"});
        }),
        ("a command stop without its command", |t| {
            t["startup"]["stop"] = json!({"type": "command"});
        }),
        ("a stop signal with a command field", |t| {
            t["startup"]["stop"] =
                json!({"type": "signal", "signal": "SIGTERM", "command": "stop"});
        }),
        ("a missing stop_timeout_secs", |t| {
            t["startup"]
                .as_object_mut()
                .unwrap()
                .remove("stop_timeout_secs");
        }),
        ("a download step with a field of another step", |t| {
            t["install"] = json!([{"type": "download", "url": "https://x/a", "dest": "a",
                "strip_components": 1}]);
        }),
        ("a download step without dest", |t| {
            t["install"] = json!([{"type": "download", "url": "https://x/a"}]);
        }),
        ("an extract step with an unknown format", |t| {
            t["install"] = json!([{"type": "extract", "archive": "a.rar", "format": "rar"}]);
        }),
        ("a steamcmd step without app_id", |t| {
            t["install"] = json!([{"type": "steamcmd"}]);
        }),
        ("an install step without type", |t| {
            t["install"] = json!([{"url": "https://x/a", "dest": "a"}]);
        }),
        ("a config file in an unknown format", |t| {
            t["config_files"][0]["format"] = json!("xml");
        }),
        ("a config value as a number", |t| {
            t["config_files"][0]["set"][0]["value"] = json!(25565);
        }),
        ("a config setting of an unknown kind", |t| {
            t["config_files"][0]["set"][0]["kind"] = json!("date");
        }),
        ("an unknown rule", |t| {
            t["variables"][0]["rules"]["pattern"] = json!("x");
        }),
        ("a variable without a name", |t| {
            t["variables"][0].as_object_mut().unwrap().remove("name");
        }),
        ("a port protocol sctp", |t| {
            t["ports"][0]["protocol"] = json!("sctp");
        }),
        ("an env value that is a number", |t| {
            t["env"]["LANG"] = json!(1);
        }),
        ("an unknown requirement", |t| {
            t["requirements"]["gpu"] = json!(true);
        }),
        ("a prompt without url_regex", |t| {
            t["prompts"] = json!([{"code_regex": "(x)"}]);
        }),
    ];
    for (what, break_it) in cases {
        let mut doc = base.clone();
        break_it(&mut doc);
        assert!(
            !v.is_valid(&doc),
            "the schema accepts {what}:\n{}",
            serde_json::to_string_pretty(&doc).unwrap()
        );
        assert!(
            serde_json::from_value::<Template>(doc).is_err(),
            "the schema refuses {what}, but the Rust model accepts it"
        );
    }
}

#[test]
fn accepted_forms_are_accepted_by_both() {
    let v = validator_for(&schema());
    type Changer = fn(&mut Value);
    let cases: Vec<(&str, Changer)> = vec![
        ("defaults as number, float and boolean", |t| {
            t["variables"][0]["default"] = json!(7);
            t["variables"][1]["default"] = json!(1.5);
            t["variables"][2]["default"] = json!(true);
        }),
        ("a port default of null", |t| {
            t["ports"] = json!([{"name": "game", "default": 25565},
                {"name": "query", "default": null, "offset": 1}]);
        }),
        ("a shell startup", |t| {
            t["startup"]["command"] = json!(["exec ./run {{port}}"]);
            t["startup"]["shell"] = json!(true);
        }),
        ("every install step at its smallest", |t| {
            t["install"] = json!([
                {"type": "download", "url": "https://x/a.zip", "dest": "a.zip"},
                {"type": "extract", "archive": "a.zip"},
                {"type": "write", "path": "a.txt", "content": ""},
                {"type": "command", "command": ["true"]},
                {"type": "script", "script": "true"},
                {"type": "steamcmd", "app_id": 1},
                {"type": "mojang", "version": "latest"},
                {"type": "papermc", "version": "latest"}
            ]);
        }),
        ("docker images and requirements", |t| {
            t["runtimes"] =
                json!({"native": true, "docker": [{"name": "Java 21", "image": "j:21"}]});
            t["requirements"] = json!({"binaries": ["java"], "java": 21, "docker": false});
        }),
    ];
    for (what, change) in cases {
        let mut doc = base();
        change(&mut doc);
        assert_valid(&v, &doc, what);
        if let Err(e) = serde_json::from_value::<Template>(doc) {
            panic!("the schema accepts {what}, but the Rust model refuses it: {e}");
        }
    }
}

// Agreement between each object of the schema and the Rust type it describes.

type Parse = fn(Value) -> Result<(), String>;

fn parse<T: DeserializeOwned>(v: Value) -> Result<(), String> {
    serde_json::from_value::<T>(v)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The `$defs` objects and the types they describe. `InstallStep`, `StopMethod` and
/// `DonePattern` are `oneOf`s: each alternative is checked against the enum.
const DEFS: &[(&str, Parse)] = &[
    ("Startup", parse::<Startup>),
    ("DonePattern", parse::<DonePattern>),
    ("StopMethod", parse::<StopMethod>),
    ("PortSpec", parse::<PortSpec>),
    ("TemplateVariable", parse::<TemplateVariable>),
    ("Rules", parse::<Rules>),
    ("InstallStep", parse::<InstallStep>),
    ("ConfigFile", parse::<ConfigFile>),
    ("ConfigSetting", parse::<ConfigSetting>),
    ("Runtimes", parse::<Runtimes>),
    ("DockerImage", parse::<DockerImage>),
    ("Requirements", parse::<Requirements>),
    ("PromptPattern", parse::<PromptPattern>),
];

fn resolve<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/$defs/").expect("local refs only");
            &root["$defs"][name]
        }
        None => s,
    }
}

/// The object alternatives a schema stands for (one, or each of its `oneOf`).
fn alternatives<'a>(root: &'a Value, s: &'a Value) -> Vec<&'a Value> {
    let s = resolve(root, s);
    match s.get("oneOf").and_then(Value::as_array) {
        Some(list) => list.iter().map(|a| resolve(root, a)).collect(),
        None => vec![s],
    }
}

/// A value the schema `s` accepts: its const, default, first enum value, or the
/// smallest thing of its type.
fn sample(root: &Value, s: &Value) -> Value {
    let s = resolve(root, s);
    if let Some(c) = s.get("const") {
        return c.clone();
    }
    if let Some(d) = s.get("default").filter(|d| !d.is_null()) {
        return d.clone();
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        return e[0].clone();
    }
    if s.get("oneOf").is_some() {
        return object(root, alternatives(root, s)[0], false);
    }
    let ty = match &s["type"] {
        Value::Array(types) => types[0].as_str().unwrap(),
        t => t.as_str().unwrap_or("object"),
    };
    match ty {
        "string" => json!("x"),
        "integer" => json!(s.get("minimum").and_then(Value::as_i64).unwrap_or(0).max(1)),
        "number" => json!(1.5),
        "boolean" => json!(true),
        "array" => {
            let min = s.get("minItems").and_then(Value::as_u64).unwrap_or(0);
            let items = (0..min).map(|_| sample(root, &s["items"])).collect();
            Value::Array(items)
        }
        "object" if s.get("properties").is_some() => object(root, s, false),
        "object" => json!({}),
        other => panic!("no sample for type {other}"),
    }
}

/// An instance of the object schema `s` with its required properties, or all of them.
fn object(root: &Value, s: &Value, all: bool) -> Value {
    let props = s["properties"].as_object().expect("an object schema");
    let required = required(s);
    let mut out = Map::new();
    for (k, p) in props {
        if all || required.contains(k) {
            out.insert(k.clone(), sample(root, p));
        }
    }
    Value::Object(out)
}

fn required(s: &Value) -> Vec<String> {
    s.get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().map(|k| k.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn every_schema_object_agrees_with_its_rust_type() {
    let root = schema();
    for (name, parse) in DEFS {
        let def = &root["$defs"][*name];
        assert!(def.is_object(), "$defs has no {name}");
        // A validator for just this definition.
        let mut sub = root.clone();
        sub.as_object_mut()
            .unwrap()
            .retain(|k, _| k == "$schema" || k == "$defs");
        sub["$ref"] = json!(format!("#/$defs/{name}"));
        let v = validator_for(&sub);
        for alt in alternatives(&root, def) {
            let what = match alt["properties"]["type"].get("const") {
                Some(c) => format!("{name} ({c})"),
                None => (*name).to_owned(),
            };
            assert_eq!(
                alt["additionalProperties"],
                json!(false),
                "{what}: the Rust type refuses unknown fields, so the schema must too"
            );
            let minimal = object(&root, alt, false);
            let full = object(&root, alt, true);
            for (form, doc) in [("required fields only", &minimal), ("every field", &full)] {
                assert_valid(&v, doc, &format!("{what} with {form}"));
                if let Err(e) = parse(doc.clone()) {
                    panic!("{what} with {form} ({doc}): the Rust type refuses it: {e}");
                }
            }
            for key in required(alt) {
                let mut doc = minimal.clone();
                doc.as_object_mut().unwrap().remove(&key);
                assert!(
                    !v.is_valid(&doc),
                    "{what}: the schema accepts it without {key}"
                );
                assert!(
                    parse(doc).is_err(),
                    "{what}: the schema requires {key}, the Rust type does not"
                );
            }
            let mut doc = minimal.clone();
            doc["no_such_field"] = json!(1);
            assert!(
                !v.is_valid(&doc),
                "{what}: the schema accepts an unknown field"
            );
            assert!(
                parse(doc).is_err(),
                "{what}: the Rust type accepts an unknown field"
            );
            // Every value of a string enum is one the Rust type reads, and others are not.
            for (key, p) in alt["properties"].as_object().unwrap() {
                let Some(values) = resolve(&root, p).get("enum").and_then(Value::as_array) else {
                    continue;
                };
                if key == "type" && alt["properties"]["type"].get("const").is_some() {
                    continue;
                }
                for value in values {
                    let mut doc = minimal.clone();
                    doc[key] = value.clone();
                    if let Err(e) = parse(doc) {
                        panic!("{what}.{key} = {value}: the Rust type refuses it: {e}");
                    }
                }
                let mut doc = minimal.clone();
                doc[key] = json!("no_such_value");
                assert!(
                    !v.is_valid(&doc),
                    "{what}.{key}: the schema accepts any value"
                );
                assert!(
                    parse(doc).is_err(),
                    "{what}.{key}: the Rust type accepts any value"
                );
            }
        }
    }
}

#[test]
fn the_template_object_agrees_with_the_rust_type() {
    let root = schema();
    let v = validator_for(&root);
    let minimal = object(&root, &root, false);
    assert_valid(&v, &minimal, "a template with the required fields only");
    parse::<Template>(minimal.clone()).expect("the Rust type reads the smallest template");
    let full = object(&root, &root, true);
    assert_valid(&v, &full, "a template with every field");
    parse::<Template>(full).expect("the Rust type reads every field of the schema");
    for key in required(&root) {
        let mut doc = minimal.clone();
        doc.as_object_mut().unwrap().remove(&key);
        assert!(
            !v.is_valid(&doc),
            "the schema accepts a template without {key}"
        );
        assert!(
            parse::<Template>(doc).is_err(),
            "the schema requires {key}, the Rust type does not"
        );
    }
}
