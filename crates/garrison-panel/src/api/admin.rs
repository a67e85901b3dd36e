//! Admin routes: users for now (the rest of the admin API follows).

use crate::AppState;
use crate::auth::{Principal, authorize, crypto};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::ratelimit::ClientIp;
use crate::store::User;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use garrison_proto::Permission;
use serde::Deserialize;
use serde_json::{Value, json};

/// Shortest password accepted anywhere.
pub const MIN_PASSWORD_CHARS: usize = 8;

pub fn user_json(u: &User) -> Value {
    json!({
        "id": u.id,
        "username": u.username,
        "email": u.email,
        "is_admin": u.is_admin,
        "disabled": u.disabled,
        "created_at": u.created_at,
    })
}

pub fn check_username(name: &str) -> ApiResult<()> {
    let ok = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "username",
            "1 to 32 characters: letters, digits, '_', '-' or '.'",
        ))
    }
}

pub fn check_password(field: &str, password: &str) -> ApiResult<()> {
    let n = password.chars().count();
    if (MIN_PASSWORD_CHARS..=1024).contains(&n) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!("passwords are {MIN_PASSWORD_CHARS} to 1024 characters"),
        ))
    }
}

/// Make an account, checking every field; nothing is left behind when one is refused.
/// The one way accounts are made over the API (by an admin, or by registration).
pub async fn create_account(
    state: &AppState,
    username: &str,
    password: String,
    email: Option<String>,
    is_admin: bool,
) -> ApiResult<User> {
    check_username(username)?;
    check_password("password", &password)?;
    if let Some(email) = &email {
        check_email(email)?;
    }
    let hash = crypto::hash_password(password)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let user = state
        .store
        .create_user(username, &hash, is_admin)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(m) => ApiError::invalid("username", m),
            other => other.into(),
        })?;
    let Some(email) = email else {
        return Ok(user);
    };
    let changes = crate::store::UserChanges {
        email: Some(Some(email)),
        ..Default::default()
    };
    match state.store.update_user(&user.id, &changes).await {
        Ok(u) => Ok(u),
        Err(e) => {
            // No half-made user: the address was taken.
            let _ = state.store.delete_user(&user.id).await;
            Err(match e {
                crate::store::StoreError::Conflict(_) => {
                    ApiError::invalid("email", "that email address is taken")
                }
                other => other.into(),
            })
        }
    }
}

/// Permission: admin.users
#[utoipa::path(get, path = "/api/admin/users", tag = "admin", summary = "List users", responses((status = 200, description = "Every user", body = Vec<crate::api::openapi::shapes::User>)))]
pub async fn list_users(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminUsers)?;
    let users = state.store.list_users().await?;
    Ok(Json(json!(users.iter().map(user_json).collect::<Vec<_>>())))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    username: String,
    password: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    is_admin: bool,
}

/// Permission: admin.users
#[utoipa::path(post, path = "/api/admin/users", tag = "admin", summary = "Create a user", request_body = NewUser, responses((status = 201, description = "The user", body = crate::api::openapi::shapes::User)))]
pub async fn create_user(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    ApiJson(req): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&p, Permission::AdminUsers)?;
    let user = create_account(&state, &req.username, req.password, req.email, req.is_admin).await?;
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "user.create",
        None,
        Some(&user.id),
        &json!({"username": user.username, "is_admin": user.is_admin}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user_json(&user))))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditUser {
    #[serde(default)]
    username: Option<String>,
    /// `null` clears it.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    email: Option<Option<String>>,
    #[serde(default)]
    is_admin: Option<bool>,
    #[serde(default)]
    disabled: Option<bool>,
    /// A new password; the user's sessions end.
    #[serde(default)]
    password: Option<String>,
}

/// Tells a missing field (`None`) from an explicit `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

pub fn check_email(email: &str) -> ApiResult<()> {
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid("email", "not an email address"))
    }
}

/// Permission: admin.users. Disabling a user or setting their password ends their
/// sessions; their open consoles close within seconds (see `api::ws`).
#[utoipa::path(patch, path = "/api/admin/users/{user_id}", tag = "admin", summary = "Change a user", params(("user_id" = String, Path, description = "User id")), request_body = EditUser, responses((status = 200, description = "The user", body = crate::api::openapi::shapes::User)))]
pub async fn update_user(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<EditUser>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminUsers)?;
    if state.store.user_by_id(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("user {id}")));
    }
    if let Some(name) = &req.username {
        check_username(name)?;
    }
    if let Some(Some(email)) = &req.email {
        check_email(email)?;
    }
    if id == p.user.id && (req.disabled == Some(true) || req.is_admin == Some(false)) {
        return Err(ApiError::invalid(
            if req.disabled == Some(true) {
                "disabled"
            } else {
                "is_admin"
            },
            "you cannot lock yourself out",
        ));
    }
    if let Some(pw) = &req.password {
        check_password("password", pw)?;
    }
    let changes = crate::store::UserChanges {
        username: req.username.clone(),
        email: req.email.clone(),
        is_admin: req.is_admin,
        disabled: req.disabled,
    };
    let user = state
        .store
        .update_user(&id, &changes)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(m) => ApiError::invalid("username", m),
            other => other.into(),
        })?;
    let password_changed = req.password.is_some();
    if let Some(pw) = req.password {
        let hash = crypto::hash_password(pw)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        state.store.set_password_hash(&id, &hash).await?;
        state.store.delete_user_sessions(&id, None).await?;
    }
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "user.update",
        None,
        Some(&id),
        &json!({
            "username": req.username,
            "is_admin": req.is_admin,
            "disabled": req.disabled,
            "password_changed": password_changed,
        }),
    )
    .await?;
    Ok(Json(user_json(&user)))
}

/// Permission: admin.users. Servers the user owned stay, owned by nobody.
#[utoipa::path(delete, path = "/api/admin/users/{user_id}", tag = "admin", summary = "Delete a user", params(("user_id" = String, Path, description = "User id")), responses((status = 204, description = "Deleted; their servers stay, owned by nobody"), (status = 409, description = "One cannot delete oneself")))]
pub async fn delete_user(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    authorize(&p, Permission::AdminUsers)?;
    if id == p.user.id {
        return Err(ApiError::Conflict {
            message: "you cannot delete yourself".into(),
            state: None,
        });
    }
    if !state.store.delete_user(&id).await? {
        return Err(ApiError::NotFound(format!("user {id}")));
    }
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "user.delete",
        None,
        Some(&id),
        &json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
