//! Acceptance tests: the real published eggs in `fixtures/eggs/` (see its README for
//! where each comes from), field by field, and bad input. Every imported template is
//! also run through `check`, which holds it to what the panel requires of a template
//! when it loads one.

use garrison_egg::{EggError, Imported, import};
use garrison_proto::{
    ConfigFormat, DonePattern, InstallStep, PortProtocol, StopMethod, StopSignal, Template,
    TemplateVariable, VariableType, render_shell,
};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/eggs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Import a fixture and hold the template to the panel's rules.
fn imported(name: &str) -> Imported {
    let i = import(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    check(&i.template);
    i
}

fn var<'a>(t: &'a Template, key: &str) -> &'a TemplateVariable {
    t.variables
        .iter()
        .find(|v| v.key == key)
        .unwrap_or_else(|| panic!("no variable {key}"))
}

/// Whether `value` is accepted by `v`, with the semantics of the panel's
/// `templates/values.rs` (the regex anchored to the whole value).
fn value_ok(v: &TemplateVariable, value: &str) -> Result<(), String> {
    let r = &v.rules;
    if value.chars().any(char::is_control) {
        return Err("control characters".into());
    }
    if value.is_empty() {
        return if r.required {
            Err("required".into())
        } else {
            Ok(())
        };
    }
    match v.kind {
        VariableType::Integer => {
            let n: i64 = value.parse().map_err(|_| "not a whole number".to_owned())?;
            if r.min.is_some_and(|m| n < m) || r.max.is_some_and(|m| n > m) {
                return Err("out of range".into());
            }
        }
        VariableType::Boolean => {
            if !matches!(value, "true" | "false" | "1" | "0") {
                return Err("not a boolean".into());
            }
        }
        VariableType::Enum | VariableType::String | VariableType::Secret => {}
    }
    let chars = value.chars().count() as u64;
    if r.min_length.is_some_and(|m| chars < u64::from(m)) {
        return Err("too short".into());
    }
    if r.max_length.is_some_and(|m| chars > u64::from(m)) {
        return Err("too long".into());
    }
    if !r.one_of.is_empty() && !r.one_of.iter().any(|o| o == value) {
        return Err("not one of".into());
    }
    if let Some(re) = &r.regex {
        let re = Regex::new(&format!("^(?:{re})$")).map_err(|e| e.to_string())?;
        if !re.is_match(value) {
            return Err("does not match".into());
        }
    }
    Ok(())
}

/// Every `{{name}}` in `text`; panics on an unclosed one (the panel refuses those).
fn placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .unwrap_or_else(|| panic!("unclosed placeholder in {text:?}"));
        out.push(after[..end].trim().to_owned());
        rest = &after[end + 2..];
    }
    out
}

/// What the panel checks when it loads a template (`templates/check.rs`), and that the
/// template survives TOML, the format templates are stored and shown in.
fn check(t: &Template) {
    let toml_text = toml::to_string(t).expect("serializes to TOML");
    let back: Template = toml::from_str(&toml_text).expect("parses back");
    assert_eq!(&back, t, "TOML round trip of {}", t.id);

    static ID: LazyLock<Regex> =
        LazyLock::new(|| Regex::new("^[a-z0-9][a-z0-9_-]{0,63}$").unwrap());
    static KEY: LazyLock<Regex> =
        LazyLock::new(|| Regex::new("^[A-Za-z_][A-Za-z0-9_]{0,63}$").unwrap());
    assert!(ID.is_match(&t.id), "{}", t.id);
    assert!(!t.name.trim().is_empty() && t.name.chars().count() <= 100);
    let key_ok = &*KEY;
    let context = [
        "port",
        "ip",
        "server_dir",
        "server_id",
        "memory_mb",
        "garrison",
        "java",
    ];
    let mut keys = BTreeSet::new();
    for v in &t.variables {
        assert!(key_ok.is_match(&v.key), "key {}", v.key);
        assert!(key_ok.is_match(&v.env_name()), "env {}", v.key);
        assert!(!context.contains(&v.key.as_str()), "{} is taken", v.key);
        assert!(keys.insert(v.key.clone()), "{} twice", v.key);
        if v.kind == VariableType::Enum {
            assert!(!v.rules.one_of.is_empty(), "{}: enum without one_of", v.key);
        }
        if let Some(re) = &v.rules.regex {
            Regex::new(&format!("^(?:{re})$")).unwrap_or_else(|e| panic!("{}: {e}", v.key));
        }
        if !(v.default.is_empty() && v.rules.required) {
            value_ok(v, &v.default)
                .unwrap_or_else(|e| panic!("{}: default {:?}: {e}", v.key, v.default));
        }
    }
    let allowed: BTreeSet<String> = keys
        .iter()
        .cloned()
        .chain(["port", "ip", "memory_mb", "server_dir", "server_id"].map(String::from))
        .collect();
    let mut texts: Vec<&str> = t.startup.command.iter().map(String::as_str).collect();
    for f in &t.config_files {
        assert!(!f.path.starts_with('/') && !f.path.split('/').any(|c| c == ".."));
        assert!(!f.set.is_empty());
        texts.extend(f.set.iter().map(|s| s.value.as_str()));
    }
    for text in texts {
        for p in placeholders(text) {
            assert!(
                allowed.contains(&p),
                "{}: unknown placeholder {{{{{p}}}}}",
                t.id
            );
        }
    }
    assert!(t.startup.shell && t.startup.command.len() == 1);
    assert!(!t.startup.command[0].trim().is_empty());
    assert!((1..=3600).contains(&t.startup.stop_timeout_secs));
    for d in &t.startup.done {
        if let DonePattern::Regex(r) = d {
            Regex::new(r).unwrap();
        }
    }
    let first = t.ports.first().expect("a port");
    assert!(first.default.is_some_and(|p| p > 0));
    assert!(t.runtimes.native || !t.runtimes.docker.is_empty());
}

