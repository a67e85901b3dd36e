//! Schedules: a server's (`/servers/{id}/schedules`, `schedule.*` permissions) and the
//! admin-wide ones over many servers (`/admin/schedules`, `admin.schedules`): list,
//! create, get, change, delete, run now, and the history of runs. `GET
//! /schedules/preview` describes a trigger and lists its next runs (the UI's cron
//! builder).
//!
//! Saving a schedule checks that its author may do every task in it (power, console,
//! backup), so `schedule.create` never grants more than the author has.

use crate::AppState;
use crate::api::files::{self, server};
use crate::auth::{Principal, authorize, authorize_server};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::ratelimit::ClientIp;
use crate::schedules::{
    self, MissedPolicy, Targets, Task, Trigger, check_name, check_tasks, check_trigger, engine,
    timing,
};
use crate::store::{RunRecord, ScheduleRecord, ScheduleSpec, ServerRecord, now_millis};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use garrison_proto::{Permission, ServerId};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

const MAX_RUNS_PAGE: u32 = 100;
const MAX_PREVIEW: usize = 20;

/// The body of create (name, trigger and tasks required) and change (any subset).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// 1 to 100 characters.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub trigger: Option<Trigger>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Run only while the server is running (others are recorded as skipped).
    #[serde(default)]
    pub only_when_online: Option<bool>,
    /// What happens to slots missed while Garrison was down (default `skip`).
    #[serde(default)]
    pub missed: Option<MissedPolicy>,
    /// 1 to 20 tasks, run in order.
    #[serde(default)]
    pub tasks: Option<Vec<Task>>,
    /// Admin-wide schedules only: the servers to act on.
    #[serde(default)]
    pub targets: Option<Targets>,
}

/// A schedule as the API shows it.
fn view(s: &ScheduleRecord) -> Value {
    let mut v = json!(s);
    v["description"] = json!(timing::describe(&s.trigger));
    v["running"] = json!(s.lease_until.is_some_and(|l| l > now_millis()));
    if let Some(obj) = v.as_object_mut() {
        obj.remove("lease_until");
    }
    v
}

/// The spec a create asks for, checked; `scope` is the server for a server schedule.
fn spec_for_create(
    state: &AppState,
    body: ScheduleBody,
    admin_wide: bool,
) -> ApiResult<ScheduleSpec> {
    let name = body
        .name
        .ok_or_else(|| ApiError::invalid("name", "a schedule needs a name"))?;
    let trigger = body
        .trigger
        .ok_or_else(|| ApiError::invalid("trigger", "a schedule needs a trigger"))?;
    let tasks = body
        .tasks
        .ok_or_else(|| ApiError::invalid("tasks", "a schedule needs tasks"))?;
    let spec = ScheduleSpec {
        name,
        targets: body.targets.unwrap_or_default(),
        trigger,
        enabled: body.enabled.unwrap_or(true),
        only_when_online: body.only_when_online.unwrap_or(false),
        missed: body.missed.unwrap_or_default(),
        tasks,
    };
    check_spec(state, &spec, admin_wide)?;
    Ok(spec)
}

fn check_spec(state: &AppState, spec: &ScheduleSpec, admin_wide: bool) -> ApiResult<()> {
    check_name(&spec.name)?;
    check_trigger(&spec.trigger, &state.scheduler.settings)?;
    check_tasks(&spec.tasks)?;
    if admin_wide {
        if !spec.targets.all && spec.targets.servers.is_empty() {
            return Err(ApiError::invalid(
                "targets",
                "name the servers (targets.servers) or all of them (targets.all)",
            ));
        }
        if spec.targets.servers.len() > schedules::MAX_TARGETS {
            return Err(ApiError::invalid(
                "targets.servers",
                format!("at most {} servers", schedules::MAX_TARGETS),
            ));
        }
    } else if spec.targets != Targets::default() {
        return Err(ApiError::invalid(
            "targets",
            "a server's schedule acts on that server; targets are for admin-wide schedules",
        ));
    }
    Ok(())
}

/// The author must hold every permission the tasks use on the server.
async fn check_task_permissions(
    state: &AppState,
    p: &Principal,
    r: &ServerRecord,
    tasks: &[Task],
) -> ApiResult<()> {
    for t in tasks {
        if let Some(perm) = t.permission() {
            authorize_server(state, p, perm, r).await?;
        }
    }
    Ok(())
}

/// Admin-wide targets must exist.
async fn check_targets(state: &AppState, targets: &Targets) -> ApiResult<()> {
    for (i, id) in targets.servers.iter().enumerate() {
        crate::api::servers::existing(state, &format!("targets.servers[{i}]"), id.0.clone())
            .await?;
    }
    Ok(())
}

