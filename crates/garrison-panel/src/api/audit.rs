//! Reading the audit log: one server's activity, and the panel-wide log for admins.
//!
//! Both answer `{"entries": [...], "next": <cursor or null>}`, newest first. Query
//! parameters: `limit` (1..=200, default 50), `before` (the `next` cursor of the previous
//! page), `user_id`, `action` (a prefix: `server.power` matches `server.power.start`),
//! `from` and `to` (unix millis, `from <= at < to`), and for the admin log `server`.
//! A bad value is 422 naming the parameter; an unknown parameter is 400 `unknown_field`.

use crate::AppState;
use crate::auth::{Principal, authorize, authorize_server};
use crate::error::{ApiError, ApiResult};
use crate::store::{AuditEntry, AuditQuery};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use garrison_proto::Permission;
use serde_json::{Value, json};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;
/// Longest id or action accepted in a filter.
const MAX_FILTER_CHARS: usize = 200;

type Params = Result<Query<Vec<(String, String)>>, QueryRejection>;

fn entry_json(e: &AuditEntry) -> Value {
    json!({
        "id": e.id,
        "at": e.at,
        "user_id": e.user_id,
        "username": e.username,
        "via": e.via,
        "ip": e.ip,
        "server": e.server_id,
        "action": e.action,
        "target": e.target,
        "detail": e.detail,
    })
}

fn int(field: &str, value: &str, min: i64, max: i64) -> ApiResult<i64> {
    let n: i64 = value
        .parse()
        .map_err(|_| ApiError::invalid(field, format!("{field} must be an integer")))?;
    if (min..=max).contains(&n) {
        Ok(n)
    } else {
        Err(ApiError::invalid(
            field,
            format!("{field} must be between {min} and {max}"),
        ))
    }
}

fn text(field: &str, value: &str) -> ApiResult<String> {
    let n = value.chars().count();
    if n == 0 || n > MAX_FILTER_CHARS || value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            format!("{field} must be 1 to {MAX_FILTER_CHARS} printable characters"),
        ));
    }
    Ok(value.to_owned())
}

/// Reads the filters; `server` is accepted only when `allow_server`.
fn parse(params: Params, allow_server: bool) -> ApiResult<AuditQuery> {
    let Query(pairs) = params.map_err(|e| ApiError::BadRequest {
        code: "bad_query",
        message: e.body_text(),
        field: None,
    })?;
    let mut q = AuditQuery {
        limit: DEFAULT_LIMIT,
        ..AuditQuery::default()
    };
    let mut seen = std::collections::HashSet::new();
    for (key, value) in &pairs {
        let known = matches!(
            key.as_str(),
            "limit" | "before" | "user_id" | "action" | "from" | "to"
        ) || (allow_server && key == "server");
        if !known {
            return Err(ApiError::BadRequest {
                code: "unknown_field",
                message: format!("unknown field `{key}`"),
                field: Some(key.clone()),
            });
        }
        if !seen.insert(key.as_str()) {
            return Err(ApiError::invalid(key, format!("{key} is given twice")));
        }
        match key.as_str() {
            "limit" => q.limit = int("limit", value, 1, MAX_LIMIT)?,
            "before" => q.before = Some(int("before", value, 1, i64::MAX)?),
            "from" => q.from = Some(int("from", value, 0, i64::MAX)?),
            "to" => q.to = Some(int("to", value, 0, i64::MAX)?),
            "user_id" => q.user_id = Some(text("user_id", value)?),
            "action" => q.action_prefix = Some(text("action", value)?),
            "server" => q.server_id = Some(text("server", value)?),
            _ => unreachable!("checked above"),
        }
    }
    if let (Some(from), Some(to)) = (q.from, q.to)
        && to < from
    {
        return Err(ApiError::invalid("to", "to must not be before from"));
    }
    Ok(q)
}

async fn page(state: &AppState, q: &AuditQuery) -> ApiResult<Json<Value>> {
    let page = state.store.query_audit(q).await?;
    Ok(Json(json!({
        "entries": page.entries.iter().map(entry_json).collect::<Vec<_>>(),
        "next": page.next,
    })))
}

