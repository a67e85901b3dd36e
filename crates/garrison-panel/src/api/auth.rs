//! Login (password, then a TOTP or recovery code when the user has 2FA) and logout.
//! Sessions are random tokens in an HttpOnly, SameSite=Lax cookie, stored only as
//! their SHA-256.

use super::two_factor;
use crate::AppState;
use crate::auth::{CSRF_COOKIE, SESSION_COOKIE, crypto, csrf_token, session_cookie};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::ratelimit::ClientIp;
use crate::store::{User, now_millis};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    password: String,
}

/// No authentication (this is how one gets it).
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", summary = "Log in with a username and password", request_body = LoginRequest, responses((status = 200, description = "A session (the `garrison_session` cookie is set), or a 2FA challenge", body = crate::api::openapi::shapes::LoginResponse), (status = 401, description = "Wrong username or password (`invalid_credentials`)"), (status = 503, description = "Too many logins in progress")))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    if req.username.len() > 128 || req.password.len() > 1024 {
        return Err(ApiError::InvalidCredentials);
    }
    // 429 while this network or account is locked out; settled below.
    let attempt = state.limits.check_login(client_ip, &req.username)?;
    let user = state.store.user_by_username(&req.username).await?;
    let ok = match &user {
        Some(u) => crypto::verify_password(req.password, u.password_hash.clone())
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        None => {
            // Spend the same time as a real check so usernames cannot be probed.
            let _ = crypto::hash_password(req.password).await;
            false
        }
    };
    let ip = client_ip.to_string();
    // A disabled user fails like a wrong password: nothing tells them apart.
    let Some(user) = user.filter(|u| ok && !u.disabled) else {
        state
            .store
            .audit(
                None,
                "auth.login_failed",
                None,
                Some(&ip),
                &json!({"username": req.username}),
            )
            .await?;
        attempt.failed(&state.store).await?;
        return Err(ApiError::InvalidCredentials);
    };
    if state
        .store
        .two_factor(&user.id)
        .await?
        .is_some_and(|t| t.enabled)
    {
        let challenge = state
            .two_factor_challenges
            .issue(&user.id)
            .ok_or_else(|| ApiError::Unavailable("too many logins in progress".into()))?;
        state
            .store
            .audit(
                Some(&user.id),
                "auth.login_password_ok",
                Some(&user.id),
                Some(&ip),
                &json!({"two_factor_required": true}),
            )
            .await?;
        return Ok(
            Json(json!({"two_factor_required": true, "challenge": challenge})).into_response(),
        );
    }
    let enrol = two_factor::required(&state.store).await?;
    attempt.succeeded();
    start_session(&state, &user, &ip, user_agent(&headers), json!({}), enrol).await
}

/// The one way to start a session: store it, audit the login and answer with the
/// cookie and the user. `enrol` adds `"two_factor_enrolment_required": true`.
/// The browser or tool a login came from, for the sessions list.
fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}

