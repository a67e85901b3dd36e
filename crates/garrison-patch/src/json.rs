//! JSON, edited in place: a small strict parser records the byte span of every value,
//! and a patch replaces just the span at the key's path (or inserts one member), so
//! indentation, key order, spacing and number spelling elsewhere stay as they were.
//!
//! With duplicate keys the last one counts, as in most JSON readers. A file holding
//! only whitespace is treated like a missing one.

use garrison_proto::ConfigSetting;

use crate::kind::{self, Existing, Typed};
use crate::path::{self, Seg};
use crate::text::{self, line_of};
use crate::{PatchError, unparseable};

/// Deeper than any config; stops a hostile file from exhausting the stack.
const MAX_DEPTH: usize = 256;

#[derive(Debug)]
struct Node {
    start: usize,
    end: usize,
    kind: NodeKind,
}

#[derive(Debug)]
enum NodeKind {
    Object(Vec<Member>),
    Array(Vec<Node>),
    String(String),
    Number,
    Bool,
    Null,
}

#[derive(Debug)]
struct Member {
    key: String,
    key_start: usize,
    key_end: usize,
    value: Node,
}

impl NodeKind {
    fn name(&self) -> &'static str {
        match self {
            NodeKind::Object(_) => "an object",
            NodeKind::Array(_) => "an array",
            NodeKind::String(_) => "a string",
            NodeKind::Number => "a number",
            NodeKind::Bool => "a boolean",
            NodeKind::Null => "null",
        }
    }
}

struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, at: usize, reason: impl Into<String>) -> PatchError {
        unparseable(
            line_of(self.src, at),
            format!("invalid JSON: {}", reason.into()),
        )
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), PatchError> {
        if self.b.get(self.pos) == Some(&c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(self.pos, format!("expected `{}` here", c as char)))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, PatchError> {
        if depth > MAX_DEPTH {
            return Err(self.err(self.pos, "nested too deeply"));
        }
        let start = self.pos;
        let kind = match self.b.get(self.pos) {
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => NodeKind::String(self.string()?),
            Some(b't') => self.literal("true", NodeKind::Bool)?,
            Some(b'f') => self.literal("false", NodeKind::Bool)?,
            Some(b'n') => self.literal("null", NodeKind::Null)?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(_) => return Err(self.err(start, "expected a value")),
            None => return Err(self.err(start, "the file ends where a value should be")),
        };
        Ok(Node {
            start,
            end: self.pos,
            kind,
        })
    }

    fn literal(&mut self, word: &str, kind: NodeKind) -> Result<NodeKind, PatchError> {
        if self.src[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(kind)
        } else {
            Err(self.err(self.pos, "expected a value"))
        }
    }

    fn number(&mut self) -> Result<NodeKind, PatchError> {
        let start = self.pos;
        while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.b.get(self.pos) {
            self.pos += 1;
        }
        if kind::is_json_number(&self.src[start..self.pos]) {
            Ok(NodeKind::Number)
        } else {
            Err(self.err(start, "malformed number"))
        }
    }

    fn string(&mut self) -> Result<String, PatchError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = &self.src[self.pos..];
            let Some(c) = rest.chars().next() else {
                return Err(self.err(start, "a string is not closed"));
            };
            self.pos += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let e = self.b.get(self.pos).copied();
                    self.pos += 1;
                    match e {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\x08'),
                        Some(b'f') => out.push('\x0c'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => out.push(self.unicode_escape()?),
                        _ => return Err(self.err(self.pos - 1, "invalid escape in a string")),
                    }
                }
                c if u32::from(c) < 0x20 => {
                    return Err(self.err(self.pos - 1, "a control character inside a string"));
                }
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, PatchError> {
        let hex = self
            .src
            .get(self.pos..self.pos + 4)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.err(self.pos, "invalid \\u escape"))?;
        self.pos += 4;
        u32::from_str_radix(hex, 16).map_err(|_| self.err(self.pos, "invalid \\u escape"))
    }

    fn unicode_escape(&mut self) -> Result<char, PatchError> {
        let hi = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&hi) && self.src[self.pos..].starts_with("\\u") {
            self.pos += 2;
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(self.err(self.pos, "invalid surrogate pair"));
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        // A lone surrogate is valid JSON but no string; keep it readable.
        Ok(char::from_u32(code).unwrap_or('\u{FFFD}'))
    }

    fn object(&mut self, depth: usize) -> Result<NodeKind, PatchError> {
        self.pos += 1;
        let mut members = Vec::new();
        self.ws();
        if self.b.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(NodeKind::Object(members));
        }
        loop {
            self.ws();
            if self.b.get(self.pos) != Some(&b'"') {
                return Err(self.err(self.pos, "expected a key in double quotes"));
            }
            let key_start = self.pos;
            let key = self.string()?;
            let key_end = self.pos;
            self.ws();
            self.eat(b':')?;
            self.ws();
            let value = self.value(depth + 1)?;
            members.push(Member {
                key,
                key_start,
                key_end,
                value,
            });
            self.ws();
            match self.b.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(NodeKind::Object(members));
                }
                _ => return Err(self.err(self.pos, "expected `,` or `}`")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<NodeKind, PatchError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.ws();
        if self.b.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(NodeKind::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.b.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(NodeKind::Array(items));
                }
                _ => return Err(self.err(self.pos, "expected `,` or `]`")),
            }
        }
    }
}

