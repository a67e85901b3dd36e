//! Laravel `regex:` rules (PHP PCRE, with delimiters and flags) to the Rust `regex`
//! dialect the panel checks values with. The panel anchors a rule's regex to the whole
//! value; Laravel's `preg_match` finds it anywhere, so an unanchored pattern is wrapped
//! in `.*(?:…).*` to accept the same values. PCRE features Rust lacks are translated
//! where that keeps the meaning (`\Z`, `\h`, `\e`, `\Q…\E`, `(?'n'…)`, literal `{`);
//! the rest (lookaround, backreferences, atomic groups, possessive quantifiers,
//! recursion) cannot be, and the rule is refused with the reason.

use regex::Regex;

/// A Laravel regex rule in the form the panel stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Converted {
    pub regex: String,
    /// `.*(?:…).*` was added because the egg's pattern is not anchored at both ends.
    pub wrapped: bool,
    /// PCRE flags Rust has no equivalent for, left out.
    pub ignored_flags: Vec<char>,
}

/// Convert the parameter of a `regex:` rule (`/^a+$/i`). `Err` says why it cannot be.
pub(crate) fn from_laravel(param: &str) -> Result<Converted, String> {
    let (body, flags) = split_delimiters(param)?;
    let mut inline = String::new();
    let mut ignored_flags = Vec::new();
    for f in flags.chars() {
        match f {
            // Same meaning in Rust's inline flags.
            'i' | 'm' | 's' | 'x' | 'U' => {
                if !inline.contains(f) {
                    inline.push(f);
                }
            }
            // UTF-8 mode is Rust's only mode; `D` (`$` only at the very end) changes
            // nothing for one-line values.
            'u' | 'D' => {}
            f if f.is_whitespace() => {}
            other => ignored_flags.push(other),
        }
    }
    let scan = translate(body)?;
    let starts = scan.body.starts_with('^') || scan.body.starts_with(r"\A");
    let ends = ends_with_anchor(&scan.body);
    let wrapped = !(starts && ends && !scan.top_level_alternation);
    let mut regex = String::new();
    if !inline.is_empty() {
        regex.push_str(&format!("(?{inline})"));
    }
    if wrapped {
        regex.push_str(&format!(".*(?:{}).*", scan.body));
    } else {
        regex.push_str(&scan.body);
    }
    // Exactly how the panel compiles it.
    Regex::new(&format!("^(?:{regex})$")).map_err(|e| {
        let detail = e.to_string();
        let last = detail.lines().last().unwrap_or_default().trim().to_owned();
        format!("it does not compile as a Rust regex ({last})")
    })?;
    Ok(Converted {
        regex,
        wrapped,
        ignored_flags,
    })
}

/// `/body/flags`, with any delimiter PHP allows (bracket pairs close with their mate).
fn split_delimiters(param: &str) -> Result<(&str, &str), String> {
    let param = param.trim_start();
    let Some(open) = param.chars().next() else {
        return Err("the pattern is empty".into());
    };
    if open.is_alphanumeric() || open == '\\' || open.is_whitespace() {
        return Err(format!(
            "the pattern has no delimiter (it starts with {open:?})"
        ));
    }
    let close = match open {
        '(' => ')',
        '[' => ']',
        '{' => '}',
        '<' => '>',
        other => other,
    };
    let rest = &param[open.len_utf8()..];
    let mut depth = 0usize;
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == close && depth == 0 {
            let flags = &rest[i + c.len_utf8()..];
            if let Some(bad) = flags
                .chars()
                .find(|f| !f.is_ascii_alphabetic() && !f.is_whitespace())
            {
                return Err(format!("unknown modifier {bad:?} after the pattern"));
            }
            return Ok((&rest[..i], flags));
        } else if close != open && c == close {
            depth -= 1;
        } else if close != open && c == open {
            depth += 1;
        }
    }
    Err(format!("the closing delimiter {close:?} is missing"))
}

struct Scan {
    body: String,
    top_level_alternation: bool,
}

