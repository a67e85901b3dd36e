//! Block-style YAML (Bukkit, Paper, BungeeCord and most plugin configs), edited line
//! by line.
//!
//! A full YAML library would lose the comments on the way back out, and those
//! comments are the documentation of Paper's configs. So this is a small structural
//! reader of the block subset those files use: mappings, sequences (also at the same
//! indentation as their key, as SnakeYAML writes them), plain and quoted scalars and
//! comments. It records where each scalar is, so a patch replaces just those bytes and
//! keeps any trailing `# comment`.
//!
//! Anything it does not edit it refuses with a line number rather than guessing: flow
//! collections (`{…}`, `[…]`) and block scalars (`|`, `>`) as targets or on the way to
//! one, anchors and aliases, tags, complex keys, and files with more than one
//! document. With duplicate keys the last one counts.

use std::cell::Cell;

use garrison_proto::ConfigSetting;

use crate::kind::{self, Existing, Typed};
use crate::path::{self, Seg};
use crate::text::{self, line_of};
use crate::{PatchError, unparseable};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    Blank,
    Comment,
    Content,
    /// `---`, `...` or a `%` directive at column 0.
    Marker,
}

#[derive(Debug)]
struct Ln<'a> {
    start: usize,
    next: usize,
    text: &'a str,
    /// Leading spaces (YAML indents with spaces only).
    indent: usize,
    kind: LineKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
}

#[derive(Debug)]
enum NodeKind {
    Map {
        col: usize,
        entries: Vec<Entry>,
    },
    Seq {
        items: Vec<Node>,
    },
    Scalar {
        style: Style,
        start: usize,
        end: usize,
        value: String,
    },
    /// Nothing after `key:` or `-`: null, and a place where a value or children can
    /// go. `at` is the byte right after the `:` or `-`.
    Empty {
        at: usize,
        owner_col: usize,
    },
    /// Something the patcher reads past but never edits; the text says what.
    Opaque(&'static str),
}

#[derive(Debug)]
struct Node {
    kind: NodeKind,
    /// First and last line (0-based) the node occupies.
    line: usize,
    last: usize,
    anchored: bool,
}

#[derive(Debug)]
struct Entry {
    key: String,
    value: Node,
}

impl Node {
    fn leaf(kind: NodeKind, line: usize, last: usize) -> Node {
        Node {
            kind,
            line,
            last,
            anchored: false,
        }
    }
}

struct Doc<'a> {
    src: &'a str,
    lines: Vec<Ln<'a>>,
    /// Lines from here on are past the document's end (`...`).
    limit: usize,
    /// Where new top-level content goes when the document is empty.
    end: usize,
    root: Option<Node>,
    /// How deeply nodes are nested right now; bounded so that a hostile file
    /// (`- - - - …`) cannot exhaust the stack.
    depth: Cell<usize>,
}

/// Deeper than any config file nests.
const MAX_DEPTH: usize = 200;

type Parsed = Result<(Node, usize), PatchError>;

fn err(line: usize, reason: impl Into<String>) -> PatchError {
    unparseable(line + 1, reason)
}

