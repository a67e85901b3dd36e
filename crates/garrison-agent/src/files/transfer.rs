//! Bulk bytes: downloads (files from an offset, directories as tar.gz), upload chunks
//! and URL pulls. Each streams through a bounded channel between the async side and a
//! blocking thread, so memory stays constant whatever the size and backpressure is
//! the consumer's.

use super::server::ServerFiles;
use super::{map_err, usage::human};
use bytes::Bytes;
use futures_util::StreamExt;
use garrison_proto::{
    ByteStream, Download, FileAction, FileEntry, FileError, FileErrorKind, FileSource, PullRequest,
    UploadState,
};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Bytes per download chunk.
pub(crate) const CHUNK: usize = 128 * 1024;
/// Chunks in flight between the reading thread and the consumer.
const IN_FLIGHT: usize = 4;

/// The receiving end of a blocking producer, as a `Stream`.
struct ChannelStream {
    rx: mpsc::Receiver<Result<Bytes, io::Error>>,
}

impl futures_core::Stream for ChannelStream {
    type Item = Result<Bytes, io::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// A `Write` that hands full chunks to the channel (blocking while the consumer is
/// behind). A dropped consumer turns into a `BrokenPipe` error for the producer.
pub(crate) struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: Vec<u8>,
    files: Arc<ServerFiles>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if self.files.ctx.stopping() {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the node is shutting down",
            ));
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the download was dropped"))
    }

    /// Report a failure to the consumer (the stream ends with it).
    fn fail(&self, e: io::Error) {
        let _ = self.tx.blocking_send(Err(e));
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

fn task_err(e: tokio::task::JoinError) -> FileError {
    FileError::new(
        FileErrorKind::Io,
        None,
        format!("file operation failed: {e}"),
    )
}

/// A file from `offset`, or a directory (offset 0) as a tar.gz made on the fly.
pub(crate) async fn download(
    files: Arc<ServerFiles>,
    path: String,
    offset: u64,
) -> Result<Download, FileError> {
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    let f = files.clone();
    // Opening happens before returning, so errors are answers, not broken streams.
    let opened = tokio::task::spawn_blocking(move || {
        let rel = f.parse(&path)?;
        f.allowed(&rel)?;
        let entry = f.stat_rel(&rel)?;
        if entry.kind == garrison_proto::FileKind::Dir {
            if offset != 0 {
                return Err(FileError::new(
                    FileErrorKind::InvalidPath,
                    Some(rel.as_str()),
                    "a directory downloads as an archive, from offset 0 only",
                ));
            }
            let dir = f.dir(&rel)?;
            return Ok((entry, None, Some((dir, rel))));
        }
        let mut file = f.open_read_rel(&rel)?;
        let len = file
            .metadata()
            .map_err(|e| super::server::io_err(&rel, e))?
            .len();
        if offset > len {
            return Err(FileError::new(
                FileErrorKind::InvalidPath,
                Some(rel.as_str()),
                format!("offset {offset} is past the end ({len} bytes)"),
            ));
        }
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| super::server::io_err(&rel, e))?;
        Ok((entry, Some((file, len)), None))
    })
    .await
    .map_err(task_err)??;
    let (entry, file, dir) = opened;
    let mut writer = ChannelWriter {
        tx,
        buf: Vec::with_capacity(CHUNK),
        files: files.clone(),
    };
    if let Some((mut file, len)) = file {
        tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; CHUNK];
            loop {
                match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if writer.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        writer.fail(e);
                        return;
                    }
                }
            }
            let _ = writer.flush();
        });
        return Ok(Download {
            name: entry.name,
            size: Some(len),
            archive: false,
            stream: Box::pin(ChannelStream { rx }),
        });
    }
    let Some((dir, rel)) = dir else {
        return Err(FileError::new(
            FileErrorKind::Io,
            None,
            "nothing to download",
        ));
    };
    let err_tx = writer.tx.clone();
    tokio::task::spawn_blocking(move || {
        let f = writer.files.clone();
        let gz = flate2::write::GzEncoder::new(writer, flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        let prefix = rel.file_name().unwrap_or("").to_owned();
        match super::archive::tar_dir(&f, &dir, &rel, &prefix, &mut b) {
            Ok(()) => {
                if let Ok(gz) = b.into_inner()
                    && let Ok(mut w) = gz.finish()
                {
                    let _ = w.flush();
                }
            }
            Err(e) => {
                // Sent before the builder's drop writes a trailer, so the consumer sees
                // a broken download, never a short archive that looks complete.
                let _ = err_tx.blocking_send(Err(io::Error::other(e.message)));
            }
        }
    });
    let name = if entry.name.is_empty() {
        format!("{}.tar.gz", files.id.as_str())
    } else {
        format!("{}.tar.gz", entry.name)
    };
    Ok(Download {
        name,
        size: None,
        archive: true,
        stream: Box::pin(ChannelStream { rx }),
    })
}

