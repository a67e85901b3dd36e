use crate::AppState;
use crate::auth::{Principal, authorize};
use crate::error::ApiResult;
use axum::Json;
use axum::extract::State;
use garrison_proto::{Permission, Template};

/// Permission: template.read
#[utoipa::path(get, path = "/api/templates", tag = "servers", summary = "List templates", responses((status = 200, description = "Every template", body = Vec<crate::api::openapi::shapes::Template>)))]
pub async fn list(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Vec<Template>>> {
    authorize(&p, Permission::TemplateRead)?;
    Ok(Json(state.templates.all().cloned().collect()))
}
