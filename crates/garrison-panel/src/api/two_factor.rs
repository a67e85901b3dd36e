//! Two-factor authentication by TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, ±1 step
//! of clock skew) with single-use recovery codes, the login challenges that sit between
//! the password and the code, and the admin setting that asks every user to enrol.
//!
//! A code is accepted only when its time step is newer than the last one accepted for
//! the user (stored), so a code seen once cannot be replayed, not even within its 30 s.
//! Recovery codes are stored as SHA-256 and deleted when used.

use crate::AppState;
use crate::auth::{Credential, Principal, authorize, crypto};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::ratelimit::ClientIp;
use crate::store::{Store, StoreError};
use axum::Json;
use axum::extract::State;
use garrison_proto::Permission;
use rand::RngExt;
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The panel setting (a JSON bool) that asks every user to enrol.
pub const REQUIRE_SETTING: &str = "require_two_factor";
pub const ISSUER: &str = "Garrison";
pub const RECOVERY_CODES: usize = 10;
/// Unambiguous lowercase letters and digits (no 0/o, 1/l/i).
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
const RECOVERY_CHARS: usize = 10;
/// Longest code input looked at; longer ones are refused as invalid values.
pub const MAX_CODE_LEN: usize = 64;
const TOTP_DIGITS: usize = 6;
const TOTP_STEP_SECS: u64 = 30;
/// 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;

// ---- TOTP -------------------------------------------------------------------------

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A fresh random secret as base32 without padding.
///
/// # Panics
/// If the operating system's random source fails.
pub fn new_totp_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    UnwrapErr(SysRng).fill(&mut bytes[..]);
    totp_rs::Secret::from(bytes).to_base32()
}

fn totp(secret_b32: &str) -> Option<totp_rs::Totp> {
    let secret = totp_rs::Secret::try_from_base32(secret_b32).ok()?;
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_digits(TOTP_DIGITS as u8)
        .with_skew(1)
        .with_step_duration(TOTP_STEP_SECS)
        .build()
        .ok()
}

/// `code` without spaces if it looks like a TOTP code (6 digits).
fn totp_code(code: &str) -> Option<String> {
    let c: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    (c.len() == TOTP_DIGITS && c.bytes().all(|b| b.is_ascii_digit())).then_some(c)
}

/// The time step `code` belongs to (within ±1 step of `now`), if it is right.
pub fn verify_totp(secret_b32: &str, code: &str, now_secs: u64) -> Option<i64> {
    let code = totp_code(code)?;
    let step = totp(secret_b32)?.check(&code, now_secs)?;
    i64::try_from(step).ok()
}

/// `otpauth://totp/Garrison:<username>?secret=...&issuer=Garrison&...`, what
/// authenticator apps read from the QR code.
pub fn otpauth_uri(username: &str, secret_b32: &str) -> String {
    format!(
        "otpauth://totp/{issuer}:{user}?secret={secret_b32}&issuer={issuer}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_SECS}",
        issuer = percent_encode(ISSUER),
        user = percent_encode(username),
    )
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---- recovery codes ---------------------------------------------------------------

/// `xxxxx-xxxxx` over [`RECOVERY_ALPHABET`] (about 49 bits).
///
/// # Panics
/// If the operating system's random source fails.
pub fn new_recovery_code() -> String {
    let mut rng = UnwrapErr(SysRng);
    let mut out = String::with_capacity(RECOVERY_CHARS + 1);
    for i in 0..RECOVERY_CHARS {
        if i == RECOVERY_CHARS / 2 {
            out.push('-');
        }
        out.push(char::from(
            RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())],
        ));
    }
    out
}

/// The canonical form (`xxxxx-xxxxx`, lowercase) of a typed recovery code; `None` when
/// it cannot be one. Case, spaces and the dash are forgiven.
pub fn normalize_recovery_code(code: &str) -> Option<String> {
    let chars: Vec<char> = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if chars.len() != RECOVERY_CHARS
        || !chars
            .iter()
            .all(|c| RECOVERY_ALPHABET.contains(&(*c as u8)))
    {
        return None;
    }
    let mut out: String = chars[..RECOVERY_CHARS / 2].iter().collect();
    out.push('-');
    out.extend(&chars[RECOVERY_CHARS / 2..]);
    Some(out)
}

fn recovery_hash(canonical: &str) -> String {
    crypto::secret_hash(&format!("garrison-recovery:{canonical}"))
}

/// A second factor as typed.
pub enum Factor<'a> {
    Totp(&'a str),
    Recovery(&'a str),
}

impl Factor<'_> {
    pub fn kind(&self) -> &'static str {
        match self {
            Factor::Totp(_) => "totp",
            Factor::Recovery(_) => "recovery_code",
        }
    }
}

