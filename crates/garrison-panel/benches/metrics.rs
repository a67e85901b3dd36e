//! Metrics ingestion cost at the DESIGN budget: 1,000 servers sampled every 5 s, written
//! through the panel's `Store` (one `insert_samples` batch per round, as the history
//! writer does) on SQLite and PostgreSQL. Per round: wall time of the write and the CPU
//! time our process spent in it (`/proc/self/stat` utime + stime); for PostgreSQL also
//! the CPU of the server backends serving our database (`/proc/<pid>/stat` of the pids
//! in `pg_stat_activity`; the WAL writer, checkpointer and other background processes
//! are not counted). At the end: raw → minute and minute → hour rollups and a prune of
//! the raw rows once they are past 24 h, each timed. CPU % is of one core at the 5 s
//! cadence. Asserts that every row was stored and rolled up so it cannot measure
//! nothing; no assertion is about time.
//!
//! `cargo bench -p garrison-panel --bench metrics` for the real figures (60 rounds of
//! 1,000 servers = 5 simulated minutes); under `cargo test` or with `--quick`, 3 rounds
//! of 100 servers. PostgreSQL runs when `GARRISON_TEST_POSTGRES_URL` names an account
//! allowed to `CREATE DATABASE` (a fresh database is created and dropped afterwards).

use garrison_panel::store::{MetricSample, RES_HOUR, RES_MINUTE, RES_RAW, Store};
use sqlx::{AssertSqlSafe, Connection};
use std::time::{Duration, Instant};

/// Simulated sampling period.
const EVERY_MS: i64 = 5_000;
/// 2026-01-01T00:00:00Z: an hour boundary, so the simulated minutes fall in one hour.
const BASE: i64 = 1_767_225_600_000;
/// Kernel clock ticks per second for `/proc/*/stat` times (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

/// Fast reproducible numbers: xorshift64*.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A simulated server: a steady state its samples wander around.
struct Server {
    id: String,
    cpu: f64,
    memory: u64,
    disk: u64,
    max_players: u32,
}

fn servers(n: usize, g: &mut Gen) -> Vec<Server> {
    (0..n)
        .map(|_| Server {
            // Server ids are UUIDs.
            id: uuid::Uuid::from_u64_pair(g.next(), g.next()).to_string(),
            cpu: 5.0 + g.unit() * 150.0,
            memory: (512 + g.next() % (7 * 1024 + 512)) * 1024 * 1024,
            disk: (1 + g.next() % 40) * 1024 * 1024 * 1024,
            max_players: [8, 16, 20, 32, 64][(g.next() % 5) as usize],
        })
        .collect()
}

/// One round's batch: every server's CPU, memory, disk and players, as the history
/// writer stores them.
fn round(servers: &[Server], at: i64, g: &mut Gen) -> Vec<MetricSample> {
    servers
        .iter()
        .map(|s| {
            let jitter = 0.8 + g.unit() * 0.4;
            MetricSample {
                target: s.id.clone(),
                at,
                cpu: Some((s.cpu * jitter * 100.0).round() / 100.0),
                memory: Some((s.memory as f64 * (0.95 + g.unit() * 0.1)) as u64),
                disk: Some(s.disk + g.next() % (64 * 1024 * 1024)),
                players: Some((g.next() % (u64::from(s.max_players) + 1)) as u32),
                ..MetricSample::default()
            }
        })
        .collect()
}

/// utime + stime of a process in clock ticks, `None` when it cannot be read (gone, or
/// on another machine).
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields after it start with the state (field 3).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// The PostgreSQL server side: an admin connection to find our database's backends.
struct PgServer {
    admin: sqlx::AnyConnection,
    name: String,
}

impl PgServer {
    async fn backends(&mut self) -> Vec<i32> {
        sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE datname = $1")
            .bind(self.name.as_str())
            .fetch_all(&mut self.admin)
            .await
            .unwrap()
    }

    /// CPU ticks of each backend, `None` when any of them cannot be read.
    async fn ticks(&mut self) -> Option<Vec<(i32, u64)>> {
        let pids = self.backends().await;
        if pids.is_empty() {
            return None;
        }
        pids.into_iter()
            .map(|p| cpu_ticks(&p.to_string()).map(|t| (p, t)))
            .collect()
    }
}

/// Ticks the backends spent between two readings; a backend that appeared in between
/// counts with all its time.
fn server_delta(before: &[(i32, u64)], after: &[(i32, u64)]) -> u64 {
    after
        .iter()
        .map(|(p, t)| {
            let was = before.iter().find(|(q, _)| q == p).map_or(0, |(_, t)| *t);
            t.saturating_sub(was)
        })
        .sum()
}

