//! Config files kept in step with a server's settings: before every start (and when the
//! panel asks, after a settings change) each file named by the spec is patched through
//! the path sandbox, keeping its formatting and comments. All files are patched in
//! memory first and written only when every one of them patched, each atomically.

use crate::config::RunAs;
use crate::sandbox::{Sandbox, SandboxError};
use garrison_proto::{ConfigFile, NodeError};
use std::path::Path;

/// Config files larger than this are not config files.
const MAX_CONFIG_BYTES: u64 = 8 * 1024 * 1024;

fn config_error(path: &str, message: impl std::fmt::Display) -> NodeError {
    NodeError::Config {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

/// Patch every file. Blocking: call from `spawn_blocking`. A server directory that does
/// not exist yet has nothing to patch.
pub(crate) fn apply(
    dir: &Path,
    files: &[ConfigFile],
    run_as: Option<RunAs>,
) -> Result<(), NodeError> {
    if files.is_empty() || !dir.is_dir() {
        return Ok(());
    }
    let sb = Sandbox::open(dir).map_err(|e| NodeError::Io(e.to_string()))?;
    let mut writes = Vec::new();
    for f in files {
        let rel = Sandbox::rel(&f.path).map_err(|e| config_error(&f.path, e))?;
        let original = match sb.read_to_string(&rel, MAX_CONFIG_BYTES) {
            Ok(text) => Some(text),
            Err(SandboxError::NotFound { .. }) => None,
            Err(e) => return Err(config_error(&f.path, e)),
        };
        if original.is_none() && !f.create {
            continue;
        }
        let patched = garrison_patch::patch(f.format, original.as_deref(), &f.set)
            .map_err(|e| config_error(&f.path, e))?;
        if original.as_deref() != Some(patched.as_str()) {
            writes.push((rel, patched, original.is_none()));
        }
    }
    for (rel, text, created) in writes {
        if created && let Some(parent) = rel.parent() {
            sb.create_dir_all(&parent)
                .map_err(|e| config_error(rel.as_str(), e))?;
        }
        sb.write_atomic(&rel, text.as_bytes())
            .map_err(|e| config_error(rel.as_str(), e))?;
        if let Some(r) = run_as {
            sb.chown_nofollow(&rel, r.uid, r.gid)
                .map_err(|e| config_error(rel.as_str(), e))?;
        }
    }
    Ok(())
}
