//! A real agent on a temp data dir, the SFTP server in front of it, a fake panel gate,
//! and the OpenSSH client (`sftp`, `ssh`) driving it over 127.0.0.1.
#![allow(dead_code)]

use async_trait::async_trait;
use base64::Engine;
use garrison_agent::{Agent, AgentConfig};
use garrison_proto::{
    Event, Node, Permission, RestartPolicy, RunSpec, ServerId, SftpAccess, SftpAudit,
    SftpCredential, SftpGate, SftpRefusal, StopMethod, StopSignal,
};
use garrison_sftp::{SftpConfig, SftpServer};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::process::Command;
use tokio::sync::mpsc;

pub const SERVER: &str = "s1";
/// Longest any one client command may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone)]
pub struct FakeUser {
    pub user_id: String,
    pub password: String,
    pub keys: Vec<Vec<u8>>,
    pub permissions: Vec<Permission>,
    pub revoked: bool,
}

/// The panel as the SFTP server sees it: logins `<user>.s1`, passwords, key blobs,
/// permissions, a revoke switch per user, and every audit entry.
#[derive(Default)]
pub struct FakeGate {
    pub users: Mutex<HashMap<String, FakeUser>>,
    pub audits: Mutex<Vec<(Option<String>, SftpAudit)>>,
    pub authenticate_calls: AtomicUsize,
    pub recheck_calls: AtomicUsize,
}

impl FakeGate {
    pub fn add(&self, name: &str, password: &str, permissions: Vec<Permission>) {
        self.users.lock().unwrap().insert(
            name.to_owned(),
            FakeUser {
                user_id: format!("id-{name}"),
                password: password.to_owned(),
                keys: vec![],
                permissions,
                revoked: false,
            },
        );
    }

    pub fn add_key(&self, name: &str, blob: Vec<u8>) {
        self.users
            .lock()
            .unwrap()
            .get_mut(name)
            .unwrap()
            .keys
            .push(blob);
    }

    pub fn set_permissions(&self, name: &str, permissions: Vec<Permission>) {
        self.users
            .lock()
            .unwrap()
            .get_mut(name)
            .unwrap()
            .permissions = permissions;
    }

    pub fn revoke(&self, name: &str) {
        self.users.lock().unwrap().get_mut(name).unwrap().revoked = true;
    }

    pub fn actions(&self) -> Vec<String> {
        self.audits
            .lock()
            .unwrap()
            .iter()
            .map(|(_, a)| a.action.clone())
            .collect()
    }

    pub fn audit_entries(&self, action: &str) -> Vec<SftpAudit> {
        self.audits
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, a)| a.action == action)
            .map(|(_, a)| a.clone())
            .collect()
    }

    fn access(name: &str, u: &FakeUser) -> SftpAccess {
        SftpAccess {
            user_id: u.user_id.clone(),
            username: name.to_owned(),
            server: ServerId::from(SERVER),
            permissions: u.permissions.clone(),
        }
    }
}

#[async_trait]
impl SftpGate for FakeGate {
    async fn authenticate(
        &self,
        login: &str,
        credential: &SftpCredential,
        _peer: IpAddr,
    ) -> Result<SftpAccess, SftpRefusal> {
        self.authenticate_calls.fetch_add(1, Ordering::SeqCst);
        let Some((name, server)) = login.rsplit_once('.') else {
            return Err(SftpRefusal::BadCredentials);
        };
        let users = self.users.lock().unwrap();
        let Some(u) = users.get(name) else {
            return Err(SftpRefusal::BadCredentials);
        };
        let ok = match credential {
            SftpCredential::Password(p) => *p == u.password,
            SftpCredential::PublicKey { blob, .. } => u.keys.contains(blob),
        };
        if !ok || server != SERVER || u.revoked || !u.permissions.contains(&Permission::FileSftp) {
            return Err(SftpRefusal::BadCredentials);
        }
        Ok(FakeGate::access(name, u))
    }

