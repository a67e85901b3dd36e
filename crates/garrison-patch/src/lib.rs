//! Config file patchers that keep a file's formatting, comments and ordering.
//!
//! Game servers own their config files: they write them, users hand-edit them, and
//! the comments in them are often the only documentation a user has. So the panel
//! never regenerates a file; it changes the values of the keys a template names and
//! leaves every other byte alone. Everything here is a pure function of text in, text
//! out: the agent does the (atomic) file I/O.
//!
//! Where a file cannot be understood well enough to be sure the edit lands in the
//! right place, the patchers refuse with [`PatchError::Unparseable`] rather than guess:
//! a wrong edit to a game's config is worse than a visible error.

use std::fmt;

pub use garrison_proto::{ConfigFormat, ConfigSetting, ValueKind};

mod ini;
mod json;
mod key_value;
mod kind;
mod line;
mod path;
mod properties;
mod text;
mod toml;
mod yaml;

/// Why a setting could not be applied. The messages are shown to users, so each
/// names the key or the line at fault.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PatchError {
    /// The key cannot address anything in this format (empty, a malformed path, or
    /// characters the format cannot hold in a key).
    #[error("invalid key `{key}`: {reason}")]
    InvalidKey { key: String, reason: String },
    /// The value cannot be written for this key (a newline in a line-based format, a
    /// control character, or text that does not fit the setting's explicit kind).
    #[error("invalid value for `{key}`: {reason}")]
    InvalidValue { key: String, reason: String },
    /// The existing file (or the part of it the key leads to) is not understood well
    /// enough to patch it safely. `line` is 1-based.
    #[error("cannot patch the file safely: line {line}: {reason}")]
    Unparseable { line: usize, reason: String },
}

/// Applies `settings` in order to `original` and returns the new text.
///
/// When a key appears more than once, its last value is the one applied. `None` means the file does not exist yet: the result holds just these keys. Every
/// setting is checked with [`check_setting`] before anything is edited, so an error
/// never leaves a half-applied result. Applying the same settings to the result
/// again gives the same text.
pub fn patch(
    format: ConfigFormat,
    original: Option<&str>,
    settings: &[ConfigSetting],
) -> Result<String, PatchError> {
    for setting in settings {
        check_setting(format, setting)?;
    }
    let mut text = match original {
        Some(text) => text.to_owned(),
        None => empty_file(format).to_owned(),
    };
    for setting in last_per_key(settings) {
        text = patch_one(format, &text, setting)?;
    }
    Ok(text)
}

/// Settings with their key's later repeats folded in: the last value for a key wins,
/// applied where the key first appears. Applying both in turn would let the first
/// change how the second is typed or quoted, and a second run would then differ.
fn last_per_key(settings: &[ConfigSetting]) -> Vec<&ConfigSetting> {
    let mut out: Vec<&ConfigSetting> = Vec::with_capacity(settings.len());
    for s in settings {
        match out.iter_mut().find(|o| o.key == s.key) {
            Some(slot) => *slot = s,
            None => out.push(s),
        }
    }
    out
}

/// Reads the value a key has in `text`, as the patcher understands the file: quoted
/// strings unquoted and unescaped, numbers and booleans as written, a null or empty
/// value as `""`. `None` when the key is not there.
///
/// The panel can use this to show what a file holds; the tests use it to check that
/// what [`patch`] wrote reads back as the value it was given.
pub fn read(format: ConfigFormat, text: &str, key: &str) -> Result<Option<String>, PatchError> {
    check_key(format, key)?;
    match format {
        ConfigFormat::Properties => Ok(properties::read(text, key)),
        ConfigFormat::KeyValue => key_value::read(text, key),
        ConfigFormat::Ini => Ok(ini::read(text, key)),
        ConfigFormat::Line => Ok(line::read(text, key)),
        ConfigFormat::Json => json::read(text, &path::parse(key)?, key),
        ConfigFormat::Yaml => yaml::read(text, &path::parse(key)?, key),
        ConfigFormat::Toml => toml::read(text, &path::parse(key)?, key),
    }
}

/// Whether `setting` can be written in `format` at all, independent of any file.
///
/// The panel calls this to refuse a setting before it is saved; [`patch`] calls it
/// again so the agent never writes something the panel would have refused.
pub fn check_setting(format: ConfigFormat, setting: &ConfigSetting) -> Result<(), PatchError> {
    let key = setting.key.as_str();
    check_key(format, key)?;
    check_value_chars(format, key, &setting.value)?;
    kind::check(setting.kind, key, &setting.value)?;
    match format {
        ConfigFormat::KeyValue => key_value::check_value(key, &setting.value),
        ConfigFormat::Ini => ini::check_value(key, &setting.value),
        _ => Ok(()),
    }
}

