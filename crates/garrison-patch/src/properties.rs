//! Java `.properties` (Minecraft's `server.properties`), read the way
//! `java.util.Properties.load` reads it, so the key the patcher edits is the key the
//! game sees: `=`, `:` or whitespace separators, `#`/`!` comment lines, backslash
//! escapes in keys, and logical lines continued by an odd number of trailing
//! backslashes.
//!
//! Every entry with the key is rewritten (Java keeps the last one, so leaving an
//! earlier one stale would be harmless but confusing). The key and separator are kept
//! as written; only the value changes. Values are written as UTF-8, as Minecraft
//! reads the file.

use garrison_proto::ConfigSetting;

use crate::text::{self, Line};

/// One logical line that holds an entry.
struct Entry {
    key: String,
    /// Start of the logical line (its first physical line).
    start: usize,
    /// End of the logical line, before its terminator.
    end: usize,
    /// Where the value starts, and whether a separator was written before it.
    value_start: usize,
    has_separator: bool,
    /// The logical line's characters after the value start, continuations removed.
    value_chars: Vec<char>,
    /// The key and separator run over a continuation, so they cannot be kept as
    /// written text.
    prefix_spans_lines: bool,
}

const WS: [char; 3] = [' ', '\t', '\x0c'];

fn entries(src: &str) -> Vec<Entry> {
    let lines = text::lines(src);
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let first = lines[i];
        let body = first.text.trim_start_matches(WS);
        if body.is_empty() || body.starts_with(['#', '!']) {
            i += 1;
            continue;
        }
        let mut j = i;
        while continues(lines[j].text) && j + 1 < lines.len() {
            j += 1;
        }
        out.push(parse_entry(&lines[i..=j]));
        i = j + 1;
    }
    out
}

/// A line ending in an odd number of backslashes goes on on the next line.
fn continues(line: &str) -> bool {
    let n = line.len() - line.trim_end_matches('\\').len();
    n % 2 == 1
}

/// The characters of a logical line with their byte offsets, continuation
/// backslashes and the next lines' leading whitespace removed.
fn logical_chars(lines: &[Line<'_>]) -> Vec<(usize, char)> {
    let mut out = Vec::new();
    for (n, l) in lines.iter().enumerate() {
        let mut t = l.text;
        let mut offset = l.start;
        let lead = t.len() - t.trim_start_matches(WS).len();
        t = &t[lead..];
        offset += lead;
        if n + 1 < lines.len() {
            t = &t[..t.len() - 1];
        }
        out.extend(t.char_indices().map(|(i, c)| (offset + i, c)));
    }
    out
}

fn parse_entry(lines: &[Line<'_>]) -> Entry {
    let chars = logical_chars(lines);
    let first_end = lines[0].end;
    let logical_end = lines[lines.len() - 1].end;
    let mut key = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        if c == '\\' {
            i += 1;
            if let Some(&(_, e)) = chars.get(i) {
                key.push(unescape_char(&chars, &mut i, e));
            }
            continue;
        }
        if c == '=' || c == ':' || WS.contains(&c) {
            break;
        }
        key.push(c);
        i += 1;
    }
    let key_end = i;
    while i < chars.len() && WS.contains(&chars[i].1) {
        i += 1;
    }
    if i < chars.len() && (chars[i].1 == '=' || chars[i].1 == ':') {
        i += 1;
        while i < chars.len() && WS.contains(&chars[i].1) {
            i += 1;
        }
    }
    let has_separator = i > key_end;
    let value_start = chars.get(i).map_or(logical_end, |(o, _)| *o);
    let prefix_spans_lines = value_start > first_end && lines.len() > 1;
    Entry {
        key,
        start: lines[0].start,
        end: logical_end,
        value_start,
        has_separator,
        value_chars: chars[i..].iter().map(|(_, c)| *c).collect(),
        prefix_spans_lines,
    }
}

/// Decodes the escape whose letter `e` is at `chars[*i]`, leaving `*i` after it.
fn unescape_char(chars: &[(usize, char)], i: &mut usize, e: char) -> char {
    *i += 1;
    match e {
        't' => '\t',
        'n' => '\n',
        'r' => '\r',
        'f' => '\x0c',
        'u' => {
            let hex: String = chars.iter().skip(*i).take(4).map(|(_, c)| *c).collect();
            match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                Some(c) if hex.len() == 4 => {
                    *i += 4;
                    c
                }
                _ => 'u',
            }
        }
        other => other,
    }
}

