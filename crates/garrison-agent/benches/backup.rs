//! Backup and restore throughput through a real `Agent` (`NodeBackups`, the local
//! driver, zstd level 1) against `tar -cf - DIR | zstd -1 -T0` and
//! `zstd -d -c | tar -xf -` on the same 2 GiB mixed data set (20,000 small text files
//! of 1–64 KiB plus a few large files, half random bytes, half compressible), all in one
//! temp dir on one filesystem, in the same run. The page cache cannot be dropped here,
//! so each side runs twice and the second run is reported (both read warm files).
//! Also the process's peak RSS during our backup. Prints a table; no assertion is about
//! time. Under `cargo test` the same code runs once on a small data set so it cannot
//! rot; `cargo bench -p garrison-agent --bench backup` for the real figures.

use garrison_agent::{Agent, AgentConfig};
use garrison_proto::{
    BackupDigest, BackupLocation, BackupOp, BackupRequest, BackupStage, Compression,
    CompressionKind, Event, Node, NodeBackups, RestartPolicy, RestoreRequest, RunSpec, ServerId,
    StopMethod, StopSignal, StorageKind,
};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const MIB: u64 = 1024 * 1024;

struct DataSet {
    small_files: usize,
    /// Sizes of the large files; every other one is random bytes, the rest text.
    large_mib: Vec<u64>,
}

/// Fast reproducible bytes: xorshift64*.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn random(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes()[..chunk.len()]);
        }
    }

    /// Log-like lines from a small vocabulary with numbers: compresses about 3–5×.
    fn text(&mut self, buf: &mut [u8]) {
        const WORDS: &[&str] = &[
            "player",
            "joined",
            "the",
            "game",
            "chunk",
            "saved",
            "world",
            "entity",
            "spawned",
            "at",
            "x",
            "y",
            "z",
            "INFO",
            "WARN",
            "tick",
            "took",
            "ms",
            "region",
            "block",
            "inventory",
            "zombie",
            "creeper",
            "villager",
        ];
        let mut i = 0;
        while i < buf.len() {
            let r = self.next();
            let word = if r.is_multiple_of(5) {
                format!("{} ", (r >> 8) % 100_000)
            } else if r.is_multiple_of(17) {
                "\n".to_owned()
            } else {
                format!("{} ", WORDS[((r >> 16) % WORDS.len() as u64) as usize])
            };
            let n = word.len().min(buf.len() - i);
            buf[i..i + n].copy_from_slice(&word.as_bytes()[..n]);
            i += n;
        }
    }
}

/// Writes the data set under `dir`; returns its bytes.
fn make_data_set(dir: &Path, set: &DataSet) -> u64 {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let mut total = 0;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..set.small_files {
        let sub = dir.join(format!("world/region-{:03}", i % 200));
        if i < 200 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        let len = 1024 + (g.next() % (63 * 1024)) as usize;
        g.text(&mut buf[..len]);
        std::fs::write(sub.join(format!("chunk-{i:05}.dat")), &buf[..len]).unwrap();
        total += len as u64;
    }
    let mut block = vec![0u8; MIB as usize];
    for (i, mib) in set.large_mib.iter().enumerate() {
        let name = if i % 2 == 0 { "random" } else { "text" };
        let path = dir.join(format!("{name}-{i}.bin"));
        let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        for _ in 0..*mib {
            if i % 2 == 0 {
                g.random(&mut block);
            } else {
                g.text(&mut block);
            }
            f.write_all(&block).unwrap();
        }
        f.flush().unwrap();
        total += mib * MIB;
    }
    total
}

fn sha256_file(path: &Path) -> String {
    let mut f = std::fs::File::open(path).unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; MIB as usize];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

/// Every file under `dir` with its hash, every directory and link.
fn hash_tree(dir: &Path, root: &Path, out: &mut BTreeMap<PathBuf, String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let rel = p.strip_prefix(root).unwrap().to_owned();
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.is_symlink() {
            out.insert(rel, format!("link {:?}", std::fs::read_link(&p).unwrap()));
        } else if m.is_dir() {
            out.insert(rel, "dir".into());
            hash_tree(&p, root, out);
        } else {
            out.insert(rel, sha256_file(&p));
        }
    }
}

fn tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    hash_tree(dir, dir, &mut out);
    out
}