fn parse(src: &str) -> Result<Node, PatchError> {
    let mut p = Parser {
        src,
        b: src.as_bytes(),
        pos: 0,
    };
    if src.starts_with('\u{feff}') {
        p.pos = 3;
    }
    p.ws();
    let root = p.value(0)?;
    p.ws();
    if p.pos != src.len() {
        return Err(p.err(p.pos, "unexpected text after the end of the document"));
    }
    Ok(root)
}

/// Where the path leads in the parsed document.
enum Found<'n> {
    Value(&'n Node),
    /// The object at which the path leaves the file, and the index of the first
    /// segment that is not there.
    Missing(&'n Node, usize),
}

fn find<'n>(src: &str, root: &'n Node, segs: &[Seg], key: &str) -> Result<Found<'n>, PatchError> {
    let mut node = root;
    for (i, seg) in segs.iter().enumerate() {
        let here = || {
            if i == 0 {
                "the document".to_owned()
            } else {
                format!("`{}`", path::prefix(segs, i - 1))
            }
        };
        node = match (seg, &node.kind) {
            (Seg::Key(k), NodeKind::Object(members)) => {
                match members.iter().rev().find(|m| &m.key == k) {
                    Some(m) => &m.value,
                    None => return Ok(Found::Missing(node, i)),
                }
            }
            (Seg::Index(n), NodeKind::Array(items)) => items.get(*n).ok_or_else(|| {
                unparseable(
                    line_of(src, node.start),
                    format!(
                        "`{key}`: {} has {} item(s), so there is no index {n}",
                        here(),
                        items.len()
                    ),
                )
            })?,
            (Seg::Key(_), other) => {
                return Err(unparseable(
                    line_of(src, node.start),
                    format!("`{key}`: {} is {}, not an object", here(), other.name()),
                ));
            }
            (Seg::Index(_), other) => {
                return Err(unparseable(
                    line_of(src, node.start),
                    format!("`{key}`: {} is {}, not an array", here(), other.name()),
                ));
            }
        };
    }
    Ok(Found::Value(node))
}

pub(crate) fn patch(src: &str, segs: &[Seg], s: &ConfigSetting) -> Result<String, PatchError> {
    if src.trim().is_empty() {
        return patch("{}\n", segs, s);
    }
    let root = parse(src)?;
    match find(src, &root, segs, &s.key)? {
        Found::Value(node) => {
            let existing = match &node.kind {
                NodeKind::String(_) => Existing::String,
                NodeKind::Number => Existing::Number,
                NodeKind::Bool => Existing::Boolean,
                NodeKind::Null => Existing::Null,
                other => {
                    return Err(unparseable(
                        line_of(src, node.start),
                        format!(
                            "`{}` holds {}; only single values can be set",
                            s.key,
                            other.name()
                        ),
                    ));
                }
            };
            let v = kind::resolve(s.kind, &s.key, &s.value, Some(existing))?;
            Ok(text::splice(src, node.start..node.end, &render(&v)))
        }
        Found::Missing(obj, i) => insert(src, &root, obj, &segs[i..], s),
    }
}