/// argv of a converted startup command as `/bin/sh -c` runs it, with `program`
/// standing in for the game.
fn argv(t: &Template, program: &str, overrides: &[(&str, &str)]) -> Vec<String> {
    let mut values: BTreeMap<String, String> = t
        .variables
        .iter()
        .map(|v| (v.key.clone(), v.default.clone()))
        .collect();
    for (k, v) in [("port", "28015"), ("ip", "0.0.0.0"), ("memory_mb", "1024")]
        .iter()
        .chain(overrides)
    {
        values.insert((*k).to_owned(), (*v).to_owned());
    }
    let line = render_shell(&t.startup.command[0], &values).unwrap();
    let line = line.replacen(program, "printf '<%s>'", 1);
    // The panel gives the process each variable as an environment variable too.
    let env: Vec<(String, String)> = t
        .variables
        .iter()
        .map(|v| (v.env_name(), values[&v.key].clone()))
        .collect();
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&line)
        .env_clear()
        .envs(env)
        .output()
        .unwrap();
    assert!(out.status.success(), "{line}");
    let text = String::from_utf8(out.stdout).unwrap();
    text.strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .map(|t| t.split("><").map(str::to_owned).collect())
        .unwrap_or_default()
}

#[test]
fn paper_ptdl_v2() {
    let i = imported("ptero-egg-paper.json");
    let (t, r) = (&i.template, &i.report);
    assert_eq!(r.format, "PTDL_v2");
    assert_eq!(r.source_name, "Paper");
    assert_eq!(t.id, "paper");
    assert_eq!(t.game, "paper");
    assert_eq!(t.name, "Paper");
    assert_eq!(t.category, "imported");
    assert!(t.description.starts_with("High performance Spigot fork"));
    assert!(t.tags.is_empty());

    let keys: Vec<&str> = t.variables.iter().map(|v| v.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "MINECRAFT_VERSION",
            "SERVER_JARFILE",
            "DL_PATH",
            "BUILD_NUMBER"
        ]
    );
    for v in &t.variables {
        assert_eq!(v.env.as_deref(), Some(v.key.as_str()));
    }
    let mc = var(t, "MINECRAFT_VERSION");
    assert_eq!(mc.name, "Minecraft Version");
    assert_eq!(mc.kind, VariableType::String);
    assert_eq!(mc.default, "latest");
    assert!(!mc.rules.required);
    assert_eq!(mc.rules.max_length, Some(20));
    assert!(!mc.description.contains('\r'));
    assert!(mc.user_viewable && mc.user_editable);

    let jar = var(t, "SERVER_JARFILE");
    assert!(jar.rules.required);
    assert_eq!(jar.default, "server.jar");
    assert_eq!(jar.rules.regex.as_deref(), Some(r"^([\w\d._-]+)(\.jar)$"));
    let re = Regex::new(&format!("^(?:{})$", jar.rules.regex.as_deref().unwrap())).unwrap();
    assert!(re.is_match("server.jar"));
    assert!(!re.is_match("server.zip"));
    value_ok(jar, "paper-1.21.jar").unwrap();
    assert!(value_ok(jar, "").is_err());

    let dl = var(t, "DL_PATH");
    assert!(!dl.rules.required);
    assert_eq!(dl.default, "");
    assert!(!dl.user_viewable && !dl.user_editable);
    let build = var(t, "BUILD_NUMBER");
    assert!(build.rules.required);
    assert_eq!(build.rules.max_length, Some(20));

    assert_eq!(
        t.startup.command,
        [
            "java -Xms128M -XX:MaxRAMPercentage=95.0 -Dterminal.jline=false -Dterminal.ansi=true -jar {{SERVER_JARFILE}}"
        ]
    );
    assert!(t.startup.shell);
    assert_eq!(
        t.startup.stop,
        StopMethod::Command {
            command: "stop".into()
        }
    );
    assert_eq!(t.startup.stop_timeout_secs, 30);
    assert_eq!(
        t.startup.done,
        [DonePattern::Contains(")! For help, type ".into())]
    );

    assert_eq!(t.config_files.len(), 1);
    let props = &t.config_files[0];
    assert_eq!(props.path, "server.properties");
    assert_eq!(props.format, ConfigFormat::Properties);
    assert!(props.create);
    let set: Vec<(&str, &str)> = props
        .set
        .iter()
        .map(|s| (s.key.as_str(), s.value.as_str()))
        .collect();
    assert_eq!(
        set,
        [
            ("server-ip", "0.0.0.0"),
            ("server-port", "{{port}}"),
            ("query.port", "{{port}}")
        ]
    );

    assert!(t.runtimes.native);
    let images: Vec<(&str, &str)> = t
        .runtimes
        .docker
        .iter()
        .map(|d| (d.name.as_str(), d.image.as_str()))
        .collect();
    assert_eq!(images.len(), 5);
    assert_eq!(images[0], ("Java 21", "ghcr.io/pterodactyl/yolks:java_21"));
    assert_eq!(images[4], ("Java 8", "ghcr.io/pterodactyl/yolks:java_8"));

    let [
        InstallStep::Script {
            script,
            interpreter,
            image,
            timeout_secs,
        },
    ] = t.install.as_slice()
    else {
        panic!("one script step: {:?}", t.install)
    };
    assert!(script.starts_with("#!/bin/ash\n# Paper Installation Script\n"));
    assert!(!script.contains('\r'));
    assert_eq!(interpreter, "ash");
    assert_eq!(
        image.as_deref(),
        Some("ghcr.io/pterodactyl/installers:alpine")
    );
    assert_eq!(*timeout_secs, 3600);
    assert!(t.requirements.docker);
    assert!(r.requires_docker);
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("ghcr.io/pterodactyl/installers:alpine") && n.contains("Docker"))
    );

    assert_eq!(t.ports.len(), 1);
    assert_eq!(t.ports[0].name, "game");
    assert_eq!(t.ports[0].protocol, PortProtocol::TcpUdp);
    assert_eq!(t.ports[0].default, Some(25565));
    assert!(r.notes.iter().any(|n| n.contains("port 25565")));
    assert_eq!(
        r.unmapped,
        ["features: eula, java_version, pid_limit (no equivalent)"]
    );
}

