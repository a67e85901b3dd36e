//! The egg's install script as one `Script` install step. The script expects to run in
//! its container (`/mnt/server` mounted, the installer image's tools), so a script with
//! a container makes the template need Docker.

use crate::raw::Raw;
use garrison_proto::InstallStep;

/// How long an egg's install may take; steamcmd downloads of large games are slow.
const TIMEOUT_SECS: u64 = 3600;

/// The step, if the egg has a script, and the container it needs.
pub(crate) fn script_step(scripts: Option<&Raw>) -> Option<InstallStep> {
    let install = scripts?.get("installation")?;
    let script = install
        .get("script")
        .and_then(Raw::scalar_text)
        .unwrap_or_default()
        .replace("\r\n", "\n");
    if script.trim().is_empty() {
        return None;
    }
    let interpreter = install
        .get("entrypoint")
        .and_then(Raw::scalar_text)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "bash".to_owned());
    let image = install
        .get("container")
        .and_then(Raw::scalar_text)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    Some(InstallStep::Script {
        script,
        interpreter,
        image,
        timeout_secs: TIMEOUT_SECS,
    })
}