fn insert(
    src: &str,
    root: &Node,
    obj: &Node,
    segs: &[Seg],
    s: &ConfigSetting,
) -> Result<String, PatchError> {
    let mut names = Vec::with_capacity(segs.len());
    for seg in segs {
        match seg {
            Seg::Key(k) => names.push(k.as_str()),
            Seg::Index(_) => {
                return Err(unparseable(
                    line_of(src, obj.start),
                    format!(
                        "`{}`: the array on the way to it does not exist, and arrays are not created",
                        s.key
                    ),
                ));
            }
        }
    }
    let value = render(&kind::resolve(s.kind, &s.key, &s.value, None)?);
    let NodeKind::Object(members) = &obj.kind else {
        return Err(unparseable(line_of(src, obj.start), "expected an object"));
    };
    let nl = text::newline(src);
    let parent_indent = line_indent(src, obj.start);
    let Some(last) = members.last() else {
        let unit = indent_unit(src, root);
        let inner = format!("{parent_indent}{unit}");
        let member = nested(&names, &value, ": ", Some((&inner, &unit, nl)));
        let text = format!("{{{nl}{inner}{member}{nl}{parent_indent}}}");
        return Ok(text::splice(src, obj.start..obj.end, &text));
    };
    let colon = &src[last.key_end..last.value.start];
    let colon = if colon.contains('\n') { ": " } else { colon };
    let first_key = members.first().map_or(last.key_start, |m| m.key_start);
    let multiline = src[obj.start..first_key].contains('\n');
    let text = if multiline {
        let indent = line_indent(src, last.key_start);
        let unit = indent
            .strip_prefix(parent_indent.as_str())
            .filter(|u| !u.is_empty())
            .map_or_else(|| indent_unit(src, root), str::to_owned);
        let member = nested(&names, &value, colon, Some((&indent, &unit, nl)));
        format!(",{nl}{indent}{member}")
    } else {
        let sep = match members.len() {
            n if n >= 2 => &src[members[n - 2].value.end..last.key_start],
            _ => ", ",
        };
        format!("{sep}{}", nested(&names, &value, colon, None))
    };
    let at = last.value.end;
    Ok(text::splice(src, at..at, &text))
}

/// `"a": {"b": value}` for the missing names, laid out over lines when the object
/// it goes into is (`layout` = the member's indentation, the indent unit, newline).
fn nested(names: &[&str], value: &str, colon: &str, layout: Option<(&str, &str, &str)>) -> String {
    let Some((name, rest)) = names.split_first() else {
        return value.to_owned();
    };
    let key = quote(name);
    if rest.is_empty() {
        return format!("{key}{colon}{value}");
    }
    match layout {
        Some((indent, unit, nl)) => {
            let inner = format!("{indent}{unit}");
            let child = nested(rest, value, colon, Some((&inner, unit, nl)));
            format!("{key}{colon}{{{nl}{inner}{child}{nl}{indent}}}")
        }
        None => format!("{key}{colon}{{{}}}", nested(rest, value, colon, None)),
    }
}

/// The whitespace that starts the line holding byte `at`.
fn line_indent(src: &str, at: usize) -> String {
    let line_start = src[..at].rfind('\n').map_or(0, |i| i + 1);
    text::indentation(&src[line_start..]).to_owned()
}

/// How far this file indents one level: the indentation of the first indented member
/// of the root object (two spaces if there is none to copy).
fn indent_unit(src: &str, root: &Node) -> String {
    if let NodeKind::Object(members) = &root.kind
        && let Some(m) = members.first()
    {
        let indent = line_indent(src, m.key_start);
        let root_indent = line_indent(src, root.start);
        if let Some(u) = indent.strip_prefix(root_indent.as_str())
            && !u.is_empty()
            && src[root.start..m.key_start].contains('\n')
        {
            return u.to_owned();
        }
    }
    "  ".to_owned()
}

