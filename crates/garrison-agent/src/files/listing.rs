//! Paginated, sorted directory listings. A directory is read once (names and `lstat`
//! from its handle); only the requested page gets full entries (symlink targets).

use super::server::ServerFiles;
use super::{entry_of, kind_of, map_err, mtime_millis};
use garrison_proto::{FileError, FileErrorKind, FileKind, ListPage, ListRequest, SortKey};
use std::cmp::Ordering;

/// Entries per page at most.
pub(crate) const MAX_LIMIT: u32 = 1000;

impl ServerFiles {
    pub(crate) fn list(&self, req: &ListRequest) -> Result<ListPage, FileError> {
        if req.limit == 0 || req.limit > MAX_LIMIT {
            return Err(FileError::new(
                FileErrorKind::InvalidPath,
                None,
                format!("limit must be 1..={MAX_LIMIT}"),
            ));
        }
        let rel = self.parse(&req.path)?;
        self.allowed(&rel)?;
        let dir = self.dir(&rel)?;
        let mut entries = dir.entries().map_err(map_err)?;
        entries.retain(|(name, _)| rel.join_str(name).is_ok_and(|c| !self.deny_hides_leaf(&c)));
        let by = |a: &(String, cap_std::fs::Metadata), b: &(String, cap_std::fs::Metadata)| {
            let order = match req.sort {
                SortKey::Name => Ordering::Equal,
                SortKey::Size => a.1.len().cmp(&b.1.len()),
                SortKey::Modified => mtime_millis(&a.1).cmp(&mtime_millis(&b.1)),
            };
            order.then_with(|| a.0.cmp(&b.0))
        };
        entries.sort_unstable_by(|a, b| {
            let a_dir = kind_of(&a.1) == FileKind::Dir;
            let b_dir = kind_of(&b.1) == FileKind::Dir;
            // Directories first whatever the direction.
            b_dir.cmp(&a_dir).then_with(|| {
                let o = by(a, b);
                if req.descending { o.reverse() } else { o }
            })
        });
        let total = entries.len() as u64;
        let start = usize::try_from(req.offset)
            .unwrap_or(usize::MAX)
            .min(entries.len());
        let end = start.saturating_add(req.limit as usize).min(entries.len());
        let page = entries[start..end]
            .iter()
            .filter_map(|(name, m)| {
                let child = rel.join_str(name).ok()?;
                let target = if m.is_symlink() {
                    dir.read_link(name).ok()
                } else {
                    None
                };
                Some(entry_of(&child, name, m, target))
            })
            .collect();
        Ok(ListPage {
            path: rel.as_str().to_owned(),
            offset: req.offset,
            total,
            entries: page,
        })
    }
}