/// Rewrite PCRE-only syntax, refusing what cannot be rewritten.
fn translate(body: &str) -> Result<Scan, String> {
    let chars: Vec<char> = body.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let mut out = String::with_capacity(body.len());
    let mut depth = 0usize;
    let mut alternation = false;
    let mut in_class = false;
    let mut after_quantifier = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            let Some(e) = at(i + 1) else {
                return Err("it ends with a lone backslash".into());
            };
            i += 2;
            after_quantifier = false;
            match e {
                '1'..='9' if !in_class => return Err("it uses a backreference".into()),
                'g' | 'k' => return Err("it uses a backreference".into()),
                'K' | 'G' | 'X' | 'C' => {
                    return Err(format!("it uses \\{e}, which Rust's regex lacks"));
                }
                'Z' if !in_class => out.push_str(r"\z"),
                'h' if in_class => out.push_str(r"\t\p{Zs}"),
                'h' => out.push_str(r"[\t\p{Zs}]"),
                'H' => out.push_str(r"[^\t\p{Zs}]"),
                'R' if !in_class => out.push_str(r"(?:\r\n|\n|\r)"),
                'e' => out.push_str(r"\x1B"),
                'N' if !in_class && at(i) != Some('{') => out.push_str(r"[^\n]"),
                'E' => {}
                'Q' => {
                    let mut literal = String::new();
                    while i < chars.len() && !(chars[i] == '\\' && at(i + 1) == Some('E')) {
                        literal.push(chars[i]);
                        i += 1;
                    }
                    i += 2;
                    out.push_str(&regex::escape(&literal));
                }
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
            continue;
        }
        if in_class {
            match c {
                '[' if at(i + 1) == Some(':') => {
                    // A POSIX class `[:alpha:]`, which Rust reads the same way.
                    let rest: String = chars[i..].iter().collect();
                    let end = rest.find(":]").ok_or("a `[:` class is not closed")?;
                    out.push_str(&rest[..end + 2]);
                    i += rest[..end + 2].chars().count();
                    continue;
                }
                // Literal in PCRE; nested classes and set operators in Rust.
                '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                }
                ']' => {
                    out.push(']');
                    in_class = false;
                }
                other => out.push(other),
            }
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                out.push('[');
                i += 1;
                if at(i) == Some('^') {
                    out.push('^');
                    i += 1;
                }
                // A `]` first in a class is a literal.
                if at(i) == Some(']') {
                    out.push_str(r"\]");
                    i += 1;
                }
                after_quantifier = false;
                continue;
            }
            '(' => {
                after_quantifier = false;
                depth += 1;
                if at(i + 1) == Some('*') {
                    return Err("it uses a backtracking verb `(*…)`".into());
                }
                if at(i + 1) == Some('?') {
                    match (at(i + 2), at(i + 3)) {
                        (Some('=' | '!'), _) => return Err("it uses a lookahead".into()),
                        (Some('<'), Some('=' | '!')) => {
                            return Err("it uses a lookbehind".into());
                        }
                        (Some('>'), _) => return Err("it uses an atomic group".into()),
                        (Some('|'), _) => return Err("it uses a branch reset group".into()),
                        (Some('('), _) => return Err("it uses a conditional group".into()),
                        (Some('C'), _) => return Err("it uses a callout".into()),
                        (Some('R' | '&' | '+' | '0'..='9'), _) | (Some('-'), Some('0'..='9')) => {
                            return Err("it uses recursion".into());
                        }
                        (Some('P'), Some('=')) => return Err("it uses a backreference".into()),
                        (Some('P'), Some('>')) => return Err("it uses recursion".into()),
                        (Some('#'), _) => {
                            // A comment group: dropped.
                            while i < chars.len() && chars[i] != ')' {
                                i += 1;
                            }
                            depth -= 1;
                            i += 1;
                            continue;
                        }
                        (Some('\''), _) => {
                            let rest: String = chars[i + 3..].iter().collect();
                            let end = rest.find('\'').ok_or("a `(?'name'` group is not closed")?;
                            out.push_str(&format!("(?<{}>", &rest[..end]));
                            i += 3 + rest[..end].chars().count() + 1;
                            continue;
                        }
                        _ => {}
                    }
                }
                out.push('(');
            }
            ')' => {
                after_quantifier = false;
                if depth == 0 {
                    return Err("it has a `)` without a `(`".into());
                }
                depth -= 1;
                out.push(')');
            }
            '|' => {
                after_quantifier = false;
                if depth == 0 {
                    alternation = true;
                }
                out.push('|');
            }
            '{' => match counted_repetition(&chars[i..]) {
                Some((len, text)) => {
                    out.push_str(&text);
                    i += len;
                    after_quantifier = true;
                    continue;
                }
                // Not a quantifier: PCRE reads it as a literal brace, Rust refuses it.
                None => {
                    out.push_str(r"\{");
                    after_quantifier = false;
                }
            },
            '}' => {
                out.push_str(r"\}");
                after_quantifier = false;
            }
            '+' if after_quantifier => return Err("it uses a possessive quantifier".into()),
            '?' if after_quantifier => {
                // Lazy: same matches, another preference.
                out.push('?');
                after_quantifier = false;
            }
            '*' | '+' | '?' => {
                out.push(c);
                after_quantifier = true;
            }
            other => {
                out.push(other);
                after_quantifier = false;
            }
        }
        i += 1;
    }
    if in_class {
        return Err("a `[` class is not closed".into());
    }
    if depth != 0 {
        return Err("a `(` is not closed".into());
    }
    Ok(Scan {
        body: out,
        top_level_alternation: alternation,
    })
}

