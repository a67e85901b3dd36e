//! The egg as parsed, before any mapping: a JSON/YAML value that keeps the order of
//! map keys (an egg's Docker images and config files are listed in the order their
//! author meant, and the first startup command is the default) and keeps numbers as
//! their text (a `default_value` of `25565` is the string "25565" in Garrison).
//!
//! Our own type rather than `serde_json::Value` so both formats land in the same shape
//! and so the workspace's `serde_json` need not turn on `preserve_order` for everyone.

use crate::EggError;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Raw {
    Null,
    Bool(bool),
    /// The number as text, as a user would type it.
    Number(String),
    String(String),
    List(Vec<Raw>),
    /// Keys in document order; a repeated key keeps every entry, lookups see the last.
    Map(Vec<(String, Raw)>),
}

impl Raw {
    /// The value under `key` of a map (the last one when a key repeats, as in PHP).
    pub(crate) fn get(&self, key: &str) -> Option<&Raw> {
        match self {
            Raw::Map(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Raw::String(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar as text: strings as they are, numbers as written, booleans as
    /// `true`/`false`. Null, lists and maps have none.
    pub(crate) fn scalar_text(&self) -> Option<String> {
        match self {
            Raw::String(s) | Raw::Number(s) => Some(s.clone()),
            Raw::Bool(b) => Some(b.to_string()),
            Raw::Null | Raw::List(_) | Raw::Map(_) => None,
        }
    }

    /// Null, an empty string, an empty list or an empty map: what eggs write for
    /// "nothing here" (`file_denylist: {}`, `"logs": "{}"` once decoded, `features: null`).
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Raw::Null => true,
            Raw::String(s) => s.trim().is_empty(),
            Raw::List(items) => items.is_empty(),
            Raw::Map(entries) => entries.is_empty(),
            Raw::Bool(_) | Raw::Number(_) => false,
        }
    }

    /// What kind of value this is, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Raw::Null => "null",
            Raw::Bool(_) => "a boolean",
            Raw::Number(_) => "a number",
            Raw::String(_) => "a string",
            Raw::List(_) => "a list",
            Raw::Map(_) => "a map",
        }
    }

    /// A list's items, or each value of a map (PLCN writes some lists as maps).
    pub(crate) fn items(&self) -> Vec<&Raw> {
        match self {
            Raw::List(items) => items.iter().collect(),
            Raw::Map(entries) => entries.iter().map(|(_, v)| v).collect(),
            _ => Vec::new(),
        }
    }
}

/// A `config.files`/`config.startup`/`config.logs` value: PTDL eggs store these as JSON
/// text inside the JSON (with `\r\n` line ends), PLCN eggs as nested objects. Either way
/// the result is the value itself; an empty string counts as nothing.
pub(crate) fn embedded(field: &str, value: Option<&Raw>) -> Result<Raw, EggError> {
    match value {
        None => Ok(Raw::Null),
        Some(Raw::String(text)) if text.trim().is_empty() => Ok(Raw::Null),
        Some(Raw::String(text)) => serde_json::from_str(text).map_err(|e| EggError::Invalid {
            field: field.to_owned(),
            message: format!("the embedded JSON does not parse: {e}"),
        }),
        Some(other) => Ok(other.clone()),
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON or YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Number(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Number(v.to_string()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw::Number(v.to_string()))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Raw, E> {
        Ok(Raw::Number(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        // Display never uses an exponent and drops a `.0`: 1.0 → "1", 0.5 → "0.5".
        Ok(Raw::Number(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::String(v))
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Raw>()? {
            items.push(item);
        }
        Ok(Raw::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<Raw, Raw>()? {
            // YAML allows `25565: x` or `true: y`; eggs only ever mean the text.
            let key = match key {
                Raw::Null => String::new(),
                other => other.scalar_text().ok_or_else(|| {
                    de::Error::custom(format!("a map key is {}, not text", other.kind()))
                })?,
            };
            entries.push((key, value));
        }
        Ok(Raw::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_yaml_keep_order_and_number_text() {
        let j: Raw = serde_json::from_str(r#"{"b": 1, "a": [2.5, true, null]}"#).unwrap();
        let y: Raw = serde_saphyr::from_str("b: 1\na: [2.5, true, null]\n").unwrap();
        assert_eq!(j, y);
        let Raw::Map(entries) = &j else {
            panic!("not a map")
        };
        assert_eq!(entries[0].0, "b");
        assert_eq!(j.get("b"), Some(&Raw::Number("1".into())));
    }

    #[test]
    fn yaml_scalars_keep_their_text() {
        let y: Raw = serde_saphyr::from_str_with_options(
            "a: yes\nb: 0755\nc: 1_000\nd: ~\ne: 1.0.0\nf: true\na: last\n",
            crate::yaml_options(),
        )
        .unwrap();
        assert_eq!(y.get("a"), Some(&Raw::String("last".into())));
        assert_eq!(
            y.get("b").and_then(Raw::scalar_text).as_deref(),
            Some("0755")
        );
        assert_eq!(
            y.get("c").and_then(Raw::scalar_text).as_deref(),
            Some("1_000")
        );
        assert_eq!(y.get("d"), Some(&Raw::Null));
        assert_eq!(y.get("e"), Some(&Raw::String("1.0.0".into())));
        assert_eq!(y.get("f"), Some(&Raw::Bool(true)));
        let y: Raw =
            serde_saphyr::from_str_with_options("a: yes\n", crate::yaml_options()).unwrap();
        assert_eq!(y.get("a"), Some(&Raw::String("yes".into())));
    }

    #[test]
    fn embedded_json_text_or_object() {
        let text = Raw::String("{\r\n    \"done\": \"x\"\r\n}".into());
        let parsed = embedded("config.startup", Some(&text)).unwrap();
        assert_eq!(parsed.get("done").and_then(Raw::as_str), Some("x"));
        assert_eq!(embedded("f", Some(&parsed)).unwrap(), parsed);
        assert_eq!(
            embedded("f", Some(&Raw::String(String::new()))).unwrap(),
            Raw::Null
        );
        assert!(embedded("f", Some(&Raw::String("{".into()))).is_err());
    }
}