#[test]
fn team_fortress_2_ptdl_v1() {
    let i = imported("ptero-egg-team-fortress2.json");
    let (t, r) = (&i.template, &i.report);
    assert_eq!(r.format, "PTDL_v1");
    assert_eq!(t.id, "team-fortress-2");
    // PTDL_v1's `images` list: the image is its own label.
    assert_eq!(t.runtimes.docker.len(), 1);
    assert_eq!(
        t.runtimes.docker[0].name,
        "ghcr.io/pterodactyl/games:source"
    );
    assert_eq!(
        t.runtimes.docker[0].image,
        "ghcr.io/pterodactyl/games:source"
    );

    let cmd = &t.startup.command[0];
    assert_eq!(
        cmd,
        "./srcds_run -game tf -console -port {{port}} +map {{SRCDS_MAP}} +ip 0.0.0.0 -strictportbind -norestart +sv_setsteamaccount {{STEAM_ACC}}"
    );
    assert!(!cmd.contains("SERVER_PORT"));
    assert_eq!(
        t.startup.stop,
        StopMethod::Command {
            command: "quit".into()
        }
    );
    assert_eq!(
        t.startup.done,
        [DonePattern::Contains("gameserver Steam ID".into())]
    );

    let steam = var(t, "STEAM_ACC");
    assert!(steam.rules.required);
    assert_eq!(steam.kind, VariableType::String);
    assert_eq!(steam.default, "");
    assert_eq!(steam.rules.regex.as_deref(), Some("[A-Za-z0-9]*"));
    assert_eq!(steam.rules.min_length, Some(32));
    assert_eq!(steam.rules.max_length, Some(32));
    value_ok(steam, &"A1".repeat(16)).unwrap();
    assert!(value_ok(steam, &"A1".repeat(15)).is_err());
    assert!(value_ok(steam, &format!("{}-", "a".repeat(31))).is_err());

    let app = var(t, "SRCDS_APPID");
    assert_eq!(app.default, "232250");
    assert_eq!(app.rules.regex.as_deref(), Some("^(232250)$"));
    assert!(!app.user_editable && app.user_viewable);
    value_ok(app, "232250").unwrap();
    assert!(value_ok(app, "232251").is_err());
    let map = var(t, "SRCDS_MAP");
    assert_eq!(map.rules.regex.as_deref(), Some(r"^(\w{1,20})$"));
    value_ok(map, "cp_dustbowl").unwrap();

    let [
        InstallStep::Script {
            script,
            interpreter,
            image,
            timeout_secs,
        },
    ] = t.install.as_slice()
    else {
        panic!("one script step")
    };
    assert!(script.starts_with("#!/bin/bash\n# steamcmd Base Installation Script\n"));
    assert!(script.contains("+app_update ${SRCDS_APPID}"));
    assert!(!script.contains('\r'));
    assert_eq!(interpreter, "bash");
    assert_eq!(
        image.as_deref(),
        Some("ghcr.io/pterodactyl/installers:debian")
    );
    assert_eq!(*timeout_secs, 3600);
    assert!(r.requires_docker);

    assert_eq!(t.ports[0].default, Some(27015));
    assert!(t.config_files.is_empty());
    assert_eq!(
        r.unmapped,
        ["features: gsl_token, steam_disk_space (no equivalent)"]
    );
}

