//! How a setting's text becomes a typed value in JSON, YAML and TOML.
//!
//! The panel only has text. Writing `25565` into a JSON file where the game expects a
//! number must give a number, and writing `0123` where it expects a string must keep
//! the string, so `Auto` follows the type the file already has, and only for new keys
//! guesses from the text, conservatively (JSON's own number grammar, `true`/`false`).

use garrison_proto::ValueKind;

use crate::{PatchError, invalid_value};

/// The type a key already has in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Existing {
    String,
    Integer,
    Float,
    /// JSON does not tell integers from floats.
    Number,
    Boolean,
    Null,
}

/// A value ready to be written: numbers in a canonical text every format accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Typed {
    String(String),
    Integer(String),
    Float(String),
    Boolean(bool),
}

/// Refuses a value that cannot be written as its explicit kind, before any file is
/// touched.
pub(crate) fn check(kind: ValueKind, key: &str, value: &str) -> Result<(), PatchError> {
    resolve(kind, key, value, None).map(|_| ())
}

pub(crate) fn resolve(
    kind: ValueKind,
    key: &str,
    value: &str,
    existing: Option<Existing>,
) -> Result<Typed, PatchError> {
    match kind {
        ValueKind::String => Ok(Typed::String(value.to_owned())),
        ValueKind::Integer => integer(value).map(Typed::Integer).ok_or_else(|| {
            invalid_value(
                key,
                format!("`{value}` is not a whole number (the setting is typed integer)"),
            )
        }),
        ValueKind::Float => float(value).map(Typed::Float).ok_or_else(|| {
            invalid_value(
                key,
                format!("`{value}` is not a number (the setting is typed float)"),
            )
        }),
        ValueKind::Boolean => boolean(value).map(Typed::Boolean).ok_or_else(|| {
            invalid_value(
                key,
                format!(
                    "`{value}` is not a boolean (the setting is typed boolean: use true/false, yes/no, on/off or 1/0)"
                ),
            )
        }),
        ValueKind::Auto => Ok(auto(value, existing)),
    }
}

/// The text an explicit kind writes in a format without types (`None` for `Auto` and
/// `String`, whose text is written as given).
pub(crate) fn untyped_text(
    kind: ValueKind,
    key: &str,
    value: &str,
) -> Result<Option<String>, PatchError> {
    if matches!(kind, ValueKind::Auto | ValueKind::String) {
        return Ok(None);
    }
    Ok(Some(match resolve(kind, key, value, None)? {
        Typed::String(s) | Typed::Integer(s) | Typed::Float(s) => s,
        Typed::Boolean(b) => b.to_string(),
    }))
}

fn auto(value: &str, existing: Option<Existing>) -> Typed {
    let kept = match existing {
        Some(Existing::String) => return Typed::String(value.to_owned()),
        Some(Existing::Integer) => integer(value).map(Typed::Integer),
        Some(Existing::Float) => float(value).map(Typed::Float),
        Some(Existing::Number) => integer(value)
            .map(Typed::Integer)
            .or_else(|| float(value).map(Typed::Float)),
        Some(Existing::Boolean) => boolean(value).map(Typed::Boolean),
        Some(Existing::Null) | None => None,
    };
    kept.unwrap_or_else(|| infer(value))
}

/// The guess for a new key (or one that was null, or whose type the value does not
/// fit): only what JSON itself would read as a number or boolean, so `007`, `+1` or
/// `yes` stay strings.
fn infer(value: &str) -> Typed {
    match value {
        "true" => return Typed::Boolean(true),
        "false" => return Typed::Boolean(false),
        _ => {}
    }
    if is_json_number(value) {
        if let Some(i) = integer(value) {
            return Typed::Integer(i);
        }
        if value.contains(['.', 'e', 'E'])
            && let Some(f) = float(value)
        {
            return Typed::Float(f);
        }
    }
    Typed::String(value.to_owned())
}

