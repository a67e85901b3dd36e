//! Templates: list and read (every signed-in user), and for admins create, replace,
//! delete, import (our TOML/JSON or a Pterodactyl/Pelican egg, with a report of what
//! did not map) and export.

use crate::AppState;
use crate::auth::{Principal, authorize};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::ratelimit::ClientIp;
use crate::templates::library;
use crate::templates::{Compiled, Origin};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use garrison_proto::{Permission, Template};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Import bodies may carry a large install script.
pub const IMPORT_BODY_BYTES: usize = 1024 * 1024;

/// A template as the API shows it, with its `origin`. Secret defaults are for admins
/// only (a template author may put a shared password there).
fn view(c: &Compiled, p: &Principal) -> Value {
    let mut v = json!(c.template);
    v["origin"] = json!(c.origin);
    if !p.user.is_admin
        && let Some(vars) = v["variables"].as_array_mut()
    {
        for var in vars {
            if var["type"] == "secret" {
                var["default"] = json!("");
            }
        }
    }
    v
}

/// A template body: the model, and `origin` as `GET` shows it (ignored), so what was
/// read can be sent back.
fn template_body(mut body: Value) -> ApiResult<Template> {
    if let Some(o) = body.as_object_mut() {
        o.remove("origin");
    }
    crate::json::from_value(body)
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("template {id}"))
}

/// Permission: template.read
#[utoipa::path(get, path = "/api/templates", tag = "templates", summary = "List templates", responses((status = 200, description = "Every template, with `origin` (built_in or custom)", body = Vec<crate::api::openapi::shapes::Template>)))]
pub async fn list(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::TemplateRead)?;
    Ok(Json(Value::Array(
        state.templates.all().iter().map(|c| view(c, &p)).collect(),
    )))
}

/// Permission: template.read
#[utoipa::path(get, path = "/api/templates/{tid}", tag = "templates", summary = "A template", params(("tid" = String, Path, description = "Template id")), responses((status = 200, description = "The template", body = crate::api::openapi::shapes::Template)))]
pub async fn get(
    State(state): State<AppState>,
    p: Principal,
    Path(tid): Path<String>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::TemplateRead)?;
    let c = state.templates.get(&tid).ok_or_else(|| not_found(&tid))?;
    Ok(Json(view(&c, &p)))
}

/// Permission: template.read. `?format=toml` (default) or `json`.
#[utoipa::path(get, path = "/api/templates/{tid}/export", tag = "templates", summary = "Export a template", params(("tid" = String, Path, description = "Template id"), ("format" = Option<String>, Query, description = "toml (default) or json")), responses((status = 200, description = "The template as a file", content_type = "application/toml"), (status = 422, description = "Unknown format")))]
pub async fn export(
    State(state): State<AppState>,
    p: Principal,
    Path(tid): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    authorize(&p, Permission::TemplateRead)?;
    let c = state.templates.get(&tid).ok_or_else(|| not_found(&tid))?;
    let (body, mime, ext) = match q.get("format").map(String::as_str) {
        None | Some("toml") => (
            library::to_toml(&c.template).map_err(ApiError::Internal)?,
            "application/toml",
            "toml",
        ),
        Some("json") => (
            library::to_json(&c.template).map_err(ApiError::Internal)?,
            "application/json",
            "json",
        ),
        Some(other) => {
            return Err(ApiError::invalid(
                "format",
                format!("format must be toml or json, not {other:?}"),
            ));
        }
    };
    let disposition = format!("attachment; filename=\"{}.{ext}\"", c.template.id);
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// Check, store and register a custom template. `replace`: the id must exist (and be
/// custom); otherwise it must be new.
async fn save(state: &AppState, template: Template, replace: bool) -> ApiResult<Compiled> {
    let id = template.id.clone();
    let existing = state.templates.get(&id);
    if let Some(e) = &existing
        && e.origin == Origin::BuiltIn
    {
        return Err(ApiError::Conflict {
            message: format!(
                "{id} is a built-in template and cannot be changed; save a copy under another id"
            ),
            state: None,
        });
    }
    match (&existing, replace) {
        (Some(_), false) => {
            return Err(ApiError::Conflict {
                message: format!("a template with id {id} exists already"),
                state: None,
            });
        }
        (None, true) => return Err(not_found(&id)),
        _ => {}
    }
    let compiled =
        Compiled::new(template, Origin::Custom).map_err(|m| ApiError::invalid("template", m))?;
    let body = library::to_json(&compiled.template).map_err(ApiError::Internal)?;
    state.store.put_template(&id, &body, "custom").await?;
    state.templates.put(compiled.clone());
    library::bump_revision(&state.store).await?;
    // Servers made from it run the new version from their next start or install.
    if replace {
        crate::events::reregister_servers(state, |t| t == id).await;
    }
    Ok(compiled)
}

/// Permission: admin.templates
#[utoipa::path(post, path = "/api/templates", tag = "templates", summary = "Create a template", description = "The template as JSON (the same model as the TOML files; see docs/templates.md). 409 when the id exists; 422 naming `template` when it does not pass the checks.", request_body = crate::api::openapi::shapes::Template, responses((status = 201, description = "The template", body = crate::api::openapi::shapes::Template), (status = 409, description = "The id exists")))]
pub async fn create(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&p, Permission::AdminTemplates)?;
    let template = template_body(body)?;
    let c = save(&state, template, false).await?;
    audit(
        &state,
        &p,
        &client_ip.to_string(),
        "template.create",
        &c.template.id,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view(&c, &p))))
}