/// `{n}`, `{n,}`, `{n,m}` or PCRE2's `{,m}` at the start of `chars`: its length and
/// its Rust spelling.
fn counted_repetition(chars: &[char]) -> Option<(usize, String)> {
    let close = chars.iter().position(|c| *c == '}')?;
    let inner: String = chars[1..close].iter().collect();
    let (low, high) = match inner.split_once(',') {
        Some((l, h)) => (l.trim(), Some(h.trim())),
        None => (inner.trim(), None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let text = match high {
        None if digits(low) => format!("{{{low}}}"),
        Some("") if digits(low) => format!("{{{low},}}"),
        Some(h) if digits(h) && (low.is_empty() || digits(low)) => {
            let low = if low.is_empty() { "0" } else { low };
            format!("{{{low},{h}}}")
        }
        _ => return None,
    };
    Some((close + 1, text))
}

/// Whether the pattern ends in an unescaped `$` or in `\z`.
fn ends_with_anchor(body: &str) -> bool {
    let backslashes_before =
        |end: usize| body[..end].chars().rev().take_while(|c| *c == '\\').count();
    if let Some(stripped) = body.strip_suffix('$') {
        return backslashes_before(stripped.len()) % 2 == 0;
    }
    if let Some(stripped) = body.strip_suffix('z') {
        return stripped.ends_with('\\') && backslashes_before(stripped.len()) % 2 == 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(p: &str) -> String {
        from_laravel(p).unwrap().regex
    }

    fn whole(regex: &str, value: &str) -> bool {
        Regex::new(&format!("^(?:{regex})$"))
            .unwrap()
            .is_match(value)
    }

    #[test]
    fn anchored_patterns_stay_as_written() {
        let c = from_laravel(r"/^([\w\d._-]+)(\.jar)$/").unwrap();
        assert_eq!(c.regex, r"^([\w\d._-]+)(\.jar)$");
        assert!(!c.wrapped);
        assert!(whole(&c.regex, "server.jar"));
        assert!(!whole(&c.regex, "server.zip"));
        assert_eq!(ok(r"#^\d+\z#"), r"^\d+\z");
    }

    #[test]
    fn unanchored_patterns_match_anywhere_like_laravel() {
        let c = from_laravel("/[0-9]+/").unwrap();
        assert!(c.wrapped);
        assert_eq!(c.regex, ".*(?:[0-9]+).*");
        assert!(whole(&c.regex, "abc123def"));
        assert!(!whole(&c.regex, "abc"));
        // Only one end anchored.
        let start = ok("/^[a-z]+/");
        assert!(whole(&start, "abc123") && !whole(&start, "1abc"));
        // A top-level alternation is anchored per branch.
        let alt = ok("/^a|b$/");
        assert!(whole(&alt, "axx") && whole(&alt, "xxb") && !whole(&alt, "xax"));
    }

    #[test]
    fn delimiters_and_flags() {
        assert_eq!(ok("~^abc$~i"), "(?i)^abc$");
        assert_eq!(ok("{^a{2}$}"), "^a{2}$");
        assert_eq!(ok("(^(a)$)"), "^(a)$");
        assert!(whole(&ok("/^ABC$/i"), "abc"));
        let c = from_laravel("/^a$/uA").unwrap();
        assert_eq!(c.ignored_flags, ['A']);
        assert!(from_laravel("abc").is_err());
        assert!(from_laravel("/abc").is_err());
        assert!(from_laravel("/a/ x!").is_err());
    }

    #[test]
    fn pcre_bits_are_translated() {
        assert_eq!(ok(r"/^a\Z/"), r"^a\z");
        assert!(whole(&ok(r"/^a\hb$/"), "a b"));
        assert!(whole(&ok(r"/^\Q1.5+\E$/"), "1.5+"));
        assert!(!whole(&ok(r"/^\Q1.5+\E$/"), "115"));
        assert!(whole(&ok(r"/^(?'v'\d+)$/"), "12"));
        assert_eq!(ok("/^a{$/"), r"^a\{$");
        assert_eq!(ok("/^a{,3}$/"), "^a{0,3}$");
        assert_eq!(ok("/^[[a]$/"), r"^[\[a]$");
        assert_eq!(ok("/^[]a]$/"), r"^[\]a]$");
        assert_eq!(ok("/^[a&&b]$/"), r"^[a\&\&b]$");
        assert_eq!(ok("/^[[:alpha:]]+$/"), "^[[:alpha:]]+$");
        assert_eq!(ok("/^a(?#note)b$/"), "^ab$");
        assert_eq!(ok("/^a+?$/"), "^a+?$");
    }

    #[test]
    fn what_rust_lacks_is_refused() {
        for (p, why) in [
            ("/^(?=a)a$/", "lookahead"),
            ("/^(?<!a)b$/", "lookbehind"),
            ("/^(?>a+)$/", "atomic"),
            ("/^a++$/", "possessive"),
            ("/^a{2}+$/", "possessive"),
            (r"/^(a)\1$/", "backreference"),
            ("/^(?R)$/", "recursion"),
            ("/^a)|(b$/", "`)`"),
            ("/^(a$/", "not closed"),
        ] {
            let e = from_laravel(p).unwrap_err();
            assert!(e.contains(why), "{p}: {e}");
        }
    }
}
