//! Servers: create, read, update, delete, power, console commands, logs, stats.

use crate::AppState;
use crate::auth::{Principal, ServerRole, authorize, authorize_server, check};
use crate::error::{ApiError, ApiResult};
use crate::events::spec_for;
use crate::json::ApiJson;
use crate::ratelimit::ClientIp;
use crate::store::{Limits, ServerRecord, now_millis};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use garrison_proto::{Permission, PowerAction, RestartPolicy, ServerId, ServerState};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// Longest console command accepted, in bytes.
pub const MAX_COMMAND_BYTES: usize = 4096;
const MAX_NAME_CHARS: usize = 64;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServer {
    name: String,
    template: String,
    #[serde(default)]
    port: Option<i64>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    auto_start: bool,
    #[serde(default)]
    restart: Option<RestartInput>,
    /// The owning user's id; the creator when absent.
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    limits: Option<Limits>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateServer {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    port: Option<i64>,
    /// Merged over the current values.
    #[serde(default)]
    variables: Option<BTreeMap<String, String>>,
    #[serde(default)]
    auto_start: Option<bool>,
    #[serde(default)]
    restart: Option<RestartInput>,
    #[serde(default)]
    description: Option<String>,
    /// Admins only.
    #[serde(default)]
    limits: Option<Limits>,
}

/// A partial restart policy; missing fields keep their current (or default) value.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartInput {
    enabled: Option<bool>,
    max_restarts: Option<i64>,
    window_secs: Option<i64>,
    backoff_secs: Option<i64>,
}

fn in_range(field: &str, v: i64, lo: i64, hi: i64) -> Result<i64, ApiError> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(ApiError::invalid(
            field,
            format!("{field} must be between {lo} and {hi}"),
        ))
    }
}

impl RestartInput {
    fn apply(&self, base: &RestartPolicy) -> Result<RestartPolicy, ApiError> {
        let mut p = base.clone();
        if let Some(e) = self.enabled {
            p.enabled = e;
        }
        if let Some(v) = self.max_restarts {
            p.max_restarts = in_range("restart.max_restarts", v, 0, 100)? as u32;
        }
        if let Some(v) = self.window_secs {
            p.window_secs = in_range("restart.window_secs", v, 1, 86_400)? as u64;
        }
        if let Some(v) = self.backoff_secs {
            p.backoff_secs = in_range("restart.backoff_secs", v, 0, 3_600)? as u64;
        }
        Ok(p)
    }
}

fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::invalid(
            "name",
            format!("name must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "name",
            "name must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

const MAX_DESCRIPTION_CHARS: usize = 1000;

fn check_description(d: &str) -> Result<String, ApiError> {
    if d.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::invalid(
            "description",
            format!("description must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if d.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::invalid(
            "description",
            "description must not contain control characters",
        ));
    }
    Ok(d.to_owned())
}

fn check_limits(l: Limits) -> Result<Limits, ApiError> {
    in_range("limits.memory_mb", l.memory_mb as i64, 0, 16 * 1024 * 1024)?;
    in_range("limits.disk_mb", l.disk_mb as i64, 0, 1024 * 1024 * 1024)?;
    in_range("limits.cpu_percent", l.cpu_percent as i64, 0, 100 * 1024)?;
    if let Some(n) = l.backups {
        in_range("limits.backups", i64::from(n), 0, 10_000)?;
    }
    if let Some(mb) = l.backup_mb {
        in_range("limits.backup_mb", mb as i64, 0, 1024 * 1024 * 1024)?;
    }
    Ok(l)
}

/// A memory limit below what the game needs is refused (0 = no limit is fine).
fn check_min_memory(t: &garrison_proto::Template, l: &Limits) -> Result<(), ApiError> {
    if let Some(min) = t.requirements.min_memory_mb
        && l.memory_mb != 0
        && l.memory_mb < min
    {
        return Err(ApiError::invalid(
            "limits.memory_mb",
            format!("{} needs at least {min} MB of memory", t.name),
        ));
    }
    Ok(())
}

fn check_port(port: i64) -> Result<u16, ApiError> {
    Ok(in_range("port", port, 1, 65_535)? as u16)
}

/// The ports a server of `template` at `port` takes: its allocation and the extra
/// ports at their offsets. Past 65535 is 422 naming `port`.
fn ports_taken(template: Option<&garrison_proto::Template>, port: u16) -> ApiResult<Vec<u16>> {
    let mut out = vec![port];
    for p in template.map(|t| &t.ports[..]).unwrap_or(&[]).iter().skip(1) {
        let extra = port.checked_add(p.offset).ok_or_else(|| {
            ApiError::invalid(
                "port",
                format!(
                    "port {port} leaves no room for its {} port at +{}",
                    p.name, p.offset
                ),
            )
        })?;
        out.push(extra);
    }
    Ok(out)
}

/// Every port in use by the node's servers (extra ports included), with who uses it.
async fn used_ports(state: &AppState, except: Option<&ServerId>) -> ApiResult<Vec<(u16, String)>> {
    let mut used = Vec::new();
    for s in state.store.list_servers().await? {
        if Some(&s.id) == except {
            continue;
        }
        let t = state.templates.get(&s.template);
        let ports = ports_taken(t.as_ref().map(|c| &c.template), s.port).unwrap_or(vec![s.port]);
        for p in ports {
            used.push((p, format!("{} ({})", s.name, s.id)));
        }
    }
    Ok(used)
}

/// Two servers on one node cannot share a port, their extra ports included.
async fn check_port_free(
    state: &AppState,
    template: &garrison_proto::Template,
    port: u16,
    except: Option<&ServerId>,
) -> ApiResult<()> {
    let used = used_ports(state, except).await?;
    for p in ports_taken(Some(template), port)? {
        if let Some((_, who)) = used.iter().find(|(u, _)| *u == p) {
            return Err(ApiError::invalid(
                "port",
                format!("port {p} is already used by server {who}"),
            ));
        }
    }
    Ok(())
}

async fn free_port_from(
    state: &AppState,
    template: &garrison_proto::Template,
    start: u16,
) -> ApiResult<u16> {
    let used = used_ports(state, None).await?;
    (start..=u16::MAX)
        .find(|p| {
            ports_taken(Some(template), *p)
                .is_ok_and(|ps| ps.iter().all(|q| !used.iter().any(|(u, _)| u == q)))
        })
        .ok_or_else(|| ApiError::invalid("port", "no free port left"))
}

/// A server as the API shows it: its stored settings and state, the node's latest
/// resource sample (in memory on the node, so cheap), and what the caller may do with
/// it (`permissions`), so a UI can hide what would be refused anyway.
pub async fn view(state: &AppState, p: &Principal, r: &ServerRecord) -> ApiResult<Value> {
    let template = state.templates.get(&r.template);
    let game = template.as_ref().map(|t| t.template.game.clone());
    let stats = state.node.stats(&r.id).await.ok();
    let role = crate::auth::server_role(state, p, r).await?;
    let permissions: Vec<Permission> = Permission::server_permissions()
        .filter(|perm| check(p, *perm, &role).is_ok())
        .collect();
    Ok(json!({
        "id": r.id,
        "name": r.name,
        "template": r.template,
        "game": game,
        "port": r.port,
        "variables": visible_variables(template.as_deref(), p, r),
        "description": r.description,
        "limits": r.limits,
        "install": r.install,
        "restore": r.restore,
        "auto_start": r.auto_start,
        "restart": r.restart,
        "state": r.state,
        "state_changed_at": r.state_changed_at,
        "last_exit": r.last_exit,
        "node": r.node,
        "owner": r.owner_id,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "stats": stats,
        "permissions": permissions,
    }))
}

/// The variables a caller may see: secrets masked, and for non-admins only the ones the
/// template lets users see.
fn visible_variables(
    template: Option<&crate::templates::Compiled>,
    p: &Principal,
    r: &ServerRecord,
) -> BTreeMap<String, String> {
    let Some(t) = template else {
        return BTreeMap::new();
    };
    t.effective(&r.variables)
        .into_iter()
        .filter_map(|(k, v)| {
            let var = &t.variable(&k)?.var;
            if !var.user_viewable && !p.user.is_admin {
                return None;
            }
            if var.kind == garrison_proto::VariableType::Secret {
                return Some((k, if v.is_empty() { v } else { SECRET_MASK.into() }));
            }
            Some((k, v))
        })
        .collect()
}

/// What a set secret looks like on the way out.
pub const SECRET_MASK: &str = "********";

/// A server id named in a request body (schedule targets, alert rules, channels,
/// windows): 422 on `field` when there is no such server.
pub async fn existing(state: &AppState, field: &str, id: String) -> ApiResult<ServerId> {
    let id = ServerId(id);
    if state.store.get_server(&id).await?.is_none() {
        return Err(ApiError::invalid(field, format!("there is no server {id}")));
    }
    Ok(id)
}

pub async fn load(state: &AppState, id: &str) -> ApiResult<ServerRecord> {
    state
        .store
        .get_server(&ServerId::from(id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("server {id}")))
}

/// Permission: server.read
#[utoipa::path(get, path = "/api/servers", tag = "servers", summary = "List the caller's servers", description = "The servers the caller has a role on (all of them for admins). An API key needs `server.read`.", responses((status = 200, description = "The servers", body = Vec<crate::api::openapi::shapes::Server>), (status = 403, description = "The API key lacks `server.read`")))]
pub async fn list(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    // Lists only what the caller has a role on; a key still needs server.read.
    check(&p, Permission::ServerRead, &ServerRole::Owner)?;
    let servers = if p.user.is_admin {
        state.store.list_servers().await?
    } else {
        state.store.servers_for_user(&p.user.id).await?
    };
    let mut out = Vec::with_capacity(servers.len());
    for r in &servers {
        out.push(view(&state, &p, r).await?);
    }
    Ok(Json(Value::Array(out)))
}

/// Permission: server.read
#[utoipa::path(get, path = "/api/servers/{id}", tag = "servers", summary = "A server", params(("id" = String, Path, description = "Server id")), responses((status = 200, description = "The server", body = crate::api::openapi::shapes::Server)))]
pub async fn get(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = load(&state, &id).await?;
    authorize_server(&state, &p, Permission::ServerRead, &r).await?;
    Ok(Json(view(&state, &p, &r).await?))
}

/// Permission: server.create
#[utoipa::path(post, path = "/api/servers", tag = "servers", summary = "Create a server from a template", request_body = CreateServer, responses((status = 201, description = "The server (installing when the template has an install step)", body = crate::api::openapi::shapes::Server)))]
pub async fn create(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    ApiJson(req): ApiJson<CreateServer>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&p, Permission::ServerCreate)?;
    let name = check_name(&req.name)?;
    let template = state.templates.require(&req.template)?;
    let needs_container = template
        .template
        .install
        .iter()
        .any(|s| s.needs_container());
    if template.template.requirements.docker
        || needs_container
        || !template.template.runtimes.native
    {
        return Err(ApiError::invalid(
            "template",
            format!(
                "{} needs the Docker runtime (its install runs in a container image), and this node runs servers natively",
                template.template.name
            ),
        ));
    }
    template.validate(&req.variables)?;
    let description = check_description(req.description.as_deref().unwrap_or(""))?;
    let limits = check_limits(req.limits.unwrap_or_default())?;
    check_min_memory(&template.template, &limits)?;
    let port = match req.port {
        Some(p) => {
            let port = check_port(p)?;
            check_port_free(&state, &template.template, port, None).await?;
            port
        }
        None => {
            free_port_from(&state, &template.template, default_port(&template.template)).await?
        }
    };
    let restart = match &req.restart {
        Some(r) => r.apply(&RestartPolicy::default())?,
        None => RestartPolicy::default(),
    };
    let owner_id = match &req.owner {
        Some(owner) => match state.store.user_by_id(owner).await? {
            Some(u) => u.id,
            None => return Err(ApiError::invalid("owner", format!("no user {owner:?}"))),
        },
        None => p.user.id.clone(),
    };
    let now = now_millis();
    let record = ServerRecord {
        id: ServerId(uuid::Uuid::now_v7().to_string()),
        name,
        template: template.template.id.clone(),
        port,
        variables: req.variables,
        auto_start: req.auto_start,
        restart,
        state: ServerState::Offline,
        state_changed_at: now,
        last_exit: None,
        node: "local".into(),
        owner_id: Some(owner_id),
        created_at: now,
        updated_at: now,
        description,
        limits,
        install: None,
        restore: None,
    };
    let spec = spec_for(&state, &record)?;
    state.store.insert_server(&record).await?;
    // Nothing half-made: if the node refuses the server, the record goes too.
    if let Err(e) = state.node.register(spec).await {
        let _ = state.store.delete_server(&record.id).await;
        return Err(e.into());
    }
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "server.create",
        Some(&record.id),
        Some(record.id.as_str()),
        &json!({"name": record.name, "template": record.template, "port": record.port}),
    )
    .await?;
    // Install writes the template's files and runs its install step; the server is
    // `installing` until it ends.
    if !template.template.install.is_empty() {
        crate::events::begin_install(&state, &record).await?;
    }
    let mut fresh = load(&state, record.id.as_str()).await?;
    // The install's state change is persisted a moment later; answer with the live one.
    if let Ok(live) = state.node.state(&fresh.id).await {
        fresh.state = live;
    }
    Ok((StatusCode::CREATED, Json(view(&state, &p, &fresh).await?)))
}