fn is_marker(text: &str, m: &str) -> bool {
    text.strip_prefix(m)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

fn is_seq_item(s: &str) -> bool {
    s.strip_prefix('-')
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

fn skip_ws(text: &str, from: usize) -> usize {
    from + (text[from..].len() - text[from..].trim_start_matches([' ', '\t']).len())
}

fn empty_or_comment(text: &str, from: usize) -> bool {
    let rest = &text[from..];
    rest.is_empty() || rest.starts_with('#')
}

/// Length of a plain scalar's text on its line (up to a ` #` comment, trailing
/// whitespace dropped), and whether a comment follows.
fn plain_len(s: &str) -> (usize, bool) {
    let b = s.as_bytes();
    for i in 1..b.len() {
        if b[i] == b'#' && (b[i - 1] == b' ' || b[i - 1] == b'\t') {
            return (s[..i].trim_end().len(), true);
        }
    }
    (s.trim_end().len(), false)
}

fn has_mapping_indicator(s: &str) -> bool {
    s.contains(": ") || s.contains(":\t") || s.ends_with(':')
}

impl<'a> Doc<'a> {
    fn parse(src: &'a str) -> Result<Doc<'a>, PatchError> {
        let lines: Vec<Ln<'a>> = text::lines(src)
            .into_iter()
            .map(|l| {
                let t = l.text.trim_start_matches(' ');
                let indent = l.text.len() - t.len();
                let kind = if t.trim().is_empty() {
                    LineKind::Blank
                } else if t.trim_start().starts_with('#') {
                    LineKind::Comment
                } else if indent == 0
                    && (is_marker(l.text, "---") || is_marker(l.text, "...") || t.starts_with('%'))
                {
                    LineKind::Marker
                } else {
                    LineKind::Content
                };
                Ln {
                    start: l.start,
                    next: l.next,
                    text: l.text,
                    indent,
                    kind,
                }
            })
            .collect();
        let mut limit = lines.len();
        let mut started = false;
        let mut content = false;
        for (i, l) in lines.iter().enumerate() {
            match l.kind {
                LineKind::Content => content = true,
                LineKind::Marker if is_marker(l.text, "---") => {
                    if started || content {
                        return Err(err(
                            i,
                            "the file holds more than one YAML document; only single-document files are patched",
                        ));
                    }
                    started = true;
                    if !empty_or_comment(l.text, skip_ws(l.text, 3)) {
                        return Err(err(
                            i,
                            "content on the `---` line is not supported; put it on the next line",
                        ));
                    }
                }
                LineKind::Marker if is_marker(l.text, "...") => {
                    limit = i;
                    break;
                }
                LineKind::Marker if (started || content) => {
                    return Err(err(i, "a `%` directive inside the document"));
                }
                _ => {}
            }
        }
        if let Some(j) = (limit + 1..lines.len())
            .find(|&j| matches!(lines[j].kind, LineKind::Content | LineKind::Marker))
        {
            return Err(err(
                j,
                "the file holds more than one YAML document; only single-document files are patched",
            ));
        }
        let end = lines.get(limit).map_or(src.len(), |l| l.start);
        let mut doc = Doc {
            src,
            lines,
            limit,
            end,
            root: None,
            depth: Cell::new(0),
        };
        if let Some(r) = doc.next_content(0)? {
            let (root, next) = doc.node(r, doc.lines[r].indent, -1, false)?;
            if let Some(extra) = doc.next_content(next)? {
                return Err(err(
                    extra,
                    "unexpected content here (check the indentation)",
                ));
            }
            doc.root = Some(root);
        }
        Ok(doc)
    }

    fn next_content(&self, from: usize) -> Result<Option<usize>, PatchError> {
        for i in from..self.limit {
            let l = &self.lines[i];
            if l.kind == LineKind::Content {
                if l.text.as_bytes().get(l.indent) == Some(&b'\t') {
                    return Err(err(
                        i,
                        "a tab is used for indentation, which YAML does not allow",
                    ));
                }
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// The node that starts at column `col` of line `i`. `parent` is the column of
    /// the key or `-` that owns it (-1 for the root); `same_indent_seq` says whether
    /// a sequence at the owner's own column may be its value (true under a key).
    fn node(&self, i: usize, col: usize, parent: isize, same_indent_seq: bool) -> Parsed {
        if self.depth.get() >= MAX_DEPTH {
            return Err(err(i, "the file nests too deeply"));
        }
        self.depth.set(self.depth.get() + 1);
        let parsed = self.node_inner(i, col, parent, same_indent_seq);
        self.depth.set(self.depth.get() - 1);
        parsed
    }

    fn node_inner(&self, i: usize, col: usize, parent: isize, same_indent_seq: bool) -> Parsed {
        let s = &self.lines[i].text[col..];
        if is_seq_item(s) {
            return self.seq(i, col);
        }
        if self.map_key(i, col)?.is_some() {
            return self.map(i, col);
        }
        self.scalar(i, col, parent, same_indent_seq)
    }

    /// The key at column `col` of line `i` if a mapping entry starts there, with the
    /// byte offset (in the line) just after its `:`.
    fn map_key(&self, i: usize, col: usize) -> Result<Option<(String, usize)>, PatchError> {
        let s = &self.lines[i].text[col..];
        let b = s.as_bytes();
        match b.first() {
            Some(&q @ (b'"' | b'\'')) => {
                let Some((len, key)) = quoted_on_line(s, q) else {
                    return Ok(None);
                };
                let after = skip_ws(s, len);
                let rest = &s[after..];
                let colon = rest.strip_prefix(':');
                if colon.is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t'])) {
                    let key = key.map_err(|reason| err(i, reason))?;
                    return Ok(Some((key, col + after + 1)));
                }
                Ok(None)
            }
            Some(b'?') if b.len() == 1 || matches!(b[1], b' ' | b'\t') => {
                Err(err(i, "complex keys (`? …`) are not supported"))
            }
            Some(b'[' | b'{' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@' | b'`' | b'#')
            | None => Ok(None),
            Some(_) => {
                for j in 0..b.len() {
                    if b[j] == b'#' && j > 0 && matches!(b[j - 1], b' ' | b'\t') {
                        return Ok(None);
                    }
                    if b[j] == b':' && (j + 1 == b.len() || matches!(b[j + 1], b' ' | b'\t')) {
                        let key = s[..j].trim_end();
                        if key.is_empty() {
                            return Ok(None);
                        }
                        return Ok(Some((key.to_owned(), col + j + 1)));
                    }
                }
                Ok(None)
            }
        }
    }

    fn map(&self, i: usize, col: usize) -> Parsed {
        let mut entries = Vec::new();
        let mut cur = i;
        loop {
            let (key, colon_end) = self
                .map_key(cur, col)?
                .ok_or_else(|| err(cur, "expected `key: value` at this indentation"))?;
            let text = self.lines[cur].text;
            let after = skip_ws(text, colon_end);
            let (value, next) = if empty_or_comment(text, after) {
                self.block_value(cur, col, colon_end, true)?
            } else {
                if is_seq_item(&text[after..]) {
                    return Err(err(
                        cur,
                        "a sequence cannot start on the same line as its key",
                    ));
                }
                if self.map_key(cur, after)?.is_some() {
                    return Err(err(
                        cur,
                        "`: ` inside a value: quote the value (a mapping cannot start on its key's line)",
                    ));
                }
                self.scalar(cur, after, col as isize, true)?
            };
            entries.push(Entry { key, value });
            match self.next_content(next)? {
                Some(n) if self.lines[n].indent > col => {
                    return Err(err(n, "unexpected indentation"));
                }
                Some(n) if self.lines[n].indent == col => {
                    if is_seq_item(&self.lines[n].text[col..]) {
                        return Err(err(n, "a sequence item where a key was expected"));
                    }
                    cur = n;
                }
                _ => break,
            }
        }
        let last = entries.last().map_or(i, |e| e.value.last);
        Ok((
            Node::leaf(NodeKind::Map { col, entries }, i, last),
            last + 1,
        ))
    }

    fn seq(&self, i: usize, col: usize) -> Parsed {
        let mut items = Vec::new();
        let mut cur = i;
        loop {
            let text = self.lines[cur].text;
            let after = skip_ws(text, col + 1);
            let (item, next) = if empty_or_comment(text, after) {
                self.block_value(cur, col, col + 1, false)?
            } else {
                self.node(cur, after, col as isize, false)?
            };
            items.push(item);
            match self.next_content(next)? {
                Some(n) if self.lines[n].indent > col => {
                    return Err(err(n, "unexpected indentation"));
                }
                Some(n)
                    if self.lines[n].indent == col && is_seq_item(&self.lines[n].text[col..]) =>
                {
                    cur = n;
                }
                _ => break,
            }
        }
        let last = items.last().map_or(i, |n| n.last);
        Ok((Node::leaf(NodeKind::Seq { items }, i, last), last + 1))
    }

    /// The value of a key or `-` with nothing after it on its line: the block on the
    /// following lines, or empty.
    fn block_value(&self, cur: usize, col: usize, at: usize, same_indent_seq: bool) -> Parsed {
        match self.next_content(cur + 1)? {
            Some(n) if self.lines[n].indent > col => {
                self.node(n, self.lines[n].indent, col as isize, false)
            }
            Some(n)
                if same_indent_seq
                    && self.lines[n].indent == col
                    && is_seq_item(&self.lines[n].text[col..]) =>
            {
                self.seq(n, col)
            }
            _ => Ok((
                Node::leaf(
                    NodeKind::Empty {
                        at: self.lines[cur].start + at,
                        owner_col: col,
                    },
                    cur,
                    cur,
                ),
                cur + 1,
            )),
        }
    }

    fn scalar(&self, i: usize, col: usize, parent: isize, same_indent_seq: bool) -> Parsed {
        let l = &self.lines[i];
        let s = &l.text[col..];
        let abs = l.start + col;
        let Some(&first) = s.as_bytes().first() else {
            return Err(err(i, "expected a value"));
        };
        match first {
            b'"' | b'\'' => {
                let (end, value) = self.quoted(i, abs, first)?;
                let end_line = line_of(self.src, end) - 1;
                let rest_end = self.lines[end_line].start + self.lines[end_line].text.len();
                let rest = &self.src[end..rest_end];
                let trimmed = rest.trim_start_matches([' ', '\t']);
                if !(trimmed.is_empty() || (trimmed.starts_with('#') && trimmed.len() < rest.len()))
                {
                    return Err(err(end_line, "unexpected text after a quoted value"));
                }
                let style = if first == b'"' {
                    Style::Double
                } else {
                    Style::Single
                };
                Ok((
                    Node::leaf(
                        NodeKind::Scalar {
                            style,
                            start: abs,
                            end,
                            value,
                        },
                        i,
                        end_line,
                    ),
                    end_line + 1,
                ))
            }
            b'|' | b'>' => {
                let last = self.more_indented(i, parent);
                Ok((
                    Node::leaf(NodeKind::Opaque("a block scalar (`|` or `>`)"), i, last),
                    last + 1,
                ))
            }
            b'[' | b'{' => {
                let end = self.flow_end(i, abs)?;
                let end_line = line_of(self.src, end) - 1;
                let rest_end = self.lines[end_line].start + self.lines[end_line].text.len();
                if !empty_or_comment(&self.src[..rest_end], skip_ws(&self.src[..rest_end], end)) {
                    return Err(err(end_line, "unexpected text after a flow collection"));
                }
                Ok((
                    Node::leaf(
                        NodeKind::Opaque("a flow collection (`[…]` or `{…}`)"),
                        i,
                        end_line,
                    ),
                    end_line + 1,
                ))
            }
            b'*' => Ok((
                Node::leaf(NodeKind::Opaque("an alias (`*name`)"), i, i),
                i + 1,
            )),
            b'!' => {
                let last = self.more_indented(i, parent);
                Ok((
                    Node::leaf(NodeKind::Opaque("a tagged value (`!tag`)"), i, last),
                    last + 1,
                ))
            }
            b'&' => {
                let name_end = s.find([' ', '\t']).unwrap_or(s.len());
                let after = skip_ws(l.text, col + name_end);
                let (mut node, next) = if empty_or_comment(l.text, after) {
                    if parent < 0 {
                        return Err(err(i, "an anchor on the whole document is not supported"));
                    }
                    self.block_value(i, parent as usize, col + name_end, same_indent_seq)?
                } else {
                    if self.map_key(i, after)?.is_some() || is_seq_item(&l.text[after..]) {
                        return Err(err(
                            i,
                            "an anchor before a key or `-` on the same line is not supported",
                        ));
                    }
                    self.scalar(i, after, parent, same_indent_seq)?
                };
                node.anchored = true;
                Ok((node, next))
            }
            b'%' | b'@' | b'`' => Err(err(
                i,
                format!("`{}` cannot start a plain value: quote it", first as char),
            )),
            b'?' if s.len() == 1 || s[1..].starts_with([' ', '\t']) => {
                Err(err(i, "complex keys (`? …`) are not supported"))
            }
            _ if is_seq_item(s) => Err(err(i, "a sequence cannot start here")),
            _ => self.plain(i, col, parent),
        }
    }

    fn plain(&self, i: usize, col: usize, parent: isize) -> Parsed {
        let l = &self.lines[i];
        let s = &l.text[col..];
        let (len, mut commented) = plain_len(s);
        let piece = &s[..len];
        if has_mapping_indicator(piece) {
            return Err(err(
                i,
                "`: ` inside a plain value: quote the value, or check the indentation",
            ));
        }
        let mut value = piece.to_owned();
        let mut end = l.start + col + len;
        let mut last = i;
        let mut blanks = 0;
        let mut j = i + 1;
        while !commented && j < self.limit {
            let lj = &self.lines[j];
            match lj.kind {
                LineKind::Blank => blanks += 1,
                LineKind::Content if lj.indent as isize > parent => {
                    let t = &lj.text[lj.indent..];
                    if is_seq_item(t) || self.map_key(j, lj.indent)?.is_some() {
                        return Err(err(
                            j,
                            format!(
                                "this line is indented under line {}, which holds a single value, not a mapping or sequence",
                                i + 1
                            ),
                        ));
                    }
                    let (len, c) = plain_len(t);
                    let piece = t[..len].trim_start_matches([' ', '\t']);
                    if has_mapping_indicator(piece) {
                        return Err(err(j, "`: ` inside a plain value: quote the value"));
                    }
                    if blanks > 0 {
                        value.push_str(&"\n".repeat(blanks));
                    } else {
                        value.push(' ');
                    }
                    value.push_str(piece);
                    blanks = 0;
                    end = lj.start + lj.indent + len;
                    last = j;
                    commented = c;
                }
                _ => break,
            }
            j += 1;
        }
        Ok((
            Node::leaf(
                NodeKind::Scalar {
                    style: Style::Plain,
                    start: l.start + col,
                    end,
                    value,
                },
                i,
                last,
            ),
            last + 1,
        ))
    }

    /// The last line of a block scalar or tagged node: every following line that is
    /// blank or indented past the owner.
    fn more_indented(&self, i: usize, parent: isize) -> usize {
        let mut last = i;
        for j in i + 1..self.limit {
            let l = &self.lines[j];
            if l.kind == LineKind::Blank {
                continue;
            }
            if l.kind == LineKind::Marker || l.indent as isize <= parent {
                break;
            }
            last = j;
        }
        last
    }

    /// Byte offset just past the bracket that closes the flow collection at `abs`.
    fn flow_end(&self, i: usize, abs: usize) -> Result<usize, PatchError> {
        let region = &self.src[..self.end];
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        let mut chars = region[abs..].char_indices().peekable();
        while let Some((off, c)) = chars.next() {
            match quote {
                Some('"') if c == '\\' => {
                    chars.next();
                }
                Some(q) if c == q => {
                    if q == '\'' && chars.peek().is_some_and(|(_, n)| *n == '\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
                Some(_) => {}
                None => match c {
                    '"' | '\'' => quote = Some(c),
                    '#' if prev.is_whitespace() => {
                        while chars.peek().is_some_and(|(_, n)| *n != '\n') {
                            chars.next();
                        }
                    }
                    '[' | '{' => depth += 1,
                    ']' | '}' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return Ok(abs + off + 1);
                        }
                    }
                    _ => {}
                },
            }
            prev = c;
        }
        Err(err(i, "a flow collection (`[…]` or `{…}`) is never closed"))
    }

    /// Scans a quoted scalar that may run over several lines; returns the byte just
    /// past the closing quote and the decoded value.
    fn quoted(&self, i: usize, abs: usize, q: u8) -> Result<(usize, String), PatchError> {
        let region = &self.src[..self.end];
        let b = region.as_bytes();
        let mut j = abs + 1;
        while j < b.len() {
            match b[j] {
                b'\\' if q == b'"' => j += 2,
                b'\'' if q == b'\'' && b.get(j + 1) == Some(&b'\'') => j += 2,
                c if c == q => {
                    let raw = &region[abs + 1..j];
                    let value = decode(raw, q).map_err(|reason| err(i, reason))?;
                    return Ok((j + 1, value));
                }
                _ => j += 1,
            }
        }
        Err(err(i, "a quoted value is never closed"))
    }

    /// Spaces per level, from the first nested mapping (2 if there is none).
    fn indent_unit(&self) -> usize {
        fn find(node: &Node) -> Option<usize> {
            match &node.kind {
                NodeKind::Map { col, entries } => entries.iter().find_map(|e| {
                    if let NodeKind::Map { col: c, .. } = e.value.kind
                        && c > *col
                    {
                        return Some(c - col);
                    }
                    find(&e.value)
                }),
                NodeKind::Seq { items } => items.iter().find_map(find),
                _ => None,
            }
        }
        self.root.as_ref().and_then(find).unwrap_or(2)
    }
}

/// A quoted scalar that opens and closes on this line: its length with quotes, and
/// its decoded value (or why it does not decode).
fn quoted_on_line(s: &str, q: u8) -> Option<(usize, Result<String, String>)> {
    let b = s.as_bytes();
    let mut j = 1;
    while j < b.len() {
        match b[j] {
            b'\\' if q == b'"' => j += 2,
            b'\'' if q == b'\'' && b.get(j + 1) == Some(&b'\'') => j += 2,
            c if c == q => return Some((j + 1, decode(&s[1..j], q))),
            _ => j += 1,
        }
    }
    None
}

/// Decodes a quoted scalar's content, folding line breaks the way YAML does (one
/// break becomes a space, each blank line a newline).
fn decode(raw: &str, q: u8) -> Result<String, String> {
    let unescape = |s: &str| {
        if q == b'"' {
            unescape_double(s)
        } else {
            Ok(s.replace("''", "'"))
        }
    };
    if !raw.contains('\n') {
        return unescape(raw);
    }
    let lines: Vec<&str> = raw
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut out = String::new();
    let mut blanks = 0;
    let mut joined_escape = false;
    for (n, line) in lines.iter().enumerate() {
        let mut piece = if n == 0 {
            *line
        } else {
            line.trim_start_matches([' ', '\t'])
        };
        let escaped_break = q == b'"'
            && n + 1 < lines.len()
            && (piece.len() - piece.trim_end_matches('\\').len()) % 2 == 1;
        if escaped_break {
            piece = &piece[..piece.len() - 1];
        } else if n + 1 < lines.len() {
            piece = piece.trim_end_matches([' ', '\t']);
        }
        if n > 0 && piece.is_empty() && n + 1 < lines.len() && !escaped_break {
            blanks += 1;
            continue;
        }
        if n > 0 && !joined_escape {
            if blanks > 0 {
                out.push_str(&"\n".repeat(blanks));
            } else {
                out.push(' ');
            }
        }
        blanks = 0;
        out.push_str(&unescape(piece)?);
        joined_escape = escaped_break;
    }
    Ok(out)
}

fn unescape_double(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next().ok_or("a `\\` at the end of a quoted value")?;
        let hex = |chars: &mut std::str::Chars<'_>, n: usize| -> Result<char, String> {
            let h: String = chars.by_ref().take(n).collect();
            u32::from_str_radix(&h, 16)
                .ok()
                .filter(|_| h.len() == n)
                .and_then(char::from_u32)
                .ok_or_else(|| format!("invalid escape `\\{e}{h}`"))
        };
        out.push(match e {
            '0' => '\0',
            'a' => '\x07',
            'b' => '\x08',
            't' | '\t' => '\t',
            'n' => '\n',
            'v' => '\x0b',
            'f' => '\x0c',
            'r' => '\r',
            'e' => '\x1b',
            ' ' => ' ',
            '"' => '"',
            '/' => '/',
            '\\' => '\\',
            'N' => '\u{85}',
            '_' => '\u{a0}',
            'L' => '\u{2028}',
            'P' => '\u{2029}',
            'x' => hex(&mut chars, 2)?,
            'u' => hex(&mut chars, 4)?,
            'U' => hex(&mut chars, 8)?,
            other => {
                return Err(format!(
                    "invalid escape `\\{other}` in a double-quoted value"
                ));
            }
        });
    }
    Ok(out)
}

/// The type YAML gives an unquoted scalar. The union of YAML 1.1 (SnakeYAML: `yes`,
/// `on`, `0x1F`) and 1.2, so a value is only ever kept unquoted if both read it alike.
fn classify_plain(v: &str) -> Existing {
    match v {
        "" | "~" | "null" | "Null" | "NULL" => return Existing::Null,
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" | "yes" | "Yes" | "YES" | "no"
        | "No" | "NO" | "on" | "On" | "ON" | "off" | "Off" | "OFF" => return Existing::Boolean,
        _ => {}
    }
    let unsigned = v.strip_prefix(['-', '+']).unwrap_or(v);
    let digits_ok =
        |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c == '_' || c.is_digit(radix));
    let int = if let Some(h) = unsigned.strip_prefix("0x") {
        digits_ok(h, 16)
    } else if let Some(o) = unsigned.strip_prefix("0o") {
        digits_ok(o, 8)
    } else if let Some(bin) = unsigned.strip_prefix("0b") {
        digits_ok(bin, 2)
    } else {
        unsigned.starts_with(|c: char| c.is_ascii_digit()) && digits_ok(unsigned, 10)
    };
    if int {
        return Existing::Integer;
    }
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(v, ".nan" | ".NaN" | ".NAN") {
        return Existing::Float;
    }
    let (mantissa, exp) = match unsigned.find(['e', 'E']) {
        Some(p) => (&unsigned[..p], Some(&unsigned[p + 1..])),
        None => (unsigned, None),
    };
    let exp_ok = exp.is_none_or(|e| digits_ok(e.strip_prefix(['-', '+']).unwrap_or(e), 10));
    let (whole, frac) = match mantissa.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (mantissa, None),
    };
    let parts_ok = (whole.is_empty() || digits_ok(whole, 10))
        && frac.is_none_or(|f| f.is_empty() || digits_ok(f, 10))
        && (!whole.is_empty() || frac.is_some_and(|f| !f.is_empty()));
    if parts_ok && exp_ok && (frac.is_some() || exp.is_some()) {
        return Existing::Float;
    }
    Existing::String
}