/// Checks and uses up a second factor of a user with 2FA enabled: a TOTP code whose
/// step is newer than the last accepted one (which it then becomes), or an unused
/// recovery code (which is then deleted). `false` for anything else.
pub async fn use_factor(store: &Store, user_id: &str, factor: Factor<'_>) -> ApiResult<bool> {
    match factor {
        Factor::Totp(code) => {
            let Some(tf) = store.two_factor(user_id).await?.filter(|t| t.enabled) else {
                return Ok(false);
            };
            let Some(step) = verify_totp(&tf.secret, code, unix_secs()) else {
                return Ok(false);
            };
            Ok(store.accept_totp_step(user_id, step).await?)
        }
        Factor::Recovery(code) => {
            let Some(canonical) = normalize_recovery_code(code) else {
                return Ok(false);
            };
            Ok(store
                .use_recovery_code(user_id, &recovery_hash(&canonical))
                .await?)
        }
    }
}

/// Whether the admins asked every user to enrol.
pub async fn required(store: &Store) -> ApiResult<bool> {
    Ok(store
        .get_setting(REQUIRE_SETTING)
        .await?
        .and_then(|v| v.as_bool())
        .unwrap_or(false))
}

// ---- login challenges ---------------------------------------------------------------

/// How long the second login step may take.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(300);
/// Codes tried against one challenge before it is void.
pub const MAX_CHALLENGE_ATTEMPTS: u32 = 5;
const MAX_CHALLENGES: usize = 10_000;

struct Challenge {
    user_id: String,
    expires: Instant,
    attempts: u32,
}

/// What a correct password earns a user with 2FA: a short-lived secret to send with the
/// code. Kept in memory by its SHA-256, like console tickets; a restart voids them.
#[derive(Default)]
pub struct Challenges {
    map: Mutex<HashMap<String, Challenge>>,
}

impl Challenges {
    /// `None` when too many unexpired challenges exist.
    pub fn issue(&self, user_id: &str) -> Option<String> {
        let secret = crypto::new_secret("gtc_");
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, c| c.expires > now);
        if map.len() >= MAX_CHALLENGES {
            return None;
        }
        map.insert(
            crypto::secret_hash(&secret),
            Challenge {
                user_id: user_id.to_owned(),
                expires: now + CHALLENGE_TTL,
                attempts: 0,
            },
        );
        Some(secret)
    }

    /// Takes one attempt from a live challenge and returns its user; `None` when the
    /// challenge is unknown, expired or has no attempts left. Counting before the code
    /// is checked keeps concurrent guesses within the limit.
    pub fn attempt(&self, secret: &str) -> Option<String> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let key = crypto::secret_hash(secret);
        let c = map.get_mut(&key)?;
        if c.expires <= Instant::now() || c.attempts >= MAX_CHALLENGE_ATTEMPTS {
            map.remove(&key);
            return None;
        }
        c.attempts += 1;
        Some(c.user_id.clone())
    }

    /// The attempt's code was wrong: the challenge is void once its attempts are spent.
    pub fn failed(&self, secret: &str) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let key = crypto::secret_hash(secret);
        if map
            .get(&key)
            .is_some_and(|c| c.attempts >= MAX_CHALLENGE_ATTEMPTS)
        {
            map.remove(&key);
        }
    }

    /// The attempt succeeded: the challenge is used up.
    pub fn finish(&self, secret: &str) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&crypto::secret_hash(secret));
    }
}

// ---- handlers -----------------------------------------------------------------------

/// Changing the second factor needs a logged-in browser session: an API key alone must
/// not be able to lock its owner out or strip their 2FA.
fn session_only(p: &Principal) -> ApiResult<()> {
    authorize(p, Permission::AccountSecurity)?;
    if p.via != Credential::Session {
        return Err(ApiError::Forbidden(
            "two-factor settings can only be changed from a logged-in session".into(),
        ));
    }
    Ok(())
}

fn check_len(field: &str, value: &str) -> ApiResult<()> {
    if value.len() > MAX_CODE_LEN {
        return Err(ApiError::invalid(
            field,
            format!("must be at most {MAX_CODE_LEN} characters"),
        ));
    }
    Ok(())
}

/// Permission: account.security. `GET /api/account/2fa`.
#[utoipa::path(get, path = "/api/account/2fa", tag = "account", summary = "Two-factor status", responses((status = 200, description = "Status", body = crate::api::openapi::shapes::TwoFactorStatus)))]
pub async fn status(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AccountSecurity)?;
    let tf = state.store.two_factor(&p.user.id).await?;
    let enabled = tf.as_ref().is_some_and(|t| t.enabled);
    let left = if enabled {
        state.store.recovery_codes_left(&p.user.id).await?
    } else {
        0
    };
    Ok(Json(json!({
        "enabled": enabled,
        "pending": tf.is_some() && !enabled,
        "recovery_codes_left": left,
        "required": required(&state.store).await?,
    })))
}