#[test]
fn pelican_plcn_v3_example_yaml() {
    let i = imported("pelican-egg-plcnv3-example.yaml");
    let (t, r) = (&i.template, &i.report);
    assert_eq!(r.format, "PLCN_v3");
    assert_eq!(r.source_name, "Egg Example");
    assert_eq!(t.id, "egg-example");
    assert_eq!(t.description, "Egg for test purposes");
    assert_eq!(t.tags, ["test"]);
    assert!(
        r.unmapped
            .contains(&"features: eula, java_version, pid_limit (no equivalent)".to_owned())
    );

    // Rules as a list.
    let [v] = t.variables.as_slice() else {
        panic!("one variable")
    };
    assert_eq!(v.key, "MODPACK_VERSION");
    assert_eq!(v.name, "Modpack Version");
    assert_eq!(v.description, "");
    assert_eq!(v.default, "1.0.0");
    assert_eq!(v.kind, VariableType::String);
    assert!(v.rules.required);
    assert_eq!(v.rules.max_length, Some(20));

    // `startup_commands` instead of `startup`.
    assert_eq!(
        t.startup.command,
        ["java -Xms128M -Xmx{{memory_mb}}M -jar minecraft.jar"]
    );
    assert_eq!(
        t.startup.done,
        [DonePattern::Contains(")! For help, type ".into())]
    );
    // Config as objects, not JSON text.
    assert_eq!(t.config_files.len(), 1);
    assert_eq!(t.config_files[0].format, ConfigFormat::Properties);
    let set: Vec<(&str, &str)> = t.config_files[0]
        .set
        .iter()
        .map(|s| (s.key.as_str(), s.value.as_str()))
        .collect();
    assert_eq!(set, [("server-ip", "0.0.0.0"), ("server-port", "{{port}}")]);

    assert_eq!(t.runtimes.docker.len(), 4);
    assert_eq!(
        t.runtimes.docker[0].image,
        "ghcr.io/pelican-eggs/yolks:java_8"
    );
    let [
        InstallStep::Script {
            script,
            interpreter,
            image,
            ..
        },
    ] = t.install.as_slice()
    else {
        panic!("one script step")
    };
    assert!(script.starts_with("#!/bin/ash\necho test"));
    assert_eq!(interpreter, "ash");
    assert_eq!(
        image.as_deref(),
        Some("ghcr.io/pelican-eggs/installers:alpine")
    );
    assert!(r.requires_docker);
    assert_eq!(t.ports[0].default, Some(25565));
}

