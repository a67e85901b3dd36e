//! Plain `key = value` files, read the way Luanti reads `minetest.conf`: each line is
//! trimmed, `#` starts a comment line, the name ends at the first `=`, and name and
//! value are trimmed.
//!
//! `#` after the `=` is part of the value (Luanti has no inline comments), so a value
//! holding `#` round-trips as written. Luanti's multi-line values (`key = """` up to a
//! line `"""`) are replaced as a whole when their key is patched and left alone
//! otherwise; the lines of a settings group (`key = {` up to `}`) are not top-level
//! keys and are never matched. Every top-level line with the key is rewritten.

use garrison_proto::ConfigSetting;

use crate::text::{self, Line};
use crate::{PatchError, invalid_key, invalid_value, unparseable};

const MULTILINE: &str = "\"\"\"";

#[derive(Debug, PartialEq, Eq)]
enum Shape {
    Single,
    Multiline { closed: bool },
    Group,
}

struct Entry {
    name: String,
    /// First and last physical line of the entry.
    first: usize,
    last: usize,
    /// Byte offsets of the value on the first line (after the `=` and its spaces).
    value_start: usize,
    value_end: usize,
    /// Whether the line had whitespace before the `=`, so `key =` grows a space
    /// before a value that used to be empty.
    spaced: bool,
    shape: Shape,
}

pub(crate) fn check_key(key: &str) -> Result<(), PatchError> {
    if key.trim() != key {
        return Err(invalid_key(key, "the key starts or ends with whitespace"));
    }
    if key.contains('=') {
        return Err(invalid_key(key, "the key contains `=`"));
    }
    if key.starts_with('#') {
        return Err(invalid_key(key, "a line starting with `#` is a comment"));
    }
    if key == "}" {
        return Err(invalid_key(key, "`}` ends a settings group"));
    }
    Ok(())
}

pub(crate) fn check_value(key: &str, value: &str) -> Result<(), PatchError> {
    if value.trim_matches([' ', '\t']) != value {
        return Err(invalid_value(
            key,
            "it starts or ends with whitespace, which the game trims away",
        ));
    }
    if value == MULTILINE || value == "{" {
        return Err(invalid_value(
            key,
            format!("`{value}` on its own would start a multi-line value or a group"),
        ));
    }
    Ok(())
}

fn entries(lines: &[Line<'_>]) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(mut e) = entry_at(lines, i) else {
            i += 1;
            continue;
        };
        match e.shape {
            Shape::Single => {}
            Shape::Multiline { .. } => {
                let end = (i + 1..lines.len()).find(|&j| lines[j].text.trim() == MULTILINE);
                e.shape = Shape::Multiline {
                    closed: end.is_some(),
                };
                e.last = end.unwrap_or(lines.len() - 1);
            }
            Shape::Group => {
                let mut depth = 1usize;
                let mut j = i + 1;
                while j < lines.len() {
                    let t = lines[j].text.trim();
                    if t == "}" {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    } else if entry_at(lines, j).is_some_and(|n| n.shape == Shape::Group) {
                        depth += 1;
                    }
                    j += 1;
                }
                e.last = j.min(lines.len() - 1);
            }
        }
        i = e.last + 1;
        out.push(e);
    }
    out
}

