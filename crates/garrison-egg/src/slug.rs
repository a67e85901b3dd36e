//! Template ids from egg names. Eggs have no id Garrison can use (their `uuid` is not
//! readable and PTDL eggs have none), so the id is derived from the name in the form
//! the panel accepts: `^[a-z0-9][a-z0-9_-]{0,63}$`.

/// The longest id the panel accepts.
const MAX_LEN: usize = 64;

/// Lower-case ASCII letters and digits kept, every run of anything else one `-`,
/// no `-` at either end, at most 64 characters; `egg` when nothing is left.
pub(crate) fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut gap = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if gap && !out.is_empty() {
                out.push('-');
            }
            gap = false;
            out.push(c);
        } else {
            gap = true;
        }
    }
    // Only ASCII is pushed, so byte length is character count.
    out.truncate(MAX_LEN);
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() {
        "egg".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("Team Fortress 2"), "team-fortress-2");
        assert_eq!(slug("  Paper  "), "paper");
        assert_eq!(slug("Egg_Example (v2)!"), "egg-example-v2");
        assert_eq!(slug("Ärger"), "rger");
        assert_eq!(slug("***"), "egg");
        assert_eq!(slug(""), "egg");
        let long = slug(&"ab ".repeat(40));
        assert!(long.len() <= 64 && !long.ends_with('-'), "{long}");
        let re = regex::Regex::new("^[a-z0-9][a-z0-9_-]{0,63}$").unwrap();
        for s in [
            "Team Fortress 2",
            "-x-",
            &"a".repeat(100),
            "ab ".repeat(40).as_str(),
        ] {
            assert!(re.is_match(&slug(s)), "{s}");
        }
    }
}
