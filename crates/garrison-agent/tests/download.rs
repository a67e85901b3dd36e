//! Downloads against a tiny HTTP/1.1 server written here, which can drop connections
//! mid-body, ignore `Range` and redirect anywhere.

use garrison_agent::install::{DownloadError, DownloadRequest, build_client, download};
use sha2::Digest;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server got: the request line and the headers (lowercased names).
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Announce the full body but send only this many bytes, then drop the connection.
    cut_after: Option<usize>,
}

impl Reply {
    fn ok(body: &[u8]) -> Reply {
        Reply {
            status: 200,
            headers: vec![],
            body: body.to_vec(),
            cut_after: None,
        }
    }
    fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: vec![],
            body: b"nope".to_vec(),
            cut_after: None,
        }
    }
    fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

type Handler = Arc<dyn Fn(&Seen, usize) -> Reply + Send + Sync>;

struct Server {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    async fn start(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let handler = Arc::clone(&handler);
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        if buf.len() > 64 * 1024 {
                            return;
                        }
                    }
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    let mut lines = text.split("\r\n");
                    let request_line = lines.next().unwrap_or_default();
                    let path = request_line
                        .split(' ')
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    let headers = lines
                        .take_while(|l| !l.is_empty())
                        .filter_map(|l| l.split_once(':'))
                        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                        .collect();
                    let seen = Seen { path, headers };
                    let index = {
                        let mut log = log.lock().unwrap();
                        log.push(seen.clone());
                        log.len() - 1
                    };
                    let reply = handler(&seen, index);
                    let mut head = format!(
                        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                        reply.status,
                        reply.body.len()
                    );
                    for (n, v) in &reply.headers {
                        head.push_str(&format!("{n}: {v}\r\n"));
                    }
                    head.push_str("\r\n");
                    let body = match reply.cut_after {
                        Some(n) => &reply.body[..n],
                        None => &reply.body[..],
                    };
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(body).await;
                    let _ = sock.flush().await;
                    // Dropping the socket closes it; a cut reply ends mid-body.
                });
            }
        });
        Server { base, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn payload() -> Vec<u8> {
    (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

fn sha256(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

fn sha1(b: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(b))
}

fn request(url: String, body: &[u8]) -> DownloadRequest {
    DownloadRequest {
        sha256: Some(sha256(body)),
        sha1: Some(sha1(body)),
        size: Some(body.len() as u64),
        allow_http: true,
        allow_private: true,
        attempts: 3,
        ..DownloadRequest::new(url)
    }
}

/// Serve `body` honouring `Range: bytes=N-` with a 206.
fn ranged(body: &[u8], seen: &Seen) -> Reply {
    if let Some(start) = seen
        .header("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok())
    {
        let total = body.len();
        return Reply {
            status: 206,
            headers: vec![
                (
                    "Content-Range".to_owned(),
                    format!("bytes {start}-{}/{total}", total - 1),
                ),
                ("Accept-Ranges".to_owned(), "bytes".to_owned()),
            ],
            body: body[start..].to_vec(),
            cut_after: None,
        };
    }
    Reply::ok(body).header("Accept-Ranges", "bytes")
}

#[tokio::test]
async fn plain_download_with_checksums() {
    let body = payload();
    let b = body.clone();
    let server = Server::start(move |_, _| Reply::ok(&b)).await;
    let tmp = tempfile::tempdir().unwrap();
    let part = tmp.path().join("file.part");
    let client = build_client().unwrap();
    let mut reports = Vec::new();
    let out = download(
        &client,
        &request(server.url("/file"), &body),
        &part,
        &mut |p| reports.push(p),
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&part).unwrap(), body);
    assert_eq!(out.bytes, body.len() as u64);
    assert_eq!(out.sha256, sha256(&body));
    assert_eq!(out.sha1, sha1(&body));
    assert_eq!(out.attempts, 1);
    assert!(!out.resumed);
    assert!(
        reports.len() >= 3 && reports.len() < 40,
        "{}",
        reports.len()
    );
    assert_eq!(reports.last().unwrap().bytes, body.len() as u64);
    assert!(reports.windows(2).all(|w| w[0].bytes <= w[1].bytes));
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("accept-encoding"), Some("identity"));
}

#[tokio::test]
async fn wrong_checksum_deletes_the_part() {
    let body = payload();
    let b = body.clone();
    let server = Server::start(move |_, _| Reply::ok(&b)).await;
    let tmp = tempfile::tempdir().unwrap();
    let part = tmp.path().join("file.part");
    let client = build_client().unwrap();
    let mut req = request(server.url("/file"), &body);
    req.sha256 = Some(sha256(b"something else"));
    let err = download(&client, &req, &part, &mut |_| {})
        .await
        .unwrap_err();
    match err {
        DownloadError::ChecksumMismatch {
            algorithm,
            expected,
            got,
        } => {
            assert_eq!(algorithm, "sha256");
            assert_eq!(expected, sha256(b"something else"));
            assert_eq!(got, sha256(&body));
        }
        other => panic!("{other:?}"),
    }
    assert!(!part.exists());
    // sha1 is checked too.
    let mut req = request(server.url("/file"), &body);
    req.sha1 = Some("0".repeat(40));
    let err = download(&client, &req, &part, &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DownloadError::ChecksumMismatch {
                algorithm: "sha1",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!part.exists());
    // A malformed expected digest is refused before connecting.
    let before = server.seen().len();
    let mut req = request(server.url("/file"), &body);
    req.sha256 = Some("xyz".to_owned());
    let err = download(&client, &req, &part, &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, DownloadError::InvalidChecksum { .. }),
        "{err:?}"
    );
    assert_eq!(server.seen().len(), before);
}

#[tokio::test]
async fn dropped_connection_resumes_with_range() {
    let body = payload();
    let b = body.clone();
    let server = Server::start(move |seen, index| {
        if index == 0 {
            let mut r = Reply::ok(&b)
                .header("Accept-Ranges", "bytes")
                .header("ETag", "\"v1\"");
            r.cut_after = Some(b.len() / 2);
            r
        } else {
            ranged(&b, seen).header("ETag", "\"v1\"")
        }
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let part = tmp.path().join("file.part");
    let client = build_client().unwrap();
    let out = download(
        &client,
        &request(server.url("/file"), &body),
        &part,
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&part).unwrap(), body);
    assert!(out.resumed);
    assert_eq!(out.attempts, 2);
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].header("range"), None);
    let range = seen[1].header("range").unwrap();
    let start: usize = range
        .strip_prefix("bytes=")
        .and_then(|r| r.strip_suffix('-'))
        .unwrap()
        .parse()
        .unwrap();
    assert!(start > 0 && start <= body.len() / 2, "{range}");
    assert_eq!(seen[1].header("if-range"), Some("\"v1\""));
}

#[tokio::test]
async fn existing_part_is_resumed() {
    let body = payload();
    let b = body.clone();
    let server = Server::start(move |seen, _| ranged(&b, seen)).await;
    let tmp = tempfile::tempdir().unwrap();
    let part = tmp.path().join("file.part");
    std::fs::write(&part, &body[..100_000]).unwrap();
    let client = build_client().unwrap();
    let out = download(
        &client,
        &request(server.url("/file"), &body),
        &part,
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&part).unwrap(), body);
    assert!(out.resumed);
    assert_eq!(out.sha256, sha256(&body));
    assert_eq!(server.seen()[0].header("range"), Some("bytes=100000-"));
}

