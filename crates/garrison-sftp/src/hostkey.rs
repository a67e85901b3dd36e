//! The server's ed25519 host key: made on first start, kept in an OpenSSH private key
//! file with mode 0600, the same key on every later start (clients pin it).

use crate::SftpError;
use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, PrivateKey};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Load the key at `path`, or make one there when the file does not exist. Blocking.
pub fn load_or_create(path: &Path) -> Result<PrivateKey, SftpError> {
    let err = |message: String| SftpError::HostKey {
        path: path.to_owned(),
        message,
    };
    match fs::symlink_metadata(path) {
        Ok(meta) => {
            if !meta.is_file() {
                return Err(err("not a regular file".into()));
            }
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "SFTP host key was readable by others; setting mode 0600");
                fs::set_permissions(path, fs::Permissions::from_mode(0o600))
                    .map_err(|e| err(format!("cannot set mode 0600: {e}")))?;
            }
            let text = fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
            let key = PrivateKey::from_openssh(text.as_bytes())
                .map_err(|e| err(format!("not an OpenSSH private key: {e}")))?;
            if key.is_encrypted() {
                return Err(err(
                    "the key is encrypted; a host key has no passphrase".into()
                ));
            }
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path).map_err(err),
        Err(e) => Err(err(e.to_string())),
    }
}

fn create(path: &Path) -> Result<PrivateKey, String> {
    let key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
        .map_err(|e| format!("cannot generate a key: {e}"))?;
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| format!("cannot encode the key: {e}"))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let name = path
        .file_name()
        .ok_or_else(|| "the path has no file name".to_owned())?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let _ = fs::remove_file(&tmp);
    let written = (|| -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        // Never replace a key another process made in the meantime.
        fs::hard_link(&tmp, path)?;
        fs::remove_file(&tmp)?;
        Ok(())
    })();
    match written {
        Ok(()) => {
            tracing::info!(path = %path.display(), "SFTP host key created");
            Ok(key)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
                return PrivateKey::from_openssh(text.as_bytes()).map_err(|e| e.to_string());
            }
            Err(format!("cannot write the key: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a/b/host_key");
        let k1 = load_or_create(&path).unwrap();
        assert_eq!(k1.algorithm(), Algorithm::Ed25519);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let k2 = load_or_create(&path).unwrap();
        assert_eq!(k1.public_key(), k2.public_key());
        assert!(fs::read_dir(path.parent().unwrap()).unwrap().count() == 1);
    }

    #[test]
    fn loose_mode_is_tightened_and_garbage_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("k");
        load_or_create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        load_or_create(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::write(&path, "nope").unwrap();
        let e = load_or_create(&path).unwrap_err().to_string();
        assert!(e.contains("not an OpenSSH private key"), "{e}");
    }
}