struct Outcome {
    backend: &'static str,
    rows: usize,
    rounds: usize,
    median: Duration,
    p95: Duration,
    /// Our process's CPU seconds per round (mean).
    cpu_s: f64,
    /// The PostgreSQL backends' CPU seconds per round (mean), when measured.
    server_cpu_s: Option<f64>,
    rollup_minute: Duration,
    rollup_hour: Duration,
    prune: Duration,
    pruned: u64,
    /// SQLite's .db + -wal after the writes.
    size: Option<u64>,
}

async fn run_backend(
    backend: &'static str,
    url: &str,
    mut pg: Option<PgServer>,
    sqlite_path: Option<&std::path::Path>,
    n_servers: usize,
    rounds: usize,
) -> Outcome {
    let store = Store::open(url).await.expect("open store");
    assert_eq!(store.backend(), backend);
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let fleet = servers(n_servers, &mut g);
    let self_pid = std::process::id().to_string();

    let mut times = Vec::with_capacity(rounds);
    let mut cpu_total = 0u64;
    let mut server_total = Some(0u64);
    for r in 0..rounds {
        let batch = round(&fleet, BASE + r as i64 * EVERY_MS, &mut g);
        let server_before = match &mut pg {
            Some(pg) => pg.ticks().await,
            None => None,
        };
        let cpu_before = cpu_ticks(&self_pid).expect("read /proc/self/stat");
        let t0 = Instant::now();
        let written = store.insert_samples(&batch).await.expect("insert samples");
        let took = t0.elapsed();
        let cpu_after = cpu_ticks(&self_pid).expect("read /proc/self/stat");
        let server_after = match &mut pg {
            Some(pg) => pg.ticks().await,
            None => None,
        };
        assert_eq!(written, n_servers as u64, "round {r}: every sample is new");
        times.push(took);
        cpu_total += cpu_after - cpu_before;
        server_total = match (server_total, server_before, server_after) {
            (Some(t), Some(b), Some(a)) => Some(t + server_delta(&b, &a)),
            _ => None,
        };
    }
    let size = sqlite_path.map(|p| {
        let len = |p: std::path::PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
        len(p.to_owned()) + len(p.with_extension("db-wal"))
    });

    // Every row is there: the first and last servers have one raw point per round.
    let end = BASE + rounds as i64 * EVERY_MS;
    for s in [&fleet[0], &fleet[n_servers - 1]] {
        let points = store
            .metric_series(&s.id, RES_RAW, BASE, end, 10_000)
            .await
            .unwrap();
        assert_eq!(points.len(), rounds, "raw points of {}", s.id);
        assert!(points.iter().all(|p| p.cpu.is_some() && p.samples == 1));
    }

    let t0 = Instant::now();
    let minutes = store
        .rollup_metrics(
            RES_RAW,
            RES_MINUTE,
            BASE,
            (end + RES_MINUTE - 1) / RES_MINUTE * RES_MINUTE,
        )
        .await
        .unwrap();
    let rollup_minute = t0.elapsed();
    let minutes_per_server = ((end - BASE + RES_MINUTE - 1) / RES_MINUTE) as usize;
    assert_eq!(minutes, (n_servers * minutes_per_server) as u64);

    let t0 = Instant::now();
    let hours = store
        .rollup_metrics(RES_MINUTE, RES_HOUR, BASE, BASE + RES_HOUR)
        .await
        .unwrap();
    let rollup_hour = t0.elapsed();
    assert_eq!(hours, n_servers as u64);
    let hour = store
        .metric_series(&fleet[0].id, RES_HOUR, BASE, BASE + RES_HOUR, 10)
        .await
        .unwrap();
    assert_eq!(hour.len(), 1);
    assert_eq!(
        hour[0].samples, rounds as i64,
        "the hour counts every raw sample"
    );

    // 24 h later every raw row written here is past the raw retention: the prune that
    // runs then deletes them all.
    let now = end + 24 * RES_HOUR;
    let t0 = Instant::now();
    let pruned = store
        .prune_metrics(RES_RAW, now - 24 * RES_HOUR)
        .await
        .unwrap();
    let prune = t0.elapsed();
    assert_eq!(pruned, (n_servers * rounds) as u64);

    store.close().await;
    if let Some(pg) = pg {
        pg.admin.close().await.ok();
    }

    times.sort();
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    Outcome {
        backend,
        rows: n_servers,
        rounds,
        median: pct(0.5),
        p95: pct(0.95),
        cpu_s: cpu_total as f64 / TICKS / rounds as f64,
        server_cpu_s: server_total.map(|t| t as f64 / TICKS / rounds as f64),
        rollup_minute,
        rollup_hour,
        prune,
        pruned,
        size,
    }
}

