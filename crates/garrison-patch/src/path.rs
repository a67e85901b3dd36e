//! Key paths for the tree formats (JSON, YAML, TOML): `settings.port`,
//! `listeners[0].host`, `forced_hosts."pvp.example.net"`.
//!
//! A segment may be double-quoted so keys that hold dots (BungeeCord's forced hosts
//! are host names) can still be addressed; there are no escapes inside the quotes, so
//! a key holding `"` itself cannot be addressed.

use crate::{PatchError, invalid_key};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// The highest index a path may name: far beyond any real config list, low enough
/// that a typo like `[99999999999]` is refused instead of overflowing.
const MAX_INDEX: usize = 1_000_000;

pub(crate) fn parse(key: &str) -> Result<Vec<Seg>, PatchError> {
    let bad = |reason: &str| invalid_key(key, reason);
    let mut segs = Vec::new();
    let mut rest = key;
    loop {
        // One segment: a name (possibly empty only before a leading index), then any
        // number of `[N]`.
        let name_len;
        if let Some(after) = rest.strip_prefix('"') {
            let close = after
                .find('"')
                .ok_or_else(|| bad("a quoted segment is not closed"))?;
            let name = &after[..close];
            if name.is_empty() {
                return Err(bad("a quoted segment is empty"));
            }
            segs.push(Seg::Key(name.to_owned()));
            name_len = close + 2;
        } else {
            let end = rest.find(['.', '[', ']', '"']).unwrap_or(rest.len());
            let name = &rest[..end];
            if name.is_empty() && !(segs.is_empty() && rest.starts_with('[')) {
                return Err(bad(
                    "a path segment is empty (check for `..`, or a `.` at the start or end)",
                ));
            }
            if name.trim() != name {
                return Err(bad("a path segment starts or ends with whitespace"));
            }
            if !name.is_empty() {
                segs.push(Seg::Key(name.to_owned()));
            }
            name_len = end;
        }
        rest = &rest[name_len..];
        while let Some(after) = rest.strip_prefix('[') {
            let close = after
                .find(']')
                .ok_or_else(|| bad("a `[` is not closed by `]`"))?;
            let digits = &after[..close];
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("an index must be a number in brackets, like `[0]`"));
            }
            let index: usize = digits
                .parse()
                .ok()
                .filter(|i| *i <= MAX_INDEX)
                .ok_or_else(|| bad("the index is too large"))?;
            segs.push(Seg::Index(index));
            rest = &after[close + 1..];
        }
        if rest.is_empty() {
            return Ok(segs);
        }
        match rest.strip_prefix('.') {
            Some(after) if !after.is_empty() => rest = after,
            Some(_) => return Err(bad("the path ends with `.`")),
            None => {
                return Err(bad(
                    "unexpected character in the path (segments are separated by `.`, indexes are `[N]`)",
                ));
            }
        }
    }
}

/// The path up to and including segment `upto`, for messages that point at the part
/// of a key where the file stopped matching.
pub(crate) fn prefix(segs: &[Seg], upto: usize) -> String {
    let mut out = String::new();
    for seg in segs.iter().take(upto + 1) {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                if k.contains(['.', '[', ']']) {
                    out.push('"');
                    out.push_str(k);
                    out.push('"');
                } else {
                    out.push_str(k);
                }
            }
            Seg::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Seg {
        Seg::Key(s.to_owned())
    }

    #[test]
    fn parses_paths() {
        assert_eq!(parse("a").unwrap(), vec![k("a")]);
        assert_eq!(parse("a.b").unwrap(), vec![k("a"), k("b")]);
        assert_eq!(
            parse("listeners[0].host").unwrap(),
            vec![k("listeners"), Seg::Index(0), k("host")]
        );
        assert_eq!(
            parse("a[1][2]").unwrap(),
            vec![k("a"), Seg::Index(1), Seg::Index(2)]
        );
        assert_eq!(parse("[3].x").unwrap(), vec![Seg::Index(3), k("x")]);
        assert_eq!(
            parse("hosts.\"pvp.md-5.net\"").unwrap(),
            vec![k("hosts"), k("pvp.md-5.net")]
        );
        assert_eq!(
            parse("with space.x").unwrap(),
            vec![k("with space"), k("x")]
        );
    }

    #[test]
    fn refuses_malformed_paths() {
        for bad in [
            "",
            ".a",
            "a.",
            "a..b",
            "a[",
            "a[]",
            "a[x]",
            "a]",
            "a[0]b",
            "a.[0]",
            " a",
            "a.b ",
            "\"a",
            "\"\"",
            "a[99999999999999999999]",
        ] {
            assert!(
                matches!(parse(bad), Err(PatchError::InvalidKey { .. })),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn prefix_shows_the_path_so_far() {
        let segs = parse("a[0].\"b.c\".d").unwrap();
        assert_eq!(prefix(&segs, 0), "a");
        assert_eq!(prefix(&segs, 1), "a[0]");
        assert_eq!(prefix(&segs, 2), "a[0].\"b.c\"");
    }
}
