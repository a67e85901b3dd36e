//! Fetching server files over HTTP(S), verified and resumable.
//!
//! Game server downloads are large and mirrors flaky, so a dropped connection resumes
//! with a `Range` request instead of starting over, and a part file left by an earlier
//! interrupted install is picked up again. Because resuming splices bytes from
//! different responses, the checksums are always computed over the whole final file
//! (re-reading what was already on disk), never over what one response delivered.

use futures_util::StreamExt;
use garrison_outbound::RedirectRefused;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Redirect hops followed before giving up.
pub const MAX_REDIRECTS: usize = 5;
/// Progress is reported at most once per this many bytes (plus at start and end).
const PROGRESS_EVERY: u64 = 64 * 1024;
/// First retry delay; doubled per retry up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What to fetch and how to check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadRequest {
    pub url: String,
    /// Exact expected size in bytes, when the template knows it.
    pub size: Option<u64>,
    /// Expected SHA-256, hex (any case).
    pub sha256: Option<String>,
    /// Expected SHA-1, hex (any case); some vendors publish nothing better.
    pub sha1: Option<String>,
    /// Refuse anything larger, by `Content-Length` up front and by counting.
    pub max_bytes: u64,
    /// Permit plain `http://` (for mirrors on a LAN); HTTPS is required otherwise, on
    /// every redirect hop too.
    pub allow_http: bool,
    /// Permit private and loopback addresses given as IP literals (a LAN mirror). Names
    /// are filtered by the client's resolver ([`build_client_with`]).
    pub allow_private: bool,
    /// Tries in total, including the first (0 counts as 1).
    pub attempts: u32,
}

impl DownloadRequest {
    /// HTTPS only, 16 GiB at most, 5 attempts, no checksums.
    pub fn new(url: impl Into<String>) -> DownloadRequest {
        DownloadRequest {
            url: url.into(),
            size: None,
            sha256: None,
            sha1: None,
            max_bytes: 16 * 1024 * 1024 * 1024,
            allow_http: false,
            allow_private: false,
            attempts: 5,
        }
    }
}

/// Reported while downloading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadProgress {
    /// Bytes in the part file so far (including resumed ones).
    pub bytes: u64,
    /// The full size, when the server or the request told.
    pub total: Option<u64>,
}

