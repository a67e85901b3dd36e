//! A server's startup settings (its template's variables with their rules and values,
//! the command they make) and its install: reinstall and cancel.

use crate::AppState;
use crate::api::servers::{SECRET_MASK, load, merged_variables};
use crate::auth::{Principal, authorize_server};
use crate::error::ApiResult;
use crate::events::{settings, spec_for};
use crate::json::ApiJson;
use crate::ratelimit::ClientIp;
use crate::store::{ServerRecord, now_millis};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use garrison_proto::{Permission, VariableType};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Permission: startup.read
#[utoipa::path(get, path = "/api/servers/{id}/startup", tag = "servers", summary = "Startup settings", description = "The template's variables with their rules and this server's values (secrets masked; variables hidden from users are listed for admins only), the startup command they make, and the ports.", params(("id" = String, Path, description = "Server id")), responses((status = 200, description = "The startup settings", body = crate::api::openapi::shapes::Startup)))]
pub async fn get(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = load(&state, &id).await?;
    authorize_server(&state, &p, Permission::StartupRead, &r).await?;
    Ok(Json(view(&state, &p, &r)?))
}

fn view(state: &AppState, p: &Principal, r: &ServerRecord) -> ApiResult<Value> {
    let t = state.templates.require(&r.template)?;
    let values = t.effective(&r.variables);
    let variables: Vec<Value> = t
        .variables
        .iter()
        .filter(|v| p.user.is_admin || v.var.user_viewable)
        .map(|v| {
            let var = &v.var;
            let mut value = values.get(&var.key).cloned().unwrap_or_default();
            if var.kind == VariableType::Secret && !value.is_empty() {
                value = SECRET_MASK.into();
            }
            json!({
                "key": var.key,
                "env": var.env_name(),
                "name": var.name,
                "description": var.description,
                "type": var.kind,
                "default": if var.kind == VariableType::Secret { String::new() } else { var.default.clone() },
                "value": value,
                "rules": var.rules,
                "user_viewable": var.user_viewable,
                "user_editable": var.user_editable,
                "editable": p.user.is_admin || var.user_editable,
            })
        })
        .collect();
    let ports: Vec<Value> = t
        .template
        .ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let number = if i == 0 {
                r.port
            } else {
                r.port.saturating_add(port.offset)
            };
            json!({"name": port.name, "protocol": port.protocol, "port": number})
        })
        .collect();
    Ok(json!({
        "template": {"id": t.template.id, "name": t.template.name},
        "command": t.startup_preview(&state.config.resolve, &settings(r)),
        "variables": variables,
        "ports": ports,
        "auto_start": r.auto_start,
        "restart": r.restart,
        "limits": r.limits,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartupChange {
    /// Only the variables to change; checked together with the others, all or nothing.
    pub variables: BTreeMap<String, String>,
}

/// Permission: startup.update
#[utoipa::path(patch, path = "/api/servers/{id}/startup", tag = "servers", summary = "Change variables", description = "Changes one or many variables. Every value is checked against its rules first; if any fails nothing changes (422 naming `variables.<key>`). The server's config files are patched at once; if a file cannot be patched, the old values are put back (422 naming `config_files.<path>`).", params(("id" = String, Path, description = "Server id")), request_body = StartupChange, responses((status = 200, description = "The startup settings after the change", body = crate::api::openapi::shapes::Startup)))]
pub async fn patch(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<StartupChange>,
) -> ApiResult<Json<Value>> {
    let before = load(&state, &id).await?;
    authorize_server(&state, &p, Permission::StartupUpdate, &before).await?;
    let mut after = before.clone();
    let changed: Vec<String> = req.variables.keys().cloned().collect();
    after.variables = merged_variables(&state, &p, &before, req.variables)?;
    after.updated_at = now_millis();
    commit(&state, &before, &after).await?;
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "server.startup.update",
        Some(&after.id),
        Some(&id),
        &json!({"variables": changed}),
    )
    .await?;
    let fresh = load(&state, &id).await?;
    Ok(Json(view(&state, &p, &fresh)?))
}

/// Store, node and config files move together. The new settings are stored and
/// registered and the config files patched; when the node refuses or a file cannot be
/// patched, the old settings go back everywhere (files re-patched with the old values)
/// and the error is returned.
pub async fn commit(
    state: &AppState,
    before: &ServerRecord,
    after: &ServerRecord,
) -> ApiResult<()> {
    let spec = spec_for(state, after)?;
    state.store.update_server(after).await?;
    let applied = match state.node.register(spec).await {
        Ok(()) => state.node.apply_config(&after.id).await,
        Err(e) => Err(e),
    };
    if let Err(e) = applied {
        state.store.update_server(before).await?;
        match spec_for(state, before) {
            Ok(old) => {
                if let Err(e) = state.node.register(old).await {
                    tracing::error!(server = %before.id, error = %e, "could not put the old settings back on the node");
                } else if let Err(e) = state.node.apply_config(&before.id).await {
                    tracing::warn!(server = %before.id, error = %e, "could not re-patch config files with the old values");
                }
            }
            Err(e) => {
                tracing::error!(server = %before.id, error = %e, "old settings no longer resolve")
            }
        }
        return Err(e.into());
    }
    Ok(())
}

/// Permission: settings.reinstall
#[utoipa::path(post, path = "/api/servers/{id}/reinstall", tag = "servers", summary = "Reinstall", description = "Runs the template's install steps again (files the steps write are replaced; other files stay). Only while the server is offline or crashed.", params(("id" = String, Path, description = "Server id")), responses((status = 202, description = "The install began", body = crate::api::openapi::shapes::PowerAccepted), (status = 409, description = "Not offline or crashed (`state` names the state)")))]
pub async fn reinstall(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let r = load(&state, &id).await?;
    authorize_server(&state, &p, Permission::SettingsReinstall, &r).await?;
    // The node runs what it has registered: make sure that is the current spec.
    state.node.register(spec_for(&state, &r)?).await?;
    crate::events::begin_install(&state, &r).await?;
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "server.reinstall",
        Some(&r.id),
        Some(&id),
        &json!({}),
    )
    .await?;
    let st = state.node.state(&r.id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"action": "reinstall", "state": st})),
    ))
}

/// Permission: settings.reinstall
#[utoipa::path(post, path = "/api/servers/{id}/install/cancel", tag = "servers", summary = "Cancel the install", description = "Stops the running install; the server ends offline with the install marked cancelled.", params(("id" = String, Path, description = "Server id")), responses((status = 202, description = "Cancelling", body = crate::api::openapi::shapes::PowerAccepted), (status = 409, description = "Not installing (`state` names the state)")))]
pub async fn cancel_install(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let r = load(&state, &id).await?;
    authorize_server(&state, &p, Permission::SettingsReinstall, &r).await?;
    state.node.cancel_install(&r.id).await?;
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "server.install.cancel",
        Some(&r.id),
        Some(&id),
        &json!({}),
    )
    .await?;
    let st = state.node.state(&r.id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"action": "cancel_install", "state": st})),
    ))
}