async fn start_session(
    state: &AppState,
    user: &User,
    ip: &str,
    user_agent: Option<&str>,
    detail: serde_json::Value,
    enrol: bool,
) -> ApiResult<Response> {
    let token = crypto::new_secret("gss_");
    let ttl = state.config.session_ttl;
    let expires = now_millis() + ttl.as_millis() as i64;
    let hash = crypto::secret_hash(&token);
    state.store.create_session(&hash, &user.id, expires).await?;
    state
        .store
        .set_session_origin(&hash, Some(ip), user_agent)
        .await?;
    state
        .store
        .audit_entry(&crate::store::NewAudit {
            user_id: Some(&user.id),
            via: Some(crate::audit::VIA_SESSION),
            ip: Some(ip),
            server_id: None,
            action: "auth.login",
            target: Some(&user.id),
            detail: &detail,
        })
        .await?;
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    // Lax: links from other sites into the panel keep the session; writes are guarded
    // by the CSRF token, which pages on other sites cannot read.
    let max_age = ttl.as_secs();
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    );
    let csrf = format!(
        "{CSRF_COOKIE}={}; Path=/; SameSite=Lax; Max-Age={max_age}{secure}",
        csrf_token(&token)
    );
    let cookie = HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.to_string()))?;
    let csrf = HeaderValue::from_str(&csrf).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut body =
        json!({"user": {"id": user.id, "username": user.username, "is_admin": user.is_admin}});
    if enrol {
        body["two_factor_enrolment_required"] = json!(true);
    }
    Ok((
        // Appended: two Set-Cookie headers, not one replacing the other.
        axum::response::AppendHeaders([(header::SET_COOKIE, cookie), (header::SET_COOKIE, csrf)]),
        Json(body),
    )
        .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginTwoFactorRequest {
    challenge: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
}

fn invalid_challenge() -> ApiError {
    ApiError::TwoFactorFailed {
        code: "invalid_challenge",
        message: "the login expired or was not started; log in again",
    }
}

/// No authentication: the challenge from the password step stands in for it.
/// `POST /api/auth/login/2fa` with `code` (TOTP) or `recovery_code`. A challenge takes
/// at most five codes, then it is void.
#[utoipa::path(post, path = "/api/auth/login/2fa", tag = "auth", summary = "Finish a login with a TOTP or recovery code", request_body = LoginTwoFactorRequest, responses((status = 200, description = "A session (the `garrison_session` cookie is set)", body = crate::api::openapi::shapes::SessionStarted), (status = 401, description = "`invalid_two_factor_code` or `invalid_challenge`")))]
pub async fn login_two_factor(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginTwoFactorRequest>,
) -> ApiResult<Response> {
    let factor = match (&req.code, &req.recovery_code) {
        (Some(c), None) => {
            if c.len() > two_factor::MAX_CODE_LEN {
                return Err(ApiError::invalid("code", "the code is too long"));
            }
            two_factor::Factor::Totp(c)
        }
        (None, Some(c)) => {
            if c.len() > two_factor::MAX_CODE_LEN {
                return Err(ApiError::invalid("recovery_code", "the code is too long"));
            }
            two_factor::Factor::Recovery(c)
        }
        _ => {
            return Err(ApiError::invalid(
                "code",
                "send either code or recovery_code",
            ));
        }
    };
    if req.challenge.len() > 128 {
        return Err(invalid_challenge());
    }
    let ip = client_ip.to_string();
    let Some(user_id) = state.two_factor_challenges.attempt(&req.challenge) else {
        return Err(invalid_challenge());
    };
    let Some(user) = state
        .store
        .user_by_id(&user_id)
        .await?
        .filter(|u| !u.disabled)
    else {
        state.two_factor_challenges.finish(&req.challenge);
        return Err(invalid_challenge());
    };
    let attempt = state.limits.check_login(client_ip, &user.username)?;
    let kind = factor.kind();
    if !two_factor::use_factor(&state.store, &user.id, factor).await? {
        state.two_factor_challenges.failed(&req.challenge);
        attempt.failed(&state.store).await?;
        state
            .store
            .audit(
                Some(&user.id),
                "auth.two_factor_failed",
                Some(&user.id),
                Some(&ip),
                &json!({"with": kind}),
            )
            .await?;
        return Err(ApiError::TwoFactorFailed {
            code: "invalid_two_factor_code",
            message: "the code is not correct (or was already used)",
        });
    }
    state.two_factor_challenges.finish(&req.challenge);
    attempt.succeeded();
    start_session(
        &state,
        &user,
        &ip,
        user_agent(&headers),
        json!({"two_factor": kind}),
        false,
    )
    .await
}

/// Ends the cookie session, if any. Always succeeds.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", summary = "End the cookie session", responses((status = 204, description = "Logged out (always)")))]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(token) = session_cookie(&headers) {
        state
            .store
            .delete_session(&crypto::secret_hash(token))
            .await?;
    }
    let clear =
        HeaderValue::from_static("garrison_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    let clear_csrf = HeaderValue::from_static("garrison_csrf=; Path=/; SameSite=Lax; Max-Age=0");
    Ok((
        StatusCode::NO_CONTENT,
        axum::response::AppendHeaders([
            (header::SET_COOKIE, clear),
            (header::SET_COOKIE, clear_csrf),
        ]),
    )
        .into_response())
}
