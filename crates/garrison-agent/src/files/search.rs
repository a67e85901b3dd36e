//! Search by name or content under a directory, within fixed budgets so one request
//! cannot walk a huge world save or read gigabytes.

use super::server::{ServerFiles, invalid};
use super::{entry_of, map_err};
use crate::sandbox::{NoFollowDir, RelPath};
use garrison_proto::{FileError, SearchMatch, SearchRequest, SearchResult};
use std::io::Read;

/// Entries looked at per search at most.
pub(crate) const MAX_VISITED: u64 = 100_000;
/// Only files up to this size are searched for content.
pub(crate) const MAX_CONTENT_FILE: u64 = 5 * 1024 * 1024;
/// Content bytes read per search at most.
const MAX_CONTENT_TOTAL: u64 = 256 * 1024 * 1024;
/// A NUL in this many leading bytes marks a file as binary.
const BINARY_SNIFF: usize = 8192;
/// Matched lines are cut to this many characters.
const MAX_LINE_CHARS: usize = 200;

fn first_match(content: &[u8], needle: &str) -> Option<(u64, String)> {
    let text = String::from_utf8_lossy(content);
    for (i, line) in text.lines().enumerate() {
        if line.to_lowercase().contains(needle) {
            let trimmed: String = line.trim().chars().take(MAX_LINE_CHARS).collect();
            return Some((i as u64 + 1, trimmed));
        }
    }
    None
}

impl ServerFiles {
    pub(crate) fn search(&self, req: &SearchRequest) -> Result<SearchResult, FileError> {
        if req.limit == 0 || req.limit > 1000 {
            return Err(invalid(&req.path, "limit must be 1..=1000"));
        }
        let needle = req.query.to_lowercase();
        if needle.is_empty() {
            return Err(invalid(&req.path, "empty search"));
        }
        let rel = self.parse(&req.path)?;
        self.allowed(&rel)?;
        let top = self.dir(&rel)?;
        let mut matches = Vec::new();
        let mut truncated = false;
        let mut visited = 0u64;
        let mut read_total = 0u64;
        let mut stack: Vec<(NoFollowDir, RelPath)> = vec![(top, rel)];
        'walk: while let Some((dir, at)) = stack.pop() {
            if self.ctx.stopping() {
                truncated = true;
                break;
            }
            let Ok(mut entries) = dir.entries() else {
                continue;
            };
            entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            for (name, m) in entries {
                let Ok(child) = at.join_str(&name) else {
                    continue;
                };
                if self.deny_hides_leaf(&child) {
                    continue;
                }
                visited += 1;
                if visited > MAX_VISITED {
                    truncated = true;
                    break 'walk;
                }
                if m.is_dir()
                    && let Ok(sub) = dir.open_dir(&name)
                {
                    stack.push((sub, child.clone()));
                }
                let found = if !req.content {
                    name.to_lowercase()
                        .contains(&needle)
                        .then_some((None, None))
                } else if m.is_file()
                    && m.len() <= MAX_CONTENT_FILE
                    && read_total < MAX_CONTENT_TOTAL
                {
                    let Ok(file) = dir.open_read(&name) else {
                        continue;
                    };
                    let mut content = Vec::new();
                    if file
                        .take(MAX_CONTENT_FILE)
                        .read_to_end(&mut content)
                        .is_err()
                    {
                        continue;
                    }
                    read_total += content.len() as u64;
                    if content[..content.len().min(BINARY_SNIFF)].contains(&0) {
                        continue;
                    }
                    first_match(&content, &needle).map(|(l, t)| (Some(l), Some(t)))
                } else {
                    None
                };
                if let Some((line, text)) = found {
                    let target = if m.is_symlink() {
                        dir.read_link(&name).map_err(map_err).ok()
                    } else {
                        None
                    };
                    matches.push(SearchMatch {
                        entry: entry_of(&child, &name, &m, target),
                        line,
                        text,
                    });
                    if matches.len() >= req.limit as usize {
                        truncated = true;
                        break 'walk;
                    }
                }
            }
        }
        Ok(SearchResult { matches, truncated })
    }
}
