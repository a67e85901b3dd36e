//! Subusers: an owner (or an admin, or a subuser allowed to) gives other users a chosen
//! set of permissions on one server. Nobody can hand out a permission they lack.

use super::servers::load;
use crate::AppState;
use crate::auth::{Principal, ServerRole, check, server_role};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::ratelimit::ClientIp;
use crate::store::Subuser;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use garrison_proto::{Permission, Scope};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    username: String,
    #[schema(value_type = Vec<crate::api::openapi::PermissionName>)]
    permissions: Vec<Permission>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Change {
    #[schema(value_type = Vec<crate::api::openapi::PermissionName>)]
    permissions: Vec<Permission>,
}

fn subuser_json(s: &Subuser) -> Value {
    json!({
        "user_id": s.user_id,
        "username": s.username,
        "permissions": s.permissions,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    })
}

/// Only server permissions, and only ones the granter holds on this server.
fn check_grant(
    p: &Principal,
    role: &ServerRole,
    perms: &[Permission],
) -> ApiResult<Vec<Permission>> {
    let mut out = Vec::with_capacity(perms.len());
    for perm in perms {
        if perm.scope() != Scope::Server {
            return Err(ApiError::invalid(
                "permissions",
                format!("{perm} is not a server permission"),
            ));
        }
        check(p, *perm, role).map_err(|_| {
            ApiError::Forbidden(format!("you cannot give {perm}: you do not have it"))
        })?;
        if !out.contains(perm) {
            out.push(*perm);
        }
    }
    out.sort();
    Ok(out)
}

/// Permission: user.read
#[utoipa::path(get, path = "/api/servers/{id}/users", tag = "subusers", summary = "List a server's subusers", params(("id" = String, Path, description = "Server id")), responses((status = 200, description = "The subusers", body = Vec<crate::api::openapi::shapes::Subuser>)))]
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let server = load(&state, &id).await?;
    let role = server_role(&state, &p, &server).await?;
    check(&p, Permission::UserRead, &role)?;
    let users = state.store.list_subusers(&server.id).await?;
    Ok(Json(json!(
        users.iter().map(subuser_json).collect::<Vec<_>>()
    )))
}

/// Permission: user.create
#[utoipa::path(post, path = "/api/servers/{id}/users", tag = "subusers", summary = "Give a user permissions on a server", description = "Only server permissions the caller holds on this server can be given (403 otherwise).", params(("id" = String, Path, description = "Server id")), request_body = Invite, responses((status = 201, description = "The subuser", body = crate::api::openapi::shapes::Subuser)))]
pub async fn invite(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Invite>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let server = load(&state, &id).await?;
    let role = server_role(&state, &p, &server).await?;
    check(&p, Permission::UserCreate, &role)?;
    let perms = check_grant(&p, &role, &req.permissions)?;
    if req.username.len() > 64 {
        return Err(ApiError::invalid("username", "no such user"));
    }
    let user = state
        .store
        .user_by_username(&req.username)
        .await?
        .ok_or_else(|| ApiError::invalid("username", format!("no user {:?}", req.username)))?;
    if server.owner_id.as_deref() == Some(user.id.as_str()) {
        return Err(ApiError::invalid("username", "that user owns the server"));
    }
    if user.id == p.user.id {
        return Err(ApiError::invalid("username", "you cannot invite yourself"));
    }
    state
        .store
        .add_subuser(&server.id, &user.id, &perms)
        .await?;
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "server.subuser.create",
        Some(&server.id),
        Some(server.id.as_str()),
        &json!({"user_id": user.id, "username": user.username, "permissions": perms}),
    )
    .await?;
    let added = state
        .store
        .list_subusers(&server.id)
        .await?
        .into_iter()
        .find(|s| s.user_id == user.id)
        .ok_or_else(|| ApiError::Internal("subuser vanished after insert".into()))?;
    Ok((StatusCode::CREATED, Json(subuser_json(&added))))
}

/// Permission: user.update
#[utoipa::path(patch, path = "/api/servers/{id}/users/{user_id}", tag = "subusers", summary = "Change a subuser's permissions", params(("id" = String, Path, description = "Server id"), ("user_id" = String, Path, description = "The subuser's user id")), request_body = Change, responses((status = 200, description = "The subuser", body = crate::api::openapi::shapes::Subuser)))]
pub async fn update(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    Path((id, user_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<Change>,
) -> ApiResult<Json<Value>> {
    let server = load(&state, &id).await?;
    let role = server_role(&state, &p, &server).await?;
    check(&p, Permission::UserUpdate, &role)?;
    let perms = check_grant(&p, &role, &req.permissions)?;
    if !state
        .store
        .set_subuser_permissions(&server.id, &user_id, &perms)
        .await?
    {
        return Err(ApiError::NotFound(format!("subuser {user_id}")));
    }
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "server.subuser.update",
        Some(&server.id),
        Some(server.id.as_str()),
        &json!({"user_id": user_id, "permissions": perms}),
    )
    .await?;
    let users = state.store.list_subusers(&server.id).await?;
    let s = users
        .iter()
        .find(|s| s.user_id == user_id)
        .ok_or_else(|| ApiError::NotFound(format!("subuser {user_id}")))?;
    Ok(Json(subuser_json(s)))
}

/// Permission: user.delete
#[utoipa::path(delete, path = "/api/servers/{id}/users/{user_id}", tag = "subusers", summary = "Remove a subuser", params(("id" = String, Path, description = "Server id"), ("user_id" = String, Path, description = "The subuser's user id")), responses((status = 204, description = "Removed")))]
pub async fn remove(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let server = load(&state, &id).await?;
    let role = server_role(&state, &p, &server).await?;
    check(&p, Permission::UserDelete, &role)?;
    if !state.store.remove_subuser(&server.id, &user_id).await? {
        return Err(ApiError::NotFound(format!("subuser {user_id}")));
    }
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "server.subuser.delete",
        Some(&server.id),
        Some(server.id.as_str()),
        &json!({"user_id": user_id}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
