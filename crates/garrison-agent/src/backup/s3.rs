//! The S3 driver: archives and manifests in an S3-compatible bucket, through
//! `object_store`'s Amazon S3 client (reqwest, rustls with aws-lc-rs).
//!
//! Writes are multipart uploads streamed in `part_size` pieces with at most
//! [`MAX_PARTS_IN_FLIGHT`] parts uploading at once, so a writer holds at most
//! `(MAX_PARTS_IN_FLIGHT + 1) × part_size` bytes whatever the archive's size. Every
//! request, parts included, is tried up to `max_attempts` times (5xx, 429, timeouts and
//! dropped connections; `object_store`'s retry with exponential backoff); the object
//! becomes visible only when the upload is completed in [`ObjectWriter::finish`]. An
//! aborted or dropped writer aborts its multipart upload; one the process never got to
//! abort (a crash) is never listed, and a bucket lifecycle rule for incomplete multipart
//! uploads expires its parts, which is why [`BackupStore::clean_partial`] has nothing to
//! do here.
//!
//! Two HTTP clients: writes have a total per-request timeout sized for one part on a
//! slow uplink; reads (downloads stream for as long as the consumer takes) have none,
//! only a stall timeout between received chunks, and a broken download is resumed from
//! where it stopped by `object_store`.

use crate::backup::store::{BackupStore, ObjectWriter, StoreError};
use crate::config::S3Config;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use garrison_proto::{ByteStream, StorageKind};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, MultipartId, ObjectStore, ObjectStoreExt,
    PutPayload, RetryConfig,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::task::JoinSet;

/// S3's smallest part (all but the last part of an upload must be at least this).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// S3's largest part.
pub const MAX_PART_SIZE: usize = 5 * 1024 * 1024 * 1024;
/// S3's limit of parts per upload: an object is at most `part_size × MAX_PARTS`.
pub const MAX_PARTS: usize = 10_000;
/// Parts of one writer uploading at the same time.
pub const MAX_PARTS_IN_FLIGHT: usize = 3;

/// Slowest uplink a part upload is given time for before its request times out.
const MIN_UPLOAD_BYTES_PER_SEC: usize = 128 * 1024;
/// A read that receives nothing for this long fails (and is retried).
const READ_STALL_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Retries of one request stop this long after its first try (SigV4 signatures are
/// valid for 15 minutes and requests are not signed again).
const RETRY_WINDOW: Duration = Duration::from_secs(10 * 60);

/// What the writers of one store did, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct S3Stats {
    /// Parts uploaded successfully (after any retries).
    pub parts_uploaded: u64,
    /// Most parts of one writer uploading at the same time.
    pub peak_parts_in_flight: usize,
    /// Most bytes one writer held at once (its part buffer plus parts uploading).
    pub peak_buffered_bytes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    parts_uploaded: AtomicU64,
    peak_parts_in_flight: AtomicUsize,
    peak_buffered_bytes: AtomicU64,
}

/// An S3-compatible bucket as a [`BackupStore`]. Keys are the configured prefix
/// followed by the engine's key (`<prefix><server>/<backup>.tar.zst`).
#[derive(Debug, Clone)]
pub struct S3Store {
    /// Uploads (parts, small objects, completion, abort).
    writes: Arc<AmazonS3>,
    /// Downloads, HEAD, list, delete.
    reads: Arc<AmazonS3>,
    /// Empty or ending with `/`.
    prefix: String,
    bucket: String,
    /// For messages: the endpoint as configured, or AWS.
    endpoint: String,
    part_size: usize,
    counters: Arc<Counters>,
}