/// Receive one chunk: the body streams into the staging file on a blocking thread,
/// fed through a bounded channel.
pub(crate) async fn upload_chunk(
    files: Arc<ServerFiles>,
    id: String,
    offset: u64,
    mut body: ByteStream,
) -> Result<UploadState, FileError> {
    let f = files.clone();
    let i = id.clone();
    let (file, room) = tokio::task::spawn_blocking(move || f.chunk_start(&i, offset))
        .await
        .map_err(task_err)??;
    let (tx, mut rx) = mpsc::channel::<Bytes>(IN_FLIGHT);
    let writer = tokio::task::spawn_blocking(move || {
        let mut file = io::BufWriter::with_capacity(CHUNK, file);
        let mut written = 0u64;
        let mut result = Ok(());
        while let Some(chunk) = rx.blocking_recv() {
            if let Err(e) = file.write_all(&chunk) {
                result = Err(e);
                break;
            }
            written += chunk.len() as u64;
        }
        if result.is_ok() {
            result = file.flush();
        }
        (written, result)
    });
    let mut received = 0u64;
    let mut failure: Option<FileError> = None;
    while let Some(item) = body.next().await {
        match item {
            Ok(chunk) => {
                received += chunk.len() as u64;
                if received > room {
                    failure = Some(FileError::new(
                        FileErrorKind::Upload,
                        None,
                        format!("upload {id}: more bytes than the declared size"),
                    ));
                    break;
                }
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                failure = Some(FileError::new(
                    FileErrorKind::Upload,
                    None,
                    format!("upload {id}: the body broke off: {e}"),
                ));
                break;
            }
        }
    }
    drop(tx);
    let (written, result) = writer.await.map_err(task_err)?;
    // Only bytes that fit the declared size are ever written, so what reached the file
    // is what the client may resume after.
    let f = files.clone();
    let i = id.clone();
    let ok = result.is_ok();
    let state = tokio::task::spawn_blocking(move || {
        let written = if ok { written } else { 0 };
        f.chunk_end(&i, written)
    })
    .await
    .map_err(task_err)?;
    if let Some(e) = failure {
        return Err(e);
    }
    if let Err(e) = result {
        return Err(FileError::new(
            FileErrorKind::Io,
            None,
            format!("upload {id}: writing the staging file: {e}"),
        ));
    }
    state
}