fn unescape(chars: &[char]) -> String {
    let indexed: Vec<(usize, char)> = chars.iter().map(|c| (0, *c)).collect();
    let mut out = String::new();
    let mut i = 0;
    while i < indexed.len() {
        let c = indexed[i].1;
        if c == '\\' {
            i += 1;
            if let Some(&(_, e)) = indexed.get(i) {
                out.push(unescape_char(&indexed, &mut i, e));
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Escapes what `Properties.load` would otherwise drop or misread: backslashes,
/// leading whitespace (which would be taken as part of the separator), and a leading
/// `=` or `:` (which, after a `key value` separator, would be taken as the separator).
fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut leading = true;
    if v.starts_with(['=', ':']) {
        out.push('\\');
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ' ' if leading => out.push_str("\\ "),
            '\t' if leading => out.push_str("\\t"),
            '\x0c' if leading => out.push_str("\\f"),
            _ => out.push(c),
        }
        if !WS.contains(&c) {
            leading = false;
        }
    }
    out
}

fn escape_key(k: &str) -> String {
    let mut out = String::with_capacity(k.len());
    for (i, c) in k.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' | ':' | ' ' => {
                out.push('\\');
                out.push(c);
            }
            '\t' => out.push_str("\\t"),
            '\x0c' => out.push_str("\\f"),
            '#' | '!' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

pub(crate) fn patch(src: &str, s: &ConfigSetting) -> String {
    let value = escape_value(&s.value);
    let matching: Vec<Entry> = entries(src)
        .into_iter()
        .filter(|e| e.key == s.key)
        .collect();
    if matching.is_empty() {
        let mut out = src.to_owned();
        text::append_line(&mut out, &format!("{}={value}", escape_key(&s.key)));
        return out;
    }
    let mut out = String::with_capacity(src.len() + value.len());
    let mut at = 0;
    for e in &matching {
        out.push_str(&src[at..e.start]);
        if e.prefix_spans_lines {
            let lead = text::indentation(&src[e.start..e.end]);
            out.push_str(lead);
            out.push_str(&escape_key(&e.key));
            out.push('=');
        } else {
            out.push_str(&src[e.start..e.value_start]);
            if !e.has_separator && !value.is_empty() {
                out.push('=');
            }
        }
        out.push_str(&value);
        at = e.end;
    }
    out.push_str(&src[at..]);
    out
}

pub(crate) fn read(src: &str, key: &str) -> Option<String> {
    entries(src)
        .into_iter()
        .rfind(|e| e.key == key)
        .map(|e| unescape(&e.value_chars))
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
    fn keeps_separator_style() {
        assert_eq!(
            set("a=1\nb = 2\nc: 3\nd 4\n", "a", "x"),
            "a=x\nb = 2\nc: 3\nd 4\n"
        );
        assert_eq!(set("a=1\nb = 2\n", "b", "x"), "a=1\nb = x\n");
        assert_eq!(set("c: 3\n", "c", "x"), "c: x\n");
        assert_eq!(set("d 4\n", "d", "x"), "d x\n");
        assert_eq!(set("e\n", "e", "x"), "e=x\n");
        assert_eq!(set("e=\n", "e", ""), "e=\n");
    }

    #[test]
    fn matches_escaped_keys() {
        assert_eq!(set("a\\:b=1\n", "a:b", "2"), "a\\:b=2\n");
        assert_eq!(read("a\\ b = 1\n", "a b").as_deref(), Some("1"));
        let out = set("", "we:ird key=", "v");
        assert_eq!(out, "we\\:ird\\ key\\==v\n");
        assert_eq!(read(&out, "we:ird key=").as_deref(), Some("v"));
    }

    #[test]
    fn continuation_lines_are_one_entry() {
        let src = "a=one \\\n    two\nb=2\n";
        assert_eq!(read(src, "a").as_deref(), Some("one two"));
        assert_eq!(set(src, "a", "x"), "a=x\nb=2\n");
        // An even number of backslashes is an escaped backslash, not a continuation.
        let src = "a=c:\\\\\nb=2\n";
        assert_eq!(read(src, "a").as_deref(), Some("c:\\"));
        assert_eq!(read(src, "b").as_deref(), Some("2"));
        // A comment line never continues.
        let src = "# note \\\nb=2\n";
        assert_eq!(read(src, "b").as_deref(), Some("2"));
        // Key and separator split over lines are rewritten plainly.
        let src = "long\\\n  key = v\n";
        assert_eq!(read(src, "longkey").as_deref(), Some("v"));
        assert_eq!(set(src, "longkey", "w"), "longkey=w\n");
        let src = "k = \\\n  v\n";
        assert_eq!(set(src, "k", "w"), "k=w\n");
    }

    #[test]
    fn escapes_on_write_and_reads_back() {
        assert_eq!(set("k v\n", "k", ":x"), "k \\:x\n");
        for v in [
            ":",
            "=x",
            " lead",
            "\tlead",
            "back\\slash",
            "mid # hash",
            "trail ",
            "§aüñí €",
            "a=b:c",
            "!x",
            "#x",
        ] {
            let out = set("k=old\n", "k", v);
            assert_eq!(read(&out, "k").as_deref(), Some(v), "{out:?}");
        }
        assert_eq!(set("k=old\n", "k", " a\\b"), "k=\\ a\\\\b\n");
    }

    #[test]
    fn appends_with_the_files_line_endings() {
        assert_eq!(set("a=1", "b", "2"), "a=1\nb=2\n");
        assert_eq!(set("a=1\r\n", "b", "2"), "a=1\r\nb=2\r\n");
        assert_eq!(set("a=1\r\n", "a", "2"), "a=2\r\n");
        assert_eq!(set("", "b", "2"), "b=2\n");
    }

    #[test]
    fn rewrites_every_duplicate() {
        assert_eq!(set("a=1\nb=0\na=2\n", "a", "3"), "a=3\nb=0\na=3\n");
    }
}