#[test]
fn pelican_vanilla_minecraft_yaml() {
    let i = imported("pelican-egg-vanilla-minecraft.yaml");
    let (t, r) = (&i.template, &i.report);
    assert_eq!(r.format, "PLCN_v3");
    assert_eq!(t.id, "vanilla-minecraft");
    assert_eq!(t.tags, ["minecraft"]);
    assert!(t.description.contains("worlds\nand build"));
    assert_eq!(
        t.startup.command,
        ["java -Xms128M -XX:MaxRAMPercentage=95.0 -jar {{SERVER_JARFILE}}"]
    );
    let keys: Vec<&str> = t.variables.iter().map(|v| v.key.as_str()).collect();
    assert_eq!(keys, ["SERVER_JARFILE", "VANILLA_VERSION"]);
    let version = var(t, "VANILLA_VERSION");
    assert_eq!(
        (version.rules.min_length, version.rules.max_length),
        (Some(3), Some(15))
    );
    assert_eq!(t.runtimes.docker[0].name, "Java 21");
    assert!(
        r.unmapped
            .contains(&"image: the egg's icon is not carried over".to_owned())
    );
    assert!(r.requires_docker);
    assert_eq!(t.config_files[0].set[0].value, "");
}

#[test]
fn ptero_vanilla_minecraft() {
    let i = imported("ptero-egg-vanilla-minecraft.json");
    let (t, r) = (&i.template, &i.report);
    assert_eq!(r.format, "PTDL_v2");
    assert_eq!(t.id, "vanilla-minecraft");
    let version = var(t, "VANILLA_VERSION");
    assert!(version.rules.required);
    assert_eq!(
        (version.rules.min_length, version.rules.max_length),
        (Some(3), Some(15))
    );
    assert_eq!(t.ports[0].default, Some(25565));
    assert_eq!(t.config_files[0].set.len(), 3);
}

#[test]
fn rust_keeps_its_quoted_arguments_whole() {
    let i = imported("ptero-egg-rust.json");
    let (t, r) = (&i.template, &i.report);
    assert_eq!(t.id, "rust");
    assert_eq!(t.ports[0].default, Some(28015));
    let cmd = &t.startup.command[0];
    assert!(cmd.starts_with("./RustDedicated -batchmode +server.port {{port}} "));
    assert!(cmd.contains("+server.hostname {{HOSTNAME}} "));
    assert!(!cmd.contains("\\\""));

    let args = argv(t, "./RustDedicated", &[("WORLD_SEED", "1234")]);
    let after = |flag: &str| {
        let at = args
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("{flag}: {args:?}"));
        args[at + 1].clone()
    };
    assert_eq!(after("+server.port"), "28015");
    assert_eq!(after("+server.hostname"), "A Rust Server");
    assert_eq!(after("+server.level"), "Procedural Map");
    assert_eq!(after("+server.description"), "Powered by Pterodactyl");
    assert_eq!(after("+server.identity"), "rust");
    assert_eq!(after("+server.worldsize"), "3000");
    assert_eq!(after("+server.seed"), "1234");
    // A custom map switches to the level URL, as in the egg.
    let args = argv(
        t,
        "./RustDedicated",
        &[("MAP_URL", "https://example.com/m.map")],
    );
    assert!(args.contains(&"+server.levelurl".to_owned()), "{args:?}");
    assert!(!args.contains(&"+server.worldsize".to_owned()));

    let framework = var(t, "FRAMEWORK");
    assert_eq!(framework.kind, VariableType::Enum);
    assert_eq!(framework.rules.one_of, ["vanilla", "oxide", "carbon"]);
    assert_eq!(var(t, "MAX_PLAYERS").kind, VariableType::Integer);
    let pass = var(t, "RCON_PASS");
    assert_eq!(pass.rules.regex.as_deref(), Some(r"^[\w.-]*$"));
    assert_eq!(pass.rules.max_length, Some(64));
    for url in ["SERVER_URL", "SERVER_IMG", "SERVER_LOGO", "MAP_URL"] {
        let line = format!("variables.{url}: rule url has no equivalent: not checked");
        assert!(r.unmapped.contains(&line), "{line}: {:#?}", r.unmapped);
    }
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("evaluates the command twice"))
    );
    assert!(r.notes.iter().any(|n| n.contains("{{ADDITIONAL_ARGS}}")));
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("QUERY_PORT, RCON_PORT, APP_PORT"))
    );
    assert!(r.notes.iter().any(|n| n.contains("port 28015")));
}