/// Permission: admin.templates
#[utoipa::path(put, path = "/api/templates/{tid}", tag = "templates", summary = "Replace a template", description = "Built-in templates cannot be replaced (409). Servers made from it use the new version from their next start.", params(("tid" = String, Path, description = "Template id")), request_body = crate::api::openapi::shapes::Template, responses((status = 200, description = "The template", body = crate::api::openapi::shapes::Template)))]
pub async fn replace(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    Path(tid): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminTemplates)?;
    let template = template_body(body)?;
    if template.id != tid {
        return Err(ApiError::invalid(
            "id",
            format!("the template's id {:?} is not {tid:?}", template.id),
        ));
    }
    let c = save(&state, template, true).await?;
    audit(&state, &p, &client_ip.to_string(), "template.update", &tid).await?;
    Ok(Json(view(&c, &p)))
}

/// Permission: admin.templates
#[utoipa::path(delete, path = "/api/templates/{tid}", tag = "templates", summary = "Delete a template", description = "Refused (409) for built-in templates and while servers use it.", params(("tid" = String, Path, description = "Template id")), responses((status = 204, description = "Deleted"), (status = 409, description = "Built in, or in use")))]
pub async fn remove(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    Path(tid): Path<String>,
) -> ApiResult<StatusCode> {
    authorize(&p, Permission::AdminTemplates)?;
    let c = state.templates.get(&tid).ok_or_else(|| not_found(&tid))?;
    if c.origin == Origin::BuiltIn {
        return Err(ApiError::Conflict {
            message: format!("{tid} is a built-in template"),
            state: None,
        });
    }
    let used = state.store.servers_using_template(&tid).await?;
    if used > 0 {
        return Err(ApiError::Conflict {
            message: format!("{used} server(s) use {tid}; delete or move them first"),
            state: None,
        });
    }
    state.store.delete_template(&tid).await?;
    state.templates.remove(&tid);
    library::bump_revision(&state.store).await?;
    audit(&state, &p, &client_ip.to_string(), "template.delete", &tid).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The file's text: a Garrison template (TOML or JSON) or a Pterodactyl/Pelican egg
    /// (PTDL_v1, PTDL_v2, PLCN_v1-v3; JSON or YAML).
    pub content: String,
    /// Save under this id instead of the one in the file.
    #[serde(default)]
    pub id: Option<String>,
    /// Only convert and check; save nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Replace an existing custom template with the same id.
    #[serde(default)]
    pub replace: bool,
}

/// Permission: admin.templates
#[utoipa::path(post, path = "/api/templates/import", tag = "templates", summary = "Import a template or an egg", description = "Converts the file, checks it and (unless `dry_run`) saves it. The report lists what an egg had that Garrison did not carry over.", request_body = ImportRequest, responses((status = 200, description = "The template and the import report", body = crate::api::openapi::shapes::ImportResult), (status = 422, description = "Not a template or egg, or it does not pass the checks (`content` or `template`)")))]
pub async fn import(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    ApiJson(req): ApiJson<ImportRequest>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminTemplates)?;
    let parsed = library::parse(&req.content).map_err(|m| ApiError::invalid("content", m))?;
    let mut template = parsed.template;
    if let Some(id) = req.id {
        template.id = id;
    }
    let report = parsed.report.map(|r| json!(r));
    let format = parsed.format;
    if req.dry_run {
        let c = Compiled::new(template, Origin::Custom)
            .map_err(|m| ApiError::invalid("template", m))?;
        return Ok(Json(
            json!({"template": view(&c, &p), "format": format, "report": report, "saved": false}),
        ));
    }
    let replace = req.replace && state.templates.get(&template.id).is_some();
    let c = save(&state, template, replace).await?;
    audit(
        &state,
        &p,
        &client_ip.to_string(),
        "template.import",
        &c.template.id,
    )
    .await?;
    Ok(Json(
        json!({"template": view(&c, &p), "format": format, "report": report, "saved": true}),
    ))
}

async fn audit(state: &AppState, p: &Principal, ip: &str, action: &str, id: &str) -> ApiResult<()> {
    crate::audit::record(state, p, Some(ip), action, None, Some(id), &json!({})).await?;
    Ok(())
}