/// Permission: account.security, session only. `POST /api/account/2fa/setup`: a new
/// pending secret (replacing an unconfirmed one). 409 when 2FA is already enabled.
#[utoipa::path(post, path = "/api/account/2fa/setup", tag = "account", summary = "Start 2FA enrolment", responses((status = 200, description = "A new pending secret", body = crate::api::openapi::shapes::TwoFactorSetup), (status = 409, description = "2FA is already enabled")))]
pub async fn setup(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
) -> ApiResult<Json<Value>> {
    session_only(&p)?;
    let secret = new_totp_secret();
    state
        .store
        .put_pending_two_factor(&p.user.id, &secret)
        .await?;
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "user.two_factor_setup",
        None,
        Some(&p.user.id),
        &json!({}),
    )
    .await?;
    Ok(Json(json!({
        "secret": secret,
        "otpauth_uri": otpauth_uri(&p.user.username, &secret),
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnableRequest {
    code: String,
}

/// Permission: account.security, session only. `POST /api/account/2fa/enable`: confirms
/// the pending secret with a code and answers the recovery codes, shown this once.
#[utoipa::path(post, path = "/api/account/2fa/enable", tag = "account", summary = "Confirm 2FA with a code", request_body = EnableRequest, responses((status = 200, description = "Enabled; the recovery codes, shown this once", body = crate::api::openapi::shapes::RecoveryCodes), (status = 409, description = "Not set up, or already enabled")))]
pub async fn enable(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    ApiJson(req): ApiJson<EnableRequest>,
) -> ApiResult<Json<Value>> {
    session_only(&p)?;
    check_len("code", &req.code)?;
    if totp_code(&req.code).is_none() {
        return Err(ApiError::invalid(
            "code",
            "enter the 6-digit code from your authenticator app",
        ));
    }
    let tf = match state.store.two_factor(&p.user.id).await? {
        None => {
            return Err(ApiError::Conflict {
                message: "set up two-factor authentication first".into(),
                state: None,
            });
        }
        Some(t) if t.enabled => {
            return Err(ApiError::Conflict {
                message: "two-factor authentication is already enabled".into(),
                state: None,
            });
        }
        Some(t) => t,
    };
    let Some(step) = verify_totp(&tf.secret, &req.code, unix_secs()) else {
        return Err(ApiError::invalid(
            "code",
            "the code is not correct; check your device's clock",
        ));
    };
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
    state
        .store
        .enable_two_factor(&p.user.id, &tf.secret, step, &hashes)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::Conflict {
                message: "set up two-factor authentication first".into(),
                state: None,
            },
            other => other.into(),
        })?;
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "user.two_factor_enable",
        None,
        Some(&p.user.id),
        &json!({}),
    )
    .await?;
    Ok(Json(json!({ "recovery_codes": codes })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableRequest {
    password: String,
    code: String,
}

/// Permission: account.security, session only. `POST /api/account/2fa/disable` with the
/// password and a TOTP or recovery code: removes the secret and the recovery codes.
#[utoipa::path(post, path = "/api/account/2fa/disable", tag = "account", summary = "Turn 2FA off", request_body = DisableRequest, responses((status = 200, description = "Disabled", body = crate::api::openapi::shapes::Enabled), (status = 401, description = "Wrong password (`invalid_credentials`)"), (status = 409, description = "2FA is not enabled")))]
pub async fn disable(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    ApiJson(req): ApiJson<DisableRequest>,
) -> ApiResult<Json<Value>> {
    session_only(&p)?;
    check_len("code", &req.code)?;
    if req.password.len() > 1024
        || !crypto::verify_password(req.password, p.user.password_hash.clone())
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
    {
        crate::audit::record(
            &state,
            &p,
            Some(&client_ip.to_string()),
            "user.two_factor_disable_failed",
            None,
            Some(&p.user.id),
            &json!({"reason": "password"}),
        )
        .await?;
        return Err(ApiError::InvalidCredentials);
    }
    let enabled = state
        .store
        .two_factor(&p.user.id)
        .await?
        .is_some_and(|t| t.enabled);
    if !enabled {
        return Err(ApiError::Conflict {
            message: "two-factor authentication is not enabled".into(),
            state: None,
        });
    }
    let factor = if totp_code(&req.code).is_some() {
        Factor::Totp(&req.code)
    } else {
        Factor::Recovery(&req.code)
    };
    let kind = factor.kind();
    if !use_factor(&state.store, &p.user.id, factor).await? {
        crate::audit::record(
            &state,
            &p,
            Some(&client_ip.to_string()),
            "user.two_factor_disable_failed",
            None,
            Some(&p.user.id),
            &json!({"reason": "code"}),
        )
        .await?;
        return Err(ApiError::invalid(
            "code",
            "the code is not correct (or was already used)",
        ));
    }
    state.store.disable_two_factor(&p.user.id).await?;
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "user.two_factor_disable",
        None,
        Some(&p.user.id),
        &json!({"with": kind}),
    )
    .await?;
    Ok(Json(json!({"enabled": false})))
}

/// Permission: admin.settings. `GET /api/admin/settings/require-two-factor`.
#[utoipa::path(get, path = "/api/admin/settings/require-two-factor", tag = "admin", summary = "Whether every user must enrol in 2FA", responses((status = 200, description = "The setting", body = crate::api::openapi::shapes::Enabled)))]
pub async fn get_required(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminSettings)?;
    Ok(Json(json!({"enabled": required(&state.store).await?})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequireRequest {
    enabled: bool,
}

/// Permission: admin.settings. `PUT /api/admin/settings/require-two-factor`: when on,
/// users without 2FA are told at login to enrol.
#[utoipa::path(put, path = "/api/admin/settings/require-two-factor", tag = "admin", summary = "Require 2FA of every user, or not", request_body = RequireRequest, responses((status = 200, description = "The new setting", body = crate::api::openapi::shapes::Enabled)))]
pub async fn put_required(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    ApiJson(req): ApiJson<RequireRequest>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminSettings)?;
    state
        .store
        .put_setting(REQUIRE_SETTING, &json!(req.enabled))
        .await?;
    state
        .two_factor_required
        .store(req.enabled, std::sync::atomic::Ordering::Relaxed);
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "settings.update",
        None,
        Some(REQUIRE_SETTING),
        &json!({"require_two_factor": req.enabled}),
    )
    .await?;
    Ok(Json(json!({"enabled": req.enabled})))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", truncated to 6 digits.
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn rfc6238_vectors() {
        assert_eq!(verify_totp(RFC_SECRET, "287082", 59), Some(1));
        assert_eq!(
            verify_totp(RFC_SECRET, "081804", 1_111_111_109),
            Some(37_037_036)
        );
        assert_eq!(
            verify_totp(RFC_SECRET, "005924", 1_234_567_890),
            Some(41_152_263)
        );
        // One step of skew either way, not two.
        assert_eq!(
            verify_totp(RFC_SECRET, "005924", 1_234_567_890 + 30),
            Some(41_152_263)
        );
        assert_eq!(
            verify_totp(RFC_SECRET, "005924", 1_234_567_890 - 30),
            Some(41_152_263)
        );
        assert_eq!(verify_totp(RFC_SECRET, "005924", 1_234_567_890 + 61), None);
        assert_eq!(
            verify_totp(RFC_SECRET, "005 924", 1_234_567_890),
            Some(41_152_263)
        );
        for bad in ["", "00592", "0059245", "+05924", "abcdef", "٠٠٥٩٢٤"] {
            assert_eq!(verify_totp(RFC_SECRET, bad, 1_234_567_890), None, "{bad}");
        }
        assert_eq!(verify_totp("not base32!", "005924", 1_234_567_890), None);
    }

    #[test]
    fn secrets_and_uris() {
        let s = new_totp_secret();
        assert_eq!(s.len(), 32);
        assert!(totp(&s).is_some());
        assert_ne!(s, new_totp_secret());
        assert_eq!(
            otpauth_uri("a b:c", "ABC"),
            "otpauth://totp/Garrison:a%20b%3Ac?secret=ABC&issuer=Garrison&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn recovery_codes() {
        let c = new_recovery_code();
        assert_eq!(c.len(), 11);
        assert_eq!(&c[5..6], "-");
        assert_eq!(normalize_recovery_code(&c).as_deref(), Some(c.as_str()));
        let loose = format!(" {} ", c.replace('-', "").to_uppercase());
        assert_eq!(normalize_recovery_code(&loose).as_deref(), Some(c.as_str()));
        assert_ne!(c, new_recovery_code());
        for bad in [
            "",
            "abcde-fghj",
            "abcde-fghjk2",
            "abcde-fghj0",
            "abcde-fghjl",
        ] {
            assert!(normalize_recovery_code(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn challenges_allow_five_attempts() {
        let c = Challenges::default();
        let s = c.issue("u1").unwrap();
        for _ in 0..MAX_CHALLENGE_ATTEMPTS {
            assert_eq!(c.attempt(&s).as_deref(), Some("u1"));
            c.failed(&s);
        }
        assert!(c.attempt(&s).is_none());
        let s = c.issue("u2").unwrap();
        assert_eq!(c.attempt(&s).as_deref(), Some("u2"));
        c.finish(&s);
        assert!(c.attempt(&s).is_none());
        assert!(c.attempt("gtc_unknown").is_none());
    }
}