/// A field of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Samples this process's RSS every 10 ms until `peak()`; also resets the kernel's
/// high-water mark (VmHWM) at the start so it covers only this span.
struct RssWatch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl RssWatch {
    fn start() -> RssWatch {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !s.load(Ordering::Relaxed) {
                peak = peak.max(status_kib("VmRSS:"));
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        });
        RssWatch {
            stop,
            thread: Some(thread),
        }
    }

    /// (sampled peak VmRSS, VmHWM) in KiB.
    fn peak(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let sampled = self.thread.take().map(|t| t.join().unwrap()).unwrap_or(0);
        (sampled, status_kib("VmHWM:"))
    }
}

fn sh(script: &str) -> f64 {
    let t0 = Instant::now();
    let out = Command::new("sh")
        .args(["-c", script])
        .output()
        .expect("run sh");
    let secs = t0.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    secs
}

fn need(program: &str) {
    let found = Command::new(program).arg("--version").output().is_ok();
    assert!(
        found,
        "{program} is needed for the backup benchmark's baseline: .ci/run installs it (Debian package)"
    );
}

fn spec(id: &ServerId) -> RunSpec {
    RunSpec {
        id: id.clone(),
        command: vec!["/bin/sh".into(), "-c".into(), "sleep 60".into()],
        env: BTreeMap::new(),
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

/// Waits for the end of `backup`'s `op`; panics unless it finished.
async fn finished(
    rx: &mut mpsc::Receiver<Event>,
    backup: &str,
    op: BackupOp,
) -> Option<garrison_proto::BackupResult> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1800);
    loop {
        let ev = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("the backup did not end within 30 minutes")
            .expect("event channel closed");
        let Event::Backup(ev) = ev else { continue };
        if ev.backup != backup || ev.op != op || !ev.stage.is_end() {
            continue;
        }
        match ev.stage {
            BackupStage::Finished { result } => return result,
            other => panic!("{op:?} of {backup} ended {other:?}"),
        }
    }
}

fn mib_s(bytes: u64, secs: f64) -> String {
    format!("{:.0} MiB/s", bytes as f64 / MIB as f64 / secs)
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / MIB as f64)
}

fn print_table(rows: &[(String, String)], full: bool) {
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    println!("\n| {:w$} | result |", "benchmark");
    println!("|{}|--------|", "-".repeat(w + 2));
    for r in rows {
        println!("| {:w$} | {} |", r.0, r.1);
    }
    if !full {
        println!(
            "(smoke run with small numbers; `cargo bench -p garrison-agent --bench backup` for the real figures)"
        );
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(full));
}

