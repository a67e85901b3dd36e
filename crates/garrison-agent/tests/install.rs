//! The install pipeline and what runs around a start, through the `Node` API: steps in
//! order with progress events, cancel, timeouts, config files patched before a start,
//! sign-in prompts, exit codes that mean "start me again", Java selection, SteamCMD.

use garrison_agent::{Agent, AgentConfig};
use garrison_proto::{
    ConfigFile, ConfigFormat, ConfigSetting, Event, InstallEvent, InstallPhase, InstallStep, Node,
    NodeError, PowerAction, PromptPattern, RestartPolicy, RunSpec, ServerId, ServerState,
    StatusEvent, StopMethod, StopSignal, ValueKind,
};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);

struct H {
    agent: Arc<Agent>,
    rx: mpsc::Receiver<Event>,
    tmp: tempfile::TempDir,
    installs: Vec<InstallEvent>,
    prompts: Vec<garrison_proto::Prompt>,
    lines: Vec<String>,
    statuses: Vec<StatusEvent>,
    /// Statuses before this index were already returned by `until`.
    status_cursor: usize,
}

fn harness(f: impl FnOnce(&mut AgentConfig, &Path)) -> H {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = AgentConfig::new(tmp.path());
    f(&mut c, tmp.path());
    let (tx, rx) = mpsc::channel(10_000);
    H {
        agent: Agent::new(c, tx),
        rx,
        tmp,
        installs: Vec::new(),
        prompts: Vec::new(),
        lines: Vec::new(),
        statuses: Vec::new(),
        status_cursor: 0,
    }
}

fn spec(id: &str, script: &str) -> RunSpec {
    let mut env = BTreeMap::new();
    env.insert("PATH".to_owned(), "/usr/bin:/bin".to_owned());
    RunSpec {
        id: ServerId::from(id),
        command: vec!["/bin/sh".into(), "-c".into(), script.into()],
        env,
        install: vec![],
        config_files: vec![],
        done_pattern: None,
        stop: StopMethod::Signal {
            signal: StopSignal::Term,
        },
        stop_timeout_secs: 5,
        restart: RestartPolicy {
            enabled: false,
            ..RestartPolicy::default()
        },
        restart_exit_codes: vec![],
        java: None,
        prompts: vec![],
        requires: vec![],
        disk_limit_bytes: None,
        file_deny: vec![],
        backup_hooks: Default::default(),
    }
}

fn command(script: &str, timeout_secs: u64) -> InstallStep {
    InstallStep::Command {
        command: vec![script.into()],
        shell: true,
        timeout_secs,
    }
}

impl H {
    async fn next(&mut self) -> Event {
        let ev = timeout(WAIT, self.rx.recv())
            .await
            .expect("timed out waiting for an event")
            .expect("event channel closed");
        match &ev {
            Event::Install(i) => self.installs.push(i.clone()),
            Event::Prompt(p) => self.prompts.push(p.prompt.clone()),
            Event::Console(c) => self.lines.extend(c.lines.iter().cloned()),
            Event::Status(s) => self.statuses.push(s.clone()),
            _ => {}
        }
        ev
    }

    /// The next status change to `state` not returned before (it may already have come
    /// while waiting for something else).
    async fn until(&mut self, state: ServerState) -> StatusEvent {
        loop {
            while self.status_cursor < self.statuses.len() {
                let s = self.statuses[self.status_cursor].clone();
                self.status_cursor += 1;
                if s.state == state {
                    return s;
                }
            }
            self.next().await;
        }
    }

    /// The install's last event (finished, failed or cancelled).
    async fn install_end(&mut self) -> InstallEvent {
        loop {
            if let Event::Install(i) = self.next().await
                && matches!(
                    i.phase,
                    InstallPhase::Finished | InstallPhase::Failed | InstallPhase::Cancelled
                )
            {
                return i;
            }
        }
    }

    fn dir(&self, id: &str) -> std::path::PathBuf {
        self.tmp.path().join("servers").join(id)
    }
}

