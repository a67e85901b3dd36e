//! TOML (Velocity's `velocity.toml` and the like), through `toml_edit`, which keeps
//! comments, spacing and order. A replaced value keeps its own decoration (the spaces
//! around it and a trailing comment); a literal string (`'...'`) stays literal when
//! the new text allows it.
//!
//! Paths walk tables and inline tables by key, and arrays of tables (`[[servers]]`)
//! and arrays by `[N]`. Missing tables on the way are created; arrays are not.

use std::ops::Range;

use garrison_proto::ConfigSetting;
use toml_edit::{Document, DocumentMut, InlineTable, Item, Table, TableLike, Value};

use crate::kind::{self, Existing, Typed};
use crate::path::{self, Seg};
use crate::text::line_of;
use crate::{PatchError, invalid_value, unparseable};

struct Ctx<'a> {
    src: &'a str,
    segs: &'a [Seg],
    s: &'a ConfigSetting,
}

impl Ctx<'_> {
    /// An error about the node reached after `upto` segments, on that node's line.
    fn fail(&self, upto: usize, reason: impl std::fmt::Display) -> PatchError {
        let line = locate(self.src, &self.segs[..upto]).map_or(1, |r| line_of(self.src, r.start));
        let here = if upto == 0 {
            "the document".to_owned()
        } else {
            format!("`{}`", path::prefix(self.segs, upto - 1))
        };
        unparseable(line, format!("`{}`: {here} {reason}", self.s.key))
    }
}