    async fn recheck(&self, access: &SftpAccess) -> Result<SftpAccess, SftpRefusal> {
        self.recheck_calls.fetch_add(1, Ordering::SeqCst);
        let users = self.users.lock().unwrap();
        let u = users.get(&access.username).ok_or(SftpRefusal::Revoked)?;
        if u.revoked || !u.permissions.contains(&Permission::FileSftp) {
            return Err(SftpRefusal::Revoked);
        }
        Ok(FakeGate::access(&access.username, u))
    }

    async fn audit(&self, access: Option<&SftpAccess>, _peer: IpAddr, entry: SftpAudit) {
        self.audits
            .lock()
            .unwrap()
            .push((access.map(|a| a.username.clone()), entry));
    }
}

/// Every file permission plus `file.sftp`.
pub fn all_file_perms() -> Vec<Permission> {
    vec![
        Permission::FileSftp,
        Permission::FileRead,
        Permission::FileReadContent,
        Permission::FileCreate,
        Permission::FileUpdate,
        Permission::FileDelete,
    ]
}

pub fn without(p: Permission) -> Vec<Permission> {
    all_file_perms().into_iter().filter(|x| *x != p).collect()
}

pub fn spec(disk_limit_bytes: Option<u64>) -> RunSpec {
    let mut env = BTreeMap::new();
    env.insert("PATH".to_owned(), "/usr/bin:/bin".to_owned());
    RunSpec {
        id: ServerId::from(SERVER),
        command: vec!["/bin/sh".into(), "-c".into(), "sleep 1000".into()],
        env,
        install: vec![],
        config_files: vec![],
        done_pattern: None,
        restart_exit_codes: vec![],
        java: None,
        prompts: vec![],
        requires: vec![],
        disk_limit_bytes,
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

pub enum Login<'a> {
    Password(&'a str),
    Key(&'a Path),
}

pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub agent: Arc<Agent>,
    pub gate: Arc<FakeGate>,
    pub server: Option<SftpServer>,
    pub config: SftpConfig,
    /// The server's directory on disk.
    pub root: PathBuf,
    /// Where the client runs (local side of put/get).
    pub local: PathBuf,
    _events: mpsc::Receiver<Event>,
}

pub struct Out {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl Fixture {
    pub async fn new(disk_limit: Option<u64>, tune: impl FnOnce(&mut SftpConfig)) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let (tx, rx) = mpsc::channel(10_000);
        let agent = Agent::new(AgentConfig::new(tmp.path().join("data")), tx);
        agent.register(spec(disk_limit)).await.unwrap();
        let root = tmp.path().join("data/servers").join(SERVER);
        assert!(root.is_dir(), "the agent made no server directory");
        let local = tmp.path().join("local");
        std::fs::create_dir_all(&local).unwrap();
        let gate = Arc::new(FakeGate::default());
        gate.add("alice", "correct horse", all_file_perms());
        let mut config = SftpConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            host_key: tmp.path().join("keys/host_ed25519"),
            recheck_secs: 1,
            ..SftpConfig::default()
        };
        tune(&mut config);
        let server = garrison_sftp::start(config.clone(), agent.clone(), gate.clone())
            .await
            .unwrap();
        Fixture {
            tmp,
            agent,
            gate,
            server: Some(server),
            config,
            root,
            local,
            _events: rx,
        }
    }

    pub fn port(&self) -> u16 {
        self.server.as_ref().unwrap().local_addr().port()
    }

    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        self.agent.shutdown().await;
    }

    /// The askpass helper: prints `$GARRISON_TEST_PASSWORD`, and notes each call.
    pub fn askpass(&self) -> PathBuf {
        let path = self.tmp.path().join("askpass.sh");
        if !path.exists() {
            let log = self.tmp.path().join("askpass.log");
            std::fs::write(
                &path,
                format!(
                    "#!/bin/sh\necho x >> '{}'\nprintf '%s\\n' \"$GARRISON_TEST_PASSWORD\"\n",
                    log.display()
                ),
            )
            .unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        path
    }

    pub fn askpass_calls(&self) -> usize {
        std::fs::read_to_string(self.tmp.path().join("askpass.log"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    /// Client options shared by `sftp` and `ssh`: no config, no known hosts, no agent,
    /// and the credential.
    /// `extra` options come first: for OpenSSH the first value of an option wins.
    pub fn client(&self, program: &str, login: &Login<'_>, extra: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.args(extra);
        c.current_dir(&self.local)
            .env_remove("SSH_AUTH_SOCK")
            .env("HOME", self.tmp.path())
            .args(["-F", "/dev/null"])
            .args(["-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "GlobalKnownHostsFile=/dev/null"])
            .args(["-o", "LogLevel=ERROR"])
            .args(["-o", "ConnectTimeout=10"])
            .args(["-o", "ServerAliveInterval=0"]);
        match login {
            Login::Password(pw) => {
                c.env("SSH_ASKPASS", self.askpass())
                    .env("SSH_ASKPASS_REQUIRE", "force")
                    .env("DISPLAY", ":0")
                    .env("GARRISON_TEST_PASSWORD", pw)
                    // Before `-b`, which adds BatchMode=yes: the first value wins.
                    .args(["-o", "BatchMode=no"])
                    .args(["-o", "PubkeyAuthentication=no"])
                    .args(["-o", "KbdInteractiveAuthentication=no"])
                    .args(["-o", "PreferredAuthentications=password"])
                    .args(["-o", "NumberOfPasswordPrompts=1"]);
            }
            Login::Key(key) => {
                c.args(["-o", "PasswordAuthentication=no"])
                    .args(["-o", "KbdInteractiveAuthentication=no"])
                    .args(["-o", "IdentitiesOnly=yes"])
                    .arg("-i")
                    .arg(key);
            }
        }
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    /// `sftp` with the client options, `extra` and the port; the caller adds `-b` and
    /// the destination.
    pub fn sftp_cmd(&self, login: &Login<'_>, extra: &[&str]) -> Command {
        let mut c = self.client("sftp", login, extra);
        c.arg("-P").arg(self.port().to_string());
        c
    }

    /// `sftp -b` with `batch` as the commands, as `user` (login `user.s1`).
    pub async fn sftp_as(&self, user: &str, login: Login<'_>, extra: &[&str], batch: &str) -> Out {
        let file = self.tmp.path().join(format!(
            "batch-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::write(&file, batch).unwrap();
        let mut c = self.sftp_cmd(&login, extra);
        c.arg("-b")
            .arg(&file)
            .arg(format!("{user}.{SERVER}@127.0.0.1"));
        run(c).await
    }

    pub async fn sftp(&self, batch: &str) -> Out {
        self.sftp_as("alice", Login::Password("correct horse"), &[], batch)
            .await
    }

    /// `ssh -p port user.s1@127.0.0.1 <args>`.
    pub async fn ssh(&self, user: &str, login: Login<'_>, args: &[&str]) -> Out {
        let mut c = self.client("ssh", &login, &[]);
        c.arg("-p")
            .arg(self.port().to_string())
            .arg("-T")
            .arg(format!("{user}.{SERVER}@127.0.0.1"))
            .args(args);
        run(c).await
    }

    /// A fresh ed25519 key pair from ssh-keygen: (private key path, public blob).
    pub async fn keygen(&self, name: &str) -> (PathBuf, Vec<u8>) {
        let path = self.tmp.path().join(name);
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
            .arg(&path)
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "ssh-keygen failed");
        let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
        let b64 = public.split_whitespace().nth(1).unwrap();
        let blob = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        (path, blob)
    }
}

pub async fn run(mut c: Command) -> Out {
    let child = c.spawn().expect("cannot run the OpenSSH client");
    let out = tokio::time::timeout(CLIENT_TIMEOUT, child.wait_with_output())
        .await
        .expect("the client did not finish in time")
        .unwrap();
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every file under `dir` with its bytes and mode (symlinks as their target).
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let mode = m.permissions().mode();
            if m.is_symlink() {
                let t = std::fs::read_link(&p).unwrap();
                out.insert(p, (t.as_os_str().as_encoded_bytes().to_vec(), mode));
            } else if m.is_dir() {
                out.insert(p.clone(), (vec![], mode));
                stack.push(p);
            } else {
                out.insert(p.clone(), (std::fs::read(&p).unwrap(), mode));
            }
        }
    }
    out
}

/// Wait until `f` holds, up to `max`.
pub async fn eventually(max: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < max {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}