/// Whether `s` can be written unquoted and read back as the same string by YAML 1.1
/// and 1.2 readers. Errs on the side of quoting: quoting a string is always correct.
fn plain_ok(s: &str) -> bool {
    const INDICATORS: [char; 19] = [
        '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@',
        '`',
    ];
    if s.is_empty() || s.trim() != s || s.starts_with(INDICATORS) {
        return false;
    }
    if has_mapping_indicator(s) || s.contains(" #") || s.contains("\t#") || s.contains('\u{feff}') {
        return false;
    }
    if classify_plain(s) != Existing::String {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    let word = matches!(
        lower.as_str(),
        "y" | "n"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "true"
            | "false"
            | "null"
            | "~"
            | ".inf"
            | ".nan"
            | "-.inf"
            | "+.inf"
            | "<<"
            | "="
    );
    !word && !is_sexagesimal(s) && !is_timestamp(s)
}

/// YAML 1.1 base-60 numbers (`1:30`, `10:20:30.5`), which SnakeYAML reads as numbers.
fn is_sexagesimal(s: &str) -> bool {
    let u = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (main, frac) = match u.split_once('.') {
        Some((m, f)) => (m, f),
        None => (u, ""),
    };
    if !frac.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return false;
    }
    let mut parts = main.split(':');
    let first = parts.next().unwrap_or("");
    let first_ok = first.starts_with(|c: char| c.is_ascii_digit())
        && first.chars().all(|c| c.is_ascii_digit() || c == '_');
    let mut rest = parts.peekable();
    if !first_ok || rest.peek().is_none() {
        return false;
    }
    rest.all(|p| {
        let b = p.as_bytes();
        match b {
            [d] => d.is_ascii_digit(),
            [t, d] => (b'0'..=b'5').contains(t) && d.is_ascii_digit(),
            _ => false,
        }
    })
}

