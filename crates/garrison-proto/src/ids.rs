use serde::{Deserialize, Serialize};
use std::fmt;

/// A server's id: opaque text (the panel mints UUIDv7 strings). Kept as text so both
/// stores and the wire treat it the same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServerId(pub String);

impl ServerId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the id is safe to use as a single path component on a node
    /// (`servers/<id>/`): ASCII alphanumerics and `-` only, 1..=64 chars.
    pub fn is_path_safe(&self) -> bool {
        !self.0.is_empty()
            && self.0.len() <= 64
            && self
                .0
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ServerId {
    fn from(s: &str) -> Self {
        ServerId(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_safety() {
        assert!(ServerId::from("0193a1b2-7c00-7000-8000-000000000001").is_path_safe());
        assert!(!ServerId::from("../etc").is_path_safe());
        assert!(!ServerId::from("a/b").is_path_safe());
        assert!(!ServerId::from("").is_path_safe());
    }
}