#[test]
fn mumble_server() {
    let i = imported("ptero-egg-mumble-server.json");
    let (t, r) = (&i.template, &i.report);
    assert_eq!(
        t.startup.stop,
        StopMethod::Signal {
            signal: StopSignal::Int
        }
    );
    assert_eq!(t.ports[0].default, Some(64738));
    let ini = &t.config_files[0];
    assert_eq!(ini.path, "murmur.ini");
    assert_eq!(ini.format, ConfigFormat::Ini);
    let value = |k: &str| {
        ini.set
            .iter()
            .find(|s| s.key == k)
            .map(|s| s.value.as_str())
    };
    assert_eq!(value("port"), Some("{{port}}"));
    // `{{server.build.env.MAX_USERS}}` of a declared variable.
    assert_eq!(value("users"), Some("{{MAX_USERS}}"));
    let users = var(t, "MAX_USERS");
    assert_eq!(users.kind, VariableType::Integer);
    assert_eq!(users.rules.regex.as_deref(), Some("[0-9]{1,5}"));
    assert!(value_ok(users, "123456").is_err());
    assert!(r.unmapped.is_empty(), "{:#?}", r.unmapped);
    assert!(r.notes.iter().any(|n| n.contains("digits_between:1,5")));
    assert!(r.notes.iter().any(|n| n.contains("/home/container")));
    // The report is what the panel sends back as JSON.
    let json = serde_json::to_value(r).unwrap();
    assert_eq!(json["format"], "PTDL_v2");
    assert_eq!(json["requires_docker"], true);
}