enum NodeMut<'a> {
    Item(&'a mut Item),
    Table(&'a mut Table),
    Value(&'a mut Value),
}

enum NodeRef<'a> {
    Item(&'a Item),
    Table(&'a Table),
    Value(&'a Value),
}

fn describe_item(item: &Item) -> &'static str {
    match item {
        Item::None => "missing",
        Item::Value(v) => describe_value(v),
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
    }
}

fn describe_value(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::InlineTable(_) => "an inline table",
    }
}

fn parse(src: &str) -> Result<DocumentMut, PatchError> {
    src.parse::<DocumentMut>().map_err(|e| {
        let line = e.span().map_or(1, |r| line_of(src, r.start));
        let msg = e
            .message()
            .lines()
            .next()
            .unwrap_or("syntax error")
            .to_owned();
        unparseable(line, format!("invalid TOML: {msg}"))
    })
}

pub(crate) fn patch(src: &str, segs: &[Seg], s: &ConfigSetting) -> Result<String, PatchError> {
    let mut doc = parse(src)?;
    let ctx = Ctx { src, segs, s };
    apply(NodeMut::Item(doc.as_item_mut()), 0, &ctx)?;
    Ok(restore_crlf(src, doc.to_string()))
}

/// `toml_edit` writes every line break between entries as `\n`; a file that used
/// `\r\n` throughout (written on Windows) gets them back, so untouched lines stay
/// byte for byte. A file that mixes both keeps `toml_edit`'s `\n`.
fn restore_crlf(src: &str, out: String) -> String {
    let b = src.as_bytes();
    let lone_lf = (0..b.len()).any(|i| b[i] == b'\n' && (i == 0 || b[i - 1] != b'\r'));
    if lone_lf || !src.contains("\r\n") {
        return out;
    }
    let mut restored = String::with_capacity(out.len() + out.len() / 16);
    let mut prev = '\0';
    for c in out.chars() {
        if c == '\n' && prev != '\r' {
            restored.push('\r');
        }
        restored.push(c);
        prev = c;
    }
    restored
}

fn apply(node: NodeMut<'_>, i: usize, ctx: &Ctx<'_>) -> Result<(), PatchError> {
    let Some(seg) = ctx.segs.get(i) else {
        return set_leaf(node, i, ctx);
    };
    let what = match &node {
        NodeMut::Item(item) => describe_item(item),
        NodeMut::Table(_) => "a table",
        NodeMut::Value(v) => describe_value(v),
    };
    match seg {
        Seg::Key(k) => {
            let inline = matches!(node, NodeMut::Value(_) | NodeMut::Item(Item::Value(_)));
            let table: Option<&mut dyn TableLike> = match node {
                NodeMut::Item(item) => item.as_table_like_mut(),
                NodeMut::Table(t) => Some(t),
                NodeMut::Value(v) => v.as_inline_table_mut().map(|t| t as &mut dyn TableLike),
            };
            let table = table.ok_or_else(|| ctx.fail(i, format_args!("is {what}, not a table")))?;
            if table.get(k).is_none_or(Item::is_none) {
                let fresh = match ctx.segs.get(i + 1) {
                    None => Item::Value(new_value(ctx, None)?),
                    Some(Seg::Key(_)) if inline => {
                        Item::Value(Value::InlineTable(InlineTable::new()))
                    }
                    Some(Seg::Key(_)) => {
                        let mut t = Table::new();
                        t.set_implicit(true);
                        t.set_dotted(table.is_dotted());
                        Item::Table(t)
                    }
                    Some(Seg::Index(_)) => {
                        return Err(
                            ctx.fail(i, format_args!("has no `{k}`, and arrays are not created"))
                        );
                    }
                };
                let done = i + 1 == ctx.segs.len();
                table.insert(k, fresh);
                if done {
                    return Ok(());
                }
            }
            let child = table
                .get_mut(k)
                .ok_or_else(|| ctx.fail(i, format_args!("has no `{k}`")))?;
            apply(NodeMut::Item(child), i + 1, ctx)
        }
        Seg::Index(n) => {
            let out_of_range = |len: usize| {
                ctx.fail(
                    i,
                    format_args!("has {len} item(s), so there is no index {n}"),
                )
            };
            match node {
                NodeMut::Item(Item::ArrayOfTables(a)) => {
                    let len = a.len();
                    let t = a.get_mut(*n).ok_or_else(|| out_of_range(len))?;
                    apply(NodeMut::Table(t), i + 1, ctx)
                }
                NodeMut::Item(Item::Value(Value::Array(a))) | NodeMut::Value(Value::Array(a)) => {
                    let len = a.len();
                    let v = a.get_mut(*n).ok_or_else(|| out_of_range(len))?;
                    apply(NodeMut::Value(v), i + 1, ctx)
                }
                _ => Err(ctx.fail(i, format_args!("is {what}, not an array"))),
            }
        }
    }
}

fn set_leaf(node: NodeMut<'_>, i: usize, ctx: &Ctx<'_>) -> Result<(), PatchError> {
    let v = match node {
        NodeMut::Item(Item::Value(v)) | NodeMut::Value(v) => v,
        NodeMut::Item(item @ Item::None) => {
            *item = Item::Value(new_value(ctx, None)?);
            return Ok(());
        }
        NodeMut::Item(item) => {
            let what = describe_item(item);
            return Err(ctx.fail(i, format_args!("is {what}; only single values can be set")));
        }
        NodeMut::Table(_) => {
            return Err(ctx.fail(i, "is a table; only single values can be set"));
        }
    };
    if matches!(v, Value::Array(_) | Value::InlineTable(_)) {
        let what = describe_value(v);
        return Err(ctx.fail(i, format_args!("is {what}; only single values can be set")));
    }
    let mut fresh = new_value(ctx, Some(v))?;
    *fresh.decor_mut() = v.decor().clone();
    *v = fresh;
    Ok(())
}

/// The value to write, typed by the setting's kind and, for `Auto`, the old value.
fn new_value(ctx: &Ctx<'_>, old: Option<&Value>) -> Result<Value, PatchError> {
    let s = ctx.s;
    if let (Some(Value::Datetime(_)), garrison_proto::ValueKind::Auto) = (old, s.kind)
        && let Ok(dt) = s.value.parse::<toml_edit::Datetime>()
    {
        return Ok(Value::from(dt));
    }
    let existing = old.and_then(|v| match v {
        Value::String(_) => Some(Existing::String),
        Value::Integer(_) => Some(Existing::Integer),
        Value::Float(_) => Some(Existing::Float),
        Value::Boolean(_) => Some(Existing::Boolean),
        _ => None,
    });
    match kind::resolve(s.kind, &s.key, &s.value, existing)? {
        Typed::String(text) => {
            let literal =
                matches!(old, Some(Value::String(f)) if f.display_repr().starts_with('\''));
            if literal
                && !text.contains(['\'', '\n', '\r'])
                && let Ok(v) = format!("'{text}'").parse::<Value>()
            {
                return Ok(v);
            }
            if text.contains(['\n', '\r']) {
                // `toml_edit` would write a multi-line string with raw line breaks,
                // which TOML readers may normalise; escapes keep the value exact.
                if let Ok(v) = basic_string(&text).parse::<Value>() {
                    return Ok(v);
                }
            }
            Ok(Value::from(text))
        }
        Typed::Integer(t) | Typed::Float(t) => t
            .parse::<Value>()
            .map_err(|_| invalid_value(&s.key, format!("`{t}` is not a TOML number"))),
        Typed::Boolean(b) => Ok(Value::from(b)),
    }
}

fn basic_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn step<'a>(node: NodeRef<'a>, seg: &Seg) -> Option<NodeRef<'a>> {
    match seg {
        Seg::Key(k) => {
            let table: &dyn TableLike = match node {
                NodeRef::Item(item) => item.as_table_like()?,
                NodeRef::Table(t) => t,
                NodeRef::Value(v) => v.as_inline_table()?,
            };
            table.get(k).filter(|i| !i.is_none()).map(NodeRef::Item)
        }
        Seg::Index(n) => match node {
            NodeRef::Item(Item::ArrayOfTables(a)) => a.get(*n).map(NodeRef::Table),
            NodeRef::Item(Item::Value(Value::Array(a))) | NodeRef::Value(Value::Array(a)) => {
                a.get(*n).map(NodeRef::Value)
            }
            _ => None,
        },
    }
}

