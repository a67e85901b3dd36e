//! Egg placeholders to Garrison placeholders. Wings fills `{{server.build.default.port}}`,
//! `{{SERVER_PORT}}`, `{{env.VAR}}` and friends; Garrison fills `{{port}}`, `{{ip}}`,
//! `{{memory_mb}}` and each variable's `{{KEY}}`. Anything else (`{{config.docker.*}}`,
//! an undeclared variable) has no value in Garrison, and the panel refuses a template
//! that names it, so callers must drop what uses it.

use std::collections::BTreeSet;

/// Why a text could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PlaceholderError {
    /// These placeholders (as written in the egg, with braces) have no equivalent.
    Unknown(Vec<String>),
    /// A `{{` without `}}`: the panel refuses it as an unclosed placeholder.
    Unclosed,
}

impl PlaceholderError {
    pub(crate) fn describe(&self) -> String {
        match self {
            PlaceholderError::Unknown(names) => format!(
                "{} {} no equivalent in Garrison",
                names.join(", "),
                if names.len() == 1 { "has" } else { "have" }
            ),
            PlaceholderError::Unclosed => "a `{{` is never closed by `}}`".to_owned(),
        }
    }
}

/// The Garrison placeholder for one egg placeholder (the text between the braces),
/// or `None` when Garrison has nothing to fill it with.
pub(crate) fn resolve(inner: &str, declared: &BTreeSet<String>) -> Option<String> {
    let name = inner.trim();
    match name {
        "server.build.default.port" | "server.allocations.default.port" => {
            return Some("port".into());
        }
        "server.build.default.ip" | "server.allocations.default.ip" => return Some("ip".into()),
        "server.build.memory" => return Some("memory_mb".into()),
        _ => {}
    }
    // Wings' config parser reads variables as `env.X` and `server.build.env.X`.
    let bare = name
        .strip_prefix("server.build.env.")
        .or_else(|| name.strip_prefix("env."))
        .unwrap_or(name);
    // The allocation wins over a variable of the same name, as in the environment the
    // panel builds (it sets SERVER_PORT and friends after the variables).
    match bare {
        "SERVER_PORT" => Some("port".into()),
        "SERVER_IP" => Some("ip".into()),
        "SERVER_MEMORY" => Some("memory_mb".into()),
        _ if declared.contains(bare) => Some(bare.to_owned()),
        _ => None,
    }
}

/// Convert every placeholder in a plain text (a config value).
pub(crate) fn convert(text: &str, declared: &BTreeSet<String>) -> Result<String, PlaceholderError> {
    let mut out = String::with_capacity(text.len());
    let mut unknown = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(PlaceholderError::Unclosed)?;
        match resolve(&after[..end], declared) {
            Some(key) => {
                out.push_str("{{");
                out.push_str(&key);
                out.push_str("}}");
            }
            None => unknown.push(format!("{{{{{}}}}}", after[..end].trim())),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    if unknown.is_empty() {
        Ok(out)
    } else {
        Err(PlaceholderError::Unknown(unknown))
    }
}

/// A converted `/bin/sh -c` command line and what the conversion had to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShellCommand {
    pub command: String,
    /// `\"` outside single quotes became `"` (see `convert_shell`).
    pub unescaped_quotes: bool,
    /// A placeholder stood inside quotes and was moved out of them.
    pub unquoted_placeholders: bool,
    /// Variable keys used as a bare word, outside quotes.
    pub bare_variables: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Single,
    Double,
    /// `$(…)`: parsed like the top level; the count is open `(` inside it.
    Subst(usize),
}

