//! Pterodactyl's `file` parser: every line that starts with the key (byte for byte,
//! no trimming) is replaced as a whole by the value.
//!
//! When no line starts with the key the value is appended, unless a line already is
//! exactly the value: a value need not start with its key (`#port` → `port 25565`
//! uncomments a line), and without that rule every later run would append it again.

use garrison_proto::ConfigSetting;

use crate::text;

pub(crate) fn patch(src: &str, s: &ConfigSetting) -> String {
    let lines = text::lines(src);
    let hits: Vec<_> = lines
        .iter()
        .filter(|l| l.text.starts_with(&s.key))
        .collect();
    if hits.is_empty() {
        let mut out = src.to_owned();
        if !lines.iter().any(|l| l.text == s.value) {
            text::append_line(&mut out, &s.value);
        }
        return out;
    }
    let mut out = String::with_capacity(src.len() + s.value.len());
    let mut at = 0;
    for l in hits {
        out.push_str(&src[at..l.start]);
        out.push_str(&s.value);
        at = l.end;
    }
    out.push_str(&src[at..]);
    out
}

/// The first line that starts with the key, whole.
pub(crate) fn read(src: &str, key: &str) -> Option<String> {
    text::lines(src)
        .into_iter()
        .find(|l| l.text.starts_with(key))
        .map(|l| l.text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(src: &str, key: &str, value: &str) -> String {
        patch(
            src,
            &ConfigSetting {
                key: key.into(),
                value: value.into(),
                kind: Default::default(),
            },
        )
    }

    #[test]
    fn replaces_every_matching_line() {
        assert_eq!(
            set("port 1\nname x\nport 2\r\n", "port ", "port 3"),
            "port 3\nname x\nport 3\r\n"
        );
        assert_eq!(set(" port 1\n", "port", "port 3"), " port 1\nport 3\n");
    }

    #[test]
    fn appends_once() {
        let once = set("a\n#port 1\n", "#port", "port 2");
        assert_eq!(once, "a\nport 2\n");
        assert_eq!(set(&once, "#port", "port 2"), once);
        let once = set("a", "b=", "b=1");
        assert_eq!(once, "a\nb=1\n");
        assert_eq!(set(&once, "b=", "b=1"), once);
    }
}