/// The first slot of a schedule saved now (none while disabled).
fn first_slot(spec: &ScheduleSpec, now: i64) -> Option<i64> {
    if !spec.enabled {
        return None;
    }
    timing::next_after(&spec.trigger, now, now)
}

/// Applies a change to a stored schedule; the next slot moves only when the trigger or
/// the enabled flag changed (renaming keeps an interval's grid).
fn merged(old: &ScheduleRecord, body: ScheduleBody) -> (ScheduleSpec, bool) {
    let retime = body.trigger.as_ref().is_some_and(|t| *t != old.trigger)
        || body.enabled.is_some_and(|e| e != old.enabled);
    let spec = ScheduleSpec {
        name: body.name.unwrap_or_else(|| old.name.clone()),
        targets: body.targets.unwrap_or_else(|| old.targets.clone()),
        trigger: body.trigger.unwrap_or_else(|| old.trigger.clone()),
        enabled: body.enabled.unwrap_or(old.enabled),
        only_when_online: body.only_when_online.unwrap_or(old.only_when_online),
        missed: body.missed.unwrap_or(old.missed),
        tasks: body.tasks.unwrap_or_else(|| old.tasks.clone()),
    };
    (spec, retime)
}

async fn save_change(
    state: &AppState,
    old: &ScheduleRecord,
    spec: &ScheduleSpec,
    retime: bool,
) -> ApiResult<ScheduleRecord> {
    let now = now_millis();
    let next = if retime {
        first_slot(spec, now)
    } else {
        old.next_run_at
    };
    if !state
        .store
        .update_schedule(&old.id, spec, next, now)
        .await?
    {
        return Err(ApiError::NotFound("schedule".into()));
    }
    state
        .store
        .get_schedule(&old.id)
        .await?
        .ok_or_else(|| ApiError::NotFound("schedule".into()))
}

/// A server's schedule, 404 when it belongs to another server.
async fn server_schedule(
    state: &AppState,
    r: &ServerRecord,
    sid: &str,
) -> ApiResult<ScheduleRecord> {
    match state.store.get_schedule(sid).await? {
        Some(s) if s.server_id.as_ref() == Some(&r.id) => Ok(s),
        _ => Err(ApiError::NotFound("schedule".into())),
    }
}

async fn admin_schedule(state: &AppState, sid: &str) -> ApiResult<ScheduleRecord> {
    match state.store.get_schedule(sid).await? {
        Some(s) if s.server_id.is_none() => Ok(s),
        _ => Err(ApiError::NotFound("schedule".into())),
    }
}

async fn audit_server(
    state: &AppState,
    p: &Principal,
    ip: &ClientIp,
    action: &str,
    server: &ServerId,
    s: &ScheduleRecord,
) -> ApiResult<()> {
    files::audit(state, p, ip, action, server, &s.id, json!({"name": s.name})).await
}

async fn audit_admin(
    state: &AppState,
    p: &Principal,
    ip: &ClientIp,
    action: &str,
    s: &ScheduleRecord,
) -> ApiResult<()> {
    crate::audit::record(
        state,
        p,
        Some(&ip.0.to_string()),
        action,
        None,
        Some(&s.id),
        &json!({"name": s.name, "targets": s.targets}),
    )
    .await?;
    Ok(())
}

async fn start_run(state: &AppState, s: &ScheduleRecord) -> ApiResult<RunRecord> {
    engine::run_now(state, s).await?.ok_or(ApiError::Refused {
        code: "schedule_running",
        message: "the schedule is running now; wait for its run to end".into(),
    })
}

/// `?limit=1..100&before=<started_at cursor>`; unknown parameters are refused.
async fn runs_page(
    state: &AppState,
    s: &ScheduleRecord,
    q: &HashMap<String, String>,
) -> ApiResult<Json<Value>> {
    let mut limit = 20;
    let mut before = None;
    for (k, v) in q {
        match k.as_str() {
            "limit" => {
                limit = v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_RUNS_PAGE).contains(n))
                    .ok_or_else(|| {
                        ApiError::invalid("limit", format!("limit is 1 to {MAX_RUNS_PAGE}"))
                    })?;
            }
            "before" => {
                before = Some(
                    v.parse::<i64>()
                        .map_err(|_| ApiError::invalid("before", "before is unix millis"))?,
                );
            }
            other => {
                return Err(ApiError::unknown_param(other));
            }
        }
    }
    let runs = state.store.list_runs(&s.id, limit, before).await?;
    let next = (runs.len() == limit as usize)
        .then(|| runs.last().map(|r| r.started_at))
        .flatten();
    Ok(Json(json!({"runs": runs, "next": next})))
}

