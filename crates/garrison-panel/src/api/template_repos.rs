//! Template repositories (admins): a git URL or a local directory of templates and
//! eggs, synced into the panel on demand (here, or `garrison template sync`).

use crate::AppState;
use crate::auth::{Principal, authorize};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::ratelimit::ClientIp;
use crate::templates::library;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use garrison_proto::Permission;
use serde::Deserialize;
use serde_json::{Value, json};

/// Permission: admin.templates
#[utoipa::path(get, path = "/api/template-repos", tag = "templates", summary = "Template repositories", responses((status = 200, description = "The repositories with their last sync", body = Vec<crate::api::openapi::shapes::TemplateRepo>)))]
pub async fn list(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminTemplates)?;
    Ok(Json(json!(state.store.list_template_repos().await?)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddRepo {
    /// A git URL (https://, ssh://, git@, file://) or an absolute directory on the panel's machine.
    pub location: String,
}

/// Permission: admin.templates. Adds the repository and syncs it once.
#[utoipa::path(post, path = "/api/template-repos", tag = "templates", summary = "Add a template repository", request_body = AddRepo, responses((status = 201, description = "The repository and its first sync", body = crate::api::openapi::shapes::RepoSync), (status = 409, description = "Already added"), (status = 422, description = "Not a git URL or directory (`location`)")))]
pub async fn add(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    ApiJson(req): ApiJson<AddRepo>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&p, Permission::AdminTemplates)?;
    let location = req.location.trim().to_owned();
    let kind = library::repo_kind(&location)
        .await
        .map_err(|m| ApiError::invalid("location", m))?;
    let repo = state.store.add_template_repo(&location, kind).await?;
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "template_repo.add",
        None,
        Some(&repo.id),
        &json!({"location": location}),
    )
    .await?;
    let out = sync_one(&state, &repo.id).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// Permission: admin.templates
#[utoipa::path(post, path = "/api/template-repos/{rid}/sync", tag = "templates", summary = "Sync a template repository", params(("rid" = String, Path, description = "Repository id")), responses((status = 200, description = "The repository and what the sync did", body = crate::api::openapi::shapes::RepoSync)))]
pub async fn sync(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    Path(rid): Path<String>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminTemplates)?;
    let out = sync_one(&state, &rid).await?;
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "template_repo.sync",
        None,
        Some(&rid),
        &json!({}),
    )
    .await?;
    Ok(Json(out))
}

/// A failed fetch is not an API error: the repository records it and the answer says so.
async fn sync_one(state: &AppState, rid: &str) -> ApiResult<Value> {
    let repo = state
        .store
        .get_template_repo(rid)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("template repository {rid}")))?;
    let built_in = state.templates.built_in_ids();
    let result = library::sync_repo(&state.store, &state.config.data_dir, &repo, &built_in).await;
    library::reload(&state.templates, &state.store).await?;
    if let Ok(report) = &result {
        crate::events::reregister_servers(state, |t| report.imported.iter().any(|i| i == t)).await;
    }
    let repo = state.store.get_template_repo(rid).await?;
    Ok(match result {
        Ok(report) => json!({"repo": repo, "sync": report}),
        Err(e) => json!({"repo": repo, "sync": null, "error": e}),
    })
}

/// Permission: admin.templates. Its templates go too; refused (409) while servers use any
/// of them.
#[utoipa::path(delete, path = "/api/template-repos/{rid}", tag = "templates", summary = "Remove a template repository", params(("rid" = String, Path, description = "Repository id")), responses((status = 204, description = "Removed"), (status = 409, description = "Servers use its templates")))]
pub async fn remove(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    Path(rid): Path<String>,
) -> ApiResult<StatusCode> {
    authorize(&p, Permission::AdminTemplates)?;
    let source = format!("repo:{rid}");
    for t in state.store.list_templates().await? {
        if t.source == source && state.store.servers_using_template(&t.id).await? > 0 {
            return Err(ApiError::Conflict {
                message: format!(
                    "servers use its template {}; delete or move them first",
                    t.id
                ),
                state: None,
            });
        }
    }
    if !state.store.delete_template_repo(&rid).await? {
        return Err(ApiError::NotFound(format!("template repository {rid}")));
    }
    library::bump_revision(&state.store).await?;
    library::reload(&state.templates, &state.store).await?;
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "template_repo.remove",
        None,
        Some(&rid),
        &json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