#[tokio::test]
async fn server_ignoring_range_still_gives_a_correct_file() {
    let body = payload();
    let b = body.clone();
    let server = Server::start(move |_, index| {
        let mut r = Reply::ok(&b).header("Accept-Ranges", "bytes");
        if index == 0 {
            r.cut_after = Some(b.len() / 3);
        }
        r
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let part = tmp.path().join("file.part");
    // A stale part from an earlier run, too.
    std::fs::write(&part, &body[..5000]).unwrap();
    let client = build_client().unwrap();
    let out = download(
        &client,
        &request(server.url("/file"), &body),
        &part,
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&part).unwrap(), body);
    assert_eq!(out.sha256, sha256(&body));
    assert!(!out.resumed);
    let seen = server.seen();
    assert!(seen.len() >= 2);
    assert!(seen.iter().any(|s| s.header("range").is_some()));
}

#[tokio::test]
async fn server_errors_are_retried_and_404_is_not() {
    let body = payload();
    let b = body.clone();
    let server = Server::start(move |seen, index| match seen.path.as_str() {
        "/flaky" if index < 2 => Reply::status(503),
        "/flaky" => Reply::ok(&b),
        _ => Reply::status(404),
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let part = tmp.path().join("file.part");
    let client = build_client().unwrap();
    let out = download(
        &client,
        &request(server.url("/flaky"), &body),
        &part,
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(out.attempts, 3);
    assert_eq!(std::fs::read(&part).unwrap(), body);

    let before = server.seen().len();
    let err = download(
        &client,
        &request(server.url("/missing"), &body),
        &part,
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, DownloadError::HttpStatus { status: 404, .. }),
        "{err:?}"
    );
    assert_eq!(server.seen().len(), before + 1, "404 must not be retried");
}

#[tokio::test]
async fn http_without_allow_http_is_refused_before_connecting() {
    let server = Server::start(|_, _| Reply::ok(b"x")).await;
    let tmp = tempfile::tempdir().unwrap();
    let part = tmp.path().join("file.part");
    let client = build_client().unwrap();
    let mut req = DownloadRequest::new(server.url("/file"));
    req.allow_http = false;
    req.allow_private = true;
    let err = download(&client, &req, &part, &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, DownloadError::InsecureUrl { .. }), "{err:?}");
    for url in ["ftp://example.com/x", "file:///etc/passwd", "data:,hi"] {
        let mut req = DownloadRequest::new(url);
        req.allow_http = true;
        req.allow_private = true;
        let err = download(&client, &req, &part, &mut |_| {})
            .await
            .unwrap_err();
        assert!(
            matches!(err, DownloadError::InsecureUrl { .. }),
            "{url}: {err:?}"
        );
    }
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn redirects_to_other_schemes_are_refused() {
    let body = payload();
    let b = body.clone();
    let server = Server::start(move |seen, _| match seen.path.as_str() {
        "/ftp" => Reply::status(302).header("Location", "ftp://127.0.0.1/evil"),
        "/file" => Reply::status(302).header("Location", "file:///etc/passwd"),
        "/hop" => Reply::status(301).header("Location", "/real"),
        "/real" => Reply::ok(&b),
        "/loop" => Reply::status(302).header("Location", "/loop"),
        _ => Reply::status(404),
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let part = tmp.path().join("file.part");
    let client = build_client().unwrap();
    for path in ["/ftp", "/file"] {
        let err = download(
            &client,
            &request(server.url(path), &body),
            &part,
            &mut |_| {},
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, DownloadError::InsecureUrl { .. }),
            "{path}: {err:?}"
        );
    }
    let err = download(
        &client,
        &request(server.url("/loop"), &body),
        &part,
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, DownloadError::TooManyRedirects { .. }),
        "{err:?}"
    );
    let loops = server.seen().iter().filter(|s| s.path == "/loop").count();
    assert_eq!(loops, 6, "initial request plus 5 redirects, no retries");
    let out = download(
        &client,
        &request(server.url("/hop"), &body),
        &part,
        &mut |_| {},
    )
    .await
    .unwrap();
    assert!(out.final_url.ends_with("/real"));
    assert_eq!(std::fs::read(&part).unwrap(), body);
}

#[tokio::test]
async fn too_large_is_refused() {
    let body = payload();
    let b = body.clone();
    let server = Server::start(move |_, _| Reply::ok(&b)).await;
    let tmp = tempfile::tempdir().unwrap();
    let part = tmp.path().join("file.part");
    let client = build_client().unwrap();
    let mut req = request(server.url("/file"), &body);
    req.size = None;
    req.max_bytes = 1000;
    let err = download(&client, &req, &part, &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, DownloadError::TooLarge { limit: 1000, .. }),
        "{err:?}"
    );
    assert!(!part.exists());
    // A wrong expected size fails as soon as the length is known.
    let mut req = request(server.url("/file"), &body);
    req.size = Some(10);
    let err = download(&client, &req, &part, &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, DownloadError::SizeMismatch { expected: 10, got } if got == body.len() as u64),
        "{err:?}"
    );
    assert!(!part.exists());
}

#[tokio::test]
async fn too_large_while_streaming_without_content_length() {
    // Chunked response with no Content-Length: the limit is enforced by counting.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/big", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                    .await;
                let chunk = vec![b'a'; 8192];
                for _ in 0..64 {
                    let head = format!("{:x}\r\n", chunk.len());
                    if sock.write_all(head.as_bytes()).await.is_err()
                        || sock.write_all(&chunk).await.is_err()
                        || sock.write_all(b"\r\n").await.is_err()
                    {
                        return;
                    }
                }
                let _ = sock.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let part = tmp.path().join("file.part");
    let client = build_client().unwrap();
    let mut req = DownloadRequest::new(url);
    req.allow_http = true;
    req.allow_private = true;
    req.max_bytes = 100_000;
    let err = download(&client, &req, &part, &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, DownloadError::TooLarge { .. }), "{err:?}");
    assert!(!part.exists());
}

#[test]
fn download_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let client = build_client().unwrap();
    let req = DownloadRequest::new("https://example.invalid/x");
    let part = std::path::PathBuf::from("/nonexistent/part");
    let mut progress = |_| {};
    let fut = download(&client, &req, &part, &mut progress);
    assert_send(&fut);
}