/// Byte span of the node a path prefix leads to, from a parse that keeps spans (the
/// editable document drops them), so errors can name a line.
fn locate(src: &str, segs: &[Seg]) -> Option<Range<usize>> {
    let doc = Document::parse(src).ok()?;
    let mut node = NodeRef::Item(doc.as_item());
    for seg in segs {
        node = step(node, seg)?;
    }
    match node {
        NodeRef::Item(item) => item.span(),
        NodeRef::Table(t) => t.span(),
        NodeRef::Value(v) => v.span(),
    }
}

pub(crate) fn read(src: &str, segs: &[Seg], key: &str) -> Result<Option<String>, PatchError> {
    let doc = parse(src)?;
    let mut node = NodeRef::Item(doc.as_item());
    for seg in segs {
        match step(node, seg) {
            Some(next) => node = next,
            None => return Ok(None),
        }
    }
    let v = match node {
        NodeRef::Item(Item::Value(v)) | NodeRef::Value(v) => v,
        _ => {
            let line = locate(src, segs).map_or(1, |r| line_of(src, r.start));
            return Err(unparseable(
                line,
                format!("`{key}` is a table, not a single value"),
            ));
        }
    };
    Ok(Some(match v {
        Value::String(s) => s.value().clone(),
        Value::Integer(f) => f.display_repr().into_owned(),
        Value::Float(f) => f.display_repr().into_owned(),
        Value::Boolean(f) => f.display_repr().into_owned(),
        Value::Datetime(f) => f.display_repr().into_owned(),
        other => {
            let line = locate(src, segs).map_or(1, |r| line_of(src, r.start));
            return Err(unparseable(
                line,
                format!("`{key}` is {}, not a single value", describe_value(other)),
            ));
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use garrison_proto::ValueKind;

    fn set_kind(src: &str, key: &str, value: &str, kind: ValueKind) -> Result<String, PatchError> {
        let s = ConfigSetting {
            key: key.into(),
            value: value.into(),
            kind,
        };
        patch(src, &path::parse(key)?, &s)
    }

    fn set(src: &str, key: &str, value: &str) -> Result<String, PatchError> {
        set_kind(src, key, value, ValueKind::Auto)
    }

    const SRC: &str = "# top\nbind = \"0.0.0.0:25577\"  # where\nport = 1\n\n[servers]\n# lobby\nlobby = '127.0.0.1:30066'\ntry = [\"lobby\"]\n\n[[hosts]]\nname = \"a\"\n";

    #[test]
    fn keeps_decor_and_types() {
        assert_eq!(
            set(SRC, "bind", "1.2.3.4:5").unwrap(),
            SRC.replace("0.0.0.0:25577", "1.2.3.4:5")
        );
        assert_eq!(
            set(SRC, "port", "2").unwrap(),
            SRC.replace("port = 1", "port = 2")
        );
        assert_eq!(
            set(SRC, "servers.lobby", "10.0.0.1:1").unwrap(),
            SRC.replace("'127.0.0.1:30066'", "'10.0.0.1:1'")
        );
        assert_eq!(
            set(SRC, "servers.try[0]", "hub").unwrap(),
            SRC.replace("[\"lobby\"]", "[\"hub\"]")
        );
        assert_eq!(
            set(SRC, "hosts[0].name", "b").unwrap(),
            SRC.replace("name = \"a\"", "name = \"b\"")
        );
        assert_eq!(
            set(SRC, "port", "x").unwrap(),
            SRC.replace("port = 1", "port = \"x\"")
        );
    }

    #[test]
    fn inserts_keys_and_tables() {
        assert_eq!(
            set(SRC, "servers.extra", "1").unwrap(),
            SRC.replace("try = [\"lobby\"]\n", "try = [\"lobby\"]\nextra = 1\n")
        );
        let out = set(SRC, "advanced.query.port", "25577").unwrap();
        assert!(out.starts_with(SRC), "{out}");
        assert_eq!(
            read(&out, &path::parse("advanced.query.port").unwrap(), "k")
                .unwrap()
                .as_deref(),
            Some("25577")
        );
        assert_eq!(set("", "a.b", "x").unwrap(), "[a]\nb = \"x\"\n");
    }

    #[test]
    fn keeps_windows_line_endings() {
        let src = "a = 1\r\n[t]\r\nb = \"\"\"\r\nx\r\n\"\"\"\r\n";
        assert_eq!(
            set(src, "t.c", "3").unwrap(),
            "a = 1\r\n[t]\r\nb = \"\"\"\r\nx\r\n\"\"\"\r\nc = 3\r\n"
        );
    }

    #[test]
    fn line_breaks_in_values_are_escaped() {
        let out = set("a = 1\n", "a", "x\ny\r\n\"z\"").unwrap();
        assert_eq!(out, "a = \"x\\ny\\r\\n\\\"z\\\"\"\n");
        let got = read(&out, &path::parse("a").unwrap(), "a").unwrap();
        assert_eq!(got.as_deref(), Some("x\ny\r\n\"z\""));
    }

    #[test]
    fn refuses_with_lines() {
        assert!(matches!(
            set("a = \n", "a", "1"),
            Err(PatchError::Unparseable { line: 1, .. })
        ));
        assert!(matches!(
            set("x = 1\n[a\n", "a", "1"),
            Err(PatchError::Unparseable { line: 2, .. })
        ));
        match set(SRC, "port.x", "1") {
            Err(PatchError::Unparseable { line, .. }) => assert_eq!(line, 3),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            set(SRC, "servers", "1"),
            Err(PatchError::Unparseable { .. })
        ));
        assert!(matches!(
            set(SRC, "hosts[3].name", "1"),
            Err(PatchError::Unparseable { .. })
        ));
        assert!(matches!(
            set(SRC, "servers.try", "1"),
            Err(PatchError::Unparseable { .. })
        ));
    }
}