/// Permission: server.update. Changes apply at the next start.
#[utoipa::path(patch, path = "/api/servers/{id}", tag = "servers", summary = "Change a server's settings", description = "`name` needs `settings.rename`; the other fields `startup.update`. Changes apply at the next start.", params(("id" = String, Path, description = "Server id")), request_body = UpdateServer, responses((status = 200, description = "The server", body = crate::api::openapi::shapes::Server)))]
pub async fn update(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateServer>,
) -> ApiResult<Json<Value>> {
    let mut r = load(&state, &id).await?;
    let role = crate::auth::server_role(&state, &p, &r).await?;
    check(&p, Permission::ServerRead, &role)?;
    if req.name.is_some() || req.description.is_some() {
        check(&p, Permission::SettingsRename, &role)?;
    }
    if req.limits.is_some() {
        crate::auth::authorize(&p, Permission::ServerCreate)?;
    }
    if req.port.is_some()
        || req.variables.is_some()
        || req.auto_start.is_some()
        || req.restart.is_some()
    {
        check(&p, Permission::StartupUpdate, &role)?;
    }
    let before = r.clone();
    if let Some(name) = &req.name {
        r.name = check_name(name)?;
    }
    if let Some(port) = req.port {
        r.port = check_port(port)?;
        let t = state.templates.require(&r.template)?;
        check_port_free(&state, &t.template, r.port, Some(&r.id)).await?;
    }
    if let Some(vars) = req.variables {
        r.variables = merged_variables(&state, &p, &r, vars)?;
    }
    if let Some(d) = &req.description {
        r.description = check_description(d)?;
    }
    if let Some(l) = req.limits {
        r.limits = check_limits(l)?;
        let t = state.templates.require(&r.template)?;
        check_min_memory(&t.template, &r.limits)?;
    }
    if let Some(a) = req.auto_start {
        r.auto_start = a;
    }
    if let Some(rp) = &req.restart {
        r.restart = rp.apply(&r.restart)?;
    }
    r.updated_at = now_millis();
    crate::api::startup::commit(&state, &before, &r).await?;
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "server.update",
        Some(&r.id),
        Some(&id),
        &json!({}),
    )
    .await?;
    Ok(Json(view(&state, &p, &load(&state, &id).await?).await?))
}

