//! INI files such as OpenTTD's `openttd.cfg`: `[section]` headers, `key = value`
//! lines, `;` and `#` comment lines.
//!
//! A setting's key is `section.key`, split at the first dot; a key without a dot lives
//! before the first section. Like OpenTTD (and Python's `configparser` by default),
//! `;` and `#` only start comments at the beginning of a line, so they are part of a
//! value anywhere else. A value written in double quotes (which OpenTTD strips) stays
//! in double quotes.
//!
//! A new key in an existing section goes right after that section's last key line,
//! so the comments and blank lines that lead into the next section stay with it. A
//! new top-level key goes after the last top-level key line, or at the very start of
//! the file when there is none. A missing section is appended at the end of the file.

use garrison_proto::ConfigSetting;

use crate::text::{self, Line};
use crate::{PatchError, invalid_key, invalid_value};

enum Kind {
    Blank,
    Comment,
    Section(String),
    Key {
        key: String,
        /// The line's bytes from the start of the line up to its value, and the
        /// value's range (trimmed), relative to the line.
        value_start: usize,
        value_end: usize,
        has_eq: bool,
    },
}

fn classify(line: &str) -> Kind {
    let t = line.trim();
    if t.is_empty() {
        return Kind::Blank;
    }
    if t.starts_with([';', '#']) {
        return Kind::Comment;
    }
    if let Some(inner) = t.strip_prefix('[')
        && let Some(close) = inner.find(']')
    {
        return Kind::Section(inner[..close].to_owned());
    }
    match line.find('=') {
        Some(eq) => {
            let after = &line[eq + 1..];
            let value = after.trim();
            let value_start = eq + 1 + (after.len() - after.trim_start().len());
            Kind::Key {
                key: line[..eq].trim().to_owned(),
                value_start,
                value_end: value_start + value.len(),
                has_eq: true,
            }
        }
        None => {
            let lead = text::indentation(line).len();
            Kind::Key {
                key: t.to_owned(),
                value_start: lead,
                value_end: lead + t.len(),
                has_eq: false,
            }
        }
    }
}

/// Splits `section.key`; `None` for the section means "before the first header".
fn split(key: &str) -> (Option<&str>, &str) {
    match key.split_once('.') {
        Some((section, name)) => (Some(section), name),
        None => (None, key),
    }
}

pub(crate) fn check_key(key: &str) -> Result<(), PatchError> {
    let (section, name) = split(key);
    if let Some(section) = section {
        if section.is_empty() {
            return Err(invalid_key(key, "the section name before the `.` is empty"));
        }
        if section.contains(['[', ']']) {
            return Err(invalid_key(key, "a section name cannot contain `[` or `]`"));
        }
    }
    if name.is_empty() {
        return Err(invalid_key(key, "the key name after the `.` is empty"));
    }
    if name.trim() != name {
        return Err(invalid_key(
            key,
            "the key name starts or ends with whitespace",
        ));
    }
    if name.contains('=') {
        return Err(invalid_key(key, "the key name contains `=`"));
    }
    if name.starts_with([';', '#', '[']) {
        return Err(invalid_key(
            key,
            "a line starting with `;`, `#` or `[` is not a key",
        ));
    }
    Ok(())
}

pub(crate) fn check_value(key: &str, value: &str) -> Result<(), PatchError> {
    if value.trim_matches([' ', '\t']) != value {
        return Err(invalid_value(
            key,
            "it starts or ends with whitespace, which INI readers trim away",
        ));
    }
    Ok(())
}

struct Parsed<'a> {
    lines: Vec<Line<'a>>,
    kinds: Vec<Kind>,
    /// The section each line belongs to (`None` before the first header).
    section_of: Vec<Option<usize>>,
}

fn parse(src: &str) -> Parsed<'_> {
    let lines = text::lines(src);
    let kinds: Vec<Kind> = lines.iter().map(|l| classify(l.text)).collect();
    let mut section_of = Vec::with_capacity(lines.len());
    let mut current = None;
    for (i, k) in kinds.iter().enumerate() {
        if matches!(k, Kind::Section(_)) {
            current = Some(i);
        }
        section_of.push(current);
    }
    Parsed {
        lines,
        kinds,
        section_of,
    }
}

