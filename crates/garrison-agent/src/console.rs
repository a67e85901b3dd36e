//! One server's console: sequence numbers, the ring buffer of recent lines, live
//! `ConsoleEvent`s (never waiting on a slow consumer) and the feed to the log writer.

use crate::lines::LineSplitter;
use crate::lock;
use crate::logwriter::{LogHandle, LogMsg};
use garrison_proto::{ConsoleEvent, ConsoleSnapshot, Event, ServerId};
use regex::Regex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

/// Lines and bytes per `ConsoleEvent` at most.
const BATCH_LINES: usize = 512;
const BATCH_BYTES: usize = 64 * 1024;
/// Per stream of a running process; 32 KiB keeps a flood at millions of lines/s while
/// a thousand running servers stay affordable.
const READ_BUF: usize = 32 * 1024;

pub(crate) struct Console {
    id: ServerId,
    events: mpsc::Sender<Event>,
    log: LogHandle,
    ring: Mutex<Ring>,
}

struct Ring {
    lines: VecDeque<String>,
    cap: usize,
    next_seq: u64,
    /// Lines not delivered as events since the last delivered batch.
    dropped: u64,
    /// Lines the log writer could not take since the last logged batch.
    log_dropped: u64,
}

impl Console {
    pub(crate) fn new(
        id: ServerId,
        cap: usize,
        events: mpsc::Sender<Event>,
        log: LogHandle,
    ) -> Console {
        Console {
            id,
            events,
            log,
            ring: Mutex::new(Ring {
                // Grows as lines come: a server that never ran costs nothing here.
                lines: VecDeque::new(),
                cap,
                next_seq: 0,
                dropped: 0,
                log_dropped: 0,
            }),
        }
    }

