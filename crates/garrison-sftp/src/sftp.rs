//! The SFTP protocol (version 3, as OpenSSH speaks it) over one channel, mapped onto
//! the agent's `ServerFiles` with a permission check per operation.
//!
//! One task per channel reads requests into a bounded queue while the same task answers
//! them in order. Runs of reads or writes on one handle that are already queued are
//! done in one blocking call (pread/pwrite), and their answers go out in one send.

use crate::backend::{FileWriter, ServerFiles, WriteMode};
use crate::listing::{self, attrs, attrs_of_metadata};
use crate::paths;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use garrison_proto::{
    FileEntry, FileError, FileErrorKind, FileKind, FileSource, Permission, SftpAccess, SftpAudit,
    SftpGate,
};
use russh::server::Msg;
use russh::{Channel, ChannelReadHalf, ChannelWriteHalf};
use russh_sftp::extensions::LimitsExtension;
use russh_sftp::protocol::{
    Attrs, ExtendedReply, File, FileAttributes, Handle, Name, OpenFlags, Packet, StatusCode,
    Version,
};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Largest SFTP packet we accept and say we accept (`limits@openssh.com`), as
/// OpenSSH's sftp-server.
const MAX_PACKET_LEN: u32 = 256 * 1024;
/// Largest read answered and write accepted (`limits@openssh.com`).
const MAX_RW_LEN: u32 = MAX_PACKET_LEN - 1024;
const MAX_HANDLES: usize = 128;
/// Open directory handles (each holds its whole listing).
const MAX_DIR_HANDLES: usize = 8;
/// Requests read ahead of the one being answered.
const QUEUE: usize = 16;
/// At most this many queued reads or writes (and bytes) go into one blocking call.
const BATCH_MAX: usize = 64;
const BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Directory entries per `SSH_FXP_NAME`.
const DIR_CHUNK: usize = 128;

const SSH_FXP_READ: u8 = 5;
const SSH_FXP_WRITE: u8 = 6;
const SSH_FXP_STATUS: u8 = 101;
const SSH_FXP_DATA: u8 = 103;

pub(crate) struct SftpContext {
    pub files: Arc<ServerFiles>,
    pub access: watch::Receiver<SftpAccess>,
    pub gate: Arc<dyn SftpGate>,
    pub peer: IpAddr,
    pub read_only: bool,
    pub idle_timeout: Duration,
    pub cancel: CancellationToken,
    pub conn: crate::ssh::ConnControl,
}

struct ReadReq {
    id: u32,
    handle: String,
    offset: u64,
    len: u32,
}

struct WriteReq {
    id: u32,
    handle: String,
    offset: u64,
    data: Bytes,
}

enum Req {
    Read(ReadReq),
    Write(WriteReq),
    Other(Packet),
    Bad { id: u32, code: StatusCode },
}

/// An answer other than success.
#[derive(Debug)]
struct Fail {
    code: StatusCode,
    msg: String,
}

impl Fail {
    fn new(code: StatusCode, msg: impl Into<String>) -> Fail {
        Fail {
            code,
            msg: msg.into(),
        }
    }

    fn denied(msg: impl Into<String>) -> Fail {
        Fail::new(StatusCode::PermissionDenied, msg)
    }

    fn failure(msg: impl Into<String>) -> Fail {
        Fail::new(StatusCode::Failure, msg)
    }

    fn bad_handle() -> Fail {
        Fail::failure("invalid handle")
    }
}

impl From<FileError> for Fail {
    fn from(e: FileError) -> Fail {
        use FileErrorKind::*;
        match e.kind {
            NotFound | NotADirectory => Fail::new(StatusCode::NoSuchFile, "no such file"),
            Denied | Escape => Fail::denied("permission denied"),
            NotAFile => Fail::denied("not a regular file"),
            InvalidPath => Fail::failure("invalid path"),
            AlreadyExists => Fail::failure("file exists"),
            IsADirectory => Fail::failure("is a directory"),
            QuotaExceeded => Fail::failure("quota exceeded"),
            TooLarge => Fail::failure("too large"),
            Io => {
                tracing::warn!(error = %e, "SFTP file operation failed");
                Fail::failure("I/O error")
            }
            _ => Fail::failure(e.message),
        }
    }
}

fn put_status(out: &mut BytesMut, id: u32, code: StatusCode, msg: &str) {
    let lang = b"en";
    let len = 1 + 4 + 4 + 4 + msg.len() + 4 + lang.len();
    out.put_u32(len as u32);
    out.put_u8(SSH_FXP_STATUS);
    out.put_u32(id);
    out.put_u32(code as u32);
    out.put_u32(msg.len() as u32);
    out.put_slice(msg.as_bytes());
    out.put_u32(lang.len() as u32);
    out.put_slice(lang);
}

