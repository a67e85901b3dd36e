//! Builds the web UI (`web/` → `web/dist`) when it is missing or older than its
//! sources, so a plain `cargo build` on a fresh machine yields a binary with the UI
//! embedded. `GARRISON_SKIP_WEB_BUILD=1` builds without running npm; the binary then
//! embeds whatever `web/dist` holds, or a page saying the UI was not built.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

const SOURCES: &[&str] = &[
    "src",
    "public",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
    "svelte.config.js",
];

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let web = manifest.join("..").join("..").join("web");
    let dist = web.join("dist");
    println!("cargo:rerun-if-env-changed=GARRISON_SKIP_WEB_BUILD");
    for s in SOURCES {
        println!("cargo:rerun-if-changed={}", web.join(s).display());
    }
    let skip = std::env::var("GARRISON_SKIP_WEB_BUILD").is_ok_and(|v| v == "1");
    if web.join("package.json").exists() && !skip && is_stale(&web, &dist) {
        build(&web);
    }
    let folder = if dist.join("index.html").exists() {
        dist
    } else {
        placeholder()
    };
    println!("cargo:rustc-env=GARRISON_WEB_DIST={}", folder.display());
}

fn is_stale(web: &Path, dist: &Path) -> bool {
    let Some(built) = mtime(&dist.join("index.html")) else {
        return true;
    };
    SOURCES
        .iter()
        .filter_map(|s| newest(&web.join(s)))
        .any(|t| t > built)
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn newest(p: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(p).ok()?;
    let mut best = meta.modified().ok();
    if meta.is_dir() {
        for entry in std::fs::read_dir(p).ok()?.flatten() {
            if let Some(t) = newest(&entry.path()) {
                best = best.max(Some(t));
            }
        }
    }
    best
}

fn npm(web: &Path, args: &[&str]) {
    let status = Command::new("npm").args(args).current_dir(web).status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "`npm {}` in {} failed ({s}); fix the web UI build, or set GARRISON_SKIP_WEB_BUILD=1",
            args.join(" "),
            web.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "building Garrison's web UI needs Node.js and npm (Debian: apt-get install nodejs npm); \
             or set GARRISON_SKIP_WEB_BUILD=1 to build without the UI"
        ),
        Err(e) => panic!("cannot run npm: {e}"),
    }
}

fn build(web: &Path) {
    let installed = web.join("node_modules").join(".package-lock.json");
    let lock = web.join("package-lock.json");
    if mtime(&installed).is_none() || mtime(&lock) > mtime(&installed) {
        npm(web, &["ci", "--no-audit", "--no-fund"]);
    }
    npm(web, &["run", "build"]);
}

/// A one-page stand-in when the UI was not built, so the binary still compiles.
fn placeholder() -> PathBuf {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("web-placeholder");
    std::fs::create_dir_all(&out).expect("create OUT_DIR/web-placeholder");
    std::fs::write(
        out.join("index.html"),
        "<!doctype html><meta charset=utf-8><title>Garrison</title>\
         <p>Garrison's web UI was not built into this binary. Build it with Node.js and npm \
         installed (cargo runs <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>). \
         The API is at <a href=/api/health>/api</a>.</p>",
    )
    .expect("write placeholder index.html");
    out
}