// ---- a server's schedules ------------------------------------------------------------

/// Permission: schedule.read
#[utoipa::path(get, path = "/api/servers/{id}/schedules", tag = "schedules", summary = "List a server's schedules", params(("id" = String, Path, description = "Server id")), responses((status = 200, description = "The schedules, oldest first", body = Vec<crate::api::openapi::shapes::Schedule>)))]
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::ScheduleRead).await?;
    let list = state.store.list_schedules(Some(&r.id)).await?;
    Ok(Json(Value::Array(list.iter().map(view).collect())))
}

/// Permission: schedule.create
#[utoipa::path(post, path = "/api/servers/{id}/schedules", tag = "schedules", summary = "Create a schedule", description = "A trigger (`cron` with a time zone, or `interval`) and 1 to 20 tasks. The author must hold the permissions the tasks use (`control.*`, `control.console`, `backup.create`).", params(("id" = String, Path, description = "Server id")), request_body = ScheduleBody, responses((status = 201, description = "The schedule", body = crate::api::openapi::shapes::Schedule)))]
pub async fn create(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ScheduleBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let r = server(&state, &p, &id, Permission::ScheduleCreate).await?;
    let spec = spec_for_create(&state, body, false)?;
    check_task_permissions(&state, &p, &r, &spec.tasks).await?;
    let now = now_millis();
    let s = state
        .store
        .insert_schedule(
            Some(&r.id),
            &spec,
            first_slot(&spec, now),
            Some(&p.user.id),
            now,
        )
        .await?;
    audit_server(&state, &p, &ip, "schedule.create", &r.id, &s).await?;
    Ok((StatusCode::CREATED, Json(view(&s))))
}

/// Permission: schedule.read
#[utoipa::path(get, path = "/api/servers/{id}/schedules/{schedule}", tag = "schedules", summary = "Get a schedule", params(("id" = String, Path, description = "Server id"), ("schedule" = String, Path, description = "Schedule id")), responses((status = 200, description = "The schedule", body = crate::api::openapi::shapes::Schedule)))]
pub async fn get(
    State(state): State<AppState>,
    p: Principal,
    Path((id, sid)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::ScheduleRead).await?;
    Ok(Json(view(&server_schedule(&state, &r, &sid).await?)))
}

/// Permission: schedule.update
#[utoipa::path(patch, path = "/api/servers/{id}/schedules/{schedule}", tag = "schedules", summary = "Change a schedule", description = "Any subset of the fields; the next run moves only when the trigger or `enabled` changes.", params(("id" = String, Path, description = "Server id"), ("schedule" = String, Path, description = "Schedule id")), request_body = ScheduleBody, responses((status = 200, description = "The schedule", body = crate::api::openapi::shapes::Schedule)))]
pub async fn update(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path((id, sid)): Path<(String, String)>,
    ApiJson(body): ApiJson<ScheduleBody>,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::ScheduleUpdate).await?;
    let old = server_schedule(&state, &r, &sid).await?;
    let (spec, retime) = merged(&old, body);
    check_spec(&state, &spec, false)?;
    check_task_permissions(&state, &p, &r, &spec.tasks).await?;
    let s = save_change(&state, &old, &spec, retime).await?;
    audit_server(&state, &p, &ip, "schedule.update", &r.id, &s).await?;
    Ok(Json(view(&s)))
}