/// Fetch a URL into the server directory (HTTPS only unless the node allows http,
/// public addresses only unless it allows private ones), through a staging file.
pub(crate) async fn pull(
    files: Arc<ServerFiles>,
    req: PullRequest,
) -> Result<FileEntry, FileError> {
    use crate::install::download::{DownloadError, DownloadRequest, build_client_with};
    let install = &files.ctx.config.install;
    let pull_err = |m: String| FileError::new(FileErrorKind::Pull, None, m);
    let url = reqwest::Url::parse(&req.url)
        .map_err(|e| pull_err(format!("invalid URL {:?}: {e}", req.url)))?;
    // The name from the URL, for an existing directory as destination.
    let url_name = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        .unwrap_or("download")
        .to_owned();
    let f = files.clone();
    let dest = req.destination.clone();
    let overwrite = req.overwrite;
    let (target, remaining) = tokio::task::spawn_blocking(move || {
        let mut rel = f.parse(&dest)?;
        if rel.is_root()
            || f.stat_rel(&rel)
                .is_ok_and(|e| e.kind == garrison_proto::FileKind::Dir)
        {
            rel = rel.join_str(&url_name).map_err(map_err)?;
        }
        let rel = f.parse_new(rel.as_str())?;
        f.allowed(&rel)?;
        let (dir, name) = f.parent(&rel)?;
        if let Some(m) = dir.lstat_opt(name).map_err(map_err)?
            && (m.is_dir() || !overwrite)
        {
            return Err(FileError::new(
                FileErrorKind::AlreadyExists,
                Some(rel.as_str()),
                format!("{rel} already exists"),
            ));
        }
        Ok((rel, f.usage.remaining()))
    })
    .await
    .map_err(task_err)??;
    let max = files.ctx.config.files.pull_max_bytes;
    let quota_bound = remaining < max;
    let mut dreq = DownloadRequest::new(req.url.clone());
    dreq.max_bytes = max.min(remaining);
    dreq.allow_http = install.allow_http;
    dreq.allow_private = install.allow_private;
    dreq.attempts = install.download_attempts.max(1);
    let client = build_client_with(&install.user_agent, install.allow_private)
        .map_err(|e| pull_err(e.to_string()))?;
    let staging_root = super::hub::staging_dir(&files.ctx.config, &files.id);
    let part_name = format!("pull-{}", super::sha_id());
    let part = staging_root.join(&part_name);
    let result = crate::install::download::download(&client, &dreq, &part, &mut |_| {}).await;
    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(match e {
                DownloadError::TooLarge { .. } if quota_bound => {
                    let u = files.usage.get();
                    FileError::new(
                        FileErrorKind::QuotaExceeded,
                        Some(target.as_str()),
                        format!(
                            "quota exceeded: {} limit, {} used",
                            human(u.limit_bytes.unwrap_or(0)),
                            human(u.used_bytes)
                        ),
                    )
                }
                DownloadError::TooLarge { limit, .. } => FileError::new(
                    FileErrorKind::TooLarge,
                    Some(target.as_str()),
                    format!("the download is larger than the limit of {}", human(limit)),
                ),
                e => pull_err(e.to_string()),
            });
        }
    };
    let f = files.clone();
    tokio::task::spawn_blocking(move || {
        let result = (|| {
            f.usage.charge(outcome.bytes)?;
            let adopted = (|| {
                f.allowed(&target)?;
                let (dir, name) = f.parent(&target)?;
                let old = dir.lstat_opt(name).map_err(map_err)?;
                let staging =
                    cap_std::fs::Dir::open_ambient_dir(&staging_root, cap_std::ambient_authority())
                        .map_err(|e| {
                            FileError::new(FileErrorKind::Io, None, format!("staging: {e}"))
                        })?;
                dir.adopt(&staging, &part_name, name, overwrite)
                    .map_err(map_err)?;
                Ok::<_, FileError>(old)
            })();
            match adopted {
                Ok(old) => {
                    if let Some(m) = &old
                        && m.is_file()
                    {
                        f.usage.release(m.len());
                    }
                    let action = if old.is_some() {
                        FileAction::Modified
                    } else {
                        FileAction::Created
                    };
                    f.emit(FileSource::Api, action, &target, None);
                    f.stat_rel(&target)
                }
                Err(e) => {
                    f.usage.release(outcome.bytes);
                    Err(e)
                }
            }
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(staging_root.join(&part_name));
        }
        result
    })
    .await
    .map_err(task_err)?
}