/// A small PTDL_v2 egg, changed by `edit`.
fn egg(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v = serde_json::json!({
        "meta": {"version": "PTDL_v2"},
        "name": "Test Game",
        "description": null,
        "docker_images": {"Base": "ghcr.io/example/base"},
        "startup": "./run --port {{SERVER_PORT}} --mem {{SERVER_MEMORY}}",
        "config": {"files": "{}", "startup": "{}", "logs": "{}", "stop": "^C"},
        "scripts": {"installation": {"script": "", "container": "", "entrypoint": "bash"}},
        "variables": []
    });
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

fn variable(env: &str, default: serde_json::Value, rules: &str) -> serde_json::Value {
    serde_json::json!({
        "name": env, "description": "", "env_variable": env, "default_value": default,
        "user_viewable": true, "user_editable": true, "rules": rules
    })
}

#[test]
fn a_minimal_egg() {
    let i = import(&egg(|_| {})).unwrap();
    check(&i.template);
    let t = &i.template;
    assert_eq!(t.description, "");
    assert_eq!(
        t.startup.command,
        ["./run --port {{port}} --mem {{memory_mb}}"]
    );
    assert!(t.install.is_empty());
    assert!(!i.report.requires_docker && !t.requirements.docker);
    assert_eq!(t.ports[0].default, Some(27015));
    assert!(i.report.unmapped.is_empty(), "{:?}", i.report.unmapped);
}

#[test]
fn what_does_not_map_is_reported_and_dropped() {
    let bytes = egg(|v| {
        v["variables"] = serde_json::json!([
            variable("SHORT", "too long".into(), "required|string|max:3"),
            variable("COUNT", 25.into(), "required|integer|between:1,10"),
            variable("WORD", "hello world".into(), "required|regex:/o w/"),
            variable("LOOK", "x".into(), "required|regex:/^(?=x)x$/"),
            variable("MAIL", "".into(), "nullable|email"),
            variable("RATIO", "0.5".into(), "required|numeric|min:0"),
            variable("NOTE", "a\r\nb".into(), "nullable|string"),
        ]);
        v["startup"] = "./run {{SHORT}} {{COUNT}}".into();
        v["config"]["stop"] = "^SIGKILL".into();
        v["config"]["logs"] = r#"{"custom": true, "location": "logs/latest.log"}"#.into();
        v["config"]["startup"] = r#"{"done": ["Ready", "regex:^Done \\(.*\\)$"]}"#.into();
        v["config"]["files"] = serde_json::json!({
            "server.xml": {"parser": "xml", "find": {"a": "b"}},
            "cfg.json": {"parser": "json", "find": {
                "net.ip": "{{config.docker.interface}}",
                "net.port": "{{server.build.default.port}}",
                "slots": 10,
                "list.*": "x"
            }}
        })
        .to_string()
        .into();
        v["file_denylist"] = serde_json::json!(["*.jar"]);
        v["scripts"]["installation"]["script"] = "#!/bin/bash\r\necho hi\r\n".into();
        v["scripts"]["installation"]["container"] = "".into();
    });
    let i = import(&bytes).unwrap();
    check(&i.template);
    let (t, r) = (&i.template, &i.report);
    let has = |s: &str| r.unmapped.iter().any(|u| u.contains(s));
    assert_eq!(var(t, "SHORT").rules.max_length, None);
    assert!(has(
        "variables.SHORT: the default \"too long\" fails the maximum length 3"
    ));
    assert_eq!(var(t, "COUNT").rules.max, None);
    assert_eq!(var(t, "COUNT").rules.min, Some(1));
    assert!(has("variables.COUNT: the default \"25\" fails max:10"));
    // Laravel's regex is unanchored: wrapped so that the default still passes.
    assert_eq!(var(t, "WORD").rules.regex.as_deref(), Some(".*(?:o w).*"));
    assert!(r.notes.iter().any(|n| n.contains("variables.WORD")));
    assert_eq!(var(t, "LOOK").rules.regex, None);
    assert!(has(
        "variables.LOOK: rule regex:/^(?=x)x$/: it uses a lookahead"
    ));
    assert!(has("variables.MAIL: rule email"));
    let ratio = var(t, "RATIO");
    assert_eq!(ratio.kind, VariableType::String);
    value_ok(ratio, "1.25").unwrap();
    assert!(value_ok(ratio, "abc").is_err());
    assert!(has("variables.RATIO: rule min:0"));
    assert_eq!(var(t, "NOTE").default, "a b");
    assert!(has("variables.NOTE: the default held line breaks"));

    assert_eq!(
        t.startup.stop,
        StopMethod::Signal {
            signal: StopSignal::Term
        }
    );
    assert!(has("config.stop: the signal ^SIGKILL"));
    assert!(has("config.logs"));
    assert_eq!(
        t.startup.done,
        [
            DonePattern::Contains("Ready".into()),
            DonePattern::Regex(r"^Done \(.*\)$".into())
        ]
    );
    assert!(has("config.files.server.xml: parser xml is not supported"));
    assert!(has(
        "config.files.cfg.json: key net.ip: {{config.docker.interface}} has no equivalent"
    ));
    assert!(has("config.files.cfg.json: key list.*: wildcard"));
    let json = &t.config_files[0];
    assert_eq!(json.format, ConfigFormat::Json);
    let set: Vec<(&str, &str)> = json
        .set
        .iter()
        .map(|s| (s.key.as_str(), s.value.as_str()))
        .collect();
    assert_eq!(set, [("net.port", "{{port}}"), ("slots", "10")]);
    assert!(has("file_denylist: *.jar"));
    // A script without a container runs as it is: no Docker needed.
    let [InstallStep::Script { script, image, .. }] = t.install.as_slice() else {
        panic!("one script step")
    };
    assert_eq!(script, "#!/bin/bash\necho hi\n");
    assert_eq!(*image, None);
    assert!(!r.requires_docker);
}

#[test]
fn plcn_yaml_with_several_startup_commands() {
    let yaml = r#"
meta:
  version: PLCN_v2
name: Several
startup_commands:
  Default: './a {{SERVER_IP}} {{env.MODE}}'
  Debug: './a -d'
config:
  files:
    settings.yml:
      parser: yaml
      find:
        'server.port': '{{server.allocations.default.port}}'
        'server.motd': 'Hi {{server.build.env.MODE}}'
  startup:
    done:
      - up
  logs: {}
  stop: end
tags: [x, x, ' y ']
variables:
  - name: Flag
    env_variable: FLAG
    default_value: true
    user_viewable: 1
    user_editable: '0'
    rules: [required, boolean]
    sort: 2
  - name: Mode
    env_variable: MODE
    default_value: b
    rules: [required, 'in:a,b']
    sort: 1
"#;
    let i = import(yaml.as_bytes()).unwrap();
    check(&i.template);
    let t = &i.template;
    assert_eq!(i.report.format, "PLCN_v2");
    assert_eq!(t.startup.command, ["./a {{ip}} {{MODE}}"]);
    assert!(
        i.report
            .notes
            .iter()
            .any(|n| n.contains("\"Default\"") && n.contains("Debug")),
        "{:#?}",
        i.report.notes
    );
    assert_eq!(t.startup.done, [DonePattern::Contains("up".into())]);
    assert_eq!(
        t.startup.stop,
        StopMethod::Command {
            command: "end".into()
        }
    );
    assert_eq!(t.tags, ["x", "y"]);
    let yml = &t.config_files[0];
    assert_eq!(yml.format, ConfigFormat::Yaml);
    assert_eq!(yml.set[0].value, "{{port}}");
    assert_eq!(yml.set[1].value, "Hi {{MODE}}");
    // Ordered by `sort`.
    assert_eq!(t.variables[0].key, "MODE");
    assert_eq!(t.variables[0].kind, VariableType::Enum);
    assert_eq!(t.variables[0].rules.one_of, ["a", "b"]);
    let flag = var(t, "FLAG");
    assert_eq!(flag.kind, VariableType::Boolean);
    assert_eq!(flag.default, "true");
    assert!(flag.user_viewable && !flag.user_editable);
    assert!(t.runtimes.docker.is_empty() && t.runtimes.native);
}

#[test]
fn bad_input() {
    assert!(matches!(
        import(b"just some words"),
        Err(EggError::NotAnEgg(_))
    ));
    assert!(matches!(
        import(b"a: [unclosed"),
        Err(EggError::NotAnEgg(_))
    ));
    assert!(matches!(import(b"{\"name\": "), Err(EggError::NotAnEgg(_))));
    assert!(matches!(
        import(&[0xff, 0xfe, 0x00]),
        Err(EggError::NotAnEgg(_))
    ));
    assert!(matches!(import(b""), Err(EggError::NotAnEgg(_))));

    let no_meta = egg(|v| {
        v.as_object_mut().unwrap().remove("meta");
    });
    assert!(matches!(
        import(&no_meta),
        Err(EggError::UnsupportedVersion(_))
    ));
    let v9 = egg(|v| v["meta"]["version"] = "PTDL_v9".into());
    match import(&v9) {
        Err(EggError::UnsupportedVersion(m)) => assert!(m.contains("PTDL_v9"), "{m}"),
        other => panic!("{other:?}"),
    }
    let yaml_v9 = b"meta:\n  version: PLCN_v9\nname: X\n";
    assert!(matches!(
        import(yaml_v9),
        Err(EggError::UnsupportedVersion(_))
    ));

    let no_name = egg(|v| {
        v.as_object_mut().unwrap().remove("name");
    });
    assert_eq!(import(&no_name).unwrap_err(), EggError::Missing("name"));
    let blank_name = egg(|v| v["name"] = "  ".into());
    assert_eq!(import(&blank_name).unwrap_err(), EggError::Missing("name"));

    let spaced =
        egg(|v| v["variables"] = serde_json::json!([variable("MY VAR", "".into(), "nullable")]));
    match import(&spaced) {
        Err(e @ EggError::Invalid { .. }) => {
            let EggError::Invalid { field, .. } = &e else {
                unreachable!()
            };
            assert!(field.contains("MY VAR"), "{field}");
            assert!(e.to_string().contains("MY VAR"));
        }
        other => panic!("{other:?}"),
    }

    let docker_if = egg(|v| v["startup"] = "./run --ip {{config.docker.interface}}".into());
    match import(&docker_if) {
        Err(EggError::Invalid { field, message }) => {
            assert_eq!(field, "startup");
            assert!(message.contains("{{config.docker.interface}}"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let undeclared = egg(|v| v["startup"] = "./run {{NOT_DECLARED}}".into());
    assert!(
        matches!(import(&undeclared), Err(EggError::Invalid { field, .. }) if field == "startup")
    );
    let no_startup = egg(|v| v["startup"] = "".into());
    assert_eq!(
        import(&no_startup).unwrap_err(),
        EggError::Missing("startup")
    );
    let taken = egg(|v| v["variables"] = serde_json::json!([variable("port", "1".into(), "")]));
    assert!(matches!(import(&taken), Err(EggError::Invalid { .. })));
}

/// Damaged eggs (cut short, or with bytes changed) must give an error or a template
/// the panel accepts, never a panic.
#[test]
fn damaged_eggs_never_panic() {
    let names = [
        "ptero-egg-paper.json",
        "ptero-egg-team-fortress2.json",
        "ptero-egg-rust.json",
        "ptero-egg-mumble-server.json",
        "pelican-egg-plcnv3-example.yaml",
    ];
    // A fixed linear congruential sequence: the same damage on every run.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) as usize
    };
    let noise = b"{}[]\"'\\|:,^$*+?(){{}}\r\n\t #-0aZ";
    let mut imported = 0;
    for name in names {
        let bytes = fixture(name);
        for cut in (0..bytes.len()).step_by(bytes.len() / 12 + 1) {
            if let Ok(i) = import(&bytes[..cut]) {
                check(&i.template);
                imported += 1;
            }
        }
        for _ in 0..40 {
            let mut b = bytes.clone();
            for _ in 0..3 {
                let at = next() % b.len();
                b[at] = noise[next() % noise.len()];
            }
            if let Ok(i) = import(&b) {
                check(&i.template);
                imported += 1;
            }
        }
    }
    assert!(imported > 40, "only {imported} damaged eggs still imported");
}