impl S3Store {
    /// Checks the settings and builds the clients; no request is sent.
    ///
    /// `path_style: false` uses virtual-hosted requests: the bucket becomes part of the
    /// host (`https://<bucket>.s3.example.com`). A non-empty `prefix` without a trailing
    /// `/` gets one, so `garrison` and `garrison/` both give `garrison/<server>/…`.
    pub fn new(config: &S3Config) -> Result<S3Store, StoreError> {
        let invalid = |what: String| StoreError::Unavailable(format!("S3 settings: {what}"));
        if config.bucket.is_empty() {
            return Err(invalid("bucket is empty".into()));
        }
        if config.access_key_id.is_empty() || config.secret_access_key.is_empty() {
            return Err(invalid(
                "access_key_id and secret_access_key are required".into(),
            ));
        }
        if config.part_size < MIN_PART_SIZE || config.part_size > MAX_PART_SIZE {
            return Err(invalid(format!(
                "part_size {} is outside S3's limits ({MIN_PART_SIZE}..={MAX_PART_SIZE} bytes)",
                config.part_size
            )));
        }
        if config.max_attempts == 0 {
            return Err(invalid("max_attempts must be at least 1".into()));
        }
        let mut prefix = config.prefix.trim_start_matches('/').to_owned();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        if !prefix.is_empty() {
            Path::parse(&prefix).map_err(|e| invalid(format!("prefix {prefix:?}: {e}")))?;
        }

        let endpoint = request_endpoint(config).map_err(invalid)?;

        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: config.max_attempts - 1,
            retry_timeout: RETRY_WINDOW,
        };
        let part_secs = (config.part_size / MIN_UPLOAD_BYTES_PER_SEC) as u64;
        let write_timeout = Duration::from_secs(part_secs.clamp(60, 300));
        let write_options = ClientOptions::new()
            .with_allow_http(config.allow_http)
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout(write_timeout);
        let read_options = ClientOptions::new()
            .with_allow_http(config.allow_http)
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout_disabled()
            .with_read_timeout(READ_STALL_TIMEOUT);

        let build = |options: ClientOptions| {
            let mut builder = AmazonS3Builder::new()
                .with_bucket_name(&config.bucket)
                .with_region(&config.region)
                .with_access_key_id(&config.access_key_id)
                .with_secret_access_key(&config.secret_access_key)
                .with_virtual_hosted_style_request(!config.path_style)
                .with_retry(retry.clone())
                .with_client_options(options);
            if let Some(endpoint) = &endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            builder
                .build()
                .map(Arc::new)
                .map_err(|e| invalid(e.to_string()))
        };
        Ok(S3Store {
            writes: build(write_options)?,
            reads: build(read_options)?,
            prefix,
            bucket: config.bucket.clone(),
            endpoint: config
                .endpoint
                .clone()
                .unwrap_or_else(|| format!("AWS {}", config.region)),
            part_size: config.part_size,
            counters: Arc::new(Counters::default()),
        })
    }

    /// The prefix every key gets (empty or ending with `/`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// What this store's writers did so far.
    pub fn stats(&self) -> S3Stats {
        S3Stats {
            parts_uploaded: self.counters.parts_uploaded.load(Ordering::Relaxed),
            peak_parts_in_flight: self.counters.peak_parts_in_flight.load(Ordering::Relaxed),
            peak_buffered_bytes: self.counters.peak_buffered_bytes.load(Ordering::Relaxed),
        }
    }

    fn path(&self, key: &str) -> Result<Path, StoreError> {
        Path::parse(format!("{}{key}", self.prefix))
            .map_err(|e| StoreError::Io(format!("S3 key {key:?}: {e}")))
    }

    fn err(&self, key: &str, e: object_store::Error) -> StoreError {
        map_error(&self.bucket, &self.endpoint, key, e)
    }

    /// `NotFound` from a HEAD has no body to tell a missing key from a missing bucket;
    /// a listing of the key's directory does.
    async fn check_bucket(&self, key: &str) -> Result<(), StoreError> {
        let dir = key.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("");
        let path = self.path(dir)?;
        let path = (!path.as_ref().is_empty()).then_some(path);
        match self.reads.list_with_delimiter(path.as_ref()).await {
            Ok(_) => Ok(()),
            Err(e) => match self.err(key, e) {
                StoreError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }
}

/// The endpoint requests go to: the configured one with the bucket in the host for
/// virtual-hosted requests (`None`: AWS's for the region, which `object_store` makes).
fn request_endpoint(config: &S3Config) -> Result<Option<String>, String> {
    let Some(endpoint) = &config.endpoint else {
        return Ok(None);
    };
    let endpoint = endpoint.trim_end_matches('/');
    let not_url = || format!("endpoint {endpoint:?} is not an http(s):// URL");
    let (scheme, rest) = endpoint.split_once("://").ok_or_else(not_url)?;
    match scheme {
        "https" => {}
        "http" if config.allow_http => {}
        "http" => {
            return Err(format!(
                "endpoint {endpoint:?} is plain HTTP; set allow_http to use it"
            ));
        }
        _ => return Err(not_url()),
    }
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("endpoint {endpoint:?} has no host"));
    }
    Ok(Some(if config.path_style {
        endpoint.to_owned()
    } else {
        format!("{scheme}://{}.{rest}", config.bucket)
    }))
}

