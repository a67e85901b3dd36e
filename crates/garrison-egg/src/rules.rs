//! Laravel validation rules (what eggs validate variables with) to a Garrison type and
//! `Rules`. Laravel decides what `min`/`max`/`size` mean from the other rules (a number
//! with `integer`/`numeric`, a length otherwise), so the type is settled first and the
//! size rules read after. Whatever has no equivalent is reported, never guessed at,
//! and the default must pass what is kept: a template whose default fails its own
//! rules is refused by the panel, so a rule the default breaks is dropped and said so.

use crate::pcre;
use garrison_proto::{Rules, VariableType};

/// A number as PHP's `is_numeric` reads it, for `numeric` with a decimal default.
const NUMBER_REGEX: &str = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?";

/// The mapped rules of one variable, with the report lines they produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mapped {
    pub kind: VariableType,
    pub rules: Rules,
    pub unmapped: Vec<String>,
    pub notes: Vec<String>,
}

/// Split a PTDL rule string at `|`, except inside a `regex:` pattern: Pterodactyl
/// eggs write `regex:/^(a|b)$/` in the string form too.
pub(crate) fn split_rule_string(rules: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = rules;
    while !rest.is_empty() {
        let end = regex_rule_end(rest).unwrap_or_else(|| rest.find('|').unwrap_or(rest.len()));
        out.push(rest[..end].to_owned());
        rest = rest.get(end + 1..).unwrap_or_default();
    }
    out.into_iter()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect()
}

/// Where a leading `regex:`/`not_regex:` rule ends: after its closing delimiter and
/// flags, where the string ends or a `|` follows.
fn regex_rule_end(s: &str) -> Option<usize> {
    let t = s.trim_start();
    let lead = s.len() - t.len();
    let param = t
        .strip_prefix("regex:")
        .or_else(|| t.strip_prefix("not_regex:"))?;
    let start = lead + (t.len() - param.len());
    let open = param.chars().next()?;
    let close = match open {
        '(' => ')',
        '[' => ']',
        '{' => '}',
        '<' => '>',
        other => other,
    };
    let mut escaped = false;
    for (i, c) in param.char_indices().skip(1) {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        if c == close {
            let after = &param[i + c.len_utf8()..];
            let flags = after
                .find(|f: char| !f.is_ascii_alphabetic())
                .unwrap_or(after.len());
            let tail = &after[flags..];
            if tail.trim_start().is_empty() || tail.trim_start().starts_with('|') {
                let tail_ws = tail.len() - tail.trim_start().len();
                return Some(start + i + c.len_utf8() + flags + tail_ws);
            }
        }
    }
    None
}

/// One rule as written: `max:20` → ("max", "20").
fn parts(rule: &str) -> (String, &str) {
    match rule.split_once(':') {
        Some((name, param)) => (name.trim().to_ascii_lowercase(), param),
        None => (rule.trim().to_ascii_lowercase(), ""),
    }
}