/// The port a new server of this template asks for first.
fn default_port(t: &garrison_proto::Template) -> u16 {
    t.ports.first().and_then(|p| p.default).unwrap_or(27015)
}

/// `changes` over the server's variables, checked as a whole against the template: a
/// value that breaks a rule, a variable users may not change (for non-admins), or an
/// unknown key is 422 naming it, and nothing is applied. A secret sent back masked
/// keeps its value.
pub fn merged_variables(
    state: &AppState,
    p: &Principal,
    r: &ServerRecord,
    changes: BTreeMap<String, String>,
) -> ApiResult<BTreeMap<String, String>> {
    let t = state.templates.require(&r.template)?;
    let mut merged = r.variables.clone();
    for (k, v) in changes {
        let var = t.variable(&k).map(|c| &c.var);
        if let Some(var) = var {
            if !p.user.is_admin && (!var.user_editable || !var.user_viewable) {
                return Err(ApiError::invalid(
                    format!("variables.{k}"),
                    format!("{} cannot be changed by users", var.name),
                ));
            }
            if var.kind == garrison_proto::VariableType::Secret && v == SECRET_MASK {
                continue;
            }
        }
        merged.insert(k, v);
    }
    t.validate(&merged)?;
    Ok(merged)
}

/// Permission: server.delete. Refused (409) while a process is active.
#[utoipa::path(delete, path = "/api/servers/{id}", tag = "servers", summary = "Delete a server", params(("id" = String, Path, description = "Server id")), responses((status = 204, description = "Deleted"), (status = 409, description = "A process is still active")))]
pub async fn remove(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    authorize(&p, Permission::ServerDelete)?;
    let r = load(&state, &id).await?;
    match state.node.remove(&r.id).await {
        Ok(()) | Err(garrison_proto::NodeError::UnknownServer(_)) => {}
        Err(e) => return Err(e.into()),
    }
    // The server's files are gone; its backups go with it (storage only needs ids).
    crate::api::backups::delete_all(&state, &r.id).await;
    state.store.delete_server(&r.id).await?;
    state.hub.remove(&r.id);
    state.history.forget(&r.id);
    if let Err(e) = state.store.delete_metrics(r.id.as_str()).await {
        tracing::warn!(server = %r.id, error = %e, "cannot delete a removed server's metrics");
    }
    crate::audit::record(
        &state,
        &p,
        Some(&client_ip.to_string()),
        "server.delete",
        Some(&r.id),
        Some(&id),
        &json!({"name": r.name}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerRequest {
    #[schema(value_type = crate::api::openapi::PowerActionName)]
    pub action: PowerAction,
}

/// Permission: control.start / control.stop / control.restart / control.kill
#[utoipa::path(post, path = "/api/servers/{id}/power", tag = "servers", summary = "Start, stop, restart or kill", params(("id" = String, Path, description = "Server id")), request_body = PowerRequest, responses((status = 202, description = "Accepted", body = crate::api::openapi::shapes::PowerAccepted), (status = 409, description = "Not possible in the current state (`state` names it)")))]
pub async fn power(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PowerRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let r = load(&state, &id).await?;
    let st = do_power(&state, &p, &r, req.action, Some(&client_ip.to_string())).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"action": req.action, "state": st})),
    ))
}

