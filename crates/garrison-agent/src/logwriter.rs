//! Console log files: one blocking writer for the whole agent, fed through a bounded
//! channel, so file I/O never runs on an async worker and never slows a console reader.

use garrison_proto::ServerId;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Old files kept: `console.log.1` .. `console.log.3`.
const KEEP: u32 = 3;
const QUEUE: usize = 1024;

pub(crate) enum LogMsg {
    /// Console lines; `dropped` lines before them could not be queued.
    Lines {
        id: ServerId,
        lines: Vec<String>,
        dropped: u64,
    },
    /// A line written by Garrison itself (process started/stopped).
    Marker {
        id: ServerId,
        text: String,
    },
    /// Close the server's file (it is about to be deleted).
    Forget {
        id: ServerId,
        done: oneshot::Sender<()>,
    },
    Shutdown,
}

#[derive(Clone)]
pub(crate) struct LogHandle {
    tx: mpsc::Sender<LogMsg>,
}

impl LogHandle {
    /// A handle whose writer is gone: everything sent is discarded.
    #[cfg(test)]
    pub(crate) fn closed() -> LogHandle {
        let (tx, _rx) = mpsc::channel(1);
        LogHandle { tx }
    }

    /// Queue without waiting; false when the writer is busy (the caller counts a drop).
    pub(crate) fn try_send(&self, msg: LogMsg) -> bool {
        match self.tx.try_send(msg) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => false,
            // The writer is gone (shutting down): nothing to count.
            Err(mpsc::error::TrySendError::Closed(_)) => true,
        }
    }

    pub(crate) async fn forget(&self, id: ServerId) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(LogMsg::Forget { id, done }).await.is_ok() {
            let _ = wait.await;
        }
    }

    pub(crate) async fn shutdown(&self) {
        let _ = self.tx.send(LogMsg::Shutdown).await;
    }
}

pub(crate) fn start(root: PathBuf, max_bytes: u64) -> (LogHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let task = tokio::task::spawn_blocking(move || writer_loop(rx, root, max_bytes));
    (LogHandle { tx }, task)
}

struct LogFile {
    out: BufWriter<File>,
    size: u64,
}

struct Writer {
    root: PathBuf,
    max_bytes: u64,
    files: HashMap<ServerId, LogFile>,
}

fn writer_loop(mut rx: mpsc::Receiver<LogMsg>, root: PathBuf, max_bytes: u64) {
    let mut w = Writer {
        root,
        max_bytes,
        files: HashMap::new(),
    };
    'outer: while let Some(msg) = rx.blocking_recv() {
        if !w.handle(msg) {
            break;
        }
        while let Ok(msg) = rx.try_recv() {
            if !w.handle(msg) {
                break 'outer;
            }
        }
        w.flush_all();
    }
    w.flush_all();
}

impl Writer {
    /// Returns false on shutdown.
    fn handle(&mut self, msg: LogMsg) -> bool {
        match msg {
            LogMsg::Lines { id, lines, dropped } => {
                if dropped > 0 {
                    self.write(
                        &id,
                        &format!(
                            "[garrison] {dropped} console lines were not logged (log writer busy)"
                        ),
                    );
                }
                for line in &lines {
                    self.write(&id, line);
                }
            }
            LogMsg::Marker { id, text } => self.write(&id, &format!("[garrison] {text}")),
            LogMsg::Forget { id, done } => {
                if let Some(mut f) = self.files.remove(&id) {
                    let _ = f.out.flush();
                }
                let _ = done.send(());
            }
            LogMsg::Shutdown => return false,
        }
        true
    }

    fn write(&mut self, id: &ServerId, line: &str) {
        let len = line.len() as u64 + 1;
        let rotate =
            matches!(self.files.get(id), Some(f) if f.size > 0 && f.size + len > self.max_bytes);
        if rotate {
            if let Some(mut f) = self.files.remove(id) {
                let _ = f.out.flush();
            }
            if let Err(e) = rotate_files(&self.root.join(id.as_str())) {
                tracing::warn!(server = %id, error = %e, "rotating console log failed");
            }
        }
        if !self.files.contains_key(id) {
            match open(&self.root.join(id.as_str())) {
                Ok(f) => {
                    self.files.insert(id.clone(), f);
                }
                Err(e) => {
                    tracing::warn!(server = %id, error = %e, "opening console log failed");
                    return;
                }
            }
        }
        if let Some(f) = self.files.get_mut(id) {
            let res = f
                .out
                .write_all(line.as_bytes())
                .and_then(|()| f.out.write_all(b"\n"));
            match res {
                Ok(()) => f.size += len,
                Err(e) => {
                    tracing::warn!(server = %id, error = %e, "writing console log failed");
                    self.files.remove(id);
                }
            }
        }
    }

    fn flush_all(&mut self) {
        let mut failed = Vec::new();
        for (id, f) in &mut self.files {
            if let Err(e) = f.out.flush() {
                tracing::warn!(server = %id, error = %e, "flushing console log failed");
                failed.push(id.clone());
            }
        }
        for id in failed {
            self.files.remove(&id);
        }
    }
}

fn open(dir: &Path) -> std::io::Result<LogFile> {
    std::fs::create_dir_all(dir)?;
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("console.log"))?;
    let size = file.metadata()?.len();
    Ok(LogFile {
        out: BufWriter::with_capacity(64 * 1024, file),
        size,
    })
}

fn rotate_files(dir: &Path) -> std::io::Result<()> {
    let name = |n: u32| dir.join(format!("console.log.{n}"));
    match std::fs::remove_file(name(KEEP)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    for n in (1..KEEP).rev() {
        match std::fs::rename(name(n), name(n + 1)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    std::fs::rename(dir.join("console.log"), name(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rotates_and_keeps_three() {
        let tmp = tempfile::tempdir().unwrap();
        let (log, task) = start(tmp.path().to_owned(), 100);
        let id = ServerId::from("s1");
        for i in 0..100 {
            let lines = vec![format!("line {i:04} padding padding")];
            // the queue is large enough for this test; wait if it is not
            while !log.try_send(LogMsg::Lines {
                id: id.clone(),
                lines: lines.clone(),
                dropped: 0,
            }) {
                tokio::task::yield_now().await;
            }
        }
        log.shutdown().await;
        task.await.unwrap();
        let dir = tmp.path().join("s1");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "console.log",
                "console.log.1",
                "console.log.2",
                "console.log.3"
            ]
        );
        for n in &names {
            let len = std::fs::metadata(dir.join(n)).unwrap().len();
            assert!(len <= 100, "{n} is {len} bytes");
        }
        let last = std::fs::read_to_string(dir.join("console.log")).unwrap();
        assert!(last.ends_with("line 0099 padding padding\n"), "{last}");
    }
}