impl Parsed<'_> {
    fn in_section(&self, i: usize, section: Option<&str>) -> bool {
        match (self.section_of[i], section) {
            (None, None) => true,
            (Some(h), Some(want)) => matches!(&self.kinds[h], Kind::Section(name) if name == want),
            _ => false,
        }
    }

    /// Key lines with this name in this section.
    fn matches(&self, section: Option<&str>, name: &str) -> Vec<usize> {
        (0..self.lines.len())
            .filter(|&i| matches!(&self.kinds[i], Kind::Key { key, .. } if key == name))
            .filter(|&i| self.in_section(i, section))
            .collect()
    }

    /// The text a sibling line puts between its key and its value (` = ` or `=`), so
    /// a new key looks like its neighbours.
    fn separator_near(&self, near: Option<usize>) -> String {
        let from_line = |i: usize| match &self.kinds[i] {
            Kind::Key {
                key,
                value_start,
                has_eq: true,
                ..
            } => {
                let t = self.lines[i].text;
                let key_end = t.find(key.as_str()).map(|p| p + key.len())?;
                (key_end <= *value_start).then(|| t[key_end..*value_start].to_owned())
            }
            _ => None,
        };
        near.and_then(from_line)
            .or_else(|| (0..self.lines.len()).find_map(from_line))
            .filter(|s| s.trim() == "=")
            .unwrap_or_else(|| " = ".to_owned())
    }
}

fn looks_quoted(v: &str) -> bool {
    v.len() >= 2 && v.starts_with('"') && v.ends_with('"')
}

/// Double quotes stay if the old value had them; a value that itself looks quoted
/// gets a pair too, or a reader that strips one pair (OpenTTD) would eat its own.
fn write_value(v: &str, was_quoted: bool) -> String {
    if was_quoted || looks_quoted(v) {
        format!("\"{v}\"")
    } else {
        v.to_owned()
    }
}

pub(crate) fn patch(src: &str, s: &ConfigSetting) -> String {
    let (section, name) = split(&s.key);
    let p = parse(src);
    let hits = p.matches(section, name);
    if !hits.is_empty() {
        let mut out = String::with_capacity(src.len() + s.value.len());
        let mut at = 0;
        for i in hits {
            let line = p.lines[i];
            let Kind::Key {
                value_start,
                value_end,
                has_eq,
                ..
            } = &p.kinds[i]
            else {
                continue;
            };
            let old = &line.text[*value_start..*value_end];
            let value = write_value(&s.value, looks_quoted(old));
            if *has_eq {
                out.push_str(&src[at..line.start + value_start]);
                out.push_str(&value);
                at = line.start + value_end;
            } else {
                // A bare `key` line: give it a separator like its neighbours'.
                out.push_str(&src[at..line.start + value_end]);
                out.push_str(&p.separator_near(Some(i)));
                out.push_str(&value);
                at = line.start + value_end;
            }
        }
        out.push_str(&src[at..]);
        return out;
    }

    let last_key = (0..p.lines.len())
        .rfind(|&i| matches!(p.kinds[i], Kind::Key { .. }) && p.in_section(i, section));
    let header = section.and_then(|want| {
        (0..p.lines.len()).find(|&i| matches!(&p.kinds[i], Kind::Section(n) if n == want))
    });
    let sep = p.separator_near(last_key);
    let value = write_value(&s.value, false);
    match (last_key, header, section) {
        (Some(i), _, _) => {
            let indent = text::indentation(p.lines[i].text);
            let line = format!("{indent}{name}{sep}{value}");
            text::insert_lines(src, p.lines[i].next, &[line])
        }
        (None, Some(h), _) => {
            let line = format!("{name}{sep}{value}");
            text::insert_lines(src, p.lines[h].next, &[line])
        }
        (None, None, Some(section)) => {
            let mut out = src.to_owned();
            let ends_blank = p.kinds.last().is_none_or(|k| matches!(k, Kind::Blank));
            if !ends_blank {
                text::append_line(&mut out, "");
            }
            text::append_line(&mut out, &format!("[{section}]"));
            text::append_line(&mut out, &format!("{name}{sep}{value}"));
            out
        }
        (None, None, None) => {
            let line = format!("{name}{sep}{value}");
            if p.kinds.iter().any(|k| matches!(k, Kind::Section(_))) {
                text::insert_lines(src, 0, &[line])
            } else {
                let mut out = src.to_owned();
                text::append_line(&mut out, &line);
                out
            }
        }
    }
}