    /// Record one batch: numbers it, keeps it in the ring, logs it and emits it. Never
    /// waits: a full event channel or log queue only counts dropped lines.
    pub(crate) fn push(&self, lines: Vec<String>) {
        if lines.is_empty() {
            return;
        }
        let n = lines.len() as u64;
        let mut ring = lock(&self.ring);
        let seq = ring.next_seq;
        ring.next_seq += n;
        let keep = lines.len().min(ring.cap);
        for line in &lines[lines.len() - keep..] {
            if ring.lines.len() == ring.cap {
                ring.lines.pop_front();
            }
            ring.lines.push_back(line.clone());
        }
        let log_dropped = ring.log_dropped;
        if self.log.try_send(LogMsg::Lines {
            id: self.id.clone(),
            lines: lines.clone(),
            dropped: log_dropped,
        }) {
            ring.log_dropped = 0;
        } else {
            ring.log_dropped += n;
        }
        // Sent while holding the lock so batches leave in sequence order.
        let event = Event::Console(ConsoleEvent {
            server: self.id.clone(),
            seq,
            lines,
            dropped: ring.dropped,
        });
        match self.events.try_send(event) {
            Ok(()) => ring.dropped = 0,
            Err(mpsc::error::TrySendError::Full(_)) => ring.dropped += n,
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// A Garrison line for the log file only (process started/stopped).
    pub(crate) fn marker(&self, text: String) {
        let _ = self.log.try_send(LogMsg::Marker {
            id: self.id.clone(),
            text,
        });
    }

    pub(crate) fn snapshot(&self, n: usize) -> ConsoleSnapshot {
        let ring = lock(&self.ring);
        let skip = ring.lines.len().saturating_sub(n);
        ConsoleSnapshot {
            lines: ring.lines.iter().skip(skip).cloned().collect(),
            next_seq: ring.next_seq,
        }
    }

    pub(crate) fn next_seq(&self) -> u64 {
        lock(&self.ring).next_seq
    }

    /// Lines numbered `from` onwards still in the ring, and the next number (for the
    /// following call).
    pub(crate) fn lines_since(&self, from: u64) -> (Vec<String>, u64) {
        let ring = lock(&self.ring);
        let since = usize::try_from(ring.next_seq.saturating_sub(from)).unwrap_or(usize::MAX);
        let take = since.min(ring.lines.len());
        let lines = ring
            .lines
            .iter()
            .skip(ring.lines.len() - take)
            .cloned()
            .collect();
        (lines, ring.next_seq)
    }

    /// The last `n` lines whose sequence number is at least `from`, oldest first.
    pub(crate) fn last_lines_since(&self, from: u64, n: usize) -> Vec<String> {
        let ring = lock(&self.ring);
        let since = usize::try_from(ring.next_seq.saturating_sub(from)).unwrap_or(usize::MAX);
        let take = n.min(since).min(ring.lines.len());
        ring.lines
            .iter()
            .skip(ring.lines.len() - take)
            .cloned()
            .collect()
    }
}

/// Something that looks at console lines as they pass (ready line, sign-in prompts).
pub(crate) trait LineWatch: Send + Sync {
    fn check(&self, lines: &[String]);
}

/// Tells the supervisor once when a console line matches the ready pattern.
pub(crate) struct ReadyWatch {
    pub(crate) pattern: Regex,
    pub(crate) fired: Arc<AtomicBool>,
    pub(crate) notify: Box<dyn Fn() + Send + Sync>,
}

impl LineWatch for ReadyWatch {
    fn check(&self, lines: &[String]) {
        if self.fired.load(Ordering::Relaxed) {
            return;
        }
        if lines.iter().any(|l| self.pattern.is_match(l))
            && !self.fired.swap(true, Ordering::AcqRel)
        {
            (self.notify)();
        }
    }
}

/// Read one output stream of a process until EOF, feeding the console in batches: each
/// read takes whatever the pipe already holds (up to 64 KiB), so lines that arrive
/// together leave together.
pub(crate) async fn read_stream<R: AsyncRead + Unpin>(
    mut reader: R,
    console: Arc<Console>,
    max_line_bytes: usize,
    watchers: Vec<Arc<dyn LineWatch>>,
) {
    let mut buf = vec![0u8; READ_BUF];
    let mut splitter = LineSplitter::new(max_line_bytes);
    let mut lines = Vec::new();
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        splitter.push(&buf[..n], &mut lines);
        emit(&console, &mut lines, &watchers);
    }
    splitter.finish(&mut lines);
    emit(&console, &mut lines, &watchers);
}

fn emit(console: &Console, lines: &mut Vec<String>, watchers: &[Arc<dyn LineWatch>]) {
    if lines.is_empty() {
        return;
    }
    for w in watchers {
        w.check(lines);
    }
    let mut batch = Vec::new();
    let mut bytes = 0;
    for line in lines.drain(..) {
        if !batch.is_empty() && (batch.len() == BATCH_LINES || bytes + line.len() > BATCH_BYTES) {
            console.push(std::mem::take(&mut batch));
            bytes = 0;
        }
        bytes += line.len();
        batch.push(line);
    }
    console.push(batch);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn console(cap: usize, events: usize) -> (Arc<Console>, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel(events);
        let log = LogHandle::closed();
        (
            Arc::new(Console::new(ServerId::from("c"), cap, tx, log)),
            rx,
        )
    }

    #[tokio::test]
    async fn ring_is_bounded_and_snapshots_are_ordered() {
        let (c, _rx) = console(3, 100);
        c.push(vec!["a".into(), "b".into()]);
        c.push(vec!["c".into(), "d".into(), "e".into(), "f".into()]);
        let s = c.snapshot(10);
        assert_eq!(s.lines, ["d", "e", "f"]);
        assert_eq!(s.next_seq, 6);
        assert_eq!(c.snapshot(2).lines, ["e", "f"]);
        assert_eq!(c.last_lines_since(5, 20), ["f"]);
    }

    #[tokio::test]
    async fn full_channel_counts_dropped_lines() {
        let (c, mut rx) = console(10, 1);
        c.push(vec!["1".into()]);
        c.push(vec!["2".into(), "3".into()]); // channel full: dropped
        let Some(Event::Console(first)) = rx.recv().await else {
            panic!()
        };
        assert_eq!((first.seq, first.dropped), (0, 0));
        c.push(vec!["4".into()]);
        let Some(Event::Console(next)) = rx.recv().await else {
            panic!()
        };
        assert_eq!(
            (next.seq, next.dropped, next.lines.clone()),
            (3, 2, vec!["4".to_owned()])
        );
    }

    #[tokio::test]
    async fn reader_batches() {
        let (c, mut rx) = console(2000, 100);
        let data: Vec<u8> = (0..1500)
            .flat_map(|i| format!("l{i}\n").into_bytes())
            .collect();
        read_stream(&data[..], c.clone(), 100, Vec::new()).await;
        let mut seen = 0;
        while let Ok(Event::Console(e)) = rx.try_recv() {
            assert_eq!(e.seq, seen);
            assert!(e.lines.len() <= BATCH_LINES);
            seen += e.lines.len() as u64;
        }
        assert_eq!(seen, 1500);
    }
}
