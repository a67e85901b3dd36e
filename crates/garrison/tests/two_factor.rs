//! Two-factor authentication through HTTP against a real `garrison serve`: enrolment,
//! the second login step, replay refusal, single-use recovery codes, the attempt limit
//! per challenge, disabling, the admin requirement and bad input.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn field(v: &Value) -> &str {
    v["error"]["field"].as_str().unwrap_or("")
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The authenticator app of the tests.
struct App {
    totp: totp_rs::Totp,
}

impl App {
    fn new(secret: &str) -> App {
        let secret = totp_rs::Secret::try_from_base32(secret).expect("base32 secret");
        App {
            totp: totp_rs::Builder::new()
                .with_secret(secret)
                .build()
                .expect("totp"),
        }
    }

    /// The code of the step `offset` steps from now.
    fn code(&self, offset: i64) -> String {
        let t = unix_secs() as i64 + offset * 30;
        self.totp.generate(t as u64).to_string()
    }
}

/// Waits while the current 30 s step ends within 4 s, so a sequence of codes computed
/// now is checked by the server in the same step.
async fn away_from_step_edge() {
    while 30 - unix_secs() % 30 < 4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Logs in as admin by password only; returns the session cookie.
async fn password_session(g: &Garrison) -> String {
    let a = g
        .json_with_cookie(
            "POST",
            "/api/auth/login",
            None,
            json!({"username": "admin", "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body["user"].is_object(), "{}", a.body);
    a.cookie.expect("session cookie")
}

/// The password step of a 2FA login: returns the challenge.
async fn challenge(g: &Garrison) -> String {
    let a = g
        .json_with_cookie(
            "POST",
            "/api/auth/login",
            None,
            json!({"username": "admin", "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["two_factor_required"], true, "{}", a.body);
    assert!(a.body.get("user").is_none(), "{}", a.body);
    assert!(a.cookie.is_none(), "a session before the second factor");
    a.body["challenge"].as_str().unwrap().to_owned()
}

async fn second_step(g: &Garrison, body: Value) -> Answer {
    g.json_with_cookie("POST", "/api/auth/login/2fa", None, body)
        .await
}

/// Sets 2FA up and enables it with the previous step's code (so the current and next
/// steps stay usable for logins). Returns the app and the recovery codes.
async fn enrol(g: &Garrison, cookie: &str) -> (App, Vec<String>) {
    let a = g
        .send_with_cookie("POST", "/api/account/2fa/setup", Some(cookie), None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let secret = a.body["secret"].as_str().unwrap().to_owned();
    let app = App::new(&secret);
    away_from_step_edge().await;
    let a = g
        .json_with_cookie(
            "POST",
            "/api/account/2fa/enable",
            Some(cookie),
            json!({"code": app.code(-1)}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let codes: Vec<String> = a.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (app, codes)
}

async fn status(g: &Garrison, cookie: &str) -> Value {
    let a = g
        .send_with_cookie("GET", "/api/account/2fa", Some(cookie), None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.body
}

#[tokio::test]
async fn enrol_login_replay_recovery_and_disable() {
    let g = Garrison::start().await;
    let cookie = password_session(&g).await;
    let st = status(&g, &cookie).await;
    assert_eq!(st["enabled"], false, "{st}");
    assert_eq!(st["recovery_codes_left"], 0, "{st}");

    // An API key may read the status but not change the second factor.
    let (s, v) = g.call("GET", "/api/account/2fa", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = g.call("POST", "/api/account/2fa/setup", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");

    let a = g
        .send_with_cookie("POST", "/api/account/2fa/setup", Some(&cookie), None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let secret = a.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 32, "{secret}");
    assert_eq!(
        a.body["otpauth_uri"],
        format!(
            "otpauth://totp/Garrison:admin?secret={secret}&issuer=Garrison&algorithm=SHA1&digits=6&period=30"
        )
    );
    assert_eq!(status(&g, &cookie).await["pending"], true);
    // Still one step at login while enrolment is pending.
    password_session(&g).await;

    let app = App::new(&secret);
    away_from_step_edge().await;
    let wrong = (0..)
        .map(|n| format!("{:06}", 100_000 + n))
        .find(|c| ![app.code(-1), app.code(0), app.code(1)].contains(c))
        .unwrap();
    for (body, want_field) in [
        (json!({"code": wrong}), "code"),
        (json!({"code": "12ab56"}), "code"),
        (json!({"code": "1".repeat(100)}), "code"),
        (json!({"code": 123456}), "code"),
        (json!({}), "code"),
    ] {
        let a = g
            .json_with_cookie("POST", "/api/account/2fa/enable", Some(&cookie), body)
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
        assert_eq!(field(&a.body), want_field, "{}", a.body);
    }
    let a = g
        .json_with_cookie(
            "POST",
            "/api/account/2fa/enable",
            Some(&cookie),
            json!({"code": app.code(-1), "remember": true}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert_eq!(code(&a.body), "unknown_field");

    let enrol_code = app.code(-1);
    let a = g
        .json_with_cookie(
            "POST",
            "/api/account/2fa/enable",
            Some(&cookie),
            json!({"code": enrol_code}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let recovery: Vec<String> = a.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    for c in &recovery {
        assert_eq!(c.len(), 11, "{c}");
        assert_eq!(&c[5..6], "-", "{c}");
    }
    let st = status(&g, &cookie).await;
    assert_eq!(st["enabled"], true, "{st}");
    assert_eq!(st["recovery_codes_left"], 10, "{st}");
    // Enabled: setting up again is a conflict.
    let a = g
        .send_with_cookie("POST", "/api/account/2fa/setup", Some(&cookie), None)
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);

    // The password alone no longer logs in; a wrong code is refused.
    let ch = challenge(&g).await;
    let a = second_step(&g, json!({"challenge": ch, "code": wrong})).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    assert_eq!(code(&a.body), "invalid_two_factor_code");
    assert!(a.cookie.is_none());
    // The code used to enable cannot log in (same step).
    let a = second_step(&g, json!({"challenge": ch, "code": enrol_code})).await;
    assert_eq!(code(&a.body), "invalid_two_factor_code", "{}", a.body);

    // The right code gives a session, exactly as a password login does.
    let now_code = app.code(0);
    let a = second_step(&g, json!({"challenge": ch, "code": now_code})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["user"]["username"], "admin");
    let session = a.cookie.expect("session cookie");
    let me = g
        .send_with_cookie("GET", "/api/account", Some(&session), None)
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    // The challenge is used up.
    let a = second_step(&g, json!({"challenge": ch, "code": app.code(1)})).await;
    assert_eq!(code(&a.body), "invalid_challenge", "{}", a.body);

    // Replay: the same code again (still within its 30 s) is refused.
    let ch = challenge(&g).await;
    let a = second_step(&g, json!({"challenge": ch, "code": now_code})).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    assert_eq!(code(&a.body), "invalid_two_factor_code");
    // The next step's code still works (clock skew allowance).
    let a = second_step(&g, json!({"challenge": ch, "code": app.code(1)})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    // A recovery code works once.
    let ch = challenge(&g).await;
    let a = second_step(&g, json!({"challenge": ch, "recovery_code": recovery[0]})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.cookie.is_some());
    let ch = challenge(&g).await;
    let a = second_step(&g, json!({"challenge": ch, "recovery_code": recovery[0]})).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    assert_eq!(code(&a.body), "invalid_two_factor_code");
    // Typed loosely: upper case, no dash, spaces.
    let loose = format!(" {} ", recovery[1].replace('-', "").to_uppercase());
    let a = second_step(&g, json!({"challenge": ch, "recovery_code": loose})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(status(&g, &cookie).await["recovery_codes_left"], 8);

    // Disable: the password and a code are both needed.
    let a = g
        .json_with_cookie(
            "POST",
            "/api/account/2fa/disable",
            Some(&cookie),
            json!({"password": "wrong", "code": recovery[2]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    assert_eq!(code(&a.body), "invalid_credentials");
    let a = g
        .json_with_cookie(
            "POST",
            "/api/account/2fa/disable",
            Some(&cookie),
            json!({"password": ADMIN_PASSWORD, "code": recovery[0]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert_eq!(field(&a.body), "code");
    let a = g
        .json_with_cookie(
            "POST",
            "/api/account/2fa/disable",
            Some(&cookie),
            json!({"password": ADMIN_PASSWORD, "code": recovery[2]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let st = status(&g, &cookie).await;
    assert_eq!(st["enabled"], false, "{st}");
    assert_eq!(st["pending"], false, "{st}");
    assert_eq!(st["recovery_codes_left"], 0, "{st}");

    // Single-step login again; old challenges and recovery codes are dead.
    password_session(&g).await;
    let a = g
        .json_with_cookie(
            "POST",
            "/api/account/2fa/disable",
            Some(&cookie),
            json!({"password": ADMIN_PASSWORD, "code": recovery[3]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
}

#[tokio::test]
async fn five_wrong_codes_void_the_challenge() {
    // Wrong codes also count towards the login lockout (tested in rate_limits.rs); give
    // this test room to make more than five.
    let g = Garrison::start_with_env(&[("GARRISON_RATE_LIMIT_LOGIN_ATTEMPTS", "50")]).await;
    let cookie = password_session(&g).await;
    let (app, recovery) = enrol(&g, &cookie).await;
    let wrong = (0..)
        .map(|n| format!("{:06}", 200_000 + n))
        .find(|c| ![app.code(-1), app.code(0), app.code(1)].contains(c))
        .unwrap();

    let ch = challenge(&g).await;
    for i in 0..5 {
        let a = second_step(&g, json!({"challenge": ch, "code": wrong})).await;
        assert_eq!(
            a.status,
            StatusCode::UNAUTHORIZED,
            "attempt {i}: {}",
            a.body
        );
        assert_eq!(code(&a.body), "invalid_two_factor_code", "attempt {i}");
    }
    // Void: even the right code and a recovery code are refused now.
    let a = second_step(&g, json!({"challenge": ch, "code": app.code(0)})).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    assert_eq!(code(&a.body), "invalid_challenge");
    let a = second_step(&g, json!({"challenge": ch, "recovery_code": recovery[0]})).await;
    assert_eq!(code(&a.body), "invalid_challenge", "{}", a.body);

    // Four wrong codes, then the right one, works.
    let ch = challenge(&g).await;
    for _ in 0..4 {
        let a = second_step(&g, json!({"challenge": ch, "recovery_code": "aaaaa-aaaaa"})).await;
        assert_eq!(code(&a.body), "invalid_two_factor_code", "{}", a.body);
    }
    let a = second_step(&g, json!({"challenge": ch, "code": app.code(0)})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    // Unknown challenges.
    for ch in ["gtc_nope", "", &"x".repeat(500)] {
        let a = second_step(&g, json!({"challenge": ch, "code": "123456"})).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
        assert_eq!(code(&a.body), "invalid_challenge", "{}", a.body);
    }
}

#[tokio::test]
async fn bad_input_has_the_error_shape() {
    let g = Garrison::start().await;
    let cookie = password_session(&g).await;
    enrol(&g, &cookie).await;
    let ch = challenge(&g).await;

    let raw = g
        .send_with_cookie(
            "POST",
            "/api/auth/login/2fa",
            None,
            Some("{\"challenge\": ".into()),
        )
        .await;
    assert_eq!(raw.status, StatusCode::BAD_REQUEST, "{}", raw.body);
    assert_eq!(code(&raw.body), "malformed_json");

    let a = second_step(&g, json!({"challenge": ch, "code": "123456", "trust": 1})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert_eq!(code(&a.body), "unknown_field");
    assert_eq!(field(&a.body), "trust");

    for (body, want) in [
        (json!({"challenge": ch}), "code"),
        (
            json!({"challenge": ch, "code": "123456", "recovery_code": "abcde-fghjk"}),
            "code",
        ),
        (json!({"challenge": ch, "code": "9".repeat(65)}), "code"),
        (
            json!({"challenge": ch, "recovery_code": "a".repeat(1000)}),
            "recovery_code",
        ),
        (json!({"code": "123456"}), "challenge"),
        (json!({"challenge": ch, "code": 123456}), "code"),
    ] {
        let a = second_step(&g, body.clone()).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            a.body
        );
        assert_eq!(code(&a.body), "invalid_value", "{body}");
        assert_eq!(field(&a.body), want, "{body}: {}", a.body);
        assert!(a.body["error"]["message"].is_string());
    }
    // None of that used up the challenge's attempts; a malformed code does count.
    for _ in 0..5 {
        let a = second_step(
            &g,
            json!({"challenge": ch, "code": "'; DROP TABLE users; --"}),
        )
        .await;
        assert_eq!(code(&a.body), "invalid_two_factor_code", "{}", a.body);
    }
    let a = second_step(&g, json!({"challenge": ch, "code": "123456"})).await;
    assert_eq!(code(&a.body), "invalid_challenge", "{}", a.body);

    // Disable and enable bodies.
    for body in [
        json!({"password": ADMIN_PASSWORD}),
        json!({"code": "123456"}),
        json!({"password": ADMIN_PASSWORD, "code": "1".repeat(65)}),
    ] {
        let a = g
            .json_with_cookie(
                "POST",
                "/api/account/2fa/disable",
                Some(&cookie),
                body.clone(),
            )
            .await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            a.body
        );
    }
    let a = g
        .send_with_cookie("POST", "/api/account/2fa/disable", Some(&cookie), None)
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    // Unauthenticated calls.
    for (method, path) in [
        ("GET", "/api/account/2fa"),
        ("POST", "/api/account/2fa/setup"),
        ("PUT", "/api/admin/settings/require-two-factor"),
    ] {
        let a = g
            .json_with_cookie(method, path, None, json!({"enabled": true}))
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}: {}", a.body);
    }
}

#[tokio::test]
async fn admins_can_require_enrolment_and_totp_disables() {
    let g = Garrison::start().await;
    let (s, v) = g
        .call("GET", "/api/admin/settings/require-two-factor", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["enabled"], false);
    let (s, v) = g
        .call(
            "PUT",
            "/api/admin/settings/require-two-factor",
            Some(json!({"enabled": "yes"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(field(&v), "enabled");
    let (s, v) = g
        .call(
            "PUT",
            "/api/admin/settings/require-two-factor",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["enabled"], true);

    // Without 2FA the login still works but says to enrol.
    let a = g
        .json_with_cookie(
            "POST",
            "/api/auth/login",
            None,
            json!({"username": "admin", "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["two_factor_enrolment_required"], true, "{}", a.body);
    let cookie = a.cookie.expect("session cookie");
    assert_eq!(status(&g, &cookie).await["required"], true);

    // Enrolled: the second step, and no enrolment notice.
    let (app, _) = enrol(&g, &cookie).await;
    let ch = challenge(&g).await;
    let login_code = app.code(0);
    let a = second_step(&g, json!({"challenge": ch, "code": login_code})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.get("two_factor_enrolment_required").is_none());

    // Disable with a TOTP code (the next step's: the current one was just used).
    let a = g
        .json_with_cookie(
            "POST",
            "/api/account/2fa/disable",
            Some(&cookie),
            json!({"password": ADMIN_PASSWORD, "code": login_code}),
        )
        .await;
    assert_eq!(
        a.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "replay: {}",
        a.body
    );
    let a = g
        .json_with_cookie(
            "POST",
            "/api/account/2fa/disable",
            Some(&cookie),
            json!({"password": ADMIN_PASSWORD, "code": app.code(1)}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    let (s, _) = g
        .call(
            "PUT",
            "/api/admin/settings/require-two-factor",
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let a = g
        .json_with_cookie(
            "POST",
            "/api/auth/login",
            None,
            json!({"username": "admin", "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.get("two_factor_enrolment_required").is_none());
    assert!(a.cookie.is_some());
}