/// Permission: activity.read (on the server). `GET /api/servers/{id}/activity`: the
/// entries filed under this server.
#[utoipa::path(get, path = "/api/servers/{id}/activity", tag = "audit", summary = "A server's activity", params(("id" = String, Path, description = "Server id"), ("limit" = Option<u32>, Query, description = "1 to 200, default 50"), ("before" = Option<i64>, Query, description = "The `next` cursor of the previous page"), ("user_id" = Option<String>, Query, description = "Only this actor"), ("action" = Option<String>, Query, description = "An action prefix: `server.power` matches `server.power.start`"), ("from" = Option<i64>, Query, description = "Unix millis, inclusive"), ("to" = Option<i64>, Query, description = "Unix millis, exclusive")), responses((status = 200, description = "One page, newest first", body = crate::api::openapi::shapes::AuditPage), (status = 400, description = "An unknown query parameter (`unknown_field`)"), (status = 422, description = "A bad parameter value; `field` names it")))]
pub async fn activity(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let r = super::servers::load(&state, &id).await?;
    authorize_server(&state, &p, Permission::ActivityRead, &r).await?;
    let mut q = parse(params, false)?;
    q.server_id = Some(r.id.as_str().to_owned());
    page(&state, &q).await
}

/// Permission: admin.audit. `GET /api/admin/audit`: the whole log.
#[utoipa::path(get, path = "/api/admin/audit", tag = "audit", summary = "The whole audit log", params(("limit" = Option<u32>, Query, description = "1 to 200, default 50"), ("before" = Option<i64>, Query, description = "The `next` cursor of the previous page"), ("user_id" = Option<String>, Query, description = "Only this actor"), ("action" = Option<String>, Query, description = "An action prefix: `server.power` matches `server.power.start`"), ("from" = Option<i64>, Query, description = "Unix millis, inclusive"), ("to" = Option<i64>, Query, description = "Unix millis, exclusive"), ("server" = Option<String>, Query, description = "Only entries filed under this server")), responses((status = 200, description = "One page, newest first", body = crate::api::openapi::shapes::AuditPage), (status = 400, description = "An unknown query parameter (`unknown_field`)"), (status = 422, description = "A bad parameter value; `field` names it")))]
pub async fn admin_log(
    State(state): State<AppState>,
    p: Principal,
    params: Params,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminAudit)?;
    let q = parse(params, true)?;
    page(&state, &q).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Ok(Query(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
    }

    fn field(e: &ApiError) -> Value {
        e.body()["error"]["field"].clone()
    }

    #[test]
    fn filters_parse_and_name_bad_fields() {
        let q = parse(params(&[]), true).unwrap();
        assert_eq!(q.limit, DEFAULT_LIMIT);
        let q = parse(
            params(&[
                ("limit", "200"),
                ("before", "9"),
                ("action", "server.power"),
                ("server", "s1"),
                ("from", "1"),
                ("to", "2"),
                ("user_id", "u"),
            ]),
            true,
        )
        .unwrap();
        assert_eq!(q.limit, 200);
        assert_eq!(q.before, Some(9));
        assert_eq!(q.action_prefix.as_deref(), Some("server.power"));
        assert_eq!(q.server_id.as_deref(), Some("s1"));
        assert_eq!((q.from, q.to), (Some(1), Some(2)));
        assert_eq!(q.user_id.as_deref(), Some("u"));

        for (k, v) in [
            ("limit", "0"),
            ("limit", "201"),
            ("limit", "ten"),
            ("before", "0"),
            ("from", "-1"),
            ("to", "soon"),
            ("action", ""),
            ("user_id", "\u{7}"),
        ] {
            let e = parse(params(&[(k, v)]), true).unwrap_err();
            assert_eq!(e.status(), 422, "{k}={v}");
            assert_eq!(field(&e), k, "{k}={v}");
        }
        let e = parse(params(&[("from", "5"), ("to", "4")]), true).unwrap_err();
        assert_eq!(field(&e), "to");
        let e = parse(params(&[("limit", "1"), ("limit", "2")]), true).unwrap_err();
        assert_eq!(field(&e), "limit");

        let e = parse(params(&[("sort", "asc")]), true).unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (400, "unknown_field"));
        assert_eq!(field(&e), "sort");
        // A server's activity is already filtered by its server.
        let e = parse(params(&[("server", "x")]), false).unwrap_err();
        assert_eq!(e.code(), "unknown_field");
    }
}