fn put_fail(out: &mut BytesMut, id: u32, f: &Fail) {
    put_status(out, id, f.code, &f.msg);
}

fn put_packet(out: &mut BytesMut, id: u32, packet: Packet) {
    match Bytes::try_from(packet) {
        Ok(b) => out.put_slice(&b),
        Err(e) => {
            tracing::warn!(error = %e, "cannot encode an SFTP answer");
            put_status(out, id, StatusCode::Failure, "internal error");
        }
    }
}

fn ok(id: u32) -> Packet {
    Packet::status(id, StatusCode::Ok, "", "en")
}

fn take_string(b: &mut Bytes) -> Option<Bytes> {
    let len = b.try_get_u32().ok()? as usize;
    (b.remaining() >= len).then(|| b.split_to(len))
}

/// Decode one request. Reads and writes are parsed here without copying the data.
fn parse(body: Bytes) -> Req {
    let id = if body.len() >= 5 {
        u32::from_be_bytes([body[1], body[2], body[3], body[4]])
    } else {
        0
    };
    let bad = Req::Bad {
        id,
        code: StatusCode::BadMessage,
    };
    let mut b = body.clone();
    let Ok(kind) = b.try_get_u8() else {
        return bad;
    };
    match kind {
        SSH_FXP_READ | SSH_FXP_WRITE => {
            let parsed = (|| {
                let id = b.try_get_u32().ok()?;
                let handle = String::from_utf8(take_string(&mut b)?.to_vec()).ok()?;
                let offset = b.try_get_u64().ok()?;
                if kind == SSH_FXP_READ {
                    let len = b.try_get_u32().ok()?;
                    Some(Req::Read(ReadReq {
                        id,
                        handle,
                        offset,
                        len,
                    }))
                } else {
                    let data = take_string(&mut b)?;
                    Some(Req::Write(WriteReq {
                        id,
                        handle,
                        offset,
                        data,
                    }))
                }
            })();
            parsed.unwrap_or(bad)
        }
        1..=20 | 200 => match Packet::try_from(&mut body.clone()) {
            Ok(p) => Req::Other(p),
            Err(_) => bad,
        },
        _ => Req::Bad {
            id,
            code: StatusCode::OpUnsupported,
        },
    }
}

struct ReadFile {
    path: String,
    file: Arc<std::fs::File>,
}

struct WriteFile {
    path: String,
    writer: Option<FileWriter>,
    /// What opening it needed (`file.create` for a new file, `file.update` otherwise);
    /// checked again on every write and on close.
    need: Permission,
    append: bool,
    bytes: u64,
    /// The first write that failed: the file is not committed.
    error: Option<FileError>,
    /// Attributes to set once the file is in place (`put -p`).
    mode: Option<u32>,
    times: Option<(u32, u32)>,
}

struct DirList {
    path: String,
    entries: VecDeque<File>,
}

enum Open {
    Read(ReadFile),
    Write(Box<WriteFile>),
    Dir(DirList),
}

fn permission_bits(attrs: &FileAttributes) -> Option<u32> {
    attrs.permissions.map(|m| m & 0o777)
}

fn times(attrs: &FileAttributes) -> Option<(u32, u32)> {
    match (attrs.atime, attrs.mtime) {
        (Some(a), Some(m)) => Some((a, m)),
        (None, Some(m)) => Some((m, m)),
        (Some(a), None) => Some((a, a)),
        (None, None) => None,
    }
}

/// Drop on the blocking pool: dropping an uncommitted writer removes its temp file.
fn drop_blocking<T: Send + 'static>(value: T) {
    drop(tokio::task::spawn_blocking(move || drop(value)));
}

struct Sftp {
    ctx: SftpContext,
    handles: HashMap<String, Open>,
    next_handle: u64,
}

/// Serve SFTP on `channel` until the client closes it or the connection ends.
pub(crate) async fn serve(channel: Channel<Msg>, ctx: SftpContext) {
    let (mut rx, tx) = channel.split();
    let (req_tx, req_rx) = mpsc::channel(QUEUE);
    let cancel = ctx.cancel.clone();
    let mut sftp = Sftp {
        ctx,
        handles: HashMap::new(),
        next_handle: 1,
    };
    {
        // The reader runs beside the answering; the channel is done when the answers
        // are (after the reader ended and the queue drained, or on a send that failed).
        let reader = read_requests(&mut rx, req_tx);
        let work = sftp.run(req_rx, &tx);
        let both = async {
            tokio::pin!(reader);
            tokio::pin!(work);
            let mut reading = true;
            loop {
                tokio::select! {
                    _ = &mut reader, if reading => reading = false,
                    _ = &mut work => return,
                }
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = both => {}
        }
    }
    // Open uploads that were never closed are dropped, not committed.
    let handles = std::mem::take(&mut sftp.handles);
    let _ = tokio::task::spawn_blocking(move || drop(handles)).await;
    if !cancel.is_cancelled() {
        let bye = async {
            let _ = tx.eof().await;
            let _ = tx.close().await;
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), bye).await;
    }
}