/// The S3 error code in a response body (`<Code>NoSuchBucket</Code>`).
fn s3_code(message: &str) -> Option<&str> {
    let start = message.find("<Code>")? + "<Code>".len();
    let len = message[start..].find("</Code>")?;
    Some(&message[start..start + len])
}

fn map_error(bucket: &str, endpoint: &str, key: &str, e: object_store::Error) -> StoreError {
    let message = e.to_string();
    let code = s3_code(&message);
    let place = format!("S3 bucket {bucket:?} at {endpoint}");
    if code == Some("NoSuchBucket") {
        return StoreError::Unavailable(format!("{place} does not exist"));
    }
    const CREDENTIAL_CODES: &[&str] = &[
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "ExpiredToken",
        "InvalidToken",
    ];
    let refused = matches!(
        e,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
    ) || code.is_some_and(|c| CREDENTIAL_CODES.contains(&c));
    if refused {
        return StoreError::Unavailable(format!(
            "{place} refused the credentials ({}): {message}",
            code.unwrap_or("access denied")
        ));
    }
    match e {
        object_store::Error::NotFound { .. } if code.is_none_or(|c| c == "NoSuchKey") => {
            StoreError::NotFound(key.to_owned())
        }
        _ => StoreError::Io(format!("{place}, {key}: {message}")),
    }
}

#[async_trait]
impl BackupStore for S3Store {
    fn kind(&self) -> StorageKind {
        StorageKind::S3
    }

    async fn create(&self, key: &str) -> Result<Box<dyn ObjectWriter>, StoreError> {
        Ok(Box::new(S3Writer {
            store: self.clone(),
            key: key.to_owned(),
            path: self.path(key)?,
            buf: BytesMut::new(),
            upload: None,
            next_part: 0,
            parts: Vec::new(),
            in_flight: JoinSet::new(),
            in_flight_bytes: 0,
            size: 0,
            failed: None,
            done: false,
        }))
    }

    async fn open(&self, key: &str, offset: u64) -> Result<(u64, ByteStream), StoreError> {
        let path = self.path(key)?;
        let options = GetOptions {
            range: (offset > 0).then_some(GetRange::Offset(offset)),
            ..GetOptions::default()
        };
        let result = match self.reads.get_opts(&path, options).await {
            Ok(result) => result,
            Err(e) => {
                // A range starting at the end is refused (416); it is an empty read.
                let unsatisfiable = offset > 0 && e.to_string().contains("InvalidRange");
                let e = self.err(key, e);
                if unsatisfiable && let Some(size) = self.size(key).await? {
                    if size == offset {
                        return Ok((size, Box::pin(futures_util::stream::empty())));
                    }
                    return Err(StoreError::Io(format!(
                        "{key}: offset {offset} is past the end ({size} bytes)"
                    )));
                }
                return Err(e);
            }
        };
        let size = result.meta.size;
        let (bucket, endpoint, key) = (self.bucket.clone(), self.endpoint.clone(), key.to_owned());
        let stream = result.into_stream().map_err(move |e| {
            let e = map_error(&bucket, &endpoint, &key, e);
            std::io::Error::other(e.to_string())
        });
        Ok((size, Box::pin(stream)))
    }

