//! Password hashing (argon2id), random secrets from the OS CSPRNG, and the SHA-256 used
//! to store session tokens and API keys at rest.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rand::RngExt;
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The stored hash is not a PHC string this build can verify.
    #[error("malformed password hash: {0}")]
    MalformedHash(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The blocking task panicked or was cancelled.
    #[error("password hashing task failed: {0}")]
    Task(String),
}

/// Hashes with argon2id and the crate's default (OWASP) parameters and a random salt,
/// returning the PHC string (`$argon2id$v=19$m=...`). Runs on the blocking pool.
pub async fn hash_password(password: String) -> Result<String, CryptoError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| CryptoError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| CryptoError::Task(e.to_string()))?
}

/// `Ok(false)` when the password does not match; `Err` only when `phc` cannot be parsed
/// or uses an unsupported algorithm. The parameters come from the PHC string. Runs on
/// the blocking pool.
pub async fn verify_password(password: String, phc: String) -> Result<bool, CryptoError> {
    tokio::task::spawn_blocking(move || {
        match Argon2::default().verify_password(password.as_bytes(), phc.as_str()) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
            Err(e) => Err(CryptoError::MalformedHash(e.to_string())),
        }
    })
    .await
    .map_err(|e| CryptoError::Task(e.to_string()))?
}

/// `prefix` followed by 32 bytes from the OS CSPRNG as lowercase hex (64 chars), e.g.
/// `gsk_…` for API keys, `gss_…` for session tokens.
///
/// # Panics
/// If the operating system's random source fails, which leaves nothing safe to do.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    UnwrapErr(SysRng).fill(&mut bytes[..]);
    let mut out = String::with_capacity(prefix.len() + 64);
    out.push_str(prefix);
    out.push_str(&hex::encode(bytes));
    out
}

/// SHA-256 of the secret as lowercase hex: what the store keeps instead of the secret.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Letters and digits without the look-alikes 0/O/o, 1/l/I.
const PASSWORD_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
const PASSWORD_LEN: usize = 20;

/// A 20-character password over an unambiguous alphabet (about 116 bits), for the first
/// admin account.
///
/// # Panics
/// If the operating system's random source fails.
pub fn random_password() -> String {
    let mut rng = UnwrapErr(SysRng);
    (0..PASSWORD_LEN)
        .map(|_| char::from(PASSWORD_ALPHABET[rng.random_range(0..PASSWORD_ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let phc = hash_password("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(
            verify_password("correct horse".into(), phc.clone())
                .await
                .unwrap()
        );
        assert!(
            !verify_password("wrong horse".into(), phc.clone())
                .await
                .unwrap()
        );
        // Salted: the same password hashes differently.
        let again = hash_password("correct horse".into()).await.unwrap();
        assert_ne!(phc, again);
    }

    #[tokio::test]
    async fn malformed_hash_is_an_error() {
        assert!(
            verify_password("x".into(), "not a hash".into())
                .await
                .is_err()
        );
        assert!(verify_password("x".into(), String::new()).await.is_err());
        assert!(
            verify_password("x".into(), "$bcrypt$v=1$abc".into())
                .await
                .is_err()
        );
    }

    #[test]
    fn secrets() {
        let a = new_secret("gsk_");
        let b = new_secret("gsk_");
        assert_ne!(a, b);
        assert!(a.starts_with("gsk_"));
        assert_eq!(a.len(), 4 + 64);
        assert!(a[4..].bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(new_secret("gss_").starts_with("gss_"));
    }

    #[test]
    fn hash_is_sha256_hex() {
        // SHA-256("abc")
        assert_eq!(
            secret_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(secret_hash("x").len(), 64);
    }

    #[test]
    fn random_passwords() {
        let p = random_password();
        assert_eq!(p.len(), 20);
        assert!(p.bytes().all(|c| PASSWORD_ALPHABET.contains(&c)));
        assert_ne!(p, random_password());
        for bad in ['0', 'O', 'o', '1', 'l', 'I'] {
            assert!(!PASSWORD_ALPHABET.contains(&(bad as u8)));
        }
    }
}