/// A finished, verified download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadOutcome {
    pub bytes: u64,
    /// Lowercase hex digests of the whole file (computed even when not requested, for
    /// logs and for pinning a template).
    pub sha256: String,
    pub sha1: String,
    /// Requests made, including retries.
    pub attempts: u32,
    /// Whether any bytes came from a `Range` resume (within this call or from a part
    /// file left earlier).
    pub resumed: bool,
    /// The URL after redirects.
    pub final_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("refusing insecure URL {url:?}: only https is allowed")]
    InsecureUrl { url: String },
    #[error("refusing {url:?}: {host} is a private or loopback address")]
    PrivateAddress { url: String, host: String },
    #[error("too many redirects (more than {MAX_REDIRECTS}) from {url}")]
    TooManyRedirects { url: String },
    #[error("invalid expected {algorithm} {value:?}: not a hex digest")]
    InvalidChecksum {
        algorithm: &'static str,
        value: String,
    },
    #[error("{url} answered HTTP {status}")]
    HttpStatus { status: u16, url: String },
    #[error("downloading {url}: {source}")]
    Network {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("downloading {url}: {reason}")]
    Protocol { url: String, reason: String },
    #[error("{url} is larger than the limit of {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("size mismatch: expected {expected} bytes, got {got}")]
    SizeMismatch { expected: u64, got: u64 },
    #[error("{algorithm} mismatch: expected {expected}, got {got}")]
    ChecksumMismatch {
        algorithm: &'static str,
        expected: String,
        got: String,
    },
    #[error("building the HTTP client: {source}")]
    Client {
        #[source]
        source: reqwest::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The redirect policy [`download`] relies on: at most [`MAX_REDIRECTS`] hops, only
/// http(s), and never from https down to http. Whether plain http is allowed at all is
/// per request; [`download`] checks the first URL, and a chain that starts on http
/// (allowed) may stay on http but a chain that reached https may not leave it.
pub fn redirect_policy() -> reqwest::redirect::Policy {
    redirect_policy_with(true)
}

/// [`redirect_policy`], refusing hops to private or loopback IP literals unless
/// `allow_private` ([`garrison_outbound::redirect_policy`]).
pub fn redirect_policy_with(allow_private: bool) -> reqwest::redirect::Policy {
    garrison_outbound::redirect_policy(allow_private, MAX_REDIRECTS)
}

/// A client for [`download`]: rustls (aws-lc-rs) with the platform verifier, the
/// redirect policy above, no transparent decompression (sizes, ranges and checksums are
/// about the bytes on the wire) and timeouts for dead connections.
pub fn build_client() -> Result<reqwest::Client, DownloadError> {
    build_client_with(concat!("garrison-agent/", env!("CARGO_PKG_VERSION")), true)
}

/// [`build_client`] with a User-Agent, and (unless `allow_private`) a resolver that
/// drops private and loopback addresses and a redirect policy that refuses them: a
/// [`garrison_outbound::client`] without an overall timeout (downloads are large), with
/// connect and read timeouts for dead connections.
pub fn build_client_with(
    user_agent: &str,
    allow_private: bool,
) -> Result<reqwest::Client, DownloadError> {
    let opts = garrison_outbound::ClientOptions {
        allow_private,
        timeout: None,
        connect_timeout: Some(Duration::from_secs(30)),
        read_timeout: Some(Duration::from_secs(60)),
        user_agent: user_agent.to_owned(),
        max_redirects: MAX_REDIRECTS,
    };
    garrison_outbound::client(&opts).map_err(|e| match e {
        garrison_outbound::OutboundError::Client(source) => DownloadError::Client { source },
        other => DownloadError::InvalidUrl {
            url: String::new(),
            reason: other.to_string(),
        },
    })
}

/// Download `req.url` into `part`, verify it and return its digests.
///
/// `part` should be in a staging directory outside any server directory; move it into
/// the sandbox after success. The client should come from [`build_client`] (or carry
/// [`redirect_policy`]): the per-hop https rule lives in the client.
///
/// A `part` that already exists is resumed from its length when a checksum is given
/// (without one a remote file that changed in between would be spliced undetected, so
/// the part is started over). On a checksum or size mismatch, or when the file is too
/// large, the part file is deleted so the next install starts clean; after other
/// failures it is kept for resuming.
pub async fn download(
    client: &reqwest::Client,
    req: &DownloadRequest,
    part: &Path,
    progress: &mut (dyn FnMut(DownloadProgress) + Send),
) -> Result<DownloadOutcome, DownloadError> {
    let url = check_url(&req.url, req.allow_http)?;
    if !req.allow_private
        && let Some(host) = garrison_outbound::private_host(&url)
    {
        return Err(DownloadError::PrivateAddress {
            url: req.url.clone(),
            host,
        });
    }
    let sha256 = expected_hex(req.sha256.as_deref(), "sha256", 64)?;
    let sha1 = expected_hex(req.sha1.as_deref(), "sha1", 40)?;
    let io_err = |source| DownloadError::Io {
        path: part.to_path_buf(),
        source,
    };
    let file = tokio::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(part)
        .await
        .map_err(io_err)?;
    let mut st = State {
        url,
        part: part.to_path_buf(),
        file,
        offset: 0,
        sha256: Sha256::new(),
        sha1: Sha1::new(),
        can_resume: false,
        validator: None,
        total: req.size,
        resumed: false,
        final_url: req.url.clone(),
        reported: 0,
    };
    let existing = st.file.metadata().await.map_err(io_err)?.len();
    let keep_existing = existing > 0
        && (sha256.is_some() || sha1.is_some())
        && existing <= req.max_bytes
        && req.size.is_none_or(|s| existing <= s);
    if keep_existing {
        st.rehash(existing).await?;
        st.resumed = true;
        // We do not know yet whether the server can resume; asking costs nothing and a
        // 200 answer just starts over.
        st.can_resume = true;
    } else {
        st.restart().await?;
    }

    let max_attempts = req.attempts.max(1);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match st.attempt(client, req, progress).await {
            Ok(()) => break,
            Err(Failure::Fatal(e)) => return Err(st.fail(e).await),
            Err(Failure::Retry(e)) => {
                if attempt >= max_attempts {
                    return Err(st.fail(e).await);
                }
                let factor = 1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX);
                let delay = FIRST_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF);
                tracing::debug!(url = %req.url, attempt, ?delay, error = %e, "download retry");
                tokio::time::sleep(delay).await;
            }
        }
    }

    st.file.flush().await.map_err(io_err)?;
    st.file.sync_all().await.map_err(io_err)?;
    if let Some(expected) = req.size
        && st.offset != expected
    {
        let got = st.offset;
        return Err(st.fail(DownloadError::SizeMismatch { expected, got }).await);
    }
    let got256 = hex::encode(st.sha256.clone().finalize());
    let got1 = hex::encode(st.sha1.clone().finalize());
    for (algorithm, expected, got) in [("sha256", &sha256, &got256), ("sha1", &sha1, &got1)] {
        if let Some(expected) = expected
            && expected != got
        {
            return Err(st
                .fail(DownloadError::ChecksumMismatch {
                    algorithm,
                    expected: expected.clone(),
                    got: got.clone(),
                })
                .await);
        }
    }
    progress(DownloadProgress {
        bytes: st.offset,
        total: Some(st.offset),
    });
    Ok(DownloadOutcome {
        bytes: st.offset,
        sha256: got256,
        sha1: got1,
        attempts: attempt,
        resumed: st.resumed,
        final_url: st.final_url,
    })
}