/// YAML 1.1 timestamps start `YYYY-M`; SnakeYAML turns them into dates.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 6 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5].is_ascii_digit()
}

fn single_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn double_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            '\u{feff}' => out.push_str("\\uFEFF"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn render(v: &Typed, style: Option<Style>) -> String {
    match v {
        Typed::String(s) => match style {
            Some(Style::Double) => double_quote(s),
            Some(Style::Single) => single_quote(s),
            _ if plain_ok(s) => s.clone(),
            _ => single_quote(s),
        },
        Typed::Integer(t) | Typed::Float(t) => t.clone(),
        Typed::Boolean(b) => b.to_string(),
    }
}

fn render_key(k: &str) -> String {
    if plain_ok(k) {
        k.to_owned()
    } else {
        single_quote(k)
    }
}

/// Where a path ends up in the document.
enum Walk<'n> {
    Found(&'n Node),
    /// Missing from the mapping whose last line is `last`, with keys at `col`; the
    /// missing part starts at segment `from`.
    Missing {
        last: usize,
        col: usize,
        from: usize,
    },
    /// The file holds no content at all.
    Nothing,
}

fn walk<'n>(doc: &'n Doc<'_>, segs: &[Seg], key: &str) -> Result<Walk<'n>, PatchError> {
    let Some(mut node) = doc.root.as_ref() else {
        return Ok(Walk::Nothing);
    };
    let unit = doc.indent_unit();
    for (i, seg) in segs.iter().enumerate() {
        let here = || {
            if i == 0 {
                "the document".to_owned()
            } else {
                format!("`{}` (line {})", path::prefix(segs, i - 1), node.line + 1)
            }
        };
        let fail = |what: String| Err(err(node.line, format!("`{key}`: {what}")));
        node = match (seg, &node.kind) {
            (Seg::Key(k), NodeKind::Map { col, entries }) => {
                match entries.iter().rev().find(|e| &e.key == k) {
                    Some(e) => &e.value,
                    None => {
                        return Ok(Walk::Missing {
                            last: node.last,
                            col: *col,
                            from: i,
                        });
                    }
                }
            }
            (Seg::Key(_), NodeKind::Empty { owner_col, .. }) => {
                return Ok(Walk::Missing {
                    last: node.line,
                    col: owner_col + unit,
                    from: i,
                });
            }
            (Seg::Index(n), NodeKind::Seq { items }) => match items.get(*n) {
                Some(item) => item,
                None => {
                    return fail(format!(
                        "{} has {} item(s), so there is no index {n}",
                        here(),
                        items.len()
                    ));
                }
            },
            (_, NodeKind::Opaque(what)) => {
                return fail(format!(
                    "{} is {what}, which the patcher does not edit",
                    here()
                ));
            }
            (Seg::Key(k), NodeKind::Scalar { .. }) => {
                return fail(format!(
                    "{} holds a single value, not a mapping, so it has no key `{k}`",
                    here()
                ));
            }
            (Seg::Key(_), NodeKind::Seq { .. }) => {
                return fail(format!(
                    "{} is a sequence: address its items with `[N]`",
                    here()
                ));
            }
            (Seg::Index(_), NodeKind::Map { .. }) => {
                return fail(format!("{} is a mapping, not a sequence", here()));
            }
            (Seg::Index(_), _) => {
                return fail(format!(
                    "{} is not a sequence (sequences are not created)",
                    here()
                ));
            }
        };
    }
    Ok(Walk::Found(node))
}

fn target_error(key: &str, node: &Node) -> PatchError {
    let what = match &node.kind {
        NodeKind::Map { .. } => "holds a mapping; only single values can be set",
        NodeKind::Seq { .. } => "holds a sequence; only single values can be set",
        NodeKind::Opaque(what) => {
            return err(
                node.line,
                format!("`{key}` is {what}, which the patcher does not rewrite"),
            );
        }
        _ => {
            "has an anchor (`&name`) that other parts of the file may refer to; it is not rewritten"
        }
    };
    err(node.line, format!("`{key}` {what}"))
}

pub(crate) fn patch(src: &str, segs: &[Seg], s: &ConfigSetting) -> Result<String, PatchError> {
    let doc = Doc::parse(src)?;
    let (last, col, from) = match walk(&doc, segs, &s.key)? {
        Walk::Found(node) => {
            if node.anchored {
                return Err(target_error(&s.key, node));
            }
            return match &node.kind {
                NodeKind::Scalar {
                    style,
                    start,
                    end,
                    value,
                } => {
                    let existing = match style {
                        Style::Plain => classify_plain(value),
                        _ => Existing::String,
                    };
                    let v = kind::resolve(s.kind, &s.key, &s.value, Some(existing))?;
                    Ok(text::splice(src, *start..*end, &render(&v, Some(*style))))
                }
                NodeKind::Empty { at, .. } => {
                    let v = kind::resolve(s.kind, &s.key, &s.value, Some(Existing::Null))?;
                    Ok(text::splice(
                        src,
                        *at..*at,
                        &format!(" {}", render(&v, None)),
                    ))
                }
                _ => Err(target_error(&s.key, node)),
            };
        }
        Walk::Missing { last, col, from } => (Some(last), col, from),
        Walk::Nothing => (None, 0, 0),
    };
    let mut names = Vec::new();
    for seg in &segs[from..] {
        match seg {
            Seg::Key(k) => names.push(k.as_str()),
            Seg::Index(_) => {
                return Err(err(
                    last.unwrap_or(0),
                    format!(
                        "`{}`: the sequence on the way to it does not exist, and sequences are not created",
                        s.key
                    ),
                ));
            }
        }
    }
    let value = render(&kind::resolve(s.kind, &s.key, &s.value, None)?, None);
    let unit = doc.indent_unit();
    let lines: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(depth, name)| {
            let indent = " ".repeat(col + depth * unit);
            if depth + 1 == names.len() {
                format!("{indent}{}: {value}", render_key(name))
            } else {
                format!("{indent}{}:", render_key(name))
            }
        })
        .collect();
    let at = last.map_or(doc.end, |l| doc.lines[l].next);
    Ok(text::insert_lines(src, at, &lines))
}