/// Map the rules of variable `key` (whose default is `default`).
pub(crate) fn map_rules(key: &str, rules: &[String], default: &str) -> Mapped {
    let mut m = Mapped {
        kind: VariableType::String,
        rules: Rules::default(),
        unmapped: Vec::new(),
        notes: Vec::new(),
    };
    let field = format!("variables.{key}");
    let names: Vec<String> = rules.iter().map(|r| parts(r).0).collect();
    let has = |n: &str| names.iter().any(|x| x == n);
    m.rules.required = has("required");
    // `numeric` allows decimals; Garrison's integers do not.
    let mut decimal = false;
    if has("integer") {
        m.kind = VariableType::Integer;
    } else if has("numeric") {
        if default.is_empty() || default.parse::<i64>().is_ok() {
            m.kind = VariableType::Integer;
            m.notes.push(format!(
                "{field}: rule numeric became an integer (the default is a whole number): decimals are refused"
            ));
        } else {
            decimal = true;
            m.rules.regex = Some(NUMBER_REGEX.to_owned());
            m.notes.push(format!(
                "{field}: rule numeric with the decimal default {default:?}: kept as a string that must be a number"
            ));
        }
    } else if has("boolean") {
        m.kind = VariableType::Boolean;
    }
    let numeric = m.kind == VariableType::Integer;
    // The egg's own regex wins over one derived from alpha_num and friends.
    let mut egg_regex: Option<String> = None;
    let mut derived: Option<(String, String)> = if decimal {
        Some(("numeric".into(), NUMBER_REGEX.into()))
    } else {
        None
    };
    let mut derived_dropped: Vec<(String, String)> = Vec::new();
    for rule in rules {
        let (name, param) = parts(rule);
        let rule = rule.trim();
        match name.as_str() {
            "required" | "nullable" | "string" | "integer" | "numeric" => {}
            "boolean" if m.kind == VariableType::Boolean => {}
            "min" | "max" | "between" | "size" => {
                let values: Vec<&str> = param.split(',').map(str::trim).collect();
                let (low, high) = match (name.as_str(), values.as_slice()) {
                    ("min", [n]) => (Some(*n), None),
                    ("max", [n]) => (None, Some(*n)),
                    ("between", [a, b]) => (Some(*a), Some(*b)),
                    ("size", [n]) => (Some(*n), Some(*n)),
                    _ => {
                        m.unmapped
                            .push(format!("{field}: rule {rule} is malformed: not checked"));
                        continue;
                    }
                };
                if !size_rule(&mut m, numeric, decimal, low, high) {
                    let why = if decimal {
                        "bounds on a decimal number are not checked"
                    } else if m.kind == VariableType::Boolean {
                        "a boolean has no size"
                    } else {
                        "its bounds are not whole numbers"
                    };
                    m.unmapped
                        .push(format!("{field}: rule {rule}: {why}: not checked"));
                }
            }
            "digits" | "digits_between" => {
                let values: Vec<&str> = param.split(',').map(str::trim).collect();
                let ok = |s: &str| s.parse::<u32>().is_ok();
                let re = match values.as_slice() {
                    [n] if name == "digits" && ok(n) => format!("[0-9]{{{n}}}"),
                    [a, b] if name == "digits_between" && ok(a) && ok(b) => {
                        format!("[0-9]{{{a},{b}}}")
                    }
                    _ => {
                        m.unmapped
                            .push(format!("{field}: rule {rule} is malformed: not checked"));
                        continue;
                    }
                };
                m.notes
                    .push(format!("{field}: rule {rule} became the regex {re}"));
                offer(&mut derived, &mut derived_dropped, rule, re);
            }
            "alpha" => offer(&mut derived, &mut derived_dropped, rule, "[A-Za-z]*".into()),
            "alpha_num" => offer(
                &mut derived,
                &mut derived_dropped,
                rule,
                "[A-Za-z0-9]*".into(),
            ),
            "alpha_dash" => offer(
                &mut derived,
                &mut derived_dropped,
                rule,
                "[A-Za-z0-9_-]*".into(),
            ),
            "in" => {
                let options = csv(param);
                if options.is_empty() {
                    m.unmapped
                        .push(format!("{field}: rule {rule} lists nothing: not checked"));
                    continue;
                }
                m.rules.one_of = options;
                if m.kind == VariableType::String {
                    m.kind = VariableType::Enum;
                }
            }
            "regex" => {
                if egg_regex.is_some() {
                    m.unmapped.push(format!(
                        "{field}: a second regex rule {rule}: only the first is checked"
                    ));
                    continue;
                }
                match pcre::from_laravel(param) {
                    Ok(c) => {
                        if c.wrapped {
                            m.notes.push(format!(
                                "{field}: Garrison matches a regex against the whole value and Laravel anywhere in it, so {param} became {}",
                                c.regex
                            ));
                        }
                        if !c.ignored_flags.is_empty() {
                            let flags: String = c.ignored_flags.iter().collect();
                            m.unmapped.push(format!(
                                "{field}: regex flags {flags} have no equivalent: left out"
                            ));
                        }
                        egg_regex = Some(c.regex);
                    }
                    Err(why) => m
                        .unmapped
                        .push(format!("{field}: rule {rule}: {why}: not checked")),
                }
            }
            _ => m.unmapped.push(format!(
                "{field}: rule {rule} has no equivalent: not checked"
            )),
        }
    }
    match (egg_regex, derived) {
        (Some(re), Some((rule, _))) => {
            m.unmapped.push(format!(
                "{field}: rule {rule} combined with a regex: kept the regex only"
            ));
            m.rules.regex = Some(re);
        }
        (Some(re), None) | (None, Some((_, re))) => m.rules.regex = Some(re),
        (None, None) => {}
    }
    for (dropped, kept) in derived_dropped {
        m.unmapped.push(format!(
            "{field}: rule {dropped} combined with rule {kept}: kept {kept} only"
        ));
    }
    fit_default(&mut m, &field, default);
    m
}