#[tokio::test]
async fn steps_run_in_order_with_step_events_and_output_in_the_console() {
    let mut h = harness(|_, _| {});
    let mut s = spec("a", "true");
    s.install = vec![
        InstallStep::Write {
            path: "conf/game.cfg".into(),
            content: "name = x\n".into(),
            overwrite: false,
        },
        command("echo step two; cat conf/game.cfg > copy.txt", 60),
        command("echo three >> copy.txt", 60),
    ];
    h.agent.register(s).await.unwrap();
    h.agent.install(&ServerId::from("a")).await.unwrap();
    let end = h.install_end().await;
    assert_eq!(end.phase, InstallPhase::Finished, "{end:?}");
    let steps: Vec<(u32, String)> = h
        .installs
        .iter()
        .filter(|i| i.phase == InstallPhase::Step)
        .map(|i| (i.step.unwrap(), i.kind.clone().unwrap()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (0, "write".to_owned()),
            (1, "command".to_owned()),
            (2, "command".to_owned())
        ]
    );
    assert_eq!(h.installs[0].phase, InstallPhase::Started);
    assert_eq!(h.installs[0].steps, Some(3));
    assert_eq!(
        std::fs::read_to_string(h.dir("a").join("copy.txt")).unwrap(),
        "name = x\nthree\n"
    );
    assert!(h.lines.iter().any(|l| l == "step two"), "{:?}", h.lines);
    h.until(ServerState::Offline).await;
    h.agent.shutdown().await;
}

#[tokio::test]
async fn a_failed_step_stops_the_install_and_names_the_step() {
    let mut h = harness(|_, _| {});
    let mut s = spec("f", "true");
    s.install = vec![
        command("echo first > first.txt", 60),
        command("echo broken >&2; exit 3", 60),
        command("echo never > never.txt", 60),
    ];
    h.agent.register(s).await.unwrap();
    h.agent.install(&ServerId::from("f")).await.unwrap();
    let end = h.install_end().await;
    assert_eq!(end.phase, InstallPhase::Failed);
    let msg = end.message.unwrap();
    assert!(msg.contains("step 2 of 3"), "{msg}");
    assert!(msg.contains("exited with code 3"), "{msg}");
    assert!(h.dir("f").join("first.txt").exists());
    assert!(!h.dir("f").join("never.txt").exists());
    assert!(h.lines.iter().any(|l| l == "broken"));
    // not stuck installing: offline, and a start is possible again
    let off = h.until(ServerState::Offline).await;
    assert!(off.reason.unwrap().contains("install failed"));
    h.agent.shutdown().await;
}