/// Convert a startup command for Garrison's `/bin/sh -c`, which differs from Wings in
/// two ways the conversion makes up for:
///
/// * Garrison substitutes each placeholder as one single-quoted word, so a placeholder
///   inside `"…"` or `'…'` would carry its quotes into the value. Such a placeholder is
///   moved out of the quotes (`"a {{X}} b"` → `"a "{{X}}" b"`), which the shell joins
///   back into the same word.
/// * Pterodactyl's images evaluate the command twice (`eval echo …`, then `eval`), so
///   eggs write `\"` for quotes meant for the second pass. Garrison evaluates once, so
///   `\"` outside single quotes becomes `"`.
pub(crate) fn convert_shell(
    text: &str,
    declared: &BTreeSet<String>,
) -> Result<ShellCommand, PlaceholderError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut stack: Vec<Ctx> = Vec::new();
    let mut unknown = Vec::new();
    let mut result = ShellCommand {
        command: String::new(),
        unescaped_quotes: false,
        unquoted_placeholders: false,
        bare_variables: Vec::new(),
    };
    // Where the current quoted region's opening quote ends in `out`, and whether that
    // quote is closed for now because a placeholder was moved out of it.
    let mut opened_at = 0usize;
    let mut suspended = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let top = stack.last().copied();
        let in_quotes = matches!(top, Some(Ctx::Single | Ctx::Double));
        // A placeholder: `{{ … }}`.
        if c == '{' && next == Some('{') {
            let rest: String = chars[i + 2..].iter().collect();
            let end = rest.find("}}").ok_or(PlaceholderError::Unclosed)?;
            let inner = &rest[..end];
            let key = resolve(inner, declared);
            if key.is_none() {
                unknown.push(format!("{{{{{}}}}}", inner.trim()));
            }
            let key = key.unwrap_or_default();
            if in_quotes && !suspended {
                let quote = if top == Some(Ctx::Single) { '\'' } else { '"' };
                if out.len() == opened_at && out.ends_with(quote) {
                    // `"{{X}}…`: drop the quote that would open an empty string.
                    out.pop();
                } else {
                    out.push(quote);
                }
                suspended = true;
                result.unquoted_placeholders = true;
            } else if !in_quotes && declared.contains(&key) {
                result.bare_variables.push(key.clone());
            }
            out.push_str("{{");
            out.push_str(&key);
            out.push_str("}}");
            i += 2 + inner.chars().count() + 2;
            continue;
        }
        // The character closing a quoted region (`\"` counts inside double quotes).
        let closes = match top {
            Some(Ctx::Single) => c == '\'',
            Some(Ctx::Double) => c == '"' || (c == '\\' && next == Some('"')),
            _ => false,
        };
        if suspended {
            suspended = false;
            if closes {
                // `…{{X}}"`: the region ends right after the placeholder.
                if c == '\\' {
                    result.unescaped_quotes = true;
                    i += 1;
                }
                stack.pop();
                i += 1;
                continue;
            }
            // Reopen the region the placeholder was moved out of.
            out.push(if top == Some(Ctx::Single) { '\'' } else { '"' });
            opened_at = out.len();
        }
        match top {
            Some(Ctx::Single) => {
                out.push(c);
                if c == '\'' {
                    stack.pop();
                }
            }
            Some(Ctx::Double) => {
                if c == '\\' && next == Some('"') {
                    out.push('"');
                    result.unescaped_quotes = true;
                    stack.pop();
                    i += 1;
                } else if c == '\\' {
                    out.push(c);
                    if let Some(n) = next {
                        out.push(n);
                        i += 1;
                    }
                } else if c == '"' {
                    out.push(c);
                    stack.pop();
                } else if c == '$' && next == Some('(') {
                    out.push_str("$(");
                    stack.push(Ctx::Subst(0));
                    i += 1;
                } else {
                    out.push(c);
                }
            }
            None | Some(Ctx::Subst(_)) => {
                if c == '\\' && next == Some('"') {
                    out.push('"');
                    result.unescaped_quotes = true;
                    stack.push(Ctx::Double);
                    opened_at = out.len();
                    i += 1;
                } else if c == '\\' {
                    out.push(c);
                    if let Some(n) = next {
                        out.push(n);
                        i += 1;
                    }
                } else if c == '\'' || c == '"' {
                    out.push(c);
                    stack.push(if c == '\'' { Ctx::Single } else { Ctx::Double });
                    opened_at = out.len();
                } else if c == '$' && next == Some('(') {
                    out.push_str("$(");
                    stack.push(Ctx::Subst(0));
                    i += 1;
                } else {
                    out.push(c);
                    if let Some(Ctx::Subst(depth)) = stack.last_mut() {
                        if c == '(' {
                            *depth += 1;
                        } else if c == ')' {
                            if *depth == 0 {
                                stack.pop();
                            } else {
                                *depth -= 1;
                            }
                        }
                    }
                }
            }
        }
        i += 1;
    }
    if suspended {
        // The egg's quote was never closed; keep it that way rather than guess.
        let quote = if stack.last() == Some(&Ctx::Single) {
            '\''
        } else {
            '"'
        };
        out.push(quote);
    }
    if !unknown.is_empty() {
        return Err(PlaceholderError::Unknown(unknown));
    }
    result.command = out;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use garrison_proto::render_shell;
    use std::collections::BTreeMap;

    fn declared(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|k| (*k).to_owned()).collect()
    }

    #[test]
    fn resolves_wings_names() {
        let d = declared(&["MAX_USERS", "SERVER_JARFILE", "SERVER_PORT"]);
        for (egg, want) in [
            ("server.build.default.port", Some("port")),
            ("server.allocations.default.port", Some("port")),
            (" SERVER_PORT ", Some("port")),
            ("server.build.default.ip", Some("ip")),
            ("server.allocations.default.ip", Some("ip")),
            ("SERVER_IP", Some("ip")),
            ("server.build.memory", Some("memory_mb")),
            ("SERVER_MEMORY", Some("memory_mb")),
            ("env.SERVER_JARFILE", Some("SERVER_JARFILE")),
            ("server.build.env.MAX_USERS", Some("MAX_USERS")),
            ("MAX_USERS", Some("MAX_USERS")),
            ("server.build.env.NOPE", None),
            ("config.docker.interface", None),
        ] {
            assert_eq!(resolve(egg, &d).as_deref(), want, "{egg}");
        }
    }

    #[test]
    fn plain_conversion() {
        let d = declared(&["X"]);
        assert_eq!(
            convert("0.0.0.0:{{server.build.default.port}}/{{env.X}}", &d).unwrap(),
            "0.0.0.0:{{port}}/{{X}}"
        );
        assert_eq!(
            convert("{{config.docker.interface}}", &d),
            Err(PlaceholderError::Unknown(vec![
                "{{config.docker.interface}}".into()
            ]))
        );
        assert_eq!(convert("{{X", &d), Err(PlaceholderError::Unclosed));
    }

    /// Run a converted command through `sh` the way the panel would, and return argv.
    fn words(command: &str, values: &[(&str, &str)]) -> Vec<String> {
        let values: BTreeMap<String, String> = values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let line = render_shell(command, &values).unwrap();
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("printf '<%s>' {line}"))
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split('>')
            .filter(|w| !w.is_empty())
            .map(|w| w.trim_start_matches('<').to_owned())
            .collect()
    }

    #[test]
    fn shell_placeholders_keep_their_words() {
        let d = declared(&["NAME", "SEED", "ARGS"]);
        let vals = [
            ("NAME", "A Rust Server"),
            ("SEED", "42"),
            ("port", "28015"),
            ("ARGS", ""),
        ];
        let c = convert_shell(r#"+hostname \"{{NAME}}\" -p {{SERVER_PORT}}"#, &d).unwrap();
        assert_eq!(c.command, "+hostname {{NAME}} -p {{port}}");
        assert!(c.unescaped_quotes);
        assert_eq!(
            words(&c.command, &vals),
            ["+hostname", "A Rust Server", "-p", "28015"]
        );

        let c = convert_shell(r#"x "name: {{NAME}}!" 'a{{SEED}}b'"#, &d).unwrap();
        assert_eq!(c.command, r#"x "name: "{{NAME}}"!" 'a'{{SEED}}'b'"#);
        assert!(c.unquoted_placeholders && !c.unescaped_quotes);
        assert_eq!(
            words(&c.command, &vals),
            ["x", "name: A Rust Server!", "a42b"]
        );

        // Rust's egg: quotes for the second evaluation inside a command substitution.
        let c = convert_shell(
            r#"$( [ -z ${MAP} ] && printf %s "+seed \"{{SEED}}\" +n \"{{NAME}}\"" ) {{ARGS}}"#,
            &d,
        )
        .unwrap();
        assert_eq!(
            c.command,
            r#"$( [ -z ${MAP} ] && printf %s "+seed "{{SEED}}" +n "{{NAME}}"" ) {{ARGS}}"#
        );
        // SEED and NAME stand bare once the printf's quotes close around them.
        assert_eq!(c.bare_variables, ["SEED", "NAME", "ARGS"]);
        assert_eq!(
            words(&c.command, &vals),
            ["+seed", "42", "+n", "A", "Rust", "Server", ""]
        );
    }

    #[test]
    fn shell_unknown_and_unclosed() {
        let d = declared(&[]);
        assert_eq!(
            convert_shell("run --if {{config.docker.interface}}", &d),
            Err(PlaceholderError::Unknown(vec![
                "{{config.docker.interface}}".into()
            ]))
        );
        assert_eq!(
            convert_shell("run {{oops", &d),
            Err(PlaceholderError::Unclosed)
        );
        assert_eq!(
            convert_shell("echo ${HOME} '$x'", &d).unwrap().command,
            "echo ${HOME} '$x'"
        );
    }
}