async fn read_requests(rx: &mut ChannelReadHalf, queue: mpsc::Sender<Req>) {
    let mut reader = rx.make_reader();
    loop {
        let Ok(len) = reader.read_u32().await else {
            return;
        };
        if len == 0 || len > MAX_PACKET_LEN + 64 {
            tracing::info!(len, "SFTP packet of a bad length; closing the channel");
            return;
        }
        let mut buf = BytesMut::zeroed(len as usize);
        if reader.read_exact(&mut buf).await.is_err() {
            return;
        }
        if queue.send(parse(buf.freeze())).await.is_err() {
            return;
        }
    }
}

impl Sftp {
    async fn run(&mut self, mut queue: mpsc::Receiver<Req>, tx: &ChannelWriteHalf<Msg>) {
        let mut held: Option<Req> = None;
        loop {
            let req = match held.take() {
                Some(r) => r,
                None => match queue.recv().await {
                    Some(r) => r,
                    None => return,
                },
            };
            self.ctx.conn.touch();
            let mut out = BytesMut::new();
            match req {
                Req::Read(first) => {
                    let mut bytes = first.len.min(MAX_RW_LEN) as usize;
                    let mut batch = vec![first];
                    while batch.len() < BATCH_MAX && bytes < BATCH_BYTES {
                        match queue.try_recv() {
                            Ok(Req::Read(r)) if r.handle == batch[0].handle => {
                                bytes += r.len.min(MAX_RW_LEN) as usize;
                                batch.push(r);
                            }
                            Ok(other) => {
                                held = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.read_batch(batch, &mut out).await;
                }
                Req::Write(first) => {
                    let mut batch = vec![first];
                    let mut bytes = batch[0].data.len();
                    while batch.len() < BATCH_MAX && bytes < BATCH_BYTES {
                        match queue.try_recv() {
                            Ok(Req::Write(w)) if w.handle == batch[0].handle => {
                                bytes += w.data.len();
                                batch.push(w);
                            }
                            Ok(other) => {
                                held = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.write_batch(batch, &mut out).await;
                }
                Req::Other(packet) => {
                    let id = packet.get_request_id();
                    match self.handle(packet).await {
                        Ok(answer) => put_packet(&mut out, id, answer),
                        Err(f) => put_fail(&mut out, id, &f),
                    }
                }
                Req::Bad { id, code } => put_status(&mut out, id, code, &code.to_string()),
            }
            if out.is_empty() {
                continue;
            }
            // A client that stops reading its answers is dropped after the idle time.
            match tokio::time::timeout(self.ctx.idle_timeout, tx.data_bytes(out.freeze())).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    tracing::info!(peer = %self.ctx.peer, "SFTP client stopped reading; closing");
                    return;
                }
            }
        }
    }

    fn need(&self, p: Permission) -> Result<(), Fail> {
        let changes = matches!(
            p,
            Permission::FileCreate | Permission::FileUpdate | Permission::FileDelete
        );
        if changes && self.ctx.read_only {
            return Err(Fail::denied("the SFTP server is read-only"));
        }
        if !self.ctx.access.borrow().can(p) {
            return Err(Fail::denied(format!("permission denied ({p} is needed)")));
        }
        Ok(())
    }

    fn path(&self, raw: &str) -> Result<String, Fail> {
        paths::resolve(raw).map_err(|_| Fail::denied("the path leads outside the server directory"))
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, Fail>
    where
        T: Send + 'static,
        F: FnOnce(&ServerFiles) -> Result<T, FileError> + Send + 'static,
    {
        let files = self.ctx.files.clone();
        match tokio::task::spawn_blocking(move || f(&files)).await {
            Ok(r) => r.map_err(Fail::from),
            Err(e) => {
                tracing::error!(error = %e, "SFTP file operation panicked");
                Err(Fail::failure("internal error"))
            }
        }
    }

    async fn audit(&self, action: &str, path: &str, to: Option<&str>, bytes: Option<u64>) {
        let access = self.ctx.access.borrow().clone();
        self.ctx
            .gate
            .audit(
                Some(&access),
                self.ctx.peer,
                SftpAudit {
                    action: action.to_owned(),
                    path: Some(path.to_owned()),
                    to: to.map(str::to_owned),
                    bytes,
                },
            )
            .await;
    }

    fn insert(&mut self, open: Open) -> Result<String, Fail> {
        if self.handles.len() >= MAX_HANDLES {
            return Err(Fail::failure("too many open handles"));
        }
        let h = self.next_handle.to_string();
        self.next_handle += 1;
        self.handles.insert(h.clone(), open);
        Ok(h)
    }

    async fn handle(&mut self, packet: Packet) -> Result<Packet, Fail> {
        match packet {
            Packet::Init(_) => {
                let mut v = Version::new();
                v.extensions
                    .insert(russh_sftp::extensions::LIMITS.to_owned(), "1".to_owned());
                Ok(Packet::Version(v))
            }
            Packet::Open(o) => self.open(o.id, &o.filename, o.pflags, &o.attrs).await,
            Packet::Close(c) => self.close(c.id, &c.handle).await,
            Packet::Lstat(s) => self.stat(s.id, &s.path, false).await,
            Packet::Stat(s) => self.stat(s.id, &s.path, true).await,
            Packet::Fstat(s) => self.fstat(s.id, &s.handle).await,
            Packet::SetStat(s) => {
                let path = self.path(&s.path)?;
                self.setstat(s.id, path, &s.attrs).await
            }
            Packet::FSetStat(s) => self.fsetstat(s.id, &s.handle, &s.attrs).await,
            Packet::OpenDir(o) => self.opendir(o.id, &o.path).await,
            Packet::ReadDir(r) => self.readdir(r.id, &r.handle),
            Packet::Remove(r) => self.remove(r.id, &r.filename, false).await,
            Packet::RmDir(r) => self.remove(r.id, &r.path, true).await,
            Packet::MkDir(m) => self.mkdir(m.id, &m.path).await,
            Packet::RealPath(r) => {
                self.need(Permission::FileRead)?;
                Ok(Packet::Name(Name {
                    id: r.id,
                    files: vec![File::dummy(paths::canonical(&r.path))],
                }))
            }
            Packet::Rename(r) => self.rename(r.id, &r.oldpath, &r.newpath).await,
            Packet::ReadLink(r) => self.readlink(r.id, &r.path).await,
            Packet::Symlink(_) => Err(Fail::denied("symbolic links cannot be made over SFTP")),
            Packet::Extended(e) => self.extended(e.id, &e.request),
            _ => Err(Fail::new(StatusCode::BadMessage, "not a request")),
        }
    }

    async fn open(
        &mut self,
        id: u32,
        filename: &str,
        flags: OpenFlags,
        attrs: &FileAttributes,
    ) -> Result<Packet, Fail> {
        let path = self.path(filename)?;
        if self.handles.len() >= MAX_HANDLES {
            return Err(Fail::failure("too many open handles"));
        }
        let writes = flags.intersects(OpenFlags::WRITE | OpenFlags::APPEND);
        if !writes {
            self.need(Permission::FileReadContent)?;
            let p = path.clone();
            let file = self.blocking(move |f| f.open_read(&p)).await?;
            let handle = self.insert(Open::Read(ReadFile {
                path,
                file: Arc::new(file),
            }))?;
            return Ok(Packet::Handle(Handle { id, handle }));
        }
        if self.ctx.read_only {
            return Err(Fail::denied("the SFTP server is read-only"));
        }
        let p = path.clone();
        let existing = self
            .blocking(move |f| match f.stat(&p) {
                Ok(e) => Ok(Some(e)),
                Err(e) if e.kind == FileErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            })
            .await?;
        let create = flags.contains(OpenFlags::CREATE);
        let (mode, need, created) = match existing {
            None if create => (
                WriteMode::Replace { overwrite: false },
                Permission::FileCreate,
                true,
            ),
            None => return Err(Fail::new(StatusCode::NoSuchFile, "no such file")),
            Some(e) => {
                if create && flags.contains(OpenFlags::EXCLUDE) {
                    return Err(Fail::failure("file exists"));
                }
                if e.kind == FileKind::Dir {
                    return Err(Fail::failure("is a directory"));
                }
                if flags.contains(OpenFlags::TRUNCATE) {
                    (
                        WriteMode::Replace { overwrite: true },
                        Permission::FileUpdate,
                        false,
                    )
                } else {
                    (
                        WriteMode::InPlace { create: false },
                        Permission::FileUpdate,
                        false,
                    )
                }
            }
        };
        self.need(need)?;
        let p = path.clone();
        let writer = self
            .blocking(move |f| f.open_write(&p, mode, FileSource::Sftp))
            .await?;
        let handle = self.insert(Open::Write(Box::new(WriteFile {
            path,
            writer: Some(writer),
            need,
            append: flags.contains(OpenFlags::APPEND),
            bytes: 0,
            error: None,
            mode: if created {
                permission_bits(attrs)
            } else {
                None
            },
            times: None,
        })))?;
        Ok(Packet::Handle(Handle { id, handle }))
    }

    async fn read_batch(&mut self, batch: Vec<ReadReq>, out: &mut BytesMut) {
        let file = match self.handles.get(&batch[0].handle) {
            Some(Open::Read(r)) => Ok(r.file.clone()),
            Some(_) => Err(Fail::failure("the handle is not open for reading")),
            None => Err(Fail::bad_handle()),
        }
        .and_then(|f| self.need(Permission::FileReadContent).map(|()| f));
        let file = match file {
            Ok(f) => f,
            Err(f) => {
                for r in &batch {
                    put_fail(out, r.id, &f);
                }
                return;
            }
        };
        let items: Vec<(u32, u64, usize)> = batch
            .iter()
            .map(|r| (r.id, r.offset, r.len.min(MAX_RW_LEN) as usize))
            .collect();
        let capacity: usize = items.iter().map(|(_, _, len)| 13 + len).sum();
        let ids: Vec<u32> = items.iter().map(|(id, _, _)| *id).collect();
        let done = tokio::task::spawn_blocking(move || {
            let mut buf = BytesMut::with_capacity(capacity);
            for (id, offset, len) in items {
                read_one(&file, &mut buf, id, offset, len);
            }
            buf
        })
        .await;
        match done {
            Ok(buf) => out.unsplit(buf),
            Err(e) => {
                tracing::error!(error = %e, "SFTP read panicked");
                for id in ids {
                    put_status(out, id, StatusCode::Failure, "internal error");
                }
            }
        }
    }

    async fn write_batch(&mut self, batch: Vec<WriteReq>, out: &mut BytesMut) {
        let fail_all = |out: &mut BytesMut, f: &Fail| {
            for w in &batch {
                put_fail(out, w.id, f);
            }
        };
        let need = match self.handles.get(&batch[0].handle) {
            Some(Open::Write(w)) => w.need,
            Some(_) => return fail_all(out, &Fail::failure("the handle is not open for writing")),
            None => return fail_all(out, &Fail::bad_handle()),
        };
        if let Err(f) = self.need(need) {
            return fail_all(out, &f);
        }
        let Some(Open::Write(w)) = self.handles.get_mut(&batch[0].handle) else {
            return fail_all(out, &Fail::bad_handle());
        };
        if let Some(e) = &w.error {
            return fail_all(out, &Fail::from(e.clone()));
        }
        let Some(mut writer) = w.writer.take() else {
            return fail_all(out, &Fail::failure("internal error"));
        };
        let append = w.append;
        let items: Vec<(u32, u64, Bytes)> = batch
            .iter()
            .map(|r| (r.id, r.offset, r.data.clone()))
            .collect();
        let done = tokio::task::spawn_blocking(move || {
            let mut results = Vec::with_capacity(items.len());
            let mut failed: Option<FileError> = None;
            for (id, offset, data) in items {
                if let Some(e) = &failed {
                    results.push((id, Err(e.clone())));
                    continue;
                }
                let at = if append { writer.len() } else { offset };
                match writer.write_at(at, &data) {
                    Ok(()) => results.push((id, Ok(data.len() as u64))),
                    Err(e) => {
                        failed = Some(e.clone());
                        results.push((id, Err(e)));
                    }
                }
            }
            (writer, results, failed)
        })
        .await;
        match done {
            Ok((writer, results, failed)) => {
                w.writer = Some(writer);
                for (id, r) in results {
                    match r {
                        Ok(n) => {
                            w.bytes += n;
                            put_status(out, id, StatusCode::Ok, "");
                        }
                        Err(e) => put_fail(out, id, &Fail::from(e)),
                    }
                }
                if failed.is_some() {
                    w.error = failed;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "SFTP write panicked");
                w.error = Some(FileError::new(FileErrorKind::Io, None, "write failed"));
                fail_all(out, &Fail::failure("internal error"));
            }
        }
    }

    async fn close(&mut self, id: u32, handle: &str) -> Result<Packet, Fail> {
        let open = self.handles.remove(handle).ok_or_else(Fail::bad_handle)?;
        let mut w = match open {
            Open::Write(w) => w,
            other => {
                drop_blocking(other);
                return Ok(ok(id));
            }
        };
        let writer = w.writer.take();
        // Refused or failed: the upload is dropped (its temp file removed) before the
        // answer, so the client never sees a partial file.
        let refusal = match (self.need(w.need), w.error.take()) {
            (Err(f), _) => Some(f),
            (Ok(()), Some(e)) => Some(Fail::from(e)),
            (Ok(()), None) => None,
        };
        if let Some(f) = refusal {
            let _ = tokio::task::spawn_blocking(move || drop(writer)).await;
            return Err(f);
        }
        let writer = writer.ok_or_else(|| Fail::failure("internal error"))?;
        let (path, mode, times) = (w.path.clone(), w.mode, w.times);
        self.blocking(move |f| {
            writer.commit()?;
            if let Some(m) = mode
                && let Err(e) = f.chmod(&path, m, FileSource::Sftp)
            {
                tracing::debug!(error = %e, "SFTP: mode of an uploaded file not set");
            }
            if let Some((a, m)) = times
                && let Err(e) = f.set_times(
                    &path,
                    i64::from(a) * 1000,
                    i64::from(m) * 1000,
                    FileSource::Sftp,
                )
            {
                tracing::debug!(error = %e, "SFTP: times of an uploaded file not set");
            }
            Ok(())
        })
        .await?;
        self.audit("sftp.write", &w.path, None, Some(w.bytes)).await;
        Ok(ok(id))
    }

    async fn stat(&mut self, id: u32, raw: &str, follow: bool) -> Result<Packet, Fail> {
        self.need(Permission::FileRead)?;
        let path = self.path(raw)?;
        let entry = self
            .blocking(move |f| {
                if follow {
                    stat_follow(f, &path)
                } else {
                    f.stat(&path)
                }
            })
            .await?;
        Ok(Packet::Attrs(Attrs {
            id,
            attrs: attrs(&entry),
        }))
    }

    async fn fstat(&mut self, id: u32, handle: &str) -> Result<Packet, Fail> {
        self.need(Permission::FileRead)?;
        let attrs = match self.handles.get(handle) {
            None => return Err(Fail::bad_handle()),
            Some(Open::Read(r)) => {
                let file = r.file.clone();
                let meta = tokio::task::spawn_blocking(move || file.metadata())
                    .await
                    .map_err(|_| Fail::failure("internal error"))?
                    .map_err(|_| Fail::failure("I/O error"))?;
                attrs_of_metadata(&meta)
            }
            Some(Open::Write(w)) => FileAttributes {
                size: w.writer.as_ref().map(FileWriter::len),
                permissions: Some(0o100000 | w.mode.unwrap_or(0o644)),
                ..FileAttributes::empty()
            },
            Some(Open::Dir(d)) => {
                let path = d.path.clone();
                attrs(&self.blocking(move |f| f.stat(&path)).await?)
            }
        };
        Ok(Packet::Attrs(Attrs { id, attrs }))
    }

    async fn setstat(&mut self, id: u32, path: String, a: &FileAttributes) -> Result<Packet, Fail> {
        let mode = permission_bits(a);
        let times = times(a);
        if let Some(size) = a.size {
            self.need(Permission::FileRead)?;
            let p = path.clone();
            let entry = self.blocking(move |f| f.stat(&p)).await?;
            if entry.size != size {
                return Err(Fail::new(
                    StatusCode::OpUnsupported,
                    "changing a file's size is not supported",
                ));
            }
        }
        if mode.is_none() && times.is_none() {
            if a.uid.is_some() || a.gid.is_some() {
                return Err(Fail::denied("ownership cannot be changed over SFTP"));
            }
            return Ok(ok(id));
        }
        self.need(Permission::FileUpdate)?;
        if let Some(m) = mode {
            let p = path.clone();
            self.blocking(move |f| f.chmod(&p, m, FileSource::Sftp))
                .await?;
            self.audit("sftp.chmod", &path, None, None).await;
        }
        if let Some((at, mt)) = times {
            let p = path.clone();
            self.blocking(move |f| {
                f.set_times(
                    &p,
                    i64::from(at) * 1000,
                    i64::from(mt) * 1000,
                    FileSource::Sftp,
                )
            })
            .await?;
        }
        Ok(ok(id))
    }

    async fn fsetstat(
        &mut self,
        id: u32,
        handle: &str,
        a: &FileAttributes,
    ) -> Result<Packet, Fail> {
        let path = match self.handles.get(handle) {
            None => return Err(Fail::bad_handle()),
            Some(Open::Write(w)) => {
                let need = w.need;
                self.need(need)?;
                return self.fsetstat_upload(id, handle, a).await;
            }
            Some(Open::Read(r)) => r.path.clone(),
            Some(Open::Dir(d)) => d.path.clone(),
        };
        self.setstat(id, path, a).await
    }

    /// `fsetstat` on a file being written: the size now (truncate or extend), mode and
    /// times once the upload is in place (in `Replace` mode it is not visible yet).
    async fn fsetstat_upload(
        &mut self,
        id: u32,
        handle: &str,
        a: &FileAttributes,
    ) -> Result<Packet, Fail> {
        let Some(Open::Write(w)) = self.handles.get_mut(handle) else {
            return Err(Fail::bad_handle());
        };
        if let Some(m) = permission_bits(a) {
            w.mode = Some(m);
        }
        if let Some(t) = times(a) {
            w.times = Some(t);
        }
        if let Some(len) = a.size {
            if let Some(e) = &w.error {
                return Err(Fail::from(e.clone()));
            }
            let Some(mut writer) = w.writer.take() else {
                return Err(Fail::failure("internal error"));
            };
            let done = tokio::task::spawn_blocking(move || {
                let r = writer.set_len(len);
                (writer, r)
            })
            .await;
            match done {
                Ok((writer, r)) => {
                    w.writer = Some(writer);
                    if let Err(e) = r {
                        w.error = Some(e.clone());
                        return Err(Fail::from(e));
                    }
                }
                Err(_) => {
                    w.error = Some(FileError::new(FileErrorKind::Io, None, "truncate failed"));
                    return Err(Fail::failure("internal error"));
                }
            }
        }
        Ok(ok(id))
    }

    async fn opendir(&mut self, id: u32, raw: &str) -> Result<Packet, Fail> {
        self.need(Permission::FileRead)?;
        let path = self.path(raw)?;
        let dirs = self
            .handles
            .values()
            .filter(|h| matches!(h, Open::Dir(_)))
            .count();
        if self.handles.len() >= MAX_HANDLES || dirs >= MAX_DIR_HANDLES {
            return Err(Fail::failure("too many open handles"));
        }
        let p = path.clone();
        let entries = self.blocking(move |f| f.list_all(&p)).await?;
        let now = listing::now_ms();
        let entries = entries
            .iter()
            .map(|e| listing::listing_file(e, now))
            .collect();
        let handle = self.insert(Open::Dir(DirList { path, entries }))?;
        Ok(Packet::Handle(Handle { id, handle }))
    }

    fn readdir(&mut self, id: u32, handle: &str) -> Result<Packet, Fail> {
        self.need(Permission::FileRead)?;
        let Some(Open::Dir(d)) = self.handles.get_mut(handle) else {
            return Err(Fail::bad_handle());
        };
        if d.entries.is_empty() {
            return Err(Fail::new(StatusCode::Eof, "end of directory"));
        }
        let n = d.entries.len().min(DIR_CHUNK);
        let files = d.entries.drain(..n).collect();
        Ok(Packet::Name(Name { id, files }))
    }

    async fn remove(&mut self, id: u32, raw: &str, dir: bool) -> Result<Packet, Fail> {
        self.need(Permission::FileDelete)?;
        let path = self.path(raw)?;
        if path.is_empty() {
            return Err(Fail::denied("the server directory cannot be removed"));
        }
        let p = path.clone();
        self.blocking(move |f| {
            if dir {
                f.remove_dir(&p, FileSource::Sftp)
            } else {
                f.remove_file(&p, FileSource::Sftp)
            }
        })
        .await?;
        self.audit("sftp.delete", &path, None, None).await;
        Ok(ok(id))
    }

    async fn mkdir(&mut self, id: u32, raw: &str) -> Result<Packet, Fail> {
        self.need(Permission::FileCreate)?;
        let path = self.path(raw)?;
        if path.is_empty() {
            return Err(Fail::failure("file exists"));
        }
        let p = path.clone();
        self.blocking(move |f| f.create_dir(&p, FileSource::Sftp))
            .await?;
        self.audit("sftp.mkdir", &path, None, None).await;
        Ok(ok(id))
    }

    async fn rename(&mut self, id: u32, from: &str, to: &str) -> Result<Packet, Fail> {
        self.need(Permission::FileUpdate)?;
        let from = self.path(from)?;
        let to = self.path(to)?;
        if from.is_empty() || to.is_empty() {
            return Err(Fail::denied("the server directory cannot be renamed"));
        }
        let (f1, t1) = (from.clone(), to.clone());
        self.blocking(move |f| f.rename(&f1, &t1, FileSource::Sftp))
            .await?;
        self.audit("sftp.rename", &from, Some(&to), None).await;
        Ok(ok(id))
    }

    async fn readlink(&mut self, id: u32, raw: &str) -> Result<Packet, Fail> {
        self.need(Permission::FileRead)?;
        let path = self.path(raw)?;
        let target = self.blocking(move |f| f.read_link(&path)).await?;
        Ok(Packet::Name(Name {
            id,
            files: vec![File {
                filename: target.clone(),
                longname: target,
                attrs: FileAttributes::empty(),
            }],
        }))
    }

    fn extended(&mut self, id: u32, request: &str) -> Result<Packet, Fail> {
        if request != russh_sftp::extensions::LIMITS {
            return Err(Fail::new(
                StatusCode::OpUnsupported,
                "unsupported extension",
            ));
        }
        let limits = LimitsExtension {
            max_packet_len: u64::from(MAX_PACKET_LEN),
            max_read_len: u64::from(MAX_RW_LEN),
            max_write_len: u64::from(MAX_RW_LEN),
            max_open_handles: MAX_HANDLES as u64,
        };
        let data = russh_sftp::ser::to_bytes(&limits)
            .map_err(|_| Fail::failure("internal error"))?
            .to_vec();
        Ok(Packet::ExtendedReply(ExtendedReply { id, data }))
    }
}

/// One `SSH_FXP_DATA` (or EOF / failure status) for a read, appended to `buf`.
fn read_one(file: &std::fs::File, buf: &mut BytesMut, id: u32, offset: u64, len: usize) {
    let start = buf.len();
    buf.put_u32(0);
    buf.put_u8(SSH_FXP_DATA);
    buf.put_u32(id);
    buf.put_u32(0);
    let data_start = buf.len();
    buf.resize(data_start + len, 0);
    let mut got = 0usize;
    let mut error = false;
    while got < len {
        match file.read_at(
            &mut buf[data_start + got..],
            offset.saturating_add(got as u64),
        ) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::warn!(error = %e, "SFTP read failed");
                error = true;
                break;
            }
        }
    }
    if got == 0 {
        buf.truncate(start);
        if error {
            put_status(buf, id, StatusCode::Failure, "I/O error");
        } else {
            put_status(buf, id, StatusCode::Eof, "end of file");
        }
        return;
    }
    buf.truncate(data_start + got);
    let packet_len = (buf.len() - start - 4) as u32;
    buf[start..start + 4].copy_from_slice(&packet_len.to_be_bytes());
    buf[start + 9..start + 13].copy_from_slice(&(got as u32).to_be_bytes());
}

/// `stat` that follows symlinks while they stay under the root (relative targets); a
/// link out of the root is described as the link itself.
fn stat_follow(files: &ServerFiles, path: &str) -> Result<FileEntry, FileError> {
    let mut entry = files.stat(path)?;
    for _ in 0..8 {
        if entry.kind != FileKind::Symlink {
            return Ok(entry);
        }
        let target = match &entry.target {
            Some(t) => t.clone(),
            None => files.read_link(&entry.path)?,
        };
        let Some(next) = paths::link_target(&entry.path, &target) else {
            return Ok(entry);
        };
        match files.stat(&next) {
            Ok(e) => entry = e,
            Err(e) if e.kind == FileErrorKind::NotFound => return Err(e),
            Err(_) => return Ok(entry),
        }
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, body: &[u8]) -> Bytes {
        let mut b = BytesMut::new();
        b.put_u8(kind);
        b.put_slice(body);
        b.freeze()
    }

    #[test]
    fn parses_writes_without_copying() {
        let mut body = BytesMut::new();
        body.put_u32(7);
        body.put_u32(2);
        body.put_slice(b"h1");
        body.put_u64(1 << 40);
        body.put_u32(3);
        body.put_slice(b"abc");
        match parse(frame(SSH_FXP_WRITE, &body)) {
            Req::Write(w) => {
                assert_eq!((w.id, w.handle.as_str(), w.offset), (7, "h1", 1 << 40));
                assert_eq!(&w.data[..], b"abc");
            }
            _ => panic!("not a write"),
        }
    }

    #[test]
    fn truncated_and_unknown_requests() {
        let mut body = BytesMut::new();
        body.put_u32(9);
        body.put_u32(100);
        match parse(frame(SSH_FXP_READ, &body)) {
            Req::Bad { id, code } => assert_eq!((id, code), (9, StatusCode::BadMessage)),
            _ => panic!("accepted"),
        }
        match parse(frame(99, &9u32.to_be_bytes())) {
            Req::Bad { id, code } => assert_eq!((id, code), (9, StatusCode::OpUnsupported)),
            _ => panic!("accepted"),
        }
        assert!(matches!(parse(Bytes::new()), Req::Bad { id: 0, .. }));
    }

    #[test]
    fn status_encoding() {
        let mut out = BytesMut::new();
        put_status(&mut out, 5, StatusCode::Failure, "quota exceeded");
        let mut b = out.freeze();
        let len = b.get_u32() as usize;
        assert_eq!(len, b.len());
        match Packet::try_from(&mut b).unwrap() {
            Packet::Status(s) => {
                assert_eq!(s.id, 5);
                assert_eq!(s.status_code, StatusCode::Failure);
                assert_eq!(s.error_message, "quota exceeded");
            }
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn data_encoding_and_eof() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("f");
        std::fs::write(&p, b"hello world").unwrap();
        let f = std::fs::File::open(&p).unwrap();
        let mut buf = BytesMut::new();
        read_one(&f, &mut buf, 1, 6, 100);
        read_one(&f, &mut buf, 2, 11, 100);
        let mut b = buf.freeze();
        let len = b.get_u32() as usize;
        let mut first = b.split_to(len);
        match Packet::try_from(&mut first).unwrap() {
            Packet::Data(d) => {
                assert_eq!(d.id, 1);
                assert_eq!(d.data, b"world");
            }
            p => panic!("{p:?}"),
        }
        let _ = b.get_u32();
        match Packet::try_from(&mut b).unwrap() {
            Packet::Status(s) => assert_eq!((s.id, s.status_code), (2, StatusCode::Eof)),
            p => panic!("{p:?}"),
        }
    }
}