/// Replaces the database name in a `postgres://` URL, keeping any query string.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let rest = &base[scheme_end..];
    let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
    let mut out = format!("{}{}/{}", &base[..scheme_end], authority, db);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Runs the PostgreSQL side in a fresh database, dropped afterwards (also on panic).
/// `Err` when the server cannot be reached.
async fn run_postgres(admin_url: &str, n_servers: usize, rounds: usize) -> Result<Outcome, String> {
    sqlx::any::install_default_drivers();
    let name = format!("garrison_bench_{}", uuid::Uuid::now_v7().simple());
    let mut admin = sqlx::AnyConnection::connect(admin_url)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .expect("create bench database");
    let url = with_database(admin_url, &name);
    let pg = PgServer {
        admin,
        name: name.clone(),
    };
    let res = tokio::spawn(async move {
        run_backend("postgres", &url, Some(pg), None, n_servers, rounds).await
    })
    .await;
    if let Ok(mut conn) = sqlx::AnyConnection::connect(admin_url).await {
        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        if let Err(e) = sqlx::query(AssertSqlSafe(sql)).execute(&mut conn).await {
            eprintln!("cannot drop bench database {name}: {e}");
        }
        conn.close().await.ok();
    }
    match res {
        Ok(o) => Ok(o),
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn print_table(outcomes: &[Outcome], notes: &[String], full: bool) {
    let head = [
        "backend",
        "rows/round",
        "rounds",
        "write ms p50",
        "write ms p95",
        "rows/s",
        "panel CPU % (5 s)",
        "server CPU % (5 s)",
        "rollup raw→min ms",
        "rollup min→hour ms",
        "prune raw ms (rows)",
        "DB size after writes",
    ];
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            vec![
                o.backend.to_owned(),
                o.rows.to_string(),
                o.rounds.to_string(),
                ms(o.median),
                ms(o.p95),
                format!("{:.0}", o.rows as f64 / o.median.as_secs_f64()),
                format!("{:.2}", o.cpu_s / (EVERY_MS as f64 / 1000.0) * 100.0),
                match (o.backend, o.server_cpu_s) {
                    (_, Some(s)) => format!("{:.2}", s / (EVERY_MS as f64 / 1000.0) * 100.0),
                    ("sqlite", None) => "(in process)".to_owned(),
                    _ => "not measured".to_owned(),
                },
                ms(o.rollup_minute),
                ms(o.rollup_hour),
                format!("{} ({})", ms(o.prune), o.pruned),
                o.size.map_or("-".to_owned(), |b| {
                    format!("{:.1} MiB", b as f64 / 1024.0 / 1024.0)
                }),
            ]
        })
        .collect();
    let w: Vec<usize> = (0..head.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([head[c].chars().count()])
                .max()
                .unwrap()
        })
        .collect();
    let line = |cells: Vec<String>| {
        let cells: Vec<String> = cells
            .iter()
            .zip(&w)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        println!("| {} |", cells.join(" | "));
    };
    println!();
    line(head.iter().map(|h| h.to_string()).collect());
    println!(
        "|{}|",
        w.iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("|")
    );
    for r in rows {
        line(r);
    }
    for n in notes {
        println!("{n}");
    }
    println!(
        "CPU % = CPU seconds per round / 5 s × 100 (one core); /proc ticks are 10 ms, averaged over the rounds."
    );
    println!(
        "server CPU = the PostgreSQL backends of the bench database only (not WAL writer or checkpointer)."
    );
    if !full {
        println!(
            "(smoke run with small numbers; `cargo bench -p garrison-panel --bench metrics` for the real figures)"
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--quick");
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(full));
}

async fn run(full: bool) {
    let (n_servers, rounds) = if full { (1_000, 60) } else { (100, 3) };
    let mut outcomes = Vec::new();
    let mut notes = Vec::new();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garrison.db");
    let url = format!("sqlite://{}", path.display());
    outcomes.push(run_backend("sqlite", &url, None, Some(&path), n_servers, rounds).await);

    match std::env::var("GARRISON_TEST_POSTGRES_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            match run_postgres(&admin_url, n_servers, rounds).await {
                Ok(o) => outcomes.push(o),
                // Do not echo the URL: it may hold a password.
                Err(e) => notes.push(format!("postgres: skipped (cannot connect: {e})")),
            }
        }
        _ => notes.push("postgres: skipped (no GARRISON_TEST_POSTGRES_URL)".to_owned()),
    }
    print_table(&outcomes, &notes, full);
}