fn render(v: &Typed) -> String {
    match v {
        Typed::String(s) => quote(s),
        Typed::Integer(t) | Typed::Float(t) => t.clone(),
        Typed::Boolean(b) => b.to_string(),
    }
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(crate) fn read(src: &str, segs: &[Seg], key: &str) -> Result<Option<String>, PatchError> {
    if src.trim().is_empty() {
        return Ok(None);
    }
    let root = parse(src)?;
    match find(src, &root, segs, key)? {
        Found::Missing(..) => Ok(None),
        Found::Value(node) => match &node.kind {
            NodeKind::String(s) => Ok(Some(s.clone())),
            NodeKind::Null => Ok(Some(String::new())),
            NodeKind::Number | NodeKind::Bool => Ok(Some(src[node.start..node.end].to_owned())),
            other => Err(unparseable(
                line_of(src, node.start),
                format!("`{key}` holds {}, not a single value", other.name()),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use garrison_proto::ValueKind;

    fn set(src: &str, key: &str, value: &str) -> Result<String, PatchError> {
        set_kind(src, key, value, ValueKind::Auto)
    }

    fn set_kind(src: &str, key: &str, value: &str, kind: ValueKind) -> Result<String, PatchError> {
        let s = ConfigSetting {
            key: key.into(),
            value: value.into(),
            kind,
        };
        patch(src, &path::parse(key)?, &s)
    }

    #[test]
    fn replaces_only_the_value_span() {
        let src = "{\n  \"a\" :  1,\n  \"b\": {\"c\": \"x\"},\n  \"l\": [ {\"h\": true} ]\n}";
        assert_eq!(set(src, "a", "2").unwrap(), src.replace("1,", "2,"));
        assert_eq!(
            set(src, "b.c", "y\"z").unwrap(),
            src.replace("\"x\"", "\"y\\\"z\"")
        );
        assert_eq!(
            set(src, "l[0].h", "false").unwrap(),
            src.replace("true", "false")
        );
        assert_eq!(set(src, "a", "abc").unwrap(), src.replace("1,", "\"abc\","));
    }

    #[test]
    fn inserts_members_like_their_siblings() {
        let src = "{\n    \"a\": 1,\n    \"b\": {\n        \"c\": 2\n    }\n}\n";
        assert_eq!(
            set(src, "b.d", "x").unwrap(),
            "{\n    \"a\": 1,\n    \"b\": {\n        \"c\": 2,\n        \"d\": \"x\"\n    }\n}\n"
        );
        assert_eq!(
            set(src, "e.f", "1").unwrap(),
            "{\n    \"a\": 1,\n    \"b\": {\n        \"c\": 2\n    },\n    \"e\": {\n        \"f\": 1\n    }\n}\n"
        );
        assert_eq!(
            set("{\"a\":1,\"b\":2}", "c.d", "3").unwrap(),
            "{\"a\":1,\"b\":2,\"c\":{\"d\":3}}"
        );
        assert_eq!(set("{\"a\": 1}", "c", "3").unwrap(), "{\"a\": 1, \"c\": 3}");
        assert_eq!(
            set("{\n\t\"a\": {}\n}", "a.b", "1").unwrap(),
            "{\n\t\"a\": {\n\t\t\"b\": 1\n\t}\n}"
        );
        assert_eq!(set("{}", "a", "1").unwrap(), "{\n  \"a\": 1\n}");
    }

    #[test]
    fn auto_keeps_the_existing_type() {
        let src = "{\"n\": 1, \"s\": \"1\", \"b\": false, \"z\": null}";
        assert_eq!(
            set(src, "n", "05").unwrap(),
            src.replace("\"n\": 1", "\"n\": 5")
        );
        assert_eq!(set(src, "s", "2").unwrap(), src.replace("\"1\"", "\"2\""));
        assert_eq!(set(src, "b", "1").unwrap(), src.replace("false", "true"));
        assert_eq!(set(src, "z", "7").unwrap(), src.replace("null", "7"));
        assert_eq!(
            set_kind(src, "n", "7", ValueKind::String).unwrap(),
            src.replace("\"n\": 1", "\"n\": \"7\"")
        );
    }

    #[test]
    fn refuses_what_it_cannot_edit() {
        assert!(matches!(
            set("{\"a\": 1,}", "a", "2"),
            Err(PatchError::Unparseable { line: 1, .. })
        ));
        assert!(matches!(
            set("{\n\"a\": 1\n", "a", "2"),
            Err(PatchError::Unparseable { .. })
        ));
        assert!(matches!(
            set("{\n  \"a\": 1\n}", "a.b", "2"),
            Err(PatchError::Unparseable { line: 2, .. })
        ));
        assert!(matches!(
            set("{\"a\": [1]}", "a[3]", "2"),
            Err(PatchError::Unparseable { .. })
        ));
        assert!(matches!(
            set("{\"a\": {}}", "a", "2"),
            Err(PatchError::Unparseable { .. })
        ));
        assert!(matches!(
            set("{}", "a[0]", "2"),
            Err(PatchError::Unparseable { .. })
        ));
        assert!(matches!(
            set("[1]", "a", "2"),
            Err(PatchError::Unparseable { .. })
        ));
        let deep = "[".repeat(1000);
        assert!(matches!(
            set(&deep, "a", "2"),
            Err(PatchError::Unparseable { .. })
        ));
    }

    #[test]
    fn reads_values_back() {
        let src =
            "{\"s\": \"a\\u00e9\\ud83d\\ude00\\n\", \"n\": -1.5e3, \"z\": null, \"l\": [1, 2]}";
        assert_eq!(
            read(src, &path::parse("s").unwrap(), "s")
                .unwrap()
                .as_deref(),
            Some("aé😀\n")
        );
        assert_eq!(
            read(src, &path::parse("n").unwrap(), "n")
                .unwrap()
                .as_deref(),
            Some("-1.5e3")
        );
        assert_eq!(
            read(src, &path::parse("z").unwrap(), "z")
                .unwrap()
                .as_deref(),
            Some("")
        );
        assert_eq!(
            read(src, &path::parse("l[1]").unwrap(), "l")
                .unwrap()
                .as_deref(),
            Some("2")
        );
        assert_eq!(read(src, &path::parse("q").unwrap(), "q").unwrap(), None);
    }
}