/// Keep the first regex derived from a rule; remember (dropped, kept) for the report.
fn offer(
    derived: &mut Option<(String, String)>,
    dropped: &mut Vec<(String, String)>,
    rule: &str,
    re: String,
) {
    match derived {
        Some((kept, _)) => dropped.push((rule.to_owned(), kept.clone())),
        None => *derived = Some((rule.to_owned(), re)),
    }
}

/// Apply min/max bounds: values for integers, lengths for strings. False when the
/// bounds cannot apply.
fn size_rule(
    m: &mut Mapped,
    numeric: bool,
    decimal: bool,
    low: Option<&str>,
    high: Option<&str>,
) -> bool {
    if decimal || m.kind == VariableType::Boolean {
        return false;
    }
    if numeric {
        let (Ok(l), Ok(h)) = (
            low.map(str::parse::<i64>).transpose(),
            high.map(str::parse::<i64>).transpose(),
        ) else {
            return false;
        };
        if l.is_some() {
            m.rules.min = l;
        }
        if h.is_some() {
            m.rules.max = h;
        }
    } else {
        let (Ok(l), Ok(h)) = (
            low.map(str::parse::<u32>).transpose(),
            high.map(str::parse::<u32>).transpose(),
        ) else {
            return false;
        };
        if l.is_some() {
            m.rules.min_length = l;
        }
        if h.is_some() {
            m.rules.max_length = h;
        }
    }
    true
}

/// `in:` lists are CSV (Laravel reads them with `str_getcsv`): `a,"b,c",d`.
fn csv(param: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = param.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            other => cur.push(other),
        }
    }
    out.push(cur);
    if out.len() == 1 && out[0].is_empty() {
        return Vec::new();
    }
    out
}

