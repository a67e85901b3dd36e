use crate::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

/// No authentication: for load balancers and uptime checks.
#[utoipa::path(get, path = "/api/health", tag = "meta", summary = "Liveness and version", responses((status = 200, description = "The panel answers", body = crate::api::openapi::shapes::Health)))]
pub async fn health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "database": state.store.backend(),
    }))
}