/// The words a panel might use for a boolean: checkboxes often render as `1`/`0`,
/// Pterodactyl-style variables as `true`/`false`, YAML 1.1 files say `yes`/`on`.
fn boolean(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// A whole number that fits in 64 bits (TOML's limit, and Java's `long`), written
/// without sign noise or leading zeros.
fn integer(value: &str) -> Option<String> {
    let n = Number::parse(value)?;
    if n.frac.is_some() || n.exp.is_some() {
        return None;
    }
    let text = format!("{}{}", if n.neg { "-" } else { "" }, n.int);
    text.parse::<i64>().ok().map(|i| i.to_string())
}

/// A finite number written with a fraction and, if it has one, a signed exponent:
/// `3` becomes `3.0` (TOML and YAML would read `3` as an integer) and `1e5` becomes
/// `1.0e+5` (YAML 1.1, which SnakeYAML speaks, needs the dot and the sign).
fn float(value: &str) -> Option<String> {
    let n = Number::parse(value)?;
    let mut text = String::new();
    if n.neg {
        text.push('-');
    }
    text.push_str(if n.int.is_empty() { "0" } else { n.int });
    text.push('.');
    match n.frac {
        Some(f) if !f.is_empty() => text.push_str(f),
        _ => text.push('0'),
    }
    if let Some((neg, digits)) = n.exp {
        text.push('e');
        text.push(if neg { '-' } else { '+' });
        text.push_str(digits);
    }
    text.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(|_| text)
}

/// A decimal number as people type it: optional sign, digits with an optional
/// fraction (`.5` and `5.` included), optional exponent. Leading zeros of the whole
/// part are dropped.
struct Number<'a> {
    neg: bool,
    int: &'a str,
    frac: Option<&'a str>,
    exp: Option<(bool, &'a str)>,
}

impl<'a> Number<'a> {
    fn parse(s: &'a str) -> Option<Self> {
        let (neg, s) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
        let n = digits(s);
        let int_raw = &s[..n];
        let mut rest = &s[n..];
        let frac = match rest.strip_prefix('.') {
            Some(after) => {
                let m = digits(after);
                rest = &after[m..];
                Some(&after[..m])
            }
            None => None,
        };
        if int_raw.is_empty() && frac.is_none_or(str::is_empty) {
            return None;
        }
        let exp = match rest.strip_prefix(['e', 'E']) {
            Some(after) => {
                let (eneg, after) = match after.as_bytes().first() {
                    Some(b'-') => (true, &after[1..]),
                    Some(b'+') => (false, &after[1..]),
                    _ => (false, after),
                };
                let m = digits(after);
                if m == 0 {
                    return None;
                }
                rest = &after[m..];
                Some((eneg, &after[..m]))
            }
            None => None,
        };
        if !rest.is_empty() {
            return None;
        }
        let trimmed = int_raw.trim_start_matches('0');
        let int = if trimmed.is_empty() && !int_raw.is_empty() {
            "0"
        } else {
            trimmed
        };
        Some(Number {
            neg,
            int,
            frac,
            exp,
        })
    }
}

/// JSON's number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
pub(crate) fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(c) if c.is_ascii_digit() => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto_of(v: &str, e: Option<Existing>) -> Typed {
        resolve(ValueKind::Auto, "k", v, e).unwrap()
    }

    #[test]
    fn new_keys_infer_only_plain_literals() {
        assert_eq!(auto_of("25565", None), Typed::Integer("25565".into()));
        assert_eq!(auto_of("-3", None), Typed::Integer("-3".into()));
        assert_eq!(auto_of("1.5", None), Typed::Float("1.5".into()));
        assert_eq!(auto_of("1e5", None), Typed::Float("1.0e+5".into()));
        assert_eq!(auto_of("true", None), Typed::Boolean(true));
        for s in [
            "007",
            "+1",
            "yes",
            "True",
            "1.",
            ".5",
            "abc",
            "",
            "1_000",
            "99999999999999999999",
        ] {
            assert_eq!(auto_of(s, None), Typed::String(s.into()), "{s:?}");
        }
    }

    #[test]
    fn existing_types_are_kept_when_the_value_fits() {
        assert_eq!(
            auto_of("007", Some(Existing::Integer)),
            Typed::Integer("7".into())
        );
        assert_eq!(
            auto_of("3", Some(Existing::Float)),
            Typed::Float("3.0".into())
        );
        assert_eq!(auto_of("1", Some(Existing::Boolean)), Typed::Boolean(true));
        assert_eq!(
            auto_of("25", Some(Existing::String)),
            Typed::String("25".into())
        );
        assert_eq!(
            auto_of("2.5", Some(Existing::Number)),
            Typed::Float("2.5".into())
        );
        assert_eq!(
            auto_of("abc", Some(Existing::Integer)),
            Typed::String("abc".into())
        );
        assert_eq!(
            auto_of("12", Some(Existing::Null)),
            Typed::Integer("12".into())
        );
    }

    #[test]
    fn explicit_kinds_refuse_what_does_not_fit() {
        assert!(check(ValueKind::Integer, "k", "abc").is_err());
        assert!(check(ValueKind::Integer, "k", "1.5").is_err());
        assert!(check(ValueKind::Integer, "k", "99999999999999999999").is_err());
        assert!(check(ValueKind::Float, "k", "1e999").is_err());
        assert!(check(ValueKind::Float, "k", "nan").is_err());
        assert!(check(ValueKind::Boolean, "k", "maybe").is_err());
        assert_eq!(
            resolve(ValueKind::Integer, "k", "+0042", None).unwrap(),
            Typed::Integer("42".into())
        );
        assert_eq!(
            resolve(ValueKind::Float, "k", ".5", None).unwrap(),
            Typed::Float("0.5".into())
        );
        assert_eq!(
            resolve(ValueKind::Float, "k", "-2E-3", None).unwrap(),
            Typed::Float("-2.0e-3".into())
        );
        assert_eq!(
            resolve(ValueKind::Boolean, "k", "OFF", None).unwrap(),
            Typed::Boolean(false)
        );
    }

    #[test]
    fn json_number_grammar() {
        for ok in ["0", "-0", "12", "1.5", "1e5", "1E+5", "-0.1e-2"] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in ["", "-", "01", "+1", "1.", ".1", "1e", "1e+", "0x1", "1 "] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }
}
