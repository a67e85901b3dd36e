//! `GET /metrics` for Prometheus. Counters and histograms (API requests and latencies,
//! backup and schedule outcomes) go through the `metrics` facade into one
//! process-wide recorder; per-server gauges (state, CPU, memory, disk, players) and the
//! node's are written at scrape time from the store and the history recorder, so they
//! are never stale and cost nothing between scrapes.
//!
//! With a token configured the endpoint needs `Authorization: Bearer <token>`; without
//! one only loopback clients may scrape it (server names are not for everyone).

use crate::AppState;
use crate::error::ApiError;
use crate::ratelimit::ClientIp;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use garrison_proto::ServerState;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct PrometheusSettings {
    pub enabled: bool,
    pub token: Option<String>,
}

impl Default for PrometheusSettings {
    fn default() -> Self {
        PrometheusSettings {
            enabled: true,
            token: None,
        }
    }
}

/// The process-wide recorder, installed on first use (`None` if another recorder was
/// installed first, as in some tests).
fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .ok()?;
            builder.install_recorder().ok()
        })
        .as_ref()
}

/// Installs the recorder (call once at start, before requests are counted).
pub fn install() {
    let _ = handle();
}

/// Counts every API request by method, route template and status, with its latency.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::counter!("garrison_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("garrison_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    res
}

/// A backup or restore ended (`outcome`: succeeded, failed, cancelled).
pub fn backup_outcome(op: &'static str, outcome: &'static str) {
    metrics::counter!("garrison_backup_operations_total", "operation" => op, "outcome" => outcome)
        .increment(1);
}

/// An alert was raised.
pub fn alert_fired(kind: &'static str) {
    metrics::counter!("garrison_alerts_fired_total", "kind" => kind).increment(1);
}

/// A schedule run ended.
pub fn schedule_outcome(outcome: &'static str) {
    metrics::counter!("garrison_schedule_runs_total", "outcome" => outcome).increment(1);
}

/// A per-server gauge: name, help, and its value from the server's latest sample and
/// player count.
type Gauge = (
    &'static str,
    &'static str,
    fn(&crate::history::Latest, Option<u32>) -> Option<f64>,
);

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Equal without telling by timing where they differ (tokens).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `/metrics`, outside `/api` (where Prometheus looks by default).
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/metrics", axum::routing::get(scrape))
}

/// No permission: a bearer token when one is configured, else loopback clients only.
pub async fn scrape(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Response {
    let settings = &state.config.prometheus;
    if !settings.enabled {
        return ApiError::NotFound("route".into()).into_response();
    }
    match &settings.token {
        Some(token) => {
            let given = crate::auth::bearer(&headers).unwrap_or_default();
            if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
                return ApiError::Unauthorized.into_response();
            }
        }
        None if !ip.is_loopback() => {
            return ApiError::Forbidden(
                "set [metrics] token in garrison.toml to scrape from another machine".into(),
            )
            .into_response();
        }
        None => {}
    }
    match render(&state).await {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn render(state: &AppState) -> Result<String, ApiError> {
    let mut out = handle().map(|h| h.render()).unwrap_or_default();
    let servers = state.store.list_servers().await?;
    let _ = writeln!(
        out,
        "# HELP garrison_info Garrison's version and database.\n# TYPE garrison_info gauge\ngarrison_info{{version=\"{}\",database=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        state.store.backend()
    );
    out.push_str("# HELP garrison_servers Servers by state.\n# TYPE garrison_servers gauge\n");
    for st in ServerState::ALL {
        let n = servers.iter().filter(|r| r.state == st).count();
        let _ = writeln!(out, "garrison_servers{{state=\"{}\"}} {n}", st.as_str());
    }
    out.push_str(
        "# HELP garrison_server_up 1 while the server is running.\n# TYPE garrison_server_up gauge\n",
    );
    for r in &servers {
        let _ = writeln!(
            out,
            "garrison_server_up{{server=\"{}\",name=\"{}\",state=\"{}\"}} {}",
            label(r.id.as_str()),
            label(&r.name),
            r.state.as_str(),
            u8::from(r.state == ServerState::Running)
        );
    }
    let gauges: [Gauge; 4] = [
        (
            "garrison_server_cpu_percent",
            "CPU use, percent of one core.",
            |l, _| Some(l.stats.cpu_percent),
        ),
        (
            "garrison_server_memory_bytes",
            "Resident memory of the server's processes.",
            |l, _| Some(l.stats.memory_bytes as f64),
        ),
        (
            "garrison_server_disk_bytes",
            "Bytes in the server's directory.",
            |l, _| Some(l.stats.disk_bytes as f64),
        ),
        (
            "garrison_server_players",
            "Players online (servers with a query or console patterns).",
            |_, p| p.map(f64::from),
        ),
    ];
    let latest: Vec<_> = servers
        .iter()
        .filter_map(|r| state.history.get(&r.id).map(|l| (r, l)))
        .collect();
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (r, l) in &latest {
            if let Some(v) = value(l, state.players.count(&r.id)) {
                let _ = writeln!(
                    out,
                    "{name}{{server=\"{}\",name=\"{}\"}} {v}",
                    label(r.id.as_str()),
                    label(&r.name)
                );
            }
        }
    }
    if let Some(h) = state.history.host() {
        let node = crate::history::LOCAL_NODE;
        for (name, help, v) in [
            (
                "garrison_node_cpu_percent",
                "The node's CPU use, percent of all cores.",
                h.cpu_percent,
            ),
            (
                "garrison_node_memory_used_bytes",
                "The node's memory in use.",
                h.memory_used_bytes as f64,
            ),
            (
                "garrison_node_memory_total_bytes",
                "The node's memory.",
                h.memory_total_bytes as f64,
            ),
            (
                "garrison_node_disk_used_bytes",
                "Used bytes of the disk holding the data directory.",
                h.disk_used_bytes as f64,
            ),
            (
                "garrison_node_disk_total_bytes",
                "Size of the disk holding the data directory.",
                h.disk_total_bytes as f64,
            ),
            (
                "garrison_node_load1",
                "The node's 1-minute load average.",
                h.load[0],
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{node=\"{node}\"}} {v}"
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn tokens_compare_fully() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
