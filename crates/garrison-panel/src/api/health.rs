use crate::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

/// No authentication: for load balancers and uptime checks.
pub async fn health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "database": state.store.backend(),
    }))
}