/// Shared by the REST route and the console WebSocket.
pub async fn do_power(
    state: &AppState,
    p: &Principal,
    server: &ServerRecord,
    action: PowerAction,
    ip: Option<&str>,
) -> ApiResult<ServerState> {
    authorize_server(state, p, Permission::for_power(action), server).await?;
    let id = &server.id;
    state.node.power(id, action).await?;
    crate::audit::record(
        state,
        p,
        ip,
        &format!("server.power.{}", action.as_str()),
        Some(id),
        Some(id.as_str()),
        &json!({}),
    )
    .await?;
    Ok(state.node.state(id).await?)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    pub command: String,
}

pub fn check_command(command: &str) -> Result<(), ApiError> {
    if command.is_empty() {
        return Err(ApiError::invalid("command", "command must not be empty"));
    }
    if command.len() > MAX_COMMAND_BYTES {
        return Err(ApiError::invalid(
            "command",
            format!("command is longer than {MAX_COMMAND_BYTES} bytes"),
        ));
    }
    if command.chars().any(|c| c.is_control() && c != '\t') {
        return Err(ApiError::invalid(
            "command",
            "command must be one line without control characters",
        ));
    }
    Ok(())
}

/// Permission: control.console
#[utoipa::path(post, path = "/api/servers/{id}/command", tag = "servers", summary = "Send a console command", params(("id" = String, Path, description = "Server id")), request_body = CommandRequest, responses((status = 204, description = "Sent"), (status = 409, description = "The server is not running (`state` names its state)")))]
pub async fn command(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CommandRequest>,
) -> ApiResult<StatusCode> {
    let r = load(&state, &id).await?;
    do_command(&state, &p, &r, &req.command, Some(&client_ip.to_string())).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn do_command(
    state: &AppState,
    p: &Principal,
    server: &ServerRecord,
    command: &str,
    ip: Option<&str>,
) -> ApiResult<()> {
    authorize_server(state, p, Permission::ControlConsole, server).await?;
    let id = &server.id;
    check_command(command)?;
    match state.node.command(id, command).await {
        Ok(()) => {}
        Err(garrison_proto::NodeError::NotRunning) => {
            let st = state.node.state(id).await?;
            return Err(ApiError::Conflict {
                message: format!("the server is {st}; it takes commands only while running"),
                state: Some(st),
            });
        }
        Err(e) => return Err(e.into()),
    }
    crate::audit::record(
        state,
        p,
        ip,
        "server.command",
        Some(id),
        Some(id.as_str()),
        &json!({"command": command}),
    )
    .await?;
    Ok(())
}

/// Permission: server.read. `?lines=N`, 1..=1000, default 100.
#[utoipa::path(get, path = "/api/servers/{id}/logs", tag = "servers", summary = "Recent console lines", params(("id" = String, Path, description = "Server id"), ("lines" = Option<u32>, Query, description = "How many, 1 to 1000 (default 100)")), responses((status = 200, description = "The lines", body = crate::api::openapi::shapes::Logs), (status = 422, description = "`lines` is not a number from 1 to 1000")))]
pub async fn logs(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let lines = match q.get("lines") {
        None => 100,
        Some(v) => {
            let n: i64 = v
                .parse()
                .map_err(|_| ApiError::invalid("lines", "lines must be a number"))?;
            in_range("lines", n, 1, 1000)? as usize
        }
    };
    let r = load(&state, &id).await?;
    authorize_server(&state, &p, Permission::ServerRead, &r).await?;
    let snap = state.node.console(&r.id, lines).await?;
    Ok(Json(
        json!({"lines": snap.lines, "next_seq": snap.next_seq}),
    ))
}

/// Permission: server.read
#[utoipa::path(get, path = "/api/servers/{id}/stats", tag = "servers", summary = "Current resource usage and state", params(("id" = String, Path, description = "Server id")), responses((status = 200, description = "The latest sample and the state", body = crate::api::openapi::shapes::StatsNow)))]
pub async fn stats(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = load(&state, &id).await?;
    authorize_server(&state, &p, Permission::ServerRead, &r).await?;
    let stats = state.node.stats(&r.id).await?;
    let st = state.node.state(&r.id).await?;
    let mut v = json!(stats);
    v["state"] = json!(st);
    Ok(Json(v))
}

/// Permission: server.read. The last 100 state changes, newest first.
#[utoipa::path(get, path = "/api/servers/{id}/history", tag = "servers", summary = "State changes", params(("id" = String, Path, description = "Server id")), responses((status = 200, description = "The last 100 state changes, newest first", body = Vec<crate::api::openapi::shapes::StateChange>)))]
pub async fn history(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = load(&state, &id).await?;
    authorize_server(&state, &p, Permission::ServerRead, &r).await?;
    let entries = state.store.state_history(&r.id, 100).await?;
    Ok(Json(json!(entries
        .iter()
        .map(|e| json!({"from": e.from, "to": e.to, "at": e.at, "reason": e.reason, "exit": e.exit}))
        .collect::<Vec<_>>())))
}