    async fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let path = self.path(key)?;
        match self.reads.head(&path).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(e) => match self.err(key, e) {
                StoreError::NotFound(_) => {
                    self.check_bucket(key).await?;
                    Ok(None)
                }
                other => Err(other),
            },
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        match self.reads.delete(&path).await {
            Ok(()) => Ok(()),
            Err(e) => match self.err(key, e) {
                StoreError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let full = self.path(prefix)?;
        let full = (!full.as_ref().is_empty()).then_some(full);
        let mut listing = self.reads.list(full.as_ref());
        let mut keys = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| self.err(prefix, e))?;
            if let Some(key) = meta.location.as_ref().strip_prefix(self.prefix.as_str()) {
                keys.push((key.to_owned(), meta.size));
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Nothing: an interrupted multipart upload is never listed, and its parts are
    /// removed by the bucket's lifecycle rule for incomplete uploads (or by the abort a
    /// dropped writer sends).
    async fn clean_partial(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

type PartOutcome = (usize, u64, Result<PartId, object_store::Error>);

/// One object being uploaded. Bytes gather in `buf` until a part is full; full parts
/// upload in background tasks, at most [`MAX_PARTS_IN_FLIGHT`] at once (a write waits
/// for one to end before starting another).
struct S3Writer {
    store: S3Store,
    key: String,
    path: Path,
    buf: BytesMut,
    /// The multipart upload, begun when the first part is full.
    upload: Option<MultipartId>,
    next_part: usize,
    /// Finished parts by index.
    parts: Vec<Option<PartId>>,
    in_flight: JoinSet<PartOutcome>,
    in_flight_bytes: u64,
    size: u64,
    /// The first failure; every later call returns it.
    failed: Option<String>,
    /// Completed or aborted: nothing for `Drop` to clean up.
    done: bool,
}

impl S3Writer {
    fn check(&self) -> Result<(), StoreError> {
        match &self.failed {
            Some(message) => Err(StoreError::Io(message.clone())),
            None => Ok(()),
        }
    }

    fn fail(&mut self, e: StoreError) -> StoreError {
        if self.failed.is_none() {
            self.failed = Some(e.to_string());
        }
        e
    }

    fn note_buffered(&self) {
        let held = self.buf.len() as u64 + self.in_flight_bytes;
        let counters = &self.store.counters;
        counters
            .peak_buffered_bytes
            .fetch_max(held, Ordering::Relaxed);
        counters
            .peak_parts_in_flight
            .fetch_max(self.in_flight.len(), Ordering::Relaxed);
    }

    fn part_done(
        &mut self,
        joined: Result<PartOutcome, tokio::task::JoinError>,
    ) -> Result<(), StoreError> {
        let (index, bytes, result) =
            joined.map_err(|e| StoreError::Io(format!("{}: part upload task: {e}", self.key)))?;
        self.in_flight_bytes -= bytes;
        let part = result.map_err(|e| {
            let e = self.store.err(&self.key, e);
            StoreError::Io(format!("{}: part {} failed: {e}", self.key, index + 1))
        })?;
        self.store
            .counters
            .parts_uploaded
            .fetch_add(1, Ordering::Relaxed);
        self.parts[index] = Some(part);
        Ok(())
    }

    /// Upload the full buffer as the next part, after waiting for room.
    async fn send_part(&mut self) -> Result<(), StoreError> {
        if self.next_part >= MAX_PARTS {
            return Err(StoreError::Io(format!(
                "{}: larger than {MAX_PARTS} parts of {} bytes; raise the S3 part_size",
                self.key, self.store.part_size
            )));
        }
        while let Some(joined) = self.in_flight.try_join_next() {
            self.part_done(joined)?;
        }
        while self.in_flight.len() >= MAX_PARTS_IN_FLIGHT {
            let Some(joined) = self.in_flight.join_next().await else {
                break;
            };
            self.part_done(joined)?;
        }
        let upload = match &self.upload {
            Some(id) => id.clone(),
            None => {
                let id = self
                    .store
                    .writes
                    .create_multipart(&self.path)
                    .await
                    .map_err(|e| self.store.err(&self.key, e))?;
                self.upload = Some(id.clone());
                id
            }
        };
        let data = std::mem::take(&mut self.buf).freeze();
        let bytes = data.len() as u64;
        let index = self.next_part;
        self.next_part += 1;
        self.parts.push(None);
        self.in_flight_bytes += bytes;
        let (s3, path) = (self.store.writes.clone(), self.path.clone());
        self.in_flight.spawn(async move {
            let result = s3
                .put_part(&path, &upload, index, PutPayload::from(data))
                .await;
            (index, bytes, result)
        });
        self.note_buffered();
        Ok(())
    }

    async fn finish_inner(&mut self) -> Result<u64, StoreError> {
        self.check()?;
        let Some(upload) = self.upload.clone() else {
            // Never reached a full part: one plain PUT.
            let data = std::mem::take(&mut self.buf).freeze();
            self.store
                .writes
                .put(&self.path, PutPayload::from(data))
                .await
                .map_err(|e| self.store.err(&self.key, e))?;
            self.done = true;
            return Ok(self.size);
        };
        if !self.buf.is_empty() {
            self.send_part().await?;
        }
        while let Some(joined) = self.in_flight.join_next().await {
            self.part_done(joined)?;
        }
        let parts = std::mem::take(&mut self.parts)
            .into_iter()
            .collect::<Option<Vec<PartId>>>()
            .ok_or_else(|| StoreError::Io(format!("{}: a part is missing", self.key)))?;
        self.store
            .writes
            .complete_multipart(&self.path, &upload, parts)
            .await
            .map_err(|e| self.store.err(&self.key, e))?;
        self.done = true;
        Ok(self.size)
    }

    async fn abort_inner(&mut self) {
        self.done = true;
        self.in_flight.shutdown().await;
        self.buf = BytesMut::new();
        if let Some(upload) = self.upload.take()
            && let Err(e) = self.store.writes.abort_multipart(&self.path, &upload).await
        {
            tracing::warn!(key = %self.key, "aborting the S3 upload failed: {e}");
        }
    }
}

#[async_trait]
impl ObjectWriter for S3Writer {
    async fn write(&mut self, mut chunk: Bytes) -> Result<(), StoreError> {
        self.check()?;
        self.size += chunk.len() as u64;
        while !chunk.is_empty() {
            if self.buf.capacity() == 0 {
                self.buf.reserve(self.store.part_size);
            }
            let take = chunk.len().min(self.store.part_size - self.buf.len());
            self.buf.extend_from_slice(&chunk.split_to(take));
            if self.buf.len() == self.store.part_size {
                if let Err(e) = self.send_part().await {
                    return Err(self.fail(e));
                }
            } else {
                self.note_buffered();
            }
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, StoreError> {
        match self.finish_inner().await {
            Ok(size) => Ok(size),
            Err(e) => {
                self.abort_inner().await;
                Err(e)
            }
        }
    }

    async fn abort(mut self: Box<Self>) {
        self.abort_inner().await;
    }
}

impl Drop for S3Writer {
    /// A writer dropped unfinished aborts its upload in the background (parts still
    /// uploading are cancelled with the `JoinSet`).
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let Some(upload) = self.upload.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (s3, path, key) = (
            self.store.writes.clone(),
            self.path.clone(),
            self.key.clone(),
        );
        runtime.spawn(async move {
            if let Err(e) = s3.abort_multipart(&path, &upload).await {
                tracing::warn!(%key, "aborting the S3 upload failed: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> S3Config {
        S3Config {
            endpoint: Some("https://s3.example.com".into()),
            region: "us-east-1".into(),
            bucket: "games".into(),
            prefix: "garrison".into(),
            path_style: true,
            access_key_id: "id".into(),
            secret_access_key: "secret".into(),
            allow_http: false,
            part_size: MIN_PART_SIZE,
            max_attempts: 3,
        }
    }

    #[test]
    fn settings_are_checked() {
        let store = S3Store::new(&config()).unwrap();
        assert_eq!(store.prefix(), "garrison/");
        for (change, words) in [
            (
                (|c: &mut S3Config| c.part_size = MIN_PART_SIZE - 1) as fn(&mut S3Config),
                "part_size",
            ),
            (|c| c.max_attempts = 0, "max_attempts"),
            (|c| c.bucket.clear(), "bucket"),
            (|c| c.secret_access_key.clear(), "secret_access_key"),
            (
                |c| c.endpoint = Some("http://127.0.0.1:9000".into()),
                "allow_http",
            ),
            (|c| c.endpoint = Some("s3.example.com".into()), "URL"),
            (|c| c.prefix = "a//b".into(), "prefix"),
        ] {
            let mut c = config();
            change(&mut c);
            let e = S3Store::new(&c).unwrap_err().to_string();
            assert!(e.contains(words), "{e}");
        }
        let mut c = config();
        c.endpoint = Some("http://127.0.0.1:9000".into());
        c.allow_http = true;
        c.path_style = false;
        S3Store::new(&c).unwrap();
        c.endpoint = Some("https://s3.example.com:8443/".into());
        assert_eq!(
            request_endpoint(&c).unwrap().as_deref(),
            Some("https://games.s3.example.com:8443")
        );
        c.path_style = true;
        assert_eq!(
            request_endpoint(&c).unwrap().as_deref(),
            Some("https://s3.example.com:8443")
        );
        c.endpoint = None;
        assert_eq!(request_endpoint(&c).unwrap(), None);
    }

    #[test]
    fn errors_name_what_went_wrong() {
        let e = |message: &str| object_store::Error::Generic {
            store: "S3",
            source: message.into(),
        };
        let m = map_error("b", "E", "k", e("<Error><Code>NoSuchBucket</Code></Error>"));
        assert!(m.to_string().contains("does not exist"), "{m}");
        let m = map_error("b", "E", "k", e("<Code>InvalidAccessKeyId</Code>"));
        assert!(m.to_string().contains("refused the credentials"), "{m}");
        let m = map_error(
            "b",
            "E",
            "k",
            object_store::Error::NotFound {
                path: "k".into(),
                source: "<Code>NoSuchKey</Code>".into(),
            },
        );
        assert!(matches!(m, StoreError::NotFound(_)), "{m}");
    }
}