pub(crate) fn read(src: &str, segs: &[Seg], key: &str) -> Result<Option<String>, PatchError> {
    let doc = Doc::parse(src)?;
    match walk(&doc, segs, key)? {
        Walk::Found(node) => match &node.kind {
            NodeKind::Scalar { value, .. } => Ok(Some(value.clone())),
            NodeKind::Empty { .. } => Ok(Some(String::new())),
            _ => Err(target_error(key, node)),
        },
        Walk::Missing { .. } | Walk::Nothing => Ok(None),
    }
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

    fn get(src: &str, key: &str) -> Option<String> {
        read(src, &path::parse(key).unwrap(), key).unwrap()
    }

    #[test]
    fn replaces_scalars_keeping_comments() {
        let src = "a: 1 # port\nb:\n  c: 'x' # quoted\n  d: \"y\"\n";
        assert_eq!(set(src, "a", "2").unwrap(), src.replace("a: 1", "a: 2"));
        assert_eq!(
            set(src, "b.c", "it's").unwrap(),
            src.replace("'x'", "'it''s'")
        );
        assert_eq!(
            set(src, "b.d", "q\"\\").unwrap(),
            src.replace("\"y\"", "\"q\\\"\\\\\"")
        );
        assert_eq!(
            get(&set(src, "b.d", "q\"\\").unwrap(), "b.d").as_deref(),
            Some("q\"\\")
        );
    }

    #[test]
    fn sequences_at_the_keys_indentation() {
        let src = "list:\n- a\n- b: 1\n  c: 2\nafter: x\n";
        assert_eq!(get(src, "list[0]").as_deref(), Some("a"));
        assert_eq!(get(src, "list[1].c").as_deref(), Some("2"));
        assert_eq!(get(src, "after").as_deref(), Some("x"));
        assert_eq!(
            set(src, "list[1].d", "3").unwrap(),
            "list:\n- a\n- b: 1\n  c: 2\n  d: 3\nafter: x\n"
        );
        assert!(matches!(
            set(src, "list[5]", "x"),
            Err(PatchError::Unparseable { line: 2, .. })
        ));
    }

    #[test]
    fn inserts_and_creates_parents() {
        let src = "root:\n    a: 1\n    # trailing comment\nother: 2\n";
        assert_eq!(
            set(src, "root.b", "x").unwrap(),
            "root:\n    a: 1\n    b: x\n    # trailing comment\nother: 2\n"
        );
        assert_eq!(
            set(src, "root.nn.m", "z").unwrap(),
            "root:\n    a: 1\n    nn:\n        m: z\n    # trailing comment\nother: 2\n"
        );
        assert_eq!(set("a:\n", "a.b", "1").unwrap(), "a:\n  b: 1\n");
        assert_eq!(set("a: ~\n", "a", "1").unwrap(), "a: 1\n");
        assert_eq!(set("a: # c\n", "a", "1").unwrap(), "a: 1 # c\n");
        assert_eq!(
            set("---\n# c\n", "x.w", "1").unwrap(),
            "---\n# c\nx:\n  w: 1\n"
        );
        assert_eq!(set("a: 1", "b", "2").unwrap(), "a: 1\nb: 2\n");
        assert_eq!(set("a: 1\r\n", "b", "2").unwrap(), "a: 1\r\nb: 2\r\n");
    }

    #[test]
    fn quotes_when_needed() {
        let cases = [
            ("plain text", "plain text"),
            ("25", "'25'"),
            ("yes", "'yes'"),
            ("n", "'n'"),
            ("a: b", "'a: b'"),
            ("a #b", "'a #b'"),
            ("#x", "'#x'"),
            ("*x", "'*x'"),
            ("&x", "'&x'"),
            ("!x", "'!x'"),
            ("%x", "'%x'"),
            ("@x", "'@x'"),
            ("[x", "'[x'"),
            ("{x", "'{x'"),
            ("|", "'|'"),
            (">", "'>'"),
            ("'x", "'''x'"),
            ("\"x", "'\"x'"),
            (" lead", "' lead'"),
            ("trail ", "'trail '"),
            ("", "''"),
            ("null", "'null'"),
            ("1.5", "'1.5'"),
            ("0x1F", "'0x1F'"),
            ("1:30", "'1:30'"),
            ("2024-06-15", "'2024-06-15'"),
            ("0.0.0.0:25565", "0.0.0.0:25565"),
            ("1st", "1st"),
            ("+.5", "'+.5'"),
            ("1_000", "'1_000'"),
            ("émoji 😀", "émoji 😀"),
            ("back\\slash", "back\\slash"),
        ];
        for (value, written) in cases {
            let out = set_kind("k: old\n", "k", value, ValueKind::String).unwrap();
            assert_eq!(out, format!("k: {written}\n"), "{value:?}");
            assert_eq!(get(&out, "k").as_deref(), Some(value), "{out:?}");
        }
    }

    #[test]
    fn auto_keeps_types() {
        assert_eq!(set("p: 25565\n", "p", "25566").unwrap(), "p: 25566\n");
        assert_eq!(set("p: '25565'\n", "p", "25566").unwrap(), "p: '25566'\n");
        assert_eq!(set("p: \"a\"\n", "p", "25566").unwrap(), "p: \"25566\"\n");
        assert_eq!(set("p: on\n", "p", "0").unwrap(), "p: false\n");
        assert_eq!(set("p: text\n", "p", "12").unwrap(), "p: '12'\n");
        assert_eq!(set("p: 1.5\n", "p", "2").unwrap(), "p: 2.0\n");
        assert_eq!(set("p:\n", "p", "true").unwrap(), "p: true\n");
    }

    #[test]
    fn multi_line_scalars() {
        let src = "a: one\n  two\n\n  three\nb: \"x\n  y\"\nc: 1\n";
        assert_eq!(get(src, "a").as_deref(), Some("one two\nthree"));
        assert_eq!(get(src, "b").as_deref(), Some("x y"));
        assert_eq!(set(src, "a", "z").unwrap(), "a: z\nb: \"x\n  y\"\nc: 1\n");
        assert_eq!(
            set(src, "b", "z").unwrap(),
            "a: one\n  two\n\n  three\nb: \"z\"\nc: 1\n"
        );
    }

    #[test]
    fn refuses_what_it_does_not_edit() {
        let cases = [
            ("a: 1\n", "a.b", 1),
            ("a:\n  b: 1\n", "a", 2),
            ("a: [1, 2]\n", "a[0]", 1),
            ("a: {b: 1}\n", "a.b", 1),
            ("x: 1\na: |\n  text\n", "a", 2),
            ("a: >-\n  text\n", "a.b", 1),
            ("a: &anchor 1\nb: *anchor\n", "a", 1),
            ("a: &anchor 1\nb: *anchor\n", "b", 2),
            ("a: !!str 1\n", "a", 1),
            ("a: 1\n---\nb: 2\n", "a", 2),
            ("a: 1\n...\nb: 2\n", "a", 3),
            ("a: 1\n  b: 2\n", "a", 2),
            ("a:\n\tb: 1\n", "a", 2),
            ("? a\n: 1\n", "a", 1),
            ("a: b: c\n", "a", 1),
            ("a: 'open\n", "a", 1),
            ("l:\n- 1\nl2: x\n", "l.x", 2),
        ];
        for (src, key, line) in cases {
            match set(src, key, "v") {
                Err(PatchError::Unparseable { line: l, reason }) => {
                    assert_eq!(l, line, "{src:?} {key}: {reason}");
                }
                other => panic!("{src:?} {key}: expected Unparseable, got {other:?}"),
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        let src = format!("{}x\n", "- ".repeat(100_000));
        assert!(matches!(
            set(&src, "a", "1"),
            Err(PatchError::Unparseable { line: 1, .. })
        ));
    }

    #[test]
    fn flow_and_block_values_elsewhere_are_left_alone() {
        let src = "a: [1, {b: 2},\n  3]\nt: |\n  # not a comment\n  x: 1\nc: 1\n";
        assert_eq!(set(src, "c", "2").unwrap(), src.replace("c: 1", "c: 2"));
        assert_eq!(set(src, "d", "2").unwrap(), format!("{src}d: 2\n"));
    }
}
