//! The caller's SSH public keys, for signing in to SFTP. Adding or removing one needs a
//! browser session: a leaked API key must not be able to plant a way back in.

use crate::AppState;
use crate::auth::{Credential, Principal, authorize};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::ratelimit::ClientIp;
use crate::store::SshKey;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use garrison_proto::Permission;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Key types an SFTP client may offer.
const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];
const MAX_KEY_LINE: usize = 16 * 1024;

fn key_json(k: &SshKey) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "key_type": k.key_type,
        "fingerprint": k.fingerprint,
        "created_at": k.created_at,
    })
}

fn session_only(p: &Principal) -> ApiResult<()> {
    authorize(p, Permission::AccountSecurity)?;
    if p.via != Credential::Session {
        return Err(ApiError::Forbidden(
            "SSH keys can only be changed from a logged-in session".into(),
        ));
    }
    Ok(())
}

/// A parsed OpenSSH public key line: its type and `ssh-keygen -l` style fingerprint.
#[derive(Debug, PartialEq)]
pub struct ParsedKey {
    pub key_type: String,
    pub fingerprint: String,
    /// `type base64 [comment]`, trimmed to one line.
    pub line: String,
}

/// Check `line` is an OpenSSH public key of a supported type whose blob names the same
/// type, and compute its fingerprint.
pub fn parse_public_key(line: &str) -> Result<ParsedKey, String> {
    let line = line.trim();
    if line.len() > MAX_KEY_LINE || line.contains(['\n', '\r']) {
        return Err("paste one public key line (the .pub file)".into());
    }
    let mut parts = line.split_whitespace();
    let key_type = parts.next().unwrap_or_default();
    if !KEY_TYPES.contains(&key_type) {
        return Err(format!(
            "not an OpenSSH public key (supported: {})",
            KEY_TYPES.join(", ")
        ));
    }
    let blob = parts
        .next()
        .and_then(base64_decode)
        .ok_or("the key data is not valid base64")?;
    // The blob starts with the key type as an SSH string: u32 length, then bytes.
    let named = blob
        .get(..4)
        .map(|n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize)
        .and_then(|n| blob.get(4..4 + n));
    if named != Some(key_type.as_bytes()) {
        return Err("the key data does not match its type".into());
    }
    Ok(ParsedKey {
        key_type: key_type.to_owned(),
        fingerprint: fingerprint(&blob),
        line: line.to_owned(),
    })
}

/// `SHA256:` + unpadded base64 of the key blob's SHA-256, as `ssh-keygen -l` prints it.
pub fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", base64_encode_unpadded(&Sha256::digest(blob)))
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (!out.is_empty()).then_some(out)
}

fn base64_encode_unpadded(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Permission: account.security
#[utoipa::path(get, path = "/api/account/ssh-keys", tag = "account", summary = "Your SSH public keys", responses((status = 200, description = "The keys, oldest first", body = Vec<crate::api::openapi::shapes::SshKey>)))]
pub async fn list(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AccountSecurity)?;
    let keys = state.store.list_ssh_keys(&p.user.id).await?;
    Ok(Json(json!(keys.iter().map(key_json).collect::<Vec<_>>())))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSshKey {
    name: String,
    /// One OpenSSH public key line, as in `~/.ssh/id_ed25519.pub`.
    public_key: String,
}

/// Permission: account.security, from a browser session.
#[utoipa::path(post, path = "/api/account/ssh-keys", tag = "account", summary = "Add an SSH public key", request_body = NewSshKey, responses((status = 201, description = "The key", body = crate::api::openapi::shapes::SshKey)))]
pub async fn add(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    ApiJson(req): ApiJson<NewSshKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    session_only(&p)?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "name",
            "must be 1 to 64 characters without control characters",
        ));
    }
    let parsed =
        parse_public_key(&req.public_key).map_err(|m| ApiError::invalid("public_key", m))?;
    let key = state
        .store
        .add_ssh_key(
            &p.user.id,
            name,
            &parsed.key_type,
            &parsed.line,
            &parsed.fingerprint,
        )
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(m) => ApiError::invalid("public_key", m),
            other => other.into(),
        })?;
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "ssh_key.create",
        None,
        Some(&key.id),
        &json!({"name": key.name, "fingerprint": key.fingerprint}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(key_json(&key))))
}

/// Permission: account.security, from a browser session.
#[utoipa::path(delete, path = "/api/account/ssh-keys/{id}", tag = "account", summary = "Remove an SSH public key", params(("id" = String, Path, description = "Key id")), responses((status = 204, description = "Removed")))]
pub async fn remove(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    session_only(&p)?;
    if !state.store.delete_ssh_key(&p.user.id, &id).await? {
        return Err(ApiError::NotFound(format!("SSH key {id}")));
    }
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "ssh_key.delete",
        None,
        Some(&id),
        &json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real key and the fingerprint `ssh-keygen -lf` prints for it.
    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host";

    #[test]
    fn parses_and_fingerprints_like_ssh_keygen() {
        let k = parse_public_key(&format!("  {ED25519}\n")).unwrap();
        assert_eq!(k.key_type, "ssh-ed25519");
        assert!(k.fingerprint.starts_with("SHA256:"), "{}", k.fingerprint);
        assert_eq!(k.fingerprint.len(), "SHA256:".len() + 43);
        assert_eq!(k.line, ED25519);
    }

    #[test]
    fn refuses_what_is_not_a_key() {
        for bad in [
            "",
            "hello",
            "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
            "ssh-ed25519 !!!notbase64",
            // A valid ed25519 blob labelled as RSA.
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\nssh-ed25519 AAAA",
            "-----BEGIN OPENSSH PRIVATE KEY-----",
        ] {
            assert!(parse_public_key(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn base64_round_trip() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            let enc = base64_encode_unpadded(data);
            if !data.is_empty() {
                assert_eq!(base64_decode(&enc).unwrap(), data);
            }
        }
        assert_eq!(base64_encode_unpadded(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode_unpadded(b"fo"), "Zm8");
    }
}