/// Permission: schedule.delete
#[utoipa::path(delete, path = "/api/servers/{id}/schedules/{schedule}", tag = "schedules", summary = "Delete a schedule", description = "With its history. A run in progress finishes its current task and records nothing more.", params(("id" = String, Path, description = "Server id"), ("schedule" = String, Path, description = "Schedule id")), responses((status = 204, description = "Deleted")))]
pub async fn remove(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path((id, sid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let r = server(&state, &p, &id, Permission::ScheduleDelete).await?;
    let s = server_schedule(&state, &r, &sid).await?;
    state.store.delete_schedule(&s.id).await?;
    audit_server(&state, &p, &ip, "schedule.delete", &r.id, &s).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Permission: schedule.update
#[utoipa::path(post, path = "/api/servers/{id}/schedules/{schedule}/run", tag = "schedules", summary = "Run a schedule now", description = "Starts a run at once (enabled or not, online or not as its flag says); the next scheduled run is unchanged. 409 `schedule_running` while a run is going.", params(("id" = String, Path, description = "Server id"), ("schedule" = String, Path, description = "Schedule id")), responses((status = 202, description = "The run, started", body = crate::api::openapi::shapes::ScheduleRun)))]
pub async fn run_now(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path((id, sid)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let r = server(&state, &p, &id, Permission::ScheduleUpdate).await?;
    let s = server_schedule(&state, &r, &sid).await?;
    check_task_permissions(&state, &p, &r, &s.tasks).await?;
    let run = start_run(&state, &s).await?;
    audit_server(&state, &p, &ip, "schedule.run", &r.id, &s).await?;
    Ok((StatusCode::ACCEPTED, Json(json!(run))))
}

/// Permission: schedule.read
#[utoipa::path(get, path = "/api/servers/{id}/schedules/{schedule}/runs", tag = "schedules", summary = "A schedule's runs", description = "Newest first, each with every task's outcome and output. Kept for the configured number of days (default 30).", params(("id" = String, Path, description = "Server id"), ("schedule" = String, Path, description = "Schedule id"), ("limit" = Option<u32>, Query, description = "1 to 100, default 20"), ("before" = Option<i64>, Query, description = "The `next` cursor of the previous page")), responses((status = 200, description = "One page of runs", body = crate::api::openapi::shapes::ScheduleRuns)))]
pub async fn runs(
    State(state): State<AppState>,
    p: Principal,
    Path((id, sid)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::ScheduleRead).await?;
    let s = server_schedule(&state, &r, &sid).await?;
    runs_page(&state, &s, &q).await
}

// ---- admin-wide schedules ------------------------------------------------------------

/// Permission: admin.schedules
#[utoipa::path(get, path = "/api/admin/schedules", tag = "schedules", summary = "List admin-wide schedules", responses((status = 200, description = "The schedules, oldest first", body = Vec<crate::api::openapi::shapes::Schedule>)))]
pub async fn admin_list(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminSchedules)?;
    let list = state.store.list_schedules(None).await?;
    Ok(Json(Value::Array(list.iter().map(view).collect())))
}

/// Permission: admin.schedules
#[utoipa::path(post, path = "/api/admin/schedules", tag = "schedules", summary = "Create an admin-wide schedule", description = "Like a server's schedule, with `targets`: `{\"all\": true}` or `{\"servers\": [ids]}`. Each run does the chain on each server in turn; one server's failure does not stop the others.", request_body = ScheduleBody, responses((status = 201, description = "The schedule", body = crate::api::openapi::shapes::Schedule)))]
pub async fn admin_create(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    ApiJson(body): ApiJson<ScheduleBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&p, Permission::AdminSchedules)?;
    let spec = spec_for_create(&state, body, true)?;
    check_targets(&state, &spec.targets).await?;
    let now = now_millis();
    let s = state
        .store
        .insert_schedule(None, &spec, first_slot(&spec, now), Some(&p.user.id), now)
        .await?;
    audit_admin(&state, &p, &ip, "schedule.create", &s).await?;
    Ok((StatusCode::CREATED, Json(view(&s))))
}

/// Permission: admin.schedules
#[utoipa::path(get, path = "/api/admin/schedules/{schedule}", tag = "schedules", summary = "Get an admin-wide schedule", params(("schedule" = String, Path, description = "Schedule id")), responses((status = 200, description = "The schedule", body = crate::api::openapi::shapes::Schedule)))]
pub async fn admin_get(
    State(state): State<AppState>,
    p: Principal,
    Path(sid): Path<String>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminSchedules)?;
    Ok(Json(view(&admin_schedule(&state, &sid).await?)))
}

/// Permission: admin.schedules
#[utoipa::path(patch, path = "/api/admin/schedules/{schedule}", tag = "schedules", summary = "Change an admin-wide schedule", params(("schedule" = String, Path, description = "Schedule id")), request_body = ScheduleBody, responses((status = 200, description = "The schedule", body = crate::api::openapi::shapes::Schedule)))]
pub async fn admin_update(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(sid): Path<String>,
    ApiJson(body): ApiJson<ScheduleBody>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminSchedules)?;
    let old = admin_schedule(&state, &sid).await?;
    let (spec, retime) = merged(&old, body);
    check_spec(&state, &spec, true)?;
    check_targets(&state, &spec.targets).await?;
    let s = save_change(&state, &old, &spec, retime).await?;
    audit_admin(&state, &p, &ip, "schedule.update", &s).await?;
    Ok(Json(view(&s)))
}

