//! The HTTP API. One file per resource; each handler names its permission at the top.

pub mod account;
pub mod admin;
pub mod alerts;
pub mod audit;
pub mod auth;
pub mod backups;
pub mod channels;
pub mod files;
pub mod health;
pub mod maintenance;
pub mod metrics;
pub mod openapi;
pub mod players;
pub mod registration;
pub mod routes;
pub mod schedules;
pub mod servers;
pub mod sse;
pub mod ssh_keys;
pub mod startup;
pub mod stats;
pub mod subusers;
pub mod template_repos;
pub mod templates;
pub mod two_factor;
pub mod ws;

use crate::AppState;
use crate::error::ApiError;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};

/// Request bodies larger than this are refused with 413 before they are read.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The limit for the routes anyone may call without credentials.
pub const AUTH_BODY_BYTES: usize = 8 * 1024;

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/health", get(health::health))
        .route("/openapi.json", get(openapi::openapi_json))
        // Anonymous bodies are small: a tighter limit than the API's.
        .route(
            "/auth/login",
            post(auth::login).layer(DefaultBodyLimit::max(AUTH_BODY_BYTES)),
        )
        .route(
            "/auth/login/2fa",
            post(auth::login_two_factor).layer(DefaultBodyLimit::max(AUTH_BODY_BYTES)),
        )
        .route(
            "/auth/register",
            post(registration::register).layer(DefaultBodyLimit::max(AUTH_BODY_BYTES)),
        )
        .route(
            "/admin/settings/registration",
            get(registration::get_setting).put(registration::put_setting),
        )
        .route("/auth/logout", post(auth::logout))
        .route("/account", get(account::me))
        .route("/account/password", post(account::change_password))
        .route(
            "/account/api-keys",
            get(account::list_keys).post(account::create_key),
        )
        .route("/account/api-keys/{id}", delete(account::delete_key))
        .route("/account/2fa", get(two_factor::status))
        .route("/account/2fa/setup", post(two_factor::setup))
        .route("/account/2fa/enable", post(two_factor::enable))
        .route("/account/2fa/disable", post(two_factor::disable))
        .route(
            "/admin/settings/require-two-factor",
            get(two_factor::get_required).put(two_factor::put_required),
        )
        .route("/templates", get(templates::list).post(templates::create))
        .route(
            "/templates/import",
            post(templates::import).layer(DefaultBodyLimit::max(templates::IMPORT_BODY_BYTES)),
        )
        .route(
            "/templates/{tid}",
            get(templates::get)
                .put(templates::replace)
                .delete(templates::remove),
        )
        .route("/templates/{tid}/export", get(templates::export))
        .route(
            "/template-repos",
            get(template_repos::list).post(template_repos::add),
        )
        .route("/template-repos/{rid}", delete(template_repos::remove))
        .route("/template-repos/{rid}/sync", post(template_repos::sync))
        .route("/servers", get(servers::list).post(servers::create))
        .route(
            "/servers/{id}",
            get(servers::get)
                .patch(servers::update)
                .delete(servers::remove),
        )
        .route("/servers/{id}/power", post(servers::power))
        .route("/servers/{id}/command", post(servers::command))
        .route("/servers/{id}/logs", get(servers::logs))
        .route("/servers/{id}/stats", get(servers::stats))
        .route("/servers/{id}/history", get(servers::history))
        .route(
            "/servers/{id}/startup",
            get(startup::get).patch(startup::patch),
        )
        .route("/servers/{id}/reinstall", post(startup::reinstall))
        .route(
            "/servers/{id}/install/cancel",
            post(startup::cancel_install),
        )
        .route("/servers/{id}/activity", get(audit::activity))
        .route("/admin/audit", get(audit::admin_log))
        .route("/admin/stats", get(stats::stats))
        .route("/admin/health", get(stats::health))
        .route(
            "/servers/{id}/users",
            get(subusers::list).post(subusers::invite),
        )
        .route(
            "/servers/{id}/users/{user_id}",
            axum::routing::patch(subusers::update).delete(subusers::remove),
        )
        .route(
            "/admin/users",
            get(admin::list_users).post(admin::create_user),
        )
        .route(
            "/admin/users/{user_id}",
            axum::routing::patch(admin::update_user).delete(admin::delete_user),
        )
        .route("/account/sessions", get(account::list_sessions))
        .route("/account/ssh-keys", get(ssh_keys::list).post(ssh_keys::add))
        .route("/account/ssh-keys/{id}", delete(ssh_keys::remove))
        .route("/account/sessions/{id}", delete(account::delete_session))
        .route("/servers/{id}/files", get(files::list))
        .route("/servers/{id}/files/stat", get(files::stat))
        .route(
            "/servers/{id}/files/content",
            get(files::read_content)
                .put(files::write_content)
                .layer(DefaultBodyLimit::max(files::EDITOR_MAX_BYTES as usize)),
        )
        .route("/servers/{id}/files/download", get(files::download))
        .route("/servers/{id}/files/uploads", post(files::begin_upload))
        .route(
            "/servers/{id}/files/uploads/{upload}",
            get(files::upload_state)
                .patch(files::upload_chunk)
                .delete(files::abort_upload),
        )
        .route("/servers/{id}/files/folder", post(files::create_folder))
        .route("/servers/{id}/files/rename", post(files::rename))
        .route("/servers/{id}/files/copy", post(files::copy))
        .route("/servers/{id}/files/chmod", post(files::chmod))
        .route("/servers/{id}/files/delete", post(files::delete))
        .route("/servers/{id}/files/compress", post(files::compress))
        .route("/servers/{id}/files/decompress", post(files::decompress))
        .route("/servers/{id}/files/search", get(files::search))
        .route("/servers/{id}/files/pull", post(files::pull))
        .route("/servers/{id}/files/usage", get(files::usage))
        .route("/servers/{id}/sftp", get(files::sftp_details))
        .route(
            "/servers/{id}/backups",
            get(backups::list).post(backups::create),
        )
        .route(
            "/servers/{id}/backups/{backup}",
            get(backups::get).delete(backups::remove),
        )
        .route(
            "/servers/{id}/backups/{backup}/download",
            get(backups::download),
        )
        .route(
            "/servers/{id}/backups/{backup}/manifest",
            get(backups::manifest),
        )
        .route(
            "/servers/{id}/backups/{backup}/lock",
            post(backups::lock_backup),
        )
        .route(
            "/servers/{id}/backups/{backup}/unlock",
            post(backups::unlock_backup),
        )
        .route(
            "/servers/{id}/backups/{backup}/cancel",
            post(backups::cancel),
        )
        .route(
            "/servers/{id}/backups/{backup}/restore",
            post(backups::restore),
        )
        .route(
            "/servers/{id}/backups/{backup}/verify",
            post(backups::verify),
        )
        .route(
            "/servers/{id}/schedules",
            get(schedules::list).post(schedules::create),
        )
        .route(
            "/servers/{id}/schedules/{schedule}",
            get(schedules::get)
                .patch(schedules::update)
                .delete(schedules::remove),
        )
        .route(
            "/servers/{id}/schedules/{schedule}/run",
            post(schedules::run_now),
        )
        .route(
            "/servers/{id}/schedules/{schedule}/runs",
            get(schedules::runs),
        )
        .route(
            "/admin/schedules",
            get(schedules::admin_list).post(schedules::admin_create),
        )
        .route(
            "/admin/schedules/{schedule}",
            get(schedules::admin_get)
                .patch(schedules::admin_update)
                .delete(schedules::admin_remove),
        )
        .route(
            "/admin/schedules/{schedule}/run",
            post(schedules::admin_run_now),
        )
        .route(
            "/admin/schedules/{schedule}/runs",
            get(schedules::admin_runs),
        )
        .route("/schedules/preview", get(schedules::preview))
        .route("/events", get(sse::events))
        .route("/servers/{id}/metrics", get(metrics::server_metrics))
        .route("/nodes/{node}/metrics", get(metrics::node_metrics))
        .route("/admin/metrics/top", get(metrics::top))
        .route("/alerts", get(alerts::list))
        .route("/alerts/stats", get(alerts::stats))
        .route("/alerts/resolve", post(alerts::resolve_many))
        .route("/alerts/{alert}/resolve", post(alerts::resolve_one))
        .route(
            "/alerts/rules",
            get(alerts::list_rules).post(alerts::create_rule),
        )
        .route(
            "/alerts/rules/{rule}",
            get(alerts::get_rule)
                .put(alerts::replace_rule)
                .delete(alerts::delete_rule),
        )
        .route("/servers/{id}/alerts", get(alerts::server_alerts))
        .route(
            "/admin/channels",
            get(channels::list).post(channels::create),
        )
        .route(
            "/admin/channels/{channel}",
            get(channels::get)
                .put(channels::replace)
                .delete(channels::remove),
        )
        .route("/admin/channels/{channel}/test", post(channels::test))
        .route(
            "/admin/channels/{channel}/deliveries",
            get(channels::deliveries),
        )
        .route(
            "/admin/maintenance",
            get(maintenance::list).post(maintenance::create),
        )
        .route(
            "/admin/maintenance/{window}",
            axum::routing::put(maintenance::replace).delete(maintenance::remove),
        )
        .route("/servers/{id}/maintenance", get(maintenance::for_server))
        .route("/servers/{id}/players", get(players::now))
        .route("/servers/{id}/players/activity", get(players::activity))
        .route(
            "/luanti/{id}/{token}/announce",
            post(players::luanti_announce)
                .layer(DefaultBodyLimit::max(players::ANNOUNCE_BODY_BYTES)),
        )
        .route("/servers/{id}/ws-ticket", post(ws::ticket))
        .route("/servers/{id}/ws", get(ws::console))
        .fallback(|| async { ApiError::NotFound("route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::ratelimit::api_middleware,
        ))
        .layer(axum::middleware::from_fn(crate::prometheus::track));
    let web = crate::web::router(state.config.web_dir.clone());
    let mut app = Router::new()
        .merge(crate::prometheus::routes())
        .nest("/api", api)
        .merge(web)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(cors(&state.config.allowed_origins));
    if state.config.https {
        app = app.layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            axum::http::header::STRICT_TRANSPORT_SECURITY,
            axum::http::HeaderValue::from_static("max-age=31536000"),
        ));
    }
    app.layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Cross-origin requests are refused unless their origin is one of `allowed_origins`
/// (then with credentials, so a panel UI hosted elsewhere can use the API).
fn cors(allowed: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderValue, Method, header};
    let origins: Vec<HeaderValue> = allowed
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(origins)
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .max_age(std::time::Duration::from_secs(600))
}