fn entry_at(lines: &[Line<'_>], i: usize) -> Option<Entry> {
    let l = lines[i];
    let t = l.text.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let eq = l.text.find('=')?;
    let name = l.text[..eq].trim();
    let after = &l.text[eq + 1..];
    let value = after.trim();
    let value_start = l.start + eq + 1 + (after.len() - after.trim_start().len());
    let shape = match value {
        MULTILINE => Shape::Multiline { closed: false },
        "{" => Shape::Group,
        _ => Shape::Single,
    };
    Some(Entry {
        name: name.to_owned(),
        first: i,
        last: i,
        value_start,
        value_end: value_start + value.len(),
        spaced: l.text[..eq].ends_with([' ', '\t']),
        shape,
    })
}

pub(crate) fn patch(src: &str, s: &ConfigSetting) -> Result<String, PatchError> {
    let lines = text::lines(src);
    let matching: Vec<Entry> = entries(&lines)
        .into_iter()
        .filter(|e| e.name == s.key)
        .collect();
    if matching.is_empty() {
        let mut out = src.to_owned();
        text::append_line(&mut out, &format!("{} = {}", s.key, s.value));
        return Ok(out);
    }
    let mut out = String::with_capacity(src.len() + s.value.len());
    let mut at = 0;
    for e in &matching {
        let end = match e.shape {
            Shape::Single => e.value_end,
            Shape::Multiline { closed: true } => lines[e.last].end,
            Shape::Multiline { closed: false } => {
                return Err(unparseable(
                    e.first + 1,
                    format!(
                        "the multi-line value of `{}` is never closed by `\"\"\"`",
                        s.key
                    ),
                ));
            }
            Shape::Group => {
                return Err(unparseable(
                    e.first + 1,
                    format!(
                        "`{}` is a settings group (`{{ … }}`), not a value; set its keys instead",
                        s.key
                    ),
                ));
            }
        };
        out.push_str(&src[at..e.value_start]);
        let bare_eq = src[..e.value_start].ends_with('=');
        if bare_eq && e.spaced && !s.value.is_empty() {
            out.push(' ');
        }
        out.push_str(&s.value);
        at = end;
    }
    out.push_str(&src[at..]);
    Ok(out)
}

pub(crate) fn read(src: &str, key: &str) -> Result<Option<String>, PatchError> {
    let lines = text::lines(src);
    let Some(e) = entries(&lines).into_iter().rfind(|e| e.name == key) else {
        return Ok(None);
    };
    Ok(Some(match e.shape {
        Shape::Single => src[e.value_start..e.value_end].to_owned(),
        Shape::Multiline { .. } => {
            let body_end = if matches!(e.shape, Shape::Multiline { closed: true }) {
                e.last
            } else {
                e.last + 1
            };
            lines[e.first + 1..body_end]
                .iter()
                .map(|l| l.text)
                .collect::<Vec<_>>()
                .join("\n")
        }
        Shape::Group => {
            return Err(unparseable(
                e.first + 1,
                format!("`{key}` is a settings group, not a value"),
            ));
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(src: &str, key: &str, value: &str) -> Result<String, PatchError> {
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
    fn keeps_each_lines_spacing() {
        let src = "a = 1\nb=2\n  c  =  3  \n";
        assert_eq!(set(src, "a", "x").unwrap(), "a = x\nb=2\n  c  =  3  \n");
        assert_eq!(set(src, "b", "x").unwrap(), "a = 1\nb=x\n  c  =  3  \n");
        assert_eq!(set(src, "c", "x").unwrap(), "a = 1\nb=2\n  c  =  x  \n");
        assert_eq!(set("a =\n", "a", "x").unwrap(), "a = x\n");
        assert_eq!(set("a=\n", "a", "x").unwrap(), "a=x\n");
    }

    #[test]
    fn appends_new_keys() {
        assert_eq!(set("# c\na = 1", "b", "2").unwrap(), "# c\na = 1\nb = 2\n");
        assert_eq!(set("", "b", "2").unwrap(), "b = 2\n");
    }

    #[test]
    fn hash_is_part_of_the_value() {
        let out = set("motd = old\n", "motd", "Welcome #1").unwrap();
        assert_eq!(out, "motd = Welcome #1\n");
        assert_eq!(read(&out, "motd").unwrap().as_deref(), Some("Welcome #1"));
        // A commented-out key is not the key.
        assert_eq!(
            set("# motd = x\n", "motd", "y").unwrap(),
            "# motd = x\nmotd = y\n"
        );
    }

    #[test]
    fn multiline_values() {
        let src = "a = \"\"\"\nline one\nb = not a key\n\"\"\"\nb = 2\n";
        assert_eq!(
            read(src, "a").unwrap().as_deref(),
            Some("line one\nb = not a key")
        );
        assert_eq!(read(src, "b").unwrap().as_deref(), Some("2"));
        assert_eq!(
            set(src, "b", "3").unwrap(),
            "a = \"\"\"\nline one\nb = not a key\n\"\"\"\nb = 3\n"
        );
        assert_eq!(set(src, "a", "x").unwrap(), "a = x\nb = 2\n");
        assert!(matches!(
            set("a = \"\"\"\nnever closed\n", "a", "x"),
            Err(PatchError::Unparseable { line: 1, .. })
        ));
    }

    #[test]
    fn group_members_are_not_top_level() {
        let src = "g = {\n  x = 1\n  h = {\n    x = 2\n  }\n}\nx = 3\n";
        assert_eq!(read(src, "x").unwrap().as_deref(), Some("3"));
        assert_eq!(
            set(src, "x", "4").unwrap(),
            "g = {\n  x = 1\n  h = {\n    x = 2\n  }\n}\nx = 4\n"
        );
        assert!(matches!(
            set(src, "g", "1"),
            Err(PatchError::Unparseable { line: 1, .. })
        ));
    }
}