#[tokio::test]
async fn cancel_ends_the_command_group_and_the_install() {
    let mut h = harness(|_, _| {});
    let mut s = spec("c", "true");
    // A child in the background must die with the step.
    s.install = vec![command(
        "sleep 300 & echo $! > bg.pid; echo waiting; wait",
        600,
    )];
    h.agent.register(s).await.unwrap();
    let id = ServerId::from("c");
    assert!(matches!(
        h.agent.cancel_install(&id).await,
        Err(NodeError::Conflict { .. })
    ));
    h.agent.install(&id).await.unwrap();
    while !h.lines.iter().any(|l| l == "waiting") {
        h.next().await;
    }
    let bg: i32 = std::fs::read_to_string(h.dir("c").join("bg.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    h.agent.cancel_install(&id).await.unwrap();
    let end = h.install_end().await;
    assert_eq!(end.phase, InstallPhase::Cancelled);
    let off = h.until(ServerState::Offline).await;
    assert_eq!(off.reason.as_deref(), Some("install cancelled"));
    for _ in 0..50 {
        if !Path::new(&format!("/proc/{bg}")).exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stat = std::fs::read_to_string(format!("/proc/{bg}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z"),
        "the background child survived the cancel: {stat}"
    );
    h.agent.shutdown().await;
}

#[tokio::test]
async fn a_step_that_runs_too_long_is_stopped() {
    let mut h = harness(|_, _| {});
    let mut s = spec("t", "true");
    s.install = vec![command("sleep 60", 1)];
    h.agent.register(s).await.unwrap();
    h.agent.install(&ServerId::from("t")).await.unwrap();
    let end = h.install_end().await;
    assert_eq!(end.phase, InstallPhase::Failed);
    assert!(end.message.unwrap().contains("timed out after 1s"));
    h.agent.shutdown().await;
}

#[tokio::test]
async fn install_output_prompts_reach_the_user_once() {
    let mut h = harness(|_, _| {});
    let mut s = spec("p", "true");
    s.prompts = vec![PromptPattern {
        url_regex: r"(https://\S+/device\S*)".into(),
        code_regex: Some(r"code:?\s+([A-Z0-9-]{4,})".into()),
        message: "Sign in to download".into(),
    }];
    s.install = vec![command(
        "echo 'Visit https://auth.example.com/oauth2/device?user_code=WXYZ-1234'; \
         echo 'and enter the code: WXYZ-1234'; echo done",
        60,
    )];
    h.agent.register(s).await.unwrap();
    h.agent.install(&ServerId::from("p")).await.unwrap();
    assert_eq!(h.install_end().await.phase, InstallPhase::Finished);
    let prompts: Vec<_> = h
        .installs
        .iter()
        .filter(|i| i.phase == InstallPhase::Prompt)
        .collect();
    assert_eq!(prompts.len(), 1, "{:?}", h.installs);
    let p = prompts[0].prompt.clone().unwrap();
    assert_eq!(
        p.url,
        "https://auth.example.com/oauth2/device?user_code=WXYZ-1234"
    );
    assert_eq!(p.code.as_deref(), Some("WXYZ-1234"));
    assert_eq!(p.message, "Sign in to download");
    h.agent.shutdown().await;
}

#[tokio::test]
async fn config_files_are_patched_before_every_start_and_on_request() {
    let mut h = harness(|_, _| {});
    let mut s = spec("cfg", "cat server.properties; exec sleep 60");
    s.install = vec![InstallStep::Write {
        path: "server.properties".into(),
        content: "#Minecraft server properties\nmotd=A Minecraft Server\nserver-port=25565\n"
            .into(),
        overwrite: false,
    }];
    let props = |port: &str| ConfigFile {
        path: "server.properties".into(),
        format: ConfigFormat::Properties,
        create: true,
        set: vec![ConfigSetting {
            key: "server-port".into(),
            value: port.into(),
            kind: ValueKind::Auto,
        }],
    };
    s.config_files = vec![props("25600")];
    let id = ServerId::from("cfg");
    h.agent.register(s.clone()).await.unwrap();
    h.agent.install(&id).await.unwrap();
    assert_eq!(h.install_end().await.phase, InstallPhase::Finished);
    h.agent.power(&id, PowerAction::Start).await.unwrap();
    h.until(ServerState::Running).await;
    while !h.lines.iter().any(|l| l == "server-port=25600") {
        h.next().await;
    }
    assert!(h.lines.iter().any(|l| l == "#Minecraft server properties"));
    h.agent.power(&id, PowerAction::Stop).await.unwrap();
    h.until(ServerState::Offline).await;

    // a changed setting is written when asked, without a start
    s.config_files = vec![props("25700")];
    h.agent.register(s.clone()).await.unwrap();
    h.agent.apply_config(&id).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(h.dir("cfg").join("server.properties")).unwrap(),
        "#Minecraft server properties\nmotd=A Minecraft Server\nserver-port=25700\n"
    );

    // a file that cannot be patched is named, and left as it was
    let broken = "{ not json";
    std::fs::write(h.dir("cfg").join("settings.json"), broken).unwrap();
    s.config_files = vec![ConfigFile {
        path: "settings.json".into(),
        format: ConfigFormat::Json,
        create: true,
        set: vec![ConfigSetting {
            key: "port".into(),
            value: "1".into(),
            kind: ValueKind::Auto,
        }],
    }];
    h.agent.register(s.clone()).await.unwrap();
    match h.agent.apply_config(&id).await {
        Err(NodeError::Config { path, .. }) => assert_eq!(path, "settings.json"),
        other => panic!("expected a config error, got {other:?}"),
    }
    assert_eq!(
        std::fs::read_to_string(h.dir("cfg").join("settings.json")).unwrap(),
        broken
    );
    // and a start with it fails clearly instead of running with a stale config
    h.agent.power(&id, PowerAction::Start).await.unwrap_err();
    let crashed = h.until(ServerState::Crashed).await;
    assert!(
        crashed.reason.unwrap().contains("settings.json"),
        "the reason names the file"
    );
    h.agent.shutdown().await;
}

#[tokio::test]
async fn an_exit_code_that_asks_for_a_restart_starts_the_server_again() {
    let mut h = harness(|_, _| {});
    // First run exits 8 (an update was staged); the second stays up.
    let mut s = spec(
        "r8",
        "if [ -e staged ]; then echo second run; exec sleep 60; else touch staged; echo staged update; exit 8; fi",
    );
    s.restart_exit_codes = vec![8];
    let id = ServerId::from("r8");
    h.agent.register(s).await.unwrap();
    h.agent.power(&id, PowerAction::Start).await.unwrap();
    let off = h.until(ServerState::Offline).await;
    assert!(
        off.reason.unwrap().contains("asked to be started again"),
        "not a crash"
    );
    h.until(ServerState::Running).await;
    while !h.lines.iter().any(|l| l == "second run") {
        h.next().await;
    }
    h.agent.power(&id, PowerAction::Stop).await.unwrap();
    h.until(ServerState::Offline).await;
    h.agent.shutdown().await;
}

#[tokio::test]
async fn a_running_server_that_asks_for_a_sign_in_raises_a_prompt() {
    let mut h = harness(|_, _| {});
    let mut s = spec(
        "auth",
        "echo 'Please visit https://accounts.example.com/device'; echo 'Enter code: ABCD-EFGH'; exec sleep 60",
    );
    s.prompts = vec![PromptPattern {
        url_regex: r"(https://\S+/device)".into(),
        code_regex: Some(r"code:\s+(\S+)".into()),
        message: "Authorize the server".into(),
    }];
    let id = ServerId::from("auth");
    h.agent.register(s).await.unwrap();
    h.agent.power(&id, PowerAction::Start).await.unwrap();
    while h.prompts.is_empty() {
        h.next().await;
    }
    assert_eq!(h.prompts[0].url, "https://accounts.example.com/device");
    assert_eq!(h.prompts[0].code.as_deref(), Some("ABCD-EFGH"));
    h.agent.power(&id, PowerAction::Kill).await.unwrap();
    h.until(ServerState::Offline).await;
    h.agent.shutdown().await;
}

fn fake_jvm(root: &Path, name: &str, version: &str) {
    let home = root.join(name);
    std::fs::create_dir_all(home.join("bin")).unwrap();
    std::fs::write(
        home.join("release"),
        format!("JAVA_VERSION=\"{version}\"\n"),
    )
    .unwrap();
    let java = home.join("bin/java");
    std::fs::write(&java, format!("#!/bin/sh\necho \"java {version} $*\"\n")).unwrap();
    std::fs::set_permissions(&java, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn java_is_the_oldest_installed_version_that_is_new_enough() {
    let jvms = tempfile::tempdir().unwrap();
    fake_jvm(jvms.path(), "jdk17", "17.0.15");
    fake_jvm(jvms.path(), "jdk21", "21.0.2");
    fake_jvm(jvms.path(), "jdk25", "25.0.1");
    let dirs = vec![jvms.path().to_path_buf()];
    let mut h = harness(|c, _| c.install.java_dirs = dirs);
    let mut s = spec("j", "true");
    s.command = vec!["java".into(), "-jar".into(), "server.jar".into()];
    s.java = Some(21);
    let id = ServerId::from("j");
    h.agent.register(s.clone()).await.unwrap();
    h.agent.power(&id, PowerAction::Start).await.unwrap();
    while !h.lines.iter().any(|l| l.starts_with("java ")) {
        h.next().await;
    }
    assert!(
        h.lines.iter().any(|l| l == "java 21.0.2 -jar server.jar"),
        "{:?}",
        h.lines
    );
    h.until(ServerState::Offline).await;

    // a version the node does not have: the start fails saying what there is
    s.java = Some(26);
    h.agent.register(s).await.unwrap();
    h.agent.power(&id, PowerAction::Start).await.unwrap_err();
    let crashed = h.until(ServerState::Crashed).await;
    let reason = crashed.reason.unwrap();
    assert!(reason.contains("Java 26 or newer is required"), "{reason}");
    assert!(reason.contains("17, 21, 25"), "{reason}");
    h.agent.shutdown().await;
}

#[tokio::test]
async fn steamcmd_step_runs_app_update_and_checks_its_success_line() {
    let bin = tempfile::tempdir().unwrap();
    let steamcmd = bin.path().join("steamcmd");
    // A stand-in with the real CLI's arguments: it records them and, for app 896660
    // (Valheim's dedicated server), "installs" a file and prints the success line.
    std::fs::write(
        &steamcmd,
        r#"#!/bin/sh
echo "$@" > "$2/steamcmd-args.txt"
if [ "$6" = 896660 ]; then
  echo 'Update state (0x61) downloading, progress: 50.00'
  touch "$2/valheim_server.x86_64"
  echo "Success! App '896660' fully installed."
else
  echo "ERROR! Failed to install app '$6' (No subscription)"
fi
"#,
    )
    .unwrap();
    std::fs::set_permissions(&steamcmd, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = steamcmd.clone();
    let mut h = harness(|c, _| c.install.steamcmd = path);
    let mut s = spec("v", "true");
    s.install = vec![InstallStep::Steamcmd {
        app_id: 896660,
        beta: Some("public-test".into()),
        validate: true,
        timeout_secs: 60,
    }];
    h.agent.register(s.clone()).await.unwrap();
    h.agent.install(&ServerId::from("v")).await.unwrap();
    let end = h.install_end().await;
    assert_eq!(end.phase, InstallPhase::Finished, "{end:?}");
    let dir = h.dir("v");
    assert_eq!(
        std::fs::read_to_string(dir.join("steamcmd-args.txt"))
            .unwrap()
            .trim(),
        format!(
            "+force_install_dir {} +login anonymous +app_update 896660 -beta public-test validate +quit",
            dir.display()
        )
    );
    assert!(dir.join("valheim_server.x86_64").exists());

    // exit code 0 without the success line is a failed install
    s.install = vec![InstallStep::Steamcmd {
        app_id: 1,
        beta: None,
        validate: true,
        timeout_secs: 60,
    }];
    h.agent.register(s).await.unwrap();
    h.agent.install(&ServerId::from("v")).await.unwrap();
    let end = h.install_end().await;
    assert_eq!(end.phase, InstallPhase::Failed);
    assert!(
        end.message
            .unwrap()
            .contains("Success! App '1' fully installed")
    );
    h.agent.shutdown().await;
}

#[tokio::test]
async fn an_egg_script_that_needs_a_container_fails_clearly_on_a_native_node() {
    let mut h = harness(|_, _| {});
    let mut s = spec("egg", "true");
    s.install = vec![InstallStep::Script {
        script: "echo hi".into(),
        interpreter: "bash".into(),
        image: Some("ghcr.io/pelican-eggs/installers:debian".into()),
        timeout_secs: 60,
    }];
    h.agent.register(s).await.unwrap();
    h.agent.install(&ServerId::from("egg")).await.unwrap();
    let end = h.install_end().await;
    assert_eq!(end.phase, InstallPhase::Failed);
    assert!(
        end.message
            .unwrap()
            .contains("ghcr.io/pelican-eggs/installers:debian")
    );
    h.agent.shutdown().await;
}

#[tokio::test]
async fn missing_programs_fail_the_install_and_the_start_by_name() {
    let mut h = harness(|_, _| {});
    let mut s = spec("req", "true");
    s.requires = vec![
        "/bin/sh".into(),
        "/usr/games/no-such-game".into(),
        "no-such-tool-xyz".into(),
    ];
    s.install = vec![command("echo never > never.txt", 60)];
    let id = ServerId::from("req");
    h.agent.register(s.clone()).await.unwrap();
    h.agent.install(&id).await.unwrap();
    let end = h.install_end().await;
    assert_eq!(end.phase, InstallPhase::Failed);
    let msg = end.message.unwrap();
    assert!(
        msg.contains("/usr/games/no-such-game, no-such-tool-xyz"),
        "{msg}"
    );
    assert!(!msg.contains("/bin/sh"), "{msg}");
    assert!(!h.dir("req").join("never.txt").exists());
    h.agent.power(&id, PowerAction::Start).await.unwrap_err();
    let crashed = h.until(ServerState::Crashed).await;
    assert!(crashed.reason.unwrap().contains("no-such-game"));
    h.agent.shutdown().await;
}
