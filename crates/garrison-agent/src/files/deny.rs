//! The per-template deny list: gitignore patterns that hide and protect paths.

use crate::sandbox::{RelPath, TMP_PREFIX};
use ignore::gitignore::{Gitignore, GitignoreBuilder};

/// Compiled deny patterns. Matching follows git's rule that nothing under an excluded
/// directory can be re-included: a path is denied when it or any of its ancestors
/// matches, checked from the top.
#[derive(Debug, Clone, Default)]
pub(crate) struct DenyList {
    matcher: Option<Gitignore>,
}

impl DenyList {
    /// Compile `lines`; the error names the first line that does not parse.
    pub(crate) fn new(lines: &[String]) -> Result<DenyList, String> {
        if lines.iter().all(|l| l.trim().is_empty()) {
            return Ok(DenyList::default());
        }
        // "." as the root: candidate paths are already relative and never stripped.
        let mut b = GitignoreBuilder::new(".");
        for line in lines {
            b.add_line(None, line)
                .map_err(|e| format!("deny pattern {line:?}: {e}"))?;
        }
        let matcher = b.build().map_err(|e| format!("deny list: {e}"))?;
        Ok(DenyList {
            matcher: Some(matcher),
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// Whether the last component of `rel` alone is hidden, for entries of a directory
    /// already known to be allowed. Directory-only patterns (`logs/`) are tried both
    /// ways: whether a name is a directory can change between the check and the use.
    pub(crate) fn denies_leaf(&self, rel: &RelPath) -> bool {
        if rel.file_name().is_some_and(|n| n.starts_with(TMP_PREFIX)) {
            return true;
        }
        match &self.matcher {
            None => false,
            Some(m) => {
                m.matched(rel.as_str(), false).is_ignore()
                    || m.matched(rel.as_str(), true).is_ignore()
            }
        }
    }

    /// Whether `rel` or any directory above it is hidden.
    pub(crate) fn denies(&self, rel: &RelPath) -> Option<RelPath> {
        let mut cur = RelPath::root();
        for part in rel.components() {
            cur = cur.join_str(part).ok()?;
            if self.denies_leaf(&cur) {
                return Some(cur);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deny(lines: &[&str]) -> DenyList {
        DenyList::new(&lines.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn rel(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    #[test]
    fn patterns_and_ancestors() {
        let d = deny(&["secret/", "*.key", "/top.txt", "!secret/ok"]);
        assert!(d.denies(&rel("secret")).is_some());
        assert!(
            d.denies(&rel("secret/ok")).is_some(),
            "no re-include under a denied dir"
        );
        assert!(d.denies(&rel("a/b/c.key")).is_some());
        assert!(d.denies(&rel("top.txt")).is_some());
        assert!(d.denies(&rel("sub/top.txt")).is_none(), "anchored");
        assert!(d.denies(&rel("public/file.txt")).is_none());
        assert!(d.denies(&rel("x/.garrison-tmp-1")).is_some());
        assert!(deny(&[]).denies(&rel("anything")).is_none());
    }
}
