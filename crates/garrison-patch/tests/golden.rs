//! Golden files: real-looking configs as games write them (`<name>.input`), the
//! settings a template would apply (`<name>.settings`, a `ConfigFile` as JSON) and
//! the exact expected result (`<name>.expected`, written by hand from the input).
//!
//! Each case checks the result byte for byte, that patching it again changes nothing,
//! that every setting reads back as its value, and, with a line diff, that only the
//! lines of patched keys changed and every comment line survived.

use std::fs;
use std::path::{Path, PathBuf};

use garrison_patch::{ConfigFormat, ConfigSetting, ValueKind, patch, read};
use garrison_proto::ConfigFile;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn cases() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(golden_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".settings").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

fn load(name: &str) -> (ConfigFile, String, String) {
    let dir = golden_dir();
    let settings: ConfigFile =
        serde_json::from_str(&fs::read_to_string(dir.join(format!("{name}.settings"))).unwrap())
            .unwrap_or_else(|e| panic!("{name}.settings: {e}"));
    let input = fs::read_to_string(dir.join(format!("{name}.input"))).unwrap();
    let expected = fs::read_to_string(dir.join(format!("{name}.expected"))).unwrap();
    (settings, input, expected)
}

#[test]
fn golden_files_patch_exactly() {
    let names = cases();
    assert!(names.len() >= 10, "golden cases: {names:?}");
    for name in names {
        let (file, input, expected) = load(&name);
        let out =
            patch(file.format, Some(&input), &file.set).unwrap_or_else(|e| panic!("{name}: {e}"));
        if out != expected {
            let actual = golden_dir().join(format!("{name}.actual"));
            fs::write(&actual, &out).unwrap();
            panic!(
                "{name}: output differs from {name}.expected (written to {})",
                actual.display()
            );
        }
        let again = patch(file.format, Some(&out), &file.set).unwrap();
        assert_eq!(again, out, "{name}: patching twice changed the file");
        only_patched_lines_changed(&name, file.format, &input, &out, &file.set);
        for s in &file.set {
            if file.format == ConfigFormat::Line {
                continue;
            }
            let got = read(file.format, &out, &s.key).unwrap();
            let got = got.unwrap_or_else(|| panic!("{name}: `{}` is missing", s.key));
            assert!(
                same_value(s, &got),
                "{name}: `{}` reads back as {got:?}, not {:?}",
                s.key,
                s.value
            );
        }
    }
}

/// Typed values are written canonically (`on` as `true`, `1` as `1.0` for a float
/// key), so compare what they mean.
fn same_value(s: &ConfigSetting, got: &str) -> bool {
    if got == s.value {
        return true;
    }
    if s.kind == ValueKind::String {
        return false;
    }
    let boolean = |v: &str| match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    };
    let number = |v: &str| v.parse::<f64>().ok();
    (number(got).is_some() && number(got) == number(&s.value))
        || (boolean(got).is_some() && boolean(got) == boolean(&s.value))
}

fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('#') || t.starts_with(';') || t.starts_with('!') || t.starts_with("//")
}

/// The names a patched line may mention: for tree formats any segment of the path
/// (an opened-up `{}` names the parent), for INI the part after the section, the
/// whole key otherwise.
fn key_names(format: ConfigFormat, key: &str) -> Vec<String> {
    match format {
        ConfigFormat::Json | ConfigFormat::Yaml | ConfigFormat::Toml => {
            let mut names = Vec::new();
            let mut rest = key;
            while !rest.is_empty() {
                let segment;
                if let Some(q) = rest.strip_prefix('"') {
                    let close = q.find('"').unwrap();
                    segment = &q[..close];
                    rest = &q[close + 1..];
                } else {
                    let end = rest.find(['.', '[']).unwrap_or(rest.len());
                    segment = &rest[..end];
                    rest = &rest[end..];
                }
                if !segment.is_empty() {
                    names.push(segment.to_owned());
                }
                while let Some(after) = rest.strip_prefix('[') {
                    rest = &after[after.find(']').unwrap() + 1..];
                }
                rest = rest.strip_prefix('.').unwrap_or(rest);
            }
            names
        }
        ConfigFormat::Ini => vec![key.split_once('.').map_or(key, |(_, k)| k).to_owned()],
        _ => vec![key.to_owned()],
    }
}

/// Line diff (longest common subsequence) between input and output; every removed
/// input line must belong to a patched key, and no comment may be touched.
fn only_patched_lines_changed(
    name: &str,
    format: ConfigFormat,
    input: &str,
    output: &str,
    settings: &[ConfigSetting],
) {
    let a: Vec<&str> = input.lines().collect();
    let b: Vec<&str> = output.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut removed: Vec<usize> = Vec::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            removed.push(i);
            i += 1;
        } else {
            j += 1;
        }
    }
    let names: Vec<String> = settings
        .iter()
        .flat_map(|s| key_names(format, &s.key))
        .collect();
    let mut unnamed_budget = settings.iter().filter(|s| s.key.ends_with(']')).count();
    let mut previous_removed = None;
    for &i in &removed {
        let line = a[i];
        // The continuation lines of a multi-line value go with the line that names it.
        let continues_hunk = previous_removed == Some(i.wrapping_sub(1));
        previous_removed = Some(i);
        // JSON's comma fix-up: the member before an inserted one gains a `,`.
        let comma_fixup = format == ConfigFormat::Json && b.contains(&format!("{line},").as_str());
        let mentions = names.iter().any(|n| match format {
            ConfigFormat::Line => line.starts_with(n.as_str()),
            _ => line.contains(n.as_str()),
        });
        if format != ConfigFormat::Line {
            assert!(
                !is_comment(line) || continues_hunk,
                "{name}: comment line {} changed: {line:?}",
                i + 1
            );
        }
        if !(mentions || continues_hunk || comma_fixup) {
            // A sequence item (`- x`, or an array element) names no key; each setting
            // that ends in `[N]` may account for one such line.
            assert!(
                unnamed_budget > 0,
                "{name}: line {} changed but names no patched key: {line:?}",
                i + 1
            );
            unnamed_budget -= 1;
        }
    }
    let kept_comments = a.iter().filter(|l| is_comment(l)).count();
    let out_comments = b.iter().filter(|l| is_comment(l)).count();
    if format != ConfigFormat::Line {
        assert!(
            out_comments >= kept_comments - removed.iter().filter(|&&i| is_comment(a[i])).count(),
            "{name}: comments were lost"
        );
    }
}