fn check_url(raw: &str, allow_http: bool) -> Result<Url, DownloadError> {
    let url = Url::parse(raw).map_err(|e| DownloadError::InvalidUrl {
        url: raw.to_owned(),
        reason: e.to_string(),
    })?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        _ => {
            return Err(DownloadError::InsecureUrl {
                url: raw.to_owned(),
            });
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(DownloadError::InvalidUrl {
            url: raw.to_owned(),
            reason: "no host".to_owned(),
        });
    }
    Ok(url)
}

fn expected_hex(
    value: Option<&str>,
    algorithm: &'static str,
    len: usize,
) -> Result<Option<String>, DownloadError> {
    let Some(value) = value else { return Ok(None) };
    let v = value.trim().to_ascii_lowercase();
    if v.len() != len || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(DownloadError::InvalidChecksum {
            algorithm,
            value: value.to_owned(),
        });
    }
    Ok(Some(v))
}

enum Failure {
    /// Worth another attempt (network trouble, 5xx, 408, 429).
    Retry(DownloadError),
    Fatal(DownloadError),
}

/// One download in progress: the part file, how far it got and the running hashes.
struct State {
    url: Url,
    part: PathBuf,
    file: tokio::fs::File,
    offset: u64,
    sha256: Sha256,
    sha1: Sha1,
    /// Whether a dropped transfer may continue with `Range`.
    can_resume: bool,
    /// `If-Range` value (strong ETag or Last-Modified) so a resume never splices two
    /// versions of a file that changed during the download.
    validator: Option<HeaderValue>,
    total: Option<u64>,
    resumed: bool,
    final_url: String,
    reported: u64,
}

impl State {
    fn io(&self, source: std::io::Error) -> DownloadError {
        DownloadError::Io {
            path: self.part.clone(),
            source,
        }
    }

    /// Feed the first `len` bytes already on disk to the hashers.
    async fn rehash(&mut self, len: u64) -> Result<(), DownloadError> {
        self.file
            .seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(|e| self.io(e))?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut left = len;
        while left > 0 {
            let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
            let n = self
                .file
                .read(&mut buf[..want])
                .await
                .map_err(|e| self.io(e))?;
            if n == 0 {
                break;
            }
            self.sha256.update(&buf[..n]);
            self.sha1.update(&buf[..n]);
            left -= n as u64;
        }
        self.offset = len - left;
        self.file
            .set_len(self.offset)
            .await
            .map_err(|e| self.io(e))?;
        self.file
            .seek(std::io::SeekFrom::Start(self.offset))
            .await
            .map_err(|e| self.io(e))?;
        Ok(())
    }