fn check_key(format: ConfigFormat, key: &str) -> Result<(), PatchError> {
    if key.is_empty() {
        return Err(invalid_key(key, "the key is empty"));
    }
    // A `line` prefix may reasonably hold a tab (`port\t`); no other key can.
    let tab_ok = format == ConfigFormat::Line;
    let bad = |c: &char| (c.is_control() && !(tab_ok && *c == '\t')) || is_line_separator(*c);
    if let Some(c) = key.chars().find(bad) {
        return Err(invalid_key(
            key,
            format!("it contains the control character {}", Escaped(c)),
        ));
    }
    match format {
        ConfigFormat::Json | ConfigFormat::Yaml | ConfigFormat::Toml => {
            path::parse(key).map(|_| ())
        }
        ConfigFormat::Ini => ini::check_key(key),
        ConfigFormat::KeyValue => key_value::check_key(key),
        ConfigFormat::Properties | ConfigFormat::Line => Ok(()),
    }
}

/// Line-based formats cannot hold a line break in a value at all; JSON and TOML
/// escape line breaks, but no format here can carry NUL or other control characters
/// in a way every game's parser agrees on.
fn check_value_chars(format: ConfigFormat, key: &str, value: &str) -> Result<(), PatchError> {
    let escaped_format = matches!(format, ConfigFormat::Json | ConfigFormat::Toml);
    for c in value.chars() {
        let line_break = matches!(c, '\n' | '\r') || is_line_separator(c);
        if line_break && !escaped_format {
            return Err(invalid_value(
                key,
                format!(
                    "it contains a line break ({}), which a {} file cannot hold in one value",
                    Escaped(c),
                    format.as_str()
                ),
            ));
        }
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
            return Err(invalid_value(
                key,
                format!("it contains the control character {}", Escaped(c)),
            ));
        }
    }
    Ok(())
}

/// U+2028/U+2029 end a line for YAML 1.1 (SnakeYAML, which Bukkit and BungeeCord use)
/// and for some other readers, so line-based formats treat them like `\n`.
fn is_line_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

fn empty_file(format: ConfigFormat) -> &'static str {
    match format {
        ConfigFormat::Json => "{}\n",
        _ => "",
    }
}

fn patch_one(format: ConfigFormat, text: &str, s: &ConfigSetting) -> Result<String, PatchError> {
    // Untyped formats still honour an explicit kind by writing its canonical text:
    // Java's `Boolean.parseBoolean("YES")` is false, `true` is not.
    let untyped = !matches!(
        format,
        ConfigFormat::Json | ConfigFormat::Yaml | ConfigFormat::Toml
    );
    let canonical;
    let rewritten = match untyped {
        true => kind::untyped_text(s.kind, &s.key, &s.value)?,
        false => None,
    };
    let s = match rewritten {
        Some(value) => {
            canonical = ConfigSetting { value, ..s.clone() };
            &canonical
        }
        None => s,
    };
    match format {
        ConfigFormat::Properties => Ok(properties::patch(text, s)),
        ConfigFormat::KeyValue => key_value::patch(text, s),
        ConfigFormat::Ini => Ok(ini::patch(text, s)),
        ConfigFormat::Line => Ok(line::patch(text, s)),
        ConfigFormat::Json => json::patch(text, &path::parse(&s.key)?, s),
        ConfigFormat::Yaml => yaml::patch(text, &path::parse(&s.key)?, s),
        ConfigFormat::Toml => toml::patch(text, &path::parse(&s.key)?, s),
    }
}

pub(crate) fn invalid_key(key: &str, reason: impl Into<String>) -> PatchError {
    PatchError::InvalidKey {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

pub(crate) fn invalid_value(key: &str, reason: impl Into<String>) -> PatchError {
    PatchError::InvalidValue {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

pub(crate) fn unparseable(line: usize, reason: impl Into<String>) -> PatchError {
    PatchError::Unparseable {
        line,
        reason: reason.into(),
    }
}

/// Shows an invisible character in an error message as `U+000A` rather than
/// printing it raw.
struct Escaped(char);

impl fmt::Display for Escaped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "U+{:04X}", u32::from(self.0))
    }
}
