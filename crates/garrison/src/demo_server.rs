//! `garrison demo-server`: a tiny game server of our own for tests, benchmarks and first
//! tries. It prints a ready line, echoes console commands, can flood output, crash,
//! ignore stop requests and leave a child process behind. Plain std, synchronous.

use std::io::{self, BufRead, BufWriter, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Set by the SIGTERM/SIGINT handler; polled by the main loop.
static SIGNALED: AtomicBool = AtomicBool::new(false);

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// TCP port to listen on (127.0.0.1); 0 means no listener.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Run the install step instead of the server.
    #[arg(long)]
    pub install: bool,
    /// How long the install step takes.
    #[arg(long, default_value_t = 0)]
    pub install_delay_ms: u64,
    /// How long the server takes before printing its ready line.
    #[arg(long, default_value_t = 0)]
    pub ready_delay_ms: u64,
}

/// What one console line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    Stop,
    Flood(u64),
    Crash,
    IgnoreStop,
    SpawnChild,
    Players,
    /// Keep one core busy for this many seconds (alert tests).
    Burn(u64),
    /// Print that a player joined or left, as games do (player tracking tests).
    Join(String),
    Leave(String),
    Echo(String),
}

pub(crate) fn parse_command(line: &str) -> Command {
    let line = line.trim_end_matches('\r');
    let trimmed = line.trim();
    match trimmed {
        "stop" => return Command::Stop,
        "crash" => return Command::Crash,
        "ignore-stop" => return Command::IgnoreStop,
        "spawn-child" => return Command::SpawnChild,
        "players" => return Command::Players,
        _ => {}
    }
    if let Some(n) = trimmed.strip_prefix("flood ")
        && let Ok(n) = n.trim().parse()
    {
        return Command::Flood(n);
    }
    if let Some(name) = trimmed.strip_prefix("join ") {
        return Command::Join(name.trim().to_owned());
    }
    if let Some(name) = trimmed.strip_prefix("leave ") {
        return Command::Leave(name.trim().to_owned());
    }
    if let Some(n) = trimmed.strip_prefix("burn ")
        && let Ok(n) = n.trim().parse()
    {
        return Command::Burn(n);
    }
    Command::Echo(line.to_owned())
}

extern "C" fn on_signal(_: nix::libc::c_int) {
    SIGNALED.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() -> io::Result<()> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        // SAFETY: the handler only stores to a static atomic, which is
        // async-signal-safe; it touches no locks, allocations or other state.
        unsafe { sigaction(sig, &action) }.map_err(io::Error::from)?;
    }
    Ok(())
}

