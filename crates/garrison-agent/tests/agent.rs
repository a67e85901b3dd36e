//! End-to-end tests of the agent with small /bin/sh game servers.

use garrison_agent::{Agent, AgentConfig, RunAs};
use garrison_proto::{
    ConsoleEvent, Event, InstallPhase, InstallStep, Node, NodeError, PowerAction, RestartPolicy,
    RunSpec, ServerId, ServerState, StatusEvent, StopMethod, StopSignal,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(15);

struct H {
    agent: Arc<Agent>,
    rx: mpsc::Receiver<Event>,
    tmp: tempfile::TempDir,
    /// Console lines seen while waiting for other events.
    seen: Vec<String>,
}

fn config(tmp: &tempfile::TempDir) -> AgentConfig {
    let mut c = AgentConfig::new(tmp.path());
    c.stats_interval = Duration::from_millis(100);
    c
}

fn harness_with(f: impl FnOnce(&mut AgentConfig), events: usize) -> H {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(&tmp);
    f(&mut c);
    let (tx, rx) = mpsc::channel(events);
    H {
        agent: Agent::new(c, tx),
        rx,
        tmp,
        seen: Vec::new(),
    }
}

fn harness() -> H {
    harness_with(|_| {}, 10_000)
}

fn sh(id: &str, script: &str) -> RunSpec {
    let mut env = BTreeMap::new();
    env.insert("PATH".to_owned(), "/usr/bin:/bin".to_owned());
    RunSpec {
        id: ServerId::from(id),
        command: vec!["/bin/sh".into(), "-c".into(), script.into()],
        env,
        install: vec![],
        config_files: vec![],
        done_pattern: None,
        restart_exit_codes: vec![],
        java: None,
        prompts: vec![],
        requires: vec![],
        disk_limit_bytes: None,
        file_deny: vec![],
        backup_hooks: Default::default(),
        stop: StopMethod::Signal {
            signal: StopSignal::Term,
        },
        stop_timeout_secs: 5,
        restart: RestartPolicy {
            enabled: false,
            ..RestartPolicy::default()
        },
    }
}

fn write(path: &str, content: &str) -> InstallStep {
    InstallStep::Write {
        path: path.into(),
        content: content.into(),
        overwrite: false,
    }
}

fn id(s: &str) -> ServerId {
    ServerId::from(s)
}

impl H {
    async fn next(&mut self) -> Event {
        let ev = timeout(WAIT, self.rx.recv())
            .await
            .expect("timed out waiting for an event")
            .expect("event channel closed");
        if let Event::Console(c) = &ev {
            self.seen.extend(c.lines.iter().cloned());
        }
        ev
    }

    /// Wait for the next status event, skipping others.
    async fn status(&mut self) -> StatusEvent {
        loop {
            if let Event::Status(s) = self.next().await {
                return s;
            }
        }
    }

    /// Wait until the server reaches `state`; returns that event.
    async fn until(&mut self, state: ServerState) -> StatusEvent {
        loop {
            let s = self.status().await;
            if s.state == state {
                return s;
            }
        }
    }

    /// Wait until a console line equal to `line` arrives.
    async fn line(&mut self, line: &str) {
        while !self.seen.iter().any(|l| l == line) {
            self.next().await;
        }
    }

    async fn start(&mut self, spec: RunSpec) {
        let sid = spec.id.clone();
        self.agent.register(spec).await.unwrap();
        self.agent.power(&sid, PowerAction::Start).await.unwrap();
    }
}

fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s[s.rfind(')').unwrap() + 1..]
                .split_whitespace()
                .next()
                .unwrap_or("");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

async fn gone(pid: i32) -> bool {
    for _ in 0..40 {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn pid_from(lines: &[String], prefix: &str) -> i32 {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(prefix))
        .expect("pid line")
        .trim()
        .parse()
        .unwrap()
}

const ECHO: &str = r#"echo booting; echo "Server ready"; while read l; do if [ "$l" = stop ]; then echo bye; exit 0; fi; echo "> $l"; done"#;

#[tokio::test]
async fn ready_echo_and_stop_by_command() {
    let mut h = harness();
    let mut spec = sh("echo", ECHO);
    spec.done_pattern = Some("ready$".into());
    spec.stop = StopMethod::Command {
        command: "stop".into(),
    };
    h.start(spec).await;
    let s = h.status().await;
    assert_eq!(
        (s.previous, s.state),
        (ServerState::Offline, ServerState::Starting)
    );
    let s = h.status().await;
    assert_eq!(s.state, ServerState::Running);
    assert!(h.seen.contains(&"Server ready".to_owned()));
    h.agent.command(&id("echo"), "hello world").await.unwrap();
    h.line("> hello world").await;
    assert!(matches!(
        h.agent.command(&id("echo"), "a\nb").await,
        Err(NodeError::InvalidSpec(_))
    ));
    // stop is refused twice, and start while running is a conflict
    assert!(matches!(
        h.agent.power(&id("echo"), PowerAction::Start).await,
        Err(NodeError::Conflict {
            state: ServerState::Running,
            ..
        })
    ));
    h.agent.power(&id("echo"), PowerAction::Stop).await.unwrap();
    assert_eq!(h.status().await.state, ServerState::Stopping);
    let off = h.status().await;
    assert_eq!(off.state, ServerState::Offline);
    let exit = off.exit.unwrap();
    assert_eq!(exit.code, Some(0));
    assert_eq!(exit.last_lines.last().unwrap(), "bye");
    assert_eq!(
        h.agent.command(&id("echo"), "late").await,
        Err(NodeError::NotRunning)
    );
    let snap = h.agent.console(&id("echo"), 2).await.unwrap();
    assert_eq!(snap.lines, ["> hello world", "bye"]);
    assert_eq!(snap.next_seq, 4);
    h.agent.shutdown().await;
    let log = std::fs::read_to_string(h.tmp.path().join("logs/echo/console.log")).unwrap();
    assert!(log.contains("> hello world\n"), "{log}");
    assert!(log.contains("[garrison] process started"), "{log}");
    assert!(log.contains("exited with code 0"), "{log}");
}

#[tokio::test]
async fn stop_by_signal_leaves_no_orphan() {
    let mut h = harness();
    // The child ignores SIGTERM, so only the group SIGKILL after the leader exits ends it.
    let spec = sh(
        "grp",
        r#"trap "exit 0" TERM; (trap "" TERM; exec sleep 1000) & echo "child $!"; while true; do sleep 0.1; done"#,
    );
    h.start(spec).await;
    h.until(ServerState::Running).await;
    while !h.seen.iter().any(|l| l.starts_with("child ")) {
        h.next().await;
    }
    let child = pid_from(&h.seen, "child ");
    assert!(alive(child));
    h.agent.power(&id("grp"), PowerAction::Stop).await.unwrap();
    let off = h.until(ServerState::Offline).await;
    assert_eq!(off.exit.unwrap().code, Some(0));
    assert!(gone(child).await, "child {child} survived");
    h.agent.shutdown().await;
}

#[tokio::test]
async fn stop_timeout_kills_the_group() {
    let mut h = harness();
    let mut spec = sh(
        "stubborn",
        r#"trap "" TERM; echo up; while true; do sleep 0.1; done"#,
    );
    spec.stop_timeout_secs = 1;
    h.start(spec).await;
    h.until(ServerState::Running).await;
    h.line("up").await;
    let t0 = std::time::Instant::now();
    h.agent
        .power(&id("stubborn"), PowerAction::Stop)
        .await
        .unwrap();
    let off = h.until(ServerState::Offline).await;
    assert!(t0.elapsed() >= Duration::from_millis(900));
    assert!(
        off.reason
            .unwrap()
            .contains("killed after the stop timeout")
    );
    assert_eq!(off.exit.unwrap().signal, Some(9));
    h.agent.shutdown().await;
}

#[tokio::test]
async fn kill_and_restart_actions() {
    let mut h = harness();
    h.start(sh("k", "echo up; exec sleep 1000")).await;
    h.until(ServerState::Running).await;
    h.agent.power(&id("k"), PowerAction::Restart).await.unwrap();
    assert_eq!(h.status().await.state, ServerState::Stopping);
    assert_eq!(h.status().await.state, ServerState::Offline);
    assert_eq!(h.status().await.state, ServerState::Starting);
    assert_eq!(h.status().await.state, ServerState::Running);
    h.agent.power(&id("k"), PowerAction::Kill).await.unwrap();
    let s = h.status().await;
    assert_eq!(
        (s.state, s.reason.as_deref()),
        (ServerState::Stopping, Some("kill requested"))
    );
    let off = h.status().await;
    assert_eq!(off.state, ServerState::Offline);
    assert!(off.reason.unwrap().starts_with("killed"));
    assert_eq!(off.exit.unwrap().signal, Some(9));
    assert!(matches!(
        h.agent.power(&id("k"), PowerAction::Stop).await,
        Err(NodeError::Conflict {
            state: ServerState::Offline,
            ..
        })
    ));
    h.agent.shutdown().await;
}

#[tokio::test]
async fn crash_and_clean_exit() {
    let mut h = harness();
    h.start(sh("c", "echo one; echo two; exit 3")).await;
    let s = h.until(ServerState::Crashed).await;
    assert_eq!(s.previous, ServerState::Running);
    assert_eq!(s.reason.as_deref(), Some("exited with code 3"));
    let exit = s.exit.unwrap();
    assert_eq!((exit.code, exit.signal), (Some(3), None));
    assert_eq!(exit.last_lines, ["one", "two"]);

    h.start(sh("z", "echo fine; exit 0")).await;
    let s = h.until(ServerState::Offline).await;
    assert_eq!(s.reason.as_deref(), Some("exited by itself (code 0)"));
    // a missing program: crashed with the reason, and the error is returned
    let err = {
        h.agent.register(sh("m", "x")).await.unwrap();
        let mut spec = sh("m", "");
        spec.command = vec!["no-such-program-garrison".into()];
        h.agent.register(spec).await.unwrap();
        h.agent.power(&id("m"), PowerAction::Start).await
    };
    assert!(
        matches!(err, Err(NodeError::Io(ref m)) if m.contains("not found")),
        "{err:?}"
    );
    assert_eq!(h.agent.state(&id("m")).await.unwrap(), ServerState::Crashed);
    h.agent.shutdown().await;
}

#[tokio::test]
async fn restart_policy_stops_at_the_limit() {
    let mut h = harness();
    let mut spec = sh("r", "echo run; exit 1");
    spec.restart = RestartPolicy {
        enabled: true,
        max_restarts: 2,
        window_secs: 60,
        backoff_secs: 0,
    };
    h.start(spec).await;
    let mut crashes = Vec::new();
    let mut starts = 0;
    loop {
        let s = h.status().await;
        match s.state {
            ServerState::Starting => starts += 1,
            ServerState::Crashed => {
                let r = s.reason.unwrap();
                let done = r.contains("crash limit reached");
                crashes.push(r);
                if done {
                    break;
                }
            }
            _ => {}
        }
    }
    assert_eq!(starts, 3);
    assert_eq!(crashes.len(), 3);
    assert!(crashes[0].contains("restart 1 of 2"), "{crashes:?}");
    assert!(crashes[1].contains("restart 2 of 2"), "{crashes:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.agent.state(&id("r")).await.unwrap(), ServerState::Crashed);
    h.agent.shutdown().await;
}

#[tokio::test]
async fn user_stop_cancels_a_pending_restart() {
    let mut h = harness();
    let mut spec = sh("p", "exit 1");
    spec.restart = RestartPolicy {
        enabled: true,
        max_restarts: 3,
        window_secs: 60,
        backoff_secs: 1,
    };
    h.start(spec).await;
    let s = h.until(ServerState::Crashed).await;
    assert!(s.reason.unwrap().contains("restarting in 1s"));
    h.agent.power(&id("p"), PowerAction::Stop).await.unwrap();
    let s = h.status().await;
    assert_eq!(s.state, ServerState::Offline);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(h.agent.state(&id("p")).await.unwrap(), ServerState::Offline);
    assert!(
        h.rx.try_recv()
            .map_or(true, |e| !matches!(e, Event::Status(_)))
    );
    h.agent.shutdown().await;
}

#[tokio::test]
async fn flood_keeps_order_and_bounded_ring() {
    let mut h = harness_with(|c| c.console_ring_lines = 1000, 4096);
    h.start(sh("f", "seq 0 99999")).await;
    let mut expect = 0u64;
    let mut dropped = 0u64;
    let mut batches = 0;
    loop {
        match timeout(WAIT, h.rx.recv()).await.unwrap().unwrap() {
            Event::Console(ConsoleEvent {
                seq,
                lines,
                dropped: d,
                ..
            }) => {
                assert_eq!(seq, expect + d, "gap not explained by dropped");
                assert!(lines.len() <= 512);
                for (i, l) in lines.iter().enumerate() {
                    assert_eq!(l, &(seq + i as u64).to_string());
                }
                dropped += d;
                expect = seq + lines.len() as u64;
                batches += 1;
            }
            Event::Status(s) if s.state == ServerState::Offline => break,
            _ => {}
        }
    }
    assert_eq!(expect, 100_000);
    assert!(
        batches < 100_000 / 2,
        "lines were not batched: {batches} batches"
    );
    let snap = h.agent.console(&id("f"), 5000).await.unwrap();
    assert_eq!(snap.lines.len(), 1000);
    assert_eq!(snap.lines.first().unwrap(), "99000");
    assert_eq!(snap.lines.last().unwrap(), "99999");
    assert_eq!(snap.next_seq, 100_000);
    let _ = dropped;
    h.agent.shutdown().await;
}

#[tokio::test]
async fn full_event_channel_never_blocks_the_game() {
    let mut h = harness_with(|_| {}, 4);
    h.agent
        .register(sh("slow", r#"seq 1 20000; read x; echo "$x""#))
        .await
        .unwrap();
    h.agent
        .power(&id("slow"), PowerAction::Start)
        .await
        .unwrap();
    // Nobody reads events: the game still gets all its output out.
    let mut n = 0;
    while h.agent.console(&id("slow"), 1).await.unwrap().next_seq < 20_000 {
        n += 1;
        assert!(n < 300, "the reader was blocked by the full channel");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut delivered = 0u64;
    let mut dropped = 0u64;
    while let Ok(e) = h.rx.try_recv() {
        if let Event::Console(c) = e {
            delivered += c.lines.len() as u64;
            dropped += c.dropped;
        }
    }
    h.agent.command(&id("slow"), "last").await.unwrap();
    loop {
        if let Event::Console(c) = h.next().await {
            delivered += c.lines.len() as u64;
            dropped += c.dropped;
            if c.lines.last().map(String::as_str) == Some("last") {
                break;
            }
        }
    }
    assert!(dropped > 0);
    assert_eq!(delivered + dropped, 20_001);
    h.agent.shutdown().await;
}

#[tokio::test]
async fn odd_lines() {
    let mut h = harness_with(|c| c.max_line_bytes = 50, 1000);
    h.start(sh(
        "odd",
        r#"printf 'a\rb\r\n'; printf '%0100d\n' 0; printf '\377ok\n'; printf 'no newline'"#,
    ))
    .await;
    h.until(ServerState::Offline).await;
    let snap = h.agent.console(&id("odd"), 10).await.unwrap();
    assert_eq!(
        snap.lines,
        [
            "b".to_owned(),
            "0".repeat(50),
            "\u{fffd}ok".to_owned(),
            "no newline".to_owned()
        ]
    );
    h.agent.shutdown().await;
}

#[tokio::test]
async fn stats_for_a_running_process() {
    let mut h = harness();
    h.start(sh("st", "exec sleep 1000")).await;
    h.until(ServerState::Running).await;
    let stats = loop {
        if let Event::Stats(s) = h.next().await
            && s.stats.memory_bytes > 0
        {
            break s.stats;
        }
    };
    assert!(stats.processes >= 1);
    assert!(stats.sampled_at > 0);
    std::fs::write(h.tmp.path().join("servers/st/world.dat"), [0u8; 1000]).unwrap();
    h.agent.power(&id("st"), PowerAction::Kill).await.unwrap();
    h.until(ServerState::Offline).await;
    let s = h.agent.stats(&id("st")).await.unwrap();
    assert_eq!((s.memory_bytes, s.processes, s.uptime_secs), (0, 0, 0));
    // disk is sampled for a new server as soon as the sampler sees it
    h.agent.register(sh("disk", "true")).await.unwrap();
    std::fs::write(h.tmp.path().join("servers/disk/a"), [0u8; 1234]).unwrap();
    let mut disk = 0;
    for _ in 0..50 {
        disk = h.agent.stats(&id("disk")).await.unwrap().disk_bytes;
        if disk > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(disk, 1234);
    h.agent.shutdown().await;
}

#[tokio::test]
async fn remove_deletes_files_and_refuses_while_active() {
    let mut h = harness();
    h.start(sh("rm", "exec sleep 1000")).await;
    h.until(ServerState::Running).await;
    assert!(matches!(
        h.agent.remove(&id("rm")).await,
        Err(NodeError::Conflict {
            state: ServerState::Running,
            ..
        })
    ));
    h.agent.power(&id("rm"), PowerAction::Kill).await.unwrap();
    h.until(ServerState::Offline).await;
    assert!(h.tmp.path().join("servers/rm").is_dir());
    h.agent.remove(&id("rm")).await.unwrap();
    assert!(!h.tmp.path().join("servers/rm").exists());
    assert!(!h.tmp.path().join("logs/rm").exists());
    assert_eq!(
        h.agent.state(&id("rm")).await,
        Err(NodeError::UnknownServer(id("rm")))
    );
    assert_eq!(
        h.agent.power(&id("nope"), PowerAction::Start).await,
        Err(NodeError::UnknownServer(id("nope")))
    );
    h.agent.shutdown().await;
}

#[tokio::test]
async fn shutdown_leaves_no_process() {
    let mut h = harness();
    h.start(sh("a", r#"sleep 1000 & echo "child $!"; exec sleep 1000"#))
        .await;
    let mut stubborn = sh(
        "b",
        r#"trap "" TERM; sleep 1000 & echo "child $!"; while true; do sleep 0.1; done"#,
    );
    stubborn.stop_timeout_secs = 1;
    h.start(stubborn).await;
    while h.seen.iter().filter(|l| l.starts_with("child ")).count() < 2 {
        h.next().await;
    }
    let pids: Vec<i32> = h
        .seen
        .iter()
        .filter_map(|l| l.strip_prefix("child "))
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(pids.iter().all(|p| alive(*p)));
    let t0 = std::time::Instant::now();
    h.agent.shutdown().await;
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "servers were not stopped concurrently"
    );
    for p in pids {
        let st = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        assert!(gone(p).await, "{p} survived shutdown: {st} {:?}", h.seen);
    }
    assert!(matches!(
        h.agent.state(&id("a")).await,
        Err(NodeError::Unavailable(_))
    ));
}

#[tokio::test]
async fn install_seed_files_and_command() {
    let mut h = harness();
    let mut spec = sh("inst", "cat a.txt");
    spec.install = vec![
        write("a.txt", "seeded"),
        write("sub/b.txt", "b"),
        InstallStep::Command {
            command: vec![
                "/bin/sh".into(),
                "-c".into(),
                // The pause keeps it installing while the conflicts below are checked.
                "echo installing; read x; sleep 1; echo got $x; echo made > made.txt".into(),
            ],
            shell: false,
            timeout_secs: 60,
        },
    ];
    h.agent.register(spec).await.unwrap();
    std::fs::write(h.tmp.path().join("servers/inst/a.txt"), "mine").unwrap();
    h.agent.install(&id("inst")).await.unwrap();
    let s = h.status().await;
    assert_eq!(s.state, ServerState::Installing);
    assert!(matches!(
        h.agent.power(&id("inst"), PowerAction::Start).await,
        Err(NodeError::Conflict {
            state: ServerState::Installing,
            ..
        })
    ));
    assert!(matches!(
        h.agent.install(&id("inst")).await,
        Err(NodeError::Conflict {
            state: ServerState::Installing,
            ..
        })
    ));
    h.line("installing").await;
    // install output is console output; it takes no commands
    assert_eq!(
        h.agent.command(&id("inst"), "x").await,
        Err(NodeError::NotRunning)
    );
    // close its stdin by killing nothing: the install reads EOF only when we stop it, so
    // end it through the group instead of waiting
    let off = loop {
        match h.next().await {
            Event::Status(s) => break s,
            Event::Install(i) => assert_eq!(i.phase, InstallPhase::Started),
            _ => {}
        }
    };
    assert_eq!(off.state, ServerState::Offline);
    assert_eq!(off.reason.as_deref(), Some("install finished"));
    let dir = h.tmp.path().join("servers/inst");
    assert_eq!(std::fs::read_to_string(dir.join("a.txt")).unwrap(), "mine");
    assert_eq!(std::fs::read_to_string(dir.join("sub/b.txt")).unwrap(), "b");
    assert_eq!(
        std::fs::read_to_string(dir.join("made.txt")).unwrap(),
        "made\n"
    );
    assert!(h.seen.contains(&"got".to_owned()), "{:?}", h.seen);
    loop {
        if let Event::Install(i) = h.next().await {
            assert_eq!(i.phase, InstallPhase::Finished);
            break;
        }
    }

    // a failing install ends offline with a Failed event
    let mut bad = sh("inst", "true");
    bad.install = vec![InstallStep::Command {
        command: vec!["exit 2".into()],
        shell: true,
        timeout_secs: 60,
    }];
    h.agent.register(bad).await.unwrap();
    h.agent.install(&id("inst")).await.unwrap();
    h.until(ServerState::Installing).await;
    let off = h.status().await;
    assert_eq!(off.state, ServerState::Offline);
    assert!(off.reason.unwrap().contains("exited with code 2"));
    loop {
        if let Event::Install(i) = h.next().await
            && i.phase != InstallPhase::Started
        {
            assert_eq!(i.phase, InstallPhase::Failed);
            break;
        }
    }
    h.agent.shutdown().await;
}

#[tokio::test]
async fn invalid_specs_are_refused() {
    let h = harness();
    let cases: Vec<RunSpec> = vec![
        sh("../x", "true"),
        {
            let mut s = sh("e", "true");
            s.command = vec![];
            s
        },
        {
            let mut s = sh("re", "true");
            s.done_pattern = Some("(".into());
            s
        },
        {
            let mut s = sh("seed", "true");
            s.install = vec![write("../escape", "")];
            s
        },
        {
            let mut s = sh("seed2", "true");
            s.install = vec![write("/etc/passwd", "")];
            s
        },
    ];
    for spec in cases {
        let name = spec.id.clone();
        assert!(
            matches!(h.agent.register(spec).await, Err(NodeError::InvalidSpec(_))),
            "{name}"
        );
    }
    assert!(!h.tmp.path().join("servers/e").exists());
    h.agent.shutdown().await;
}

#[tokio::test]
async fn changed_spec_applies_at_next_start() {
    let mut h = harness();
    h.start(sh("v", "echo v1; exec sleep 1000")).await;
    h.line("v1").await;
    h.agent
        .register(sh("v", "echo v2; exec sleep 1000"))
        .await
        .unwrap();
    h.agent.power(&id("v"), PowerAction::Restart).await.unwrap();
    h.line("v2").await;
    h.agent.shutdown().await;
}

#[tokio::test]
async fn runs_as_the_configured_user() {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let Ok(run_as) = RunAs::lookup("nobody") else {
        return;
    };
    let mut h = harness_with(|c| c.run_as = Some(run_as), 1000);
    h.start(sh("u", "echo uid=$(id -u) gid=$(id -g) groups=$(id -G)"))
        .await;
    h.until(ServerState::Offline).await;
    let want = format!(
        "uid={} gid={} groups={}",
        run_as.uid, run_as.gid, run_as.gid
    );
    assert!(h.seen.contains(&want), "{:?} vs {want}", h.seen);
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(h.tmp.path().join("servers/u")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (run_as.uid, run_as.gid));
    assert!(matches!(
        RunAs::lookup("no-such-user-garrison"),
        Err(garrison_agent::AgentError::UnknownUser(_))
    ));
    h.agent.shutdown().await;
}