async fn run(full: bool) {
    need("tar");
    need("zstd");
    let set = if full {
        // 20,000 × ~32.5 KiB ≈ 635 MiB of small files + 1,413 MiB large = 2 GiB.
        DataSet {
            small_files: 20_000,
            large_mib: vec![354, 353, 353, 353],
        }
    } else {
        DataSet {
            small_files: 300,
            large_mib: vec![3, 2],
        }
    };

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (tx, mut rx) = mpsc::channel(100_000);
    let agent: Arc<Agent> = Agent::new(AgentConfig::new(&data), tx);
    let id = ServerId::from("bench");
    agent.register(spec(&id)).await.unwrap();
    let server_dir = data.join("servers").join(id.as_str());
    std::fs::create_dir_all(&server_dir).unwrap();

    let t0 = Instant::now();
    let bytes = make_data_set(&server_dir, &set);
    let files = set.small_files + set.large_mib.len();
    let made_secs = t0.elapsed().as_secs_f64();
    let before = tree(&server_dir);
    let mut rows = vec![(
        "data set".to_owned(),
        format!(
            "{} in {files} files ({} small text files of 1–64 KiB, {} large half random / half text), made in {made_secs:.0} s",
            mib(bytes),
            set.small_files,
            set.large_mib.len()
        ),
    )];

    // Ours: create_backup through the agent until the `finished` event; twice, the
    // second measured (with the process's peak memory).
    let mut last = None;
    for run in 1..=2 {
        let name = format!("bench-{run}");
        let watch = (run == 2).then(RssWatch::start);
        let rss_before = status_kib("VmRSS:");
        let t0 = Instant::now();
        agent
            .create_backup(
                &id,
                BackupRequest {
                    backup: name.clone(),
                    ignore: vec![],
                    compression: Compression {
                        kind: CompressionKind::Zstd,
                        level: 1,
                    },
                    rate_limit_bytes_per_sec: None,
                    storage: StorageKind::Local,
                },
            )
            .await
            .unwrap();
        let result = finished(&mut rx, &name, BackupOp::Create)
            .await
            .expect("a finished backup has a result");
        let secs = t0.elapsed().as_secs_f64();
        if let Some(watch) = watch {
            let (sampled, hwm) = watch.peak();
            last = Some((name, result, secs, rss_before, sampled, hwm));
        }
    }
    let (name, result, ours_secs, rss_before, sampled, hwm) = last.unwrap();
    let digest: BackupDigest = result.digest.clone();

    // Baseline: tar | zstd -1 -T0, to a file beside ours; twice, the second measured.
    let out = tmp.path().join("baseline.tar.zst");
    let mut tar_secs = 0.0;
    for _ in 0..2 {
        tar_secs = sh(&format!(
            "tar -cf - -C '{}' . | zstd -1 -T0 -q -f -o '{}'",
            server_dir.display(),
            out.display()
        ));
    }
    let tar_size = std::fs::metadata(&out).unwrap().len();

    rows.push((
        "backup: ours (create_backup, local, zstd 1), 2nd run".into(),
        format!(
            "{} in {ours_secs:.1} s, archive {} ({:.2}× smaller)",
            mib_s(bytes, ours_secs),
            mib(digest.size),
            bytes as f64 / digest.size as f64
        ),
    ));
    rows.push((
        "backup: tar -cf - | zstd -1 -T0, 2nd run".into(),
        format!(
            "{} in {tar_secs:.1} s, archive {} ({:.2}× smaller)",
            mib_s(bytes, tar_secs),
            mib(tar_size),
            bytes as f64 / tar_size as f64
        ),
    ));
    rows.push((
        "backup: ours / baseline throughput".into(),
        format!("{:.2}×", tar_secs / ours_secs),
    ));
    rows.push((
        "backup: process peak RSS".into(),
        format!(
            "{} MiB sampled, {} MiB VmHWM (before: {} MiB)",
            sampled / 1024,
            hwm / 1024,
            rss_before / 1024
        ),
    ));
    assert_eq!(result.bytes, bytes, "the backup archived every byte");

    // Ours: a full restore with delete_extra, after changing files; twice, the second
    // measured, and the files checked against the data set after it.
    let location = BackupLocation {
        backup: name.clone(),
        storage: StorageKind::Local,
        compression: CompressionKind::Zstd,
    };
    let mut restore_secs = 0.0;
    for _ in 0..2 {
        std::fs::write(server_dir.join("text-1.bin"), b"changed").unwrap();
        std::fs::write(server_dir.join("extra.txt"), b"not in the backup").unwrap();
        let t0 = Instant::now();
        agent
            .restore_backup(
                &id,
                RestoreRequest {
                    location: location.clone(),
                    digest: digest.clone(),
                    delete_extra: true,
                    paths: vec![],
                },
            )
            .await
            .unwrap();
        finished(&mut rx, &name, BackupOp::Restore).await;
        restore_secs = t0.elapsed().as_secs_f64();
    }
    assert!(
        tree(&server_dir) == before,
        "the restored files differ from the backed-up ones"
    );

    // Baseline: zstd -d | tar -x into an empty directory; twice, the second measured.
    let dir2 = tmp.path().join("untar");
    let mut untar_secs = 0.0;
    for _ in 0..2 {
        let _ = std::fs::remove_dir_all(&dir2);
        std::fs::create_dir(&dir2).unwrap();
        untar_secs = sh(&format!(
            "zstd -d -c -q '{}' | tar -xf - -C '{}'",
            out.display(),
            dir2.display()
        ));
    }
    rows.push((
        "restore: ours (restore_backup, full, delete_extra), 2nd run".into(),
        format!("{} in {restore_secs:.1} s", mib_s(bytes, restore_secs)),
    ));
    rows.push((
        "restore: zstd -d -c | tar -xf -, 2nd run".into(),
        format!("{} in {untar_secs:.1} s", mib_s(bytes, untar_secs)),
    ));
    rows.push((
        "restore: ours / baseline throughput".into(),
        format!("{:.2}×", untar_secs / restore_secs),
    ));

    print_table(&rows, full);
    agent.shutdown().await;
}