fn say(out: &mut impl Write, line: &str) -> io::Result<()> {
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Run the demo server; returns the process exit code.
pub fn run(args: DemoArgs) -> io::Result<i32> {
    let stdout = io::stdout();
    if args.install {
        return install(std::path::Path::new("."), &args, &mut stdout.lock());
    }
    install_signal_handlers()?;
    say(
        &mut stdout.lock(),
        &format!("Starting demo server on port {}", args.port),
    )?;
    if args.port == 0 {
        say(&mut stdout.lock(), "Warning: no port given, not listening")?;
    } else {
        match TcpListener::bind(("127.0.0.1", args.port)) {
            Ok(listener) => {
                std::thread::spawn(move || {
                    for mut conn in listener.incoming().flatten() {
                        let _ = conn.write_all(b"garrison-demo players=0\n");
                    }
                });
            }
            Err(e) => say(
                &mut stdout.lock(),
                &format!("Warning: could not listen on port {}: {e}", args.port),
            )?,
        }
    }
    std::thread::sleep(Duration::from_millis(args.ready_delay_ms));
    say(
        &mut stdout.lock(),
        &format!("Done! Demo server ready on port {}", args.port),
    )?;

    // stdin is read on its own thread so the main loop can notice signals.
    let (tx, rx) = mpsc::sync_channel::<String>(64);
    std::thread::spawn(move || {
        let stdin = io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut ignoring_stop = false;
    let mut children = Vec::new();
    loop {
        if SIGNALED.swap(false, Ordering::SeqCst) && !ignoring_stop {
            say(&mut stdout.lock(), "Caught signal, saving and exiting")?;
            return Ok(0);
        }
        let line = match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(0),
        };
        let mut out = stdout.lock();
        match parse_command(&line) {
            Command::Stop if ignoring_stop => say(&mut out, "Ignoring stop request")?,
            Command::Stop => {
                say(&mut out, "Stopping demo server")?;
                return Ok(0);
            }
            Command::Crash => {
                say(&mut out, "Simulating a crash")?;
                return Ok(3);
            }
            Command::IgnoreStop => {
                ignoring_stop = true;
                say(&mut out, "Ignoring stop requests")?;
            }
            Command::Flood(n) => {
                let mut buf = BufWriter::with_capacity(64 * 1024, &mut out);
                for i in 0..n {
                    writeln!(buf, "flood {i}")?;
                }
                buf.flush()?;
            }
            Command::SpawnChild => {
                let child = std::process::Command::new("sleep")
                    .arg("1000")
                    .stdin(std::process::Stdio::null())
                    .spawn();
                match child {
                    Ok(child) => {
                        say(&mut out, &format!("child pid {}", child.id()))?;
                        children.push(child);
                    }
                    Err(e) => say(&mut out, &format!("could not spawn a child: {e}"))?,
                }
            }
            Command::Players => say(&mut out, "There are 0 players online")?,
            Command::Join(name) => say(&mut out, &format!("{name} joined the game"))?,
            Command::Leave(name) => say(&mut out, &format!("{name} left the game"))?,
            Command::Burn(secs) => {
                say(&mut out, &format!("Burning CPU for {secs} s"))?;
                std::thread::spawn(move || {
                    let end = std::time::Instant::now() + Duration::from_secs(secs);
                    let mut x = 0u64;
                    while std::time::Instant::now() < end {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                    }
                });
            }
            Command::Echo(text) => say(&mut out, &format!("> {text}"))?,
        }
    }
}

/// The install step, writing into `dir` (the working directory when run for real).
fn install(dir: &std::path::Path, args: &DemoArgs, out: &mut impl Write) -> io::Result<i32> {
    say(out, "Installing demo server...")?;
    std::thread::sleep(Duration::from_millis(args.install_delay_ms));
    let path = dir.join("demo.properties");
    if std::fs::symlink_metadata(&path).is_err() {
        let tmp = dir.join(".demo.properties.tmp");
        std::fs::write(&tmp, "motd=A Garrison demo server\n")?;
        std::fs::rename(&tmp, &path)?;
    }
    say(out, "Install complete")?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(parse_command("stop"), Command::Stop);
        assert_eq!(parse_command("stop\r"), Command::Stop);
        assert_eq!(parse_command("flood 10"), Command::Flood(10));
        assert_eq!(
            parse_command("flood lots"),
            Command::Echo("flood lots".into())
        );
        assert_eq!(parse_command("crash"), Command::Crash);
        assert_eq!(parse_command("ignore-stop"), Command::IgnoreStop);
        assert_eq!(parse_command("spawn-child"), Command::SpawnChild);
        assert_eq!(parse_command("players"), Command::Players);
        assert_eq!(parse_command("say hi"), Command::Echo("say hi".into()));
        assert_eq!(parse_command("burn 5"), Command::Burn(5));
        assert_eq!(parse_command("join ann"), Command::Join("ann".into()));
        assert_eq!(parse_command(""), Command::Echo(String::new()));
    }

    #[test]
    fn install_writes_properties_once() {
        let tmp = tempfile::tempdir().unwrap();
        let args = DemoArgs {
            port: 0,
            install: true,
            install_delay_ms: 0,
            ready_delay_ms: 0,
        };
        let mut out = Vec::new();
        let code = install(tmp.path(), &args, &mut out);
        let props = std::fs::read_to_string(tmp.path().join("demo.properties"));
        assert_eq!(code.unwrap(), 0);
        assert_eq!(props.unwrap(), "motd=A Garrison demo server\n");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Installing demo server...\nInstall complete\n"
        );
        // an existing file is left alone
        std::fs::write(tmp.path().join("demo.properties"), "mine").unwrap();
        install(tmp.path(), &args, &mut Vec::new()).unwrap();
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("demo.properties")).unwrap(),
            "mine"
        );
    }
}
