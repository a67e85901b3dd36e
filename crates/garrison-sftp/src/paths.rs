//! SFTP paths → paths relative to the server root. The client sees the server root as
//! `/`; `.`, empty segments and `..` are resolved here, by text, so nothing that
//! reaches the agent's sandbox carries `..`. The sandbox still checks every path.

/// The path leads above the server root.
#[derive(Debug, PartialEq, Eq)]
pub struct AboveRoot;

/// `path` relative to the root, without a leading slash (`""` is the root). A relative
/// `path` is relative to the root (the only directory an SFTP session starts in).
pub fn resolve(path: &str) -> Result<String, AboveRoot> {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(AboveRoot);
                }
            }
            s => parts.push(s),
        }
    }
    Ok(parts.join("/"))
}

/// Like [`resolve`], but `..` at the root stays at the root (`cd ..` in `/`), and the
/// answer is absolute, as `SSH_FXP_REALPATH` answers.
pub fn canonical(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Where a symlink at `link` (root-relative) points, root-relative, when its target is
/// a relative path that stays under the root. Absolute targets name host paths and are
/// never followed.
pub fn link_target(link: &str, target: &str) -> Option<String> {
    if target.starts_with('/') || target.is_empty() {
        return None;
    }
    let parent = match link.rfind('/') {
        Some(i) => &link[..i],
        None => "",
    };
    resolve(&format!("{parent}/{target}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_inside_the_root() {
        assert_eq!(resolve("/").unwrap(), "");
        assert_eq!(resolve("").unwrap(), "");
        assert_eq!(resolve(".").unwrap(), "");
        assert_eq!(resolve("/a//b/./c/").unwrap(), "a/b/c");
        assert_eq!(resolve("a/../b").unwrap(), "b");
        assert_eq!(resolve("/a/b/../../c").unwrap(), "c");
    }

    #[test]
    fn refuses_above_the_root() {
        assert_eq!(resolve(".."), Err(AboveRoot));
        assert_eq!(resolve("/../../etc/passwd"), Err(AboveRoot));
        assert_eq!(resolve("a/../../x"), Err(AboveRoot));
        assert_eq!(resolve("/a/b/../../../"), Err(AboveRoot));
    }

    #[test]
    fn canonical_clamps() {
        assert_eq!(canonical("/.."), "/");
        assert_eq!(canonical("."), "/");
        assert_eq!(canonical("/../../etc"), "/etc");
        assert_eq!(canonical("a/b/.."), "/a");
    }

    #[test]
    fn links() {
        assert_eq!(link_target("a/l", "b").as_deref(), Some("a/b"));
        assert_eq!(link_target("l", "x/y").as_deref(), Some("x/y"));
        assert_eq!(link_target("a/l", "../b").as_deref(), Some("b"));
        assert_eq!(link_target("l", "../etc/passwd"), None);
        assert_eq!(link_target("l", "/etc/passwd"), None);
    }
}