    /// Drop what was downloaded and start from byte 0.
    async fn restart(&mut self) -> Result<(), DownloadError> {
        self.file.set_len(0).await.map_err(|e| self.io(e))?;
        self.file
            .seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(|e| self.io(e))?;
        self.offset = 0;
        self.sha256 = Sha256::new();
        self.sha1 = Sha1::new();
        self.reported = 0;
        self.validator = None;
        self.resumed = false;
        Ok(())
    }

    /// Give up: delete the part when its content is known to be useless.
    async fn fail(&mut self, e: DownloadError) -> DownloadError {
        if matches!(
            e,
            DownloadError::ChecksumMismatch { .. }
                | DownloadError::SizeMismatch { .. }
                | DownloadError::TooLarge { .. }
        ) {
            let _ = tokio::fs::remove_file(&self.part).await;
        } else {
            let _ = self.file.flush().await;
        }
        e
    }

    fn network(&self, source: reqwest::Error) -> Failure {
        let url = self.url.to_string();
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&source);
        while let Some(c) = cause {
            if let Some(r) = c.downcast_ref::<RedirectRefused>() {
                return Failure::Fatal(match r {
                    RedirectRefused::Insecure(to) => DownloadError::InsecureUrl {
                        url: to.to_string(),
                    },
                    RedirectRefused::Private(to) => DownloadError::PrivateAddress {
                        url: to.to_string(),
                        host: "the redirect target".into(),
                    },
                    RedirectRefused::TooMany(_) => DownloadError::TooManyRedirects { url },
                });
            }
            cause = c.source();
        }
        if source.is_builder() || source.is_redirect() {
            Failure::Fatal(DownloadError::Network { url, source })
        } else {
            Failure::Retry(DownloadError::Network { url, source })
        }
    }

    async fn attempt(
        &mut self,
        client: &reqwest::Client,
        req: &DownloadRequest,
        progress: &mut (dyn FnMut(DownloadProgress) + Send),
    ) -> Result<(), Failure> {
        let fatal = |e| Failure::Fatal(e);
        if self.offset > 0 && !self.can_resume {
            self.restart().await.map_err(fatal)?;
        }
        let mut rb = client
            .get(self.url.clone())
            .header(header::ACCEPT_ENCODING, "identity");
        if self.offset > 0 {
            rb = rb.header(header::RANGE, format!("bytes={}-", self.offset));
            if let Some(v) = &self.validator {
                rb = rb.header(header::IF_RANGE, v.clone());
            }
        }
        let resp = rb.send().await.map_err(|e| self.network(e))?;
        let final_url = resp.url().clone();
        if !req.allow_http && final_url.scheme() != "https" {
            return Err(fatal(DownloadError::InsecureUrl {
                url: final_url.to_string(),
            }));
        }
        self.final_url = final_url.to_string();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body_len = resp.content_length();

        if status == StatusCode::PARTIAL_CONTENT {
            let (start, total) = content_range(&headers).ok_or_else(|| {
                Failure::Retry(DownloadError::Protocol {
                    url: self.final_url.clone(),
                    reason: "206 without a usable Content-Range".to_owned(),
                })
            })?;
            if start != self.offset {
                // Not what we asked for: forget the partial file and ask for all of it.
                self.restart().await.map_err(fatal)?;
                self.can_resume = false;
                return Err(Failure::Retry(DownloadError::Protocol {
                    url: self.final_url.clone(),
                    reason: format!("asked to resume at {}, got {start}", self.offset),
                }));
            }
            if self.offset > 0 {
                self.resumed = true;
            }
            self.total = total.or(body_len.map(|l| l + start)).or(req.size);
            self.can_resume = true;
        } else if status.is_success() {
            if self.offset > 0 {
                // The server ignored Range (or If-Range found the file changed).
                self.restart().await.map_err(fatal)?;
            }
            self.total = body_len.or(req.size);
            self.can_resume = headers
                .get(header::ACCEPT_RANGES)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("bytes")));
        } else if status == StatusCode::RANGE_NOT_SATISFIABLE && self.offset > 0 {
            // The part is as long as, or longer than, the remote file: start over.
            self.restart().await.map_err(fatal)?;
            return Err(Failure::Retry(DownloadError::HttpStatus {
                status: status.as_u16(),
                url: self.final_url.clone(),
            }));
        } else if status.is_redirection()
            && let Some(to) = headers
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| final_url.join(l).ok())
        {
            // reqwest hands back redirects it will not follow (e.g. to `file:`) without
            // asking the policy; report them as the policy would.
            return Err(fatal(if matches!(to.scheme(), "http" | "https") {
                DownloadError::Protocol {
                    url: self.final_url.clone(),
                    reason: format!("redirect to {to} was not followed"),
                }
            } else {
                DownloadError::InsecureUrl {
                    url: to.to_string(),
                }
            }));
        } else {
            let e = DownloadError::HttpStatus {
                status: status.as_u16(),
                url: self.final_url.clone(),
            };
            let retry = status.is_server_error()
                || status == StatusCode::REQUEST_TIMEOUT
                || status == StatusCode::TOO_MANY_REQUESTS;
            return Err(if retry {
                Failure::Retry(e)
            } else {
                Failure::Fatal(e)
            });
        }
        self.validator = validator(&headers);

        if let Some(total) = self.total {
            if total > req.max_bytes {
                return Err(fatal(DownloadError::TooLarge {
                    url: self.final_url.clone(),
                    limit: req.max_bytes,
                }));
            }
            if let Some(expected) = req.size
                && total != expected
            {
                return Err(fatal(DownloadError::SizeMismatch {
                    expected,
                    got: total,
                }));
            }
        }
        progress(DownloadProgress {
            bytes: self.offset,
            total: self.total,
        });
        self.reported = self.offset;

        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    self.file.flush().await.map_err(|e| fatal(self.io(e)))?;
                    return Err(self.network(e));
                }
            };
            let next = self.offset + chunk.len() as u64;
            if next > req.max_bytes {
                return Err(fatal(DownloadError::TooLarge {
                    url: self.final_url.clone(),
                    limit: req.max_bytes,
                }));
            }
            if let Some(expected) = req.size
                && next > expected
            {
                return Err(fatal(DownloadError::SizeMismatch {
                    expected,
                    got: next,
                }));
            }
            self.file
                .write_all(&chunk)
                .await
                .map_err(|e| fatal(self.io(e)))?;
            self.sha256.update(&chunk);
            self.sha1.update(&chunk);
            self.offset = next;
            if self.offset - self.reported >= PROGRESS_EVERY {
                self.reported = self.offset;
                progress(DownloadProgress {
                    bytes: self.offset,
                    total: self.total,
                });
            }
        }
        if let Some(total) = self.total
            && self.offset < total
        {
            self.file.flush().await.map_err(|e| fatal(self.io(e)))?;
            return Err(Failure::Retry(DownloadError::Protocol {
                url: self.final_url.clone(),
                reason: format!("connection closed after {} of {total} bytes", self.offset),
            }));
        }
        Ok(())
    }
}

/// `Content-Range: bytes START-END/TOTAL` → (START, TOTAL if not `*`).
fn content_range(headers: &HeaderMap) -> Option<(u64, Option<u64>)> {
    let v = headers.get(header::CONTENT_RANGE)?.to_str().ok()?;
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start, total))
}

/// A strong ETag, else Last-Modified: what `If-Range` accepts.
fn validator(headers: &HeaderMap) -> Option<HeaderValue> {
    if let Some(etag) = headers.get(header::ETAG)
        && !etag.as_bytes().starts_with(b"W/")
    {
        return Some(etag.clone());
    }
    headers.get(header::LAST_MODIFIED).cloned()
}
