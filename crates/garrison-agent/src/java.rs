//! Java runtime selection: a template asks for "Java 21 or newer"; the node picks the
//! oldest installed Java that is new enough (the closest match is the one the game was
//! most likely built and tested with). JVMs are found by their `release` file in the
//! configured directories (Debian and most vendors install under `/usr/lib/jvm`).

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JavaRuntime {
    pub major: u32,
    pub home: PathBuf,
}

impl JavaRuntime {
    pub fn binary(&self) -> PathBuf {
        self.home.join("bin").join("java")
    }
}

/// Every JVM under `dirs` (each `dir/<name>/release` with `JAVA_VERSION="…"` and an
/// executable `bin/java`), oldest first; links to the same home are listed once. Blocking.
pub fn installed(dirs: &[PathBuf]) -> Vec<JavaRuntime> {
    let mut found: Vec<JavaRuntime> = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(home) = std::fs::canonicalize(entry.path()) else {
                continue;
            };
            if found.iter().any(|j| j.home == home) {
                continue;
            }
            if let Some(major) = release_major(&home)
                && is_executable(&home.join("bin").join("java"))
            {
                found.push(JavaRuntime { major, home });
            }
        }
    }
    found.sort_by(|a, b| a.major.cmp(&b.major).then(a.home.cmp(&b.home)));
    found
}

/// The oldest installed Java of at least `min`, or a message naming what there is.
pub fn select(dirs: &[PathBuf], min: u32) -> Result<JavaRuntime, String> {
    let all = installed(dirs);
    if let Some(j) = all.iter().find(|j| j.major >= min) {
        return Ok(j.clone());
    }
    let have = if all.is_empty() {
        "none is installed".to_owned()
    } else {
        let list: Vec<String> = all.iter().map(|j| j.major.to_string()).collect();
        format!("this node has Java {}", list.join(", "))
    };
    Err(format!(
        "Java {min} or newer is required, but {have} (looked in {})",
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

fn release_major(home: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(home.join("release")).ok()?;
    let line = text.lines().find(|l| l.starts_with("JAVA_VERSION="))?;
    let v = line.trim_start_matches("JAVA_VERSION=").trim_matches('"');
    parse_major(v)
}

/// "17.0.15" → 17, "1.8.0_392" → 8, "25" → 25.
fn parse_major(v: &str) -> Option<u32> {
    let mut parts = v.split(['.', '_', '+', '-']);
    let first: u32 = parts.next()?.parse().ok()?;
    if first == 1 {
        return parts.next()?.parse().ok();
    }
    Some(first)
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_jvm(root: &Path, name: &str, version: &str) {
        let home = root.join(name);
        std::fs::create_dir_all(home.join("bin")).unwrap();
        std::fs::write(
            home.join("release"),
            format!("JAVA_VERSION=\"{version}\"\n"),
        )
        .unwrap();
        let java = home.join("bin/java");
        std::fs::write(&java, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&java, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn picks_the_oldest_new_enough() {
        let tmp = tempfile::tempdir().unwrap();
        fake_jvm(tmp.path(), "jdk8", "1.8.0_392");
        fake_jvm(tmp.path(), "jdk17", "17.0.15");
        fake_jvm(tmp.path(), "jdk25", "25.0.3");
        std::os::unix::fs::symlink(tmp.path().join("jdk17"), tmp.path().join("java-17-link"))
            .unwrap();
        // not a JVM
        std::fs::create_dir_all(tmp.path().join("empty")).unwrap();
        let dirs = vec![tmp.path().to_path_buf()];
        let all = installed(&dirs);
        assert_eq!(
            all.iter().map(|j| j.major).collect::<Vec<_>>(),
            vec![8, 17, 25]
        );
        assert_eq!(select(&dirs, 11).unwrap().major, 17);
        assert_eq!(select(&dirs, 21).unwrap().major, 25);
        let e = select(&dirs, 26).unwrap_err();
        assert!(e.contains("Java 26 or newer is required"), "{e}");
        assert!(e.contains("8, 17, 25"), "{e}");
        assert!(
            select(&[tmp.path().join("nope")], 8)
                .unwrap_err()
                .contains("none is installed")
        );
    }
}
