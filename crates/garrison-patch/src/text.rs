//! Line handling shared by the line-based editors.

/// One physical line of a file. `end` excludes the terminator (`\n` or `\r\n`), so
/// editors can replace a line's content and keep its own line ending.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    pub start: usize,
    pub end: usize,
    /// Where the next line starts (`end` plus the terminator, if any).
    pub next: usize,
    pub text: &'a str,
}

pub(crate) fn lines(s: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < s.len() {
        let (end, next) = match s[start..].find('\n') {
            Some(i) => {
                let nl = start + i;
                let end = if nl > start && s.as_bytes()[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                (end, nl + 1)
            }
            None => (s.len(), s.len()),
        };
        out.push(Line {
            start,
            end,
            next,
            text: &s[start..end],
        });
        start = next;
    }
    out
}

/// The file's own line ending, so added lines match the rest (Windows servers write
/// `\r\n`).
pub(crate) fn newline(s: &str) -> &'static str {
    match s.find('\n') {
        Some(i) if i > 0 && s.as_bytes()[i - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}

/// Appends `line` as a new last line, first ending an unterminated last line so the
/// new text does not run into it.
pub(crate) fn append_line(s: &mut String, line: &str) {
    let nl = newline(s);
    if !s.is_empty() && !s.ends_with('\n') {
        s.push_str(nl);
    }
    s.push_str(line);
    s.push_str(nl);
}

/// Inserts whole lines at byte offset `at`, which must be the start of a line or the
/// end of the file.
pub(crate) fn insert_lines(s: &str, at: usize, new_lines: &[String]) -> String {
    let nl = newline(s);
    let mut out =
        String::with_capacity(s.len() + new_lines.iter().map(|l| l.len() + 2).sum::<usize>());
    out.push_str(&s[..at]);
    if at > 0 && !out.ends_with('\n') {
        out.push_str(nl);
    }
    for l in new_lines {
        out.push_str(l);
        out.push_str(nl);
    }
    out.push_str(&s[at..]);
    out
}

/// Replaces the byte range `range` of `s` with `with`.
pub(crate) fn splice(s: &str, range: std::ops::Range<usize>, with: &str) -> String {
    let mut out = String::with_capacity(s.len() + with.len());
    out.push_str(&s[..range.start]);
    out.push_str(with);
    out.push_str(&s[range.end..]);
    out
}

/// 1-based line number of byte offset `at`, for error messages.
pub(crate) fn line_of(s: &str, at: usize) -> usize {
    let at = at.min(s.len());
    s.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1
}

/// Leading spaces and tabs of a line.
pub(crate) fn indentation(line: &str) -> &str {
    let n = line.len() - line.trim_start_matches([' ', '\t']).len();
    &line[..n]
}