/// Permission: admin.schedules
#[utoipa::path(delete, path = "/api/admin/schedules/{schedule}", tag = "schedules", summary = "Delete an admin-wide schedule", params(("schedule" = String, Path, description = "Schedule id")), responses((status = 204, description = "Deleted")))]
pub async fn admin_remove(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(sid): Path<String>,
) -> ApiResult<StatusCode> {
    authorize(&p, Permission::AdminSchedules)?;
    let s = admin_schedule(&state, &sid).await?;
    state.store.delete_schedule(&s.id).await?;
    audit_admin(&state, &p, &ip, "schedule.delete", &s).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Permission: admin.schedules
#[utoipa::path(post, path = "/api/admin/schedules/{schedule}/run", tag = "schedules", summary = "Run an admin-wide schedule now", params(("schedule" = String, Path, description = "Schedule id")), responses((status = 202, description = "The run, started", body = crate::api::openapi::shapes::ScheduleRun)))]
pub async fn admin_run_now(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(sid): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&p, Permission::AdminSchedules)?;
    let s = admin_schedule(&state, &sid).await?;
    let run = start_run(&state, &s).await?;
    audit_admin(&state, &p, &ip, "schedule.run", &s).await?;
    Ok((StatusCode::ACCEPTED, Json(json!(run))))
}

/// Permission: admin.schedules
#[utoipa::path(get, path = "/api/admin/schedules/{schedule}/runs", tag = "schedules", summary = "An admin-wide schedule's runs", params(("schedule" = String, Path, description = "Schedule id"), ("limit" = Option<u32>, Query, description = "1 to 100, default 20"), ("before" = Option<i64>, Query, description = "The `next` cursor of the previous page")), responses((status = 200, description = "One page of runs", body = crate::api::openapi::shapes::ScheduleRuns)))]
pub async fn admin_runs(
    State(state): State<AppState>,
    p: Principal,
    Path(sid): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    authorize(&p, Permission::AdminSchedules)?;
    let s = admin_schedule(&state, &sid).await?;
    runs_page(&state, &s, &q).await
}

// ---- preview -------------------------------------------------------------------------

/// Signed in
#[utoipa::path(get, path = "/api/schedules/preview", tag = "schedules", summary = "Describe a trigger and list its next runs", description = "`cron` (with `timezone`, default UTC) or `interval` (seconds); the next `count` (1 to 20, default 5) runs after `from` (unix millis, default now). Errors name the bad parameter.", params(("cron" = Option<String>, Query, description = "A 5-field cron expression or alias"), ("timezone" = Option<String>, Query, description = "IANA time zone, default UTC"), ("interval" = Option<u64>, Query, description = "Seconds"), ("from" = Option<i64>, Query, description = "Unix millis"), ("count" = Option<u32>, Query, description = "1 to 20")), responses((status = 200, description = "The description and the next runs", body = crate::api::openapi::shapes::SchedulePreview)))]
pub async fn preview(
    State(state): State<AppState>,
    _p: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let mut cron = None;
    let mut timezone = "UTC".to_owned();
    let mut interval = None;
    let mut from = now_millis();
    let mut count = 5;
    for (k, v) in &q {
        match k.as_str() {
            "cron" => cron = Some(v.clone()),
            "timezone" => timezone = v.clone(),
            "interval" => {
                interval = Some(
                    v.parse::<u64>()
                        .map_err(|_| ApiError::invalid("interval", "interval is seconds"))?,
                );
            }
            "from" => {
                from = v
                    .parse()
                    .map_err(|_| ApiError::invalid("from", "from is unix millis"))?;
            }
            "count" => {
                count = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_PREVIEW).contains(n))
                    .ok_or_else(|| {
                        ApiError::invalid("count", format!("count is 1 to {MAX_PREVIEW}"))
                    })?;
            }
            other => {
                return Err(ApiError::unknown_param(other));
            }
        }
    }
    let trigger = match (cron, interval) {
        (Some(expression), None) => Trigger::Cron {
            expression,
            timezone,
        },
        (None, Some(secs)) => Trigger::Interval { secs },
        _ => {
            return Err(ApiError::invalid(
                "cron",
                "give either cron (with timezone) or interval",
            ));
        }
    };
    check_trigger(&trigger, &state.scheduler.settings).map_err(|e| match e {
        // Query parameters are named as such, not as body fields.
        ApiError::Invalid { field, message } => ApiError::Invalid {
            field: match field.as_str() {
                "trigger.expression" => "cron".into(),
                "trigger.timezone" => "timezone".into(),
                "trigger.secs" => "interval".into(),
                _ => field,
            },
            message,
        },
        other => other,
    })?;
    let next: Vec<Value> = timing::upcoming(&trigger, from, from, count)
        .into_iter()
        .map(|t| json!({"at": t, "utc": timing::rfc3339(t)}))
        .collect();
    Ok(Json(json!({
        "description": timing::describe(&trigger),
        "next": next,
    })))
}