pub(crate) fn read(src: &str, key: &str) -> Option<String> {
    let (section, name) = split(key);
    let p = parse(src);
    let i = *p.matches(section, name).last()?;
    match &p.kinds[i] {
        Kind::Key {
            value_start,
            value_end,
            has_eq: true,
            ..
        } => {
            let v = &p.lines[i].text[*value_start..*value_end];
            let unquoted = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            Some(unquoted.to_owned())
        }
        _ => Some(String::new()),
    }
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

    const SRC: &str = "top = 1\n[network]\nserver_port = 3979\n; comment\nlan_internet=0\n\n; next\n[gui]\nautosave = monthly\n";

    #[test]
    fn replaces_in_the_right_section() {
        assert_eq!(
            set(SRC, "network.server_port", "4000"),
            SRC.replace("server_port = 3979", "server_port = 4000")
        );
        assert_eq!(
            set(SRC, "network.lan_internet", "1"),
            SRC.replace("lan_internet=0", "lan_internet=1")
        );
        assert_eq!(set(SRC, "top", "2"), SRC.replace("top = 1", "top = 2"));
        // Same key name in another section is untouched.
        let src = "[a]\nk = 1\n[b]\nk = 2\n";
        assert_eq!(set(src, "b.k", "3"), "[a]\nk = 1\n[b]\nk = 3\n");
    }

    #[test]
    fn inserts_after_the_sections_last_key() {
        assert_eq!(
            set(SRC, "network.max_clients", "25"),
            SRC.replace("lan_internet=0\n", "lan_internet=0\nmax_clients=25\n")
        );
        assert_eq!(
            set(SRC, "fresh", "x"),
            SRC.replace("top = 1\n", "top = 1\nfresh = x\n")
        );
        assert_eq!(set("[a]\n", "a.k", "v"), "[a]\nk = v\n");
        assert_eq!(
            set("; c\n[a]\nk = 1\n", "top", "v"),
            "top = v\n; c\n[a]\nk = 1\n"
        );
    }

    #[test]
    fn appends_missing_sections() {
        assert_eq!(set(SRC, "new.k", "v"), format!("{SRC}\n[new]\nk = v\n"));
        assert_eq!(set("[a]\nk=1\n\n", "b.k", "v"), "[a]\nk=1\n\n[b]\nk=v\n");
        assert_eq!(set("", "b.k", "v"), "[b]\nk = v\n");
    }

    #[test]
    fn quoted_values_stay_quoted() {
        let out = set("[n]\nname = \"My server\"\n", "n.name", "Other; #1");
        assert_eq!(out, "[n]\nname = \"Other; #1\"\n");
        assert_eq!(read(&out, "n.name").as_deref(), Some("Other; #1"));
    }

    #[test]
    fn values_that_look_quoted_keep_their_quotes() {
        let out = set("[n]\nname = x\n", "n.name", "\"\"");
        assert_eq!(out, "[n]\nname = \"\"\"\"\n");
        assert_eq!(read(&out, "n.name").as_deref(), Some("\"\""));
        assert_eq!(set(&out, "n.name", "\"\""), out);
        assert_eq!(set("", "n.k", "\"a\""), "[n]\nk = \"\"a\"\"\n");
    }

    #[test]
    fn bare_key_lines_get_a_separator() {
        assert_eq!(
            set("[g]\na = 1\nflag\n", "g.flag", "x"),
            "[g]\na = 1\nflag = x\n"
        );
    }
}
