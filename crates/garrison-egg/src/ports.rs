//! The template's port. Eggs declare none (Pterodactyl's allocation comes from the
//! panel), but a Garrison template needs a first port with a default, so the default
//! is a guess from what the egg runs; the report says which and why.

use garrison_proto::{ConfigFile, PortProtocol, PortSpec, TemplateVariable};

/// The one port, with the reason for its default.
pub(crate) fn guess(
    name: &str,
    startup: &str,
    config_files: &[ConfigFile],
    variables: &[TemplateVariable],
) -> (PortSpec, String) {
    let mut text = startup.to_ascii_lowercase();
    for f in config_files {
        text.push(' ');
        text.push_str(&f.path.to_ascii_lowercase());
        for s in &f.set {
            text.push(' ');
            text.push_str(&s.value.to_ascii_lowercase());
        }
    }
    let name = name.to_ascii_lowercase();
    let steam_var = variables
        .iter()
        .any(|v| v.key == "SRCDS_APPID" || v.key.contains("STEAM"));
    let (port, why) = if text.contains("server.properties") || text.contains("minecraft") {
        (
            25565,
            "Minecraft's port (the egg mentions server.properties or minecraft)",
        )
    } else if text.contains("rustdedicated") || name == "rust" {
        (28015, "Rust's port")
    } else if text.contains("mumble") || text.contains("murmur") {
        (64738, "Mumble's port")
    } else if text.contains("srcds") || steam_var {
        (27015, "the Source engine's port (srcds or Steam variables)")
    } else {
        (27015, "a common game port, for want of a better guess")
    };
    let spec = PortSpec {
        name: "game".into(),
        protocol: PortProtocol::TcpUdp,
        default: Some(port),
        offset: 0,
    };
    (
        spec,
        format!("no ports in the egg: the template uses port {port}, {why}"),
    )
}