/// Drop each rule the default breaks, in the order the panel checks them. An empty
/// default passes when the variable is optional and is exempt when it is required
/// (the panel then asks the user for a value).
fn fit_default(m: &mut Mapped, field: &str, default: &str) {
    if default.is_empty() {
        return;
    }
    let refuse = |m: &mut Mapped, what: String| {
        m.unmapped.push(format!(
            "{field}: the default {default:?} fails {what}: rule dropped"
        ));
    };
    let chars = default.chars().count() as u64;
    match m.kind {
        VariableType::Integer => match default.parse::<i64>() {
            Err(_) => {
                refuse(m, "integer".into());
                m.kind = VariableType::String;
                m.rules.min = None;
                m.rules.max = None;
            }
            Ok(n) => {
                if let Some(min) = m.rules.min.filter(|min| n < *min) {
                    refuse(m, format!("min:{min}"));
                    m.rules.min = None;
                }
                if let Some(max) = m.rules.max.filter(|max| n > *max) {
                    refuse(m, format!("max:{max}"));
                    m.rules.max = None;
                }
            }
        },
        VariableType::Boolean => {
            if !matches!(default, "true" | "false" | "1" | "0") {
                refuse(m, "boolean".into());
                m.kind = VariableType::String;
            }
        }
        VariableType::String | VariableType::Enum | VariableType::Secret => {}
    }
    if let Some(min) = m.rules.min_length.filter(|n| chars < u64::from(*n)) {
        refuse(m, format!("the minimum length {min}"));
        m.rules.min_length = None;
    }
    if let Some(max) = m.rules.max_length.filter(|n| chars > u64::from(*n)) {
        refuse(m, format!("the maximum length {max}"));
        m.rules.max_length = None;
    }
    if !m.rules.one_of.is_empty() && !m.rules.one_of.iter().any(|o| o == default) {
        refuse(m, format!("in:{}", m.rules.one_of.join(",")));
        m.rules.one_of.clear();
        if m.kind == VariableType::Enum {
            m.kind = VariableType::String;
        }
    }
    if let Some(re) = m.rules.regex.clone() {
        let matches = regex::Regex::new(&format!("^(?:{re})$"))
            .map(|r| r.is_match(default))
            .unwrap_or(false);
        if !matches {
            refuse(m, format!("the regex {re}"));
            m.rules.regex = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(rules: &str, default: &str) -> Mapped {
        map_rules("V", &split_rule_string(rules), default)
    }

    #[test]
    fn splits_around_regexes() {
        assert_eq!(
            split_rule_string("required|regex:/^(a|b)$/i|max:3"),
            ["required", "regex:/^(a|b)$/i", "max:3"]
        );
        assert_eq!(
            split_rule_string(" nullable | string |"),
            ["nullable", "string"]
        );
        assert_eq!(split_rule_string("regex:/a|b"), ["regex:/a", "b"]);
    }

    #[test]
    fn types_and_sizes() {
        let m = map("nullable|string|max:20", "latest");
        assert_eq!(m.kind, VariableType::String);
        assert!(!m.rules.required);
        assert_eq!(m.rules.max_length, Some(20));
        let m = map("required|integer|between:1,100", "20");
        assert_eq!(m.kind, VariableType::Integer);
        assert_eq!((m.rules.min, m.rules.max), (Some(1), Some(100)));
        assert!(m.rules.required);
        let m = map("required|string|alpha_num|size:32", "");
        assert_eq!(m.rules.regex.as_deref(), Some("[A-Za-z0-9]*"));
        assert_eq!(
            (m.rules.min_length, m.rules.max_length),
            (Some(32), Some(32))
        );
        assert!(m.unmapped.is_empty(), "{:?}", m.unmapped);
        let m = map("size:5|integer", "5");
        assert_eq!((m.rules.min, m.rules.max), (Some(5), Some(5)));
        let m = map("required|boolean", "true");
        assert_eq!(m.kind, VariableType::Boolean);
    }

    #[test]
    fn numeric_with_decimals() {
        let m = map("required|numeric", "0.5");
        assert_eq!(m.kind, VariableType::String);
        assert_eq!(m.rules.regex.as_deref(), Some(NUMBER_REGEX));
        assert_eq!(m.notes.len(), 1);
        let m = map("required|numeric|digits_between:1,5", "100");
        assert_eq!(m.kind, VariableType::Integer);
        assert_eq!(m.rules.regex.as_deref(), Some("[0-9]{1,5}"));
    }

    #[test]
    fn enums_and_regexes() {
        let m = map("required|in:vanilla,oxide,carbon", "vanilla");
        assert_eq!(m.kind, VariableType::Enum);
        assert_eq!(m.rules.one_of, ["vanilla", "oxide", "carbon"]);
        let m = map("required|integer|in:1,2", "1");
        assert_eq!(m.kind, VariableType::Integer);
        let m = map("required|alpha_dash|regex:/^[a-z]+$/", "abc");
        assert_eq!(m.rules.regex.as_deref(), Some("^[a-z]+$"));
        assert_eq!(
            m.unmapped,
            ["variables.V: rule alpha_dash combined with a regex: kept the regex only"]
        );
        let m = map("required|regex:/^(?=x)x$/", "x");
        assert_eq!(m.rules.regex, None);
        assert!(m.unmapped[0].contains("lookahead"), "{:?}", m.unmapped);
        let m = map("nullable|url", "");
        assert_eq!(
            m.unmapped,
            ["variables.V: rule url has no equivalent: not checked"]
        );
    }

    #[test]
    fn a_default_that_breaks_a_rule_drops_it() {
        let m = map("required|string|max:3", "toolong");
        assert_eq!(m.rules.max_length, None);
        assert!(
            m.unmapped[0].contains("fails the maximum length 3"),
            "{:?}",
            m.unmapped
        );
        let m = map("required|integer|min:10", "abc");
        assert_eq!(m.kind, VariableType::String);
        assert_eq!(m.rules.min, None);
        let m = map("required|in:a,b", "c");
        assert_eq!(m.kind, VariableType::String);
        assert!(m.rules.one_of.is_empty());
        let m = map("required|regex:/^[0-9]+$/", "x");
        assert_eq!(m.rules.regex, None);
        // Empty and required: the user is asked, nothing to drop.
        let m = map("required|string|size:32", "");
        assert_eq!(m.rules.min_length, Some(32));
    }

    #[test]
    fn csv_lists() {
        assert_eq!(csv(r#"a,"b,c",d"#), ["a", "b,c", "d"]);
        assert!(csv("").is_empty());
    }
}
