//! The OpenAPI 3 document of the API, served at `GET /api/openapi.json`.
//!
//! Operations and request schemas come from `#[utoipa::path]` attributes on the handlers
//! and `ToSchema` derives on their request structs. What a route needs is not written
//! there: [`Annotate`] walks [`ROUTES`] (the list the permission checks and tests use)
//! and sets each operation's `x-permission`, its security and the standard error
//! responses, all with the one error schema ([`ErrorBody`]). The unit tests below fail
//! when the spec and `ROUTES` disagree on a path or method.
//!
//! Responses that handlers build with `json!` are described by the doc-only structs in
//! [`shapes`]; they name the fields the handler writes and nothing more.

use super::routes::{Needs, ROUTES, Route};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use garrison_proto::{Permission, PowerAction, ServerState};
use serde::Serialize;
use std::borrow::Cow;
use std::sync::OnceLock;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, HeaderBuilder, Ref, RefOr, ResponseBuilder, SecurityRequirement};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

/// Security scheme names in the document.
pub const SESSION_SCHEME: &str = "session";
pub const API_KEY_SCHEME: &str = "api_key";
/// The error schema's name under `components/schemas`.
pub const ERROR_SCHEMA: &str = "ErrorBody";

/// What `x-permission` says for a route: the permission name, `control.<action>` for
/// power actions, `public` or `signed-in`. Browser-session-only routes also get
/// `x-session-only: true`.
pub fn permission_label(needs: Needs) -> String {
    match needs {
        Needs::Public => "public".into(),
        Needs::SignedIn => "signed-in".into(),
        Needs::Permission(p) | Needs::Session(p) => p.as_str().into(),
        Needs::PowerAction => "control.<action>".into(),
    }
}

fn permission_sentence(needs: Needs) -> String {
    match needs {
        Needs::Public => "No authentication.".into(),
        Needs::SignedIn => "Any signed-in user (session or API key).".into(),
        Needs::Permission(p) => format!("Permission: `{}` ({}).", p.as_str(), p.description()),
        Needs::PowerAction => "Permission: `control.<action>` for the `action` in the body \
                               (`control.start`, `control.stop`, `control.restart`, `control.kill`)."
            .into(),
        Needs::Session(p) => format!(
            "Permission: `{}` ({}), from a browser session only: API keys are refused.",
            p.as_str(),
            p.description()
        ),
    }
}

// ---- schemas for proto types (proto has no utoipa) ----------------------------------

/// A string schema that takes one of `values`.
fn string_enum<'a>(values: impl IntoIterator<Item = &'a str>, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .description(Some(description))
        .into()
}

/// `garrison_proto::Permission` as a string enum of every permission name.
pub struct PermissionName;
impl PartialSchema for PermissionName {
    fn schema() -> RefOr<Schema> {
        string_enum(
            Permission::ALL.iter().map(|p| p.as_str()),
            "A permission name.",
        )
    }
}
impl ToSchema for PermissionName {
    fn name() -> Cow<'static, str> {
        "Permission".into()
    }
}

/// `garrison_proto::PowerAction`.
pub struct PowerActionName;
impl PartialSchema for PowerActionName {
    fn schema() -> RefOr<Schema> {
        string_enum(
            [
                PowerAction::Start,
                PowerAction::Stop,
                PowerAction::Restart,
                PowerAction::Kill,
            ]
            .map(PowerAction::as_str),
            "A power action.",
        )
    }
}
impl ToSchema for PowerActionName {
    fn name() -> Cow<'static, str> {
        "PowerAction".into()
    }
}

/// `garrison_proto::ServerState`.
pub struct ServerStateName;
impl PartialSchema for ServerStateName {
    fn schema() -> RefOr<Schema> {
        string_enum(
            ServerState::ALL.iter().map(|s| s.as_str()),
            "A server's lifecycle state.",
        )
    }
}
impl ToSchema for ServerStateName {
    fn name() -> Cow<'static, str> {
        "ServerState".into()
    }
}

// ---- the error shape -------------------------------------------------------------

/// Every error answer: `{"error": {...}}` (see `error.rs`).
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code: `malformed_json`, `unknown_field`, `bad_query`,
    /// `unauthorized`, `invalid_credentials`, `invalid_two_factor_code`,
    /// `invalid_challenge`, `forbidden`, `not_found`, `conflict`, `payload_too_large`,
    /// `rate_limited`, `invalid_value`, `unavailable`, `internal`, ...
    pub code: String,
    /// For people.
    pub message: String,
    /// The offending field or query parameter (400 `unknown_field`, 422).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The server's state when an action conflicts with it (409).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<ServerStateName>)]
    pub state: Option<String>,
    /// Seconds to wait (429; also in the `Retry-After` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

pub mod shapes {
    //! Doc-only descriptions of the JSON the handlers build with `json!`.
    #![allow(dead_code)]

    use super::{PermissionName, PowerActionName, ServerStateName};
    use serde::Serialize;
    use std::collections::BTreeMap;
    use utoipa::ToSchema;

    #[derive(ToSchema)]
    pub struct Health {
        /// Always `ok`.
        status: String,
        version: String,
        /// `sqlite` or `postgres`.
        database: String,
    }

    #[derive(Serialize, ToSchema)]
    pub struct UserRef {
        id: String,
        username: String,
        is_admin: bool,
    }

    /// A session started: the `garrison_session` cookie is set.
    #[derive(Serialize, ToSchema)]
    pub struct SessionStarted {
        user: UserRef,
        /// Present (true) when the panel requires 2FA and the user has none yet.
        two_factor_enrolment_required: Option<bool>,
    }

    /// The password was right and the user has 2FA: send a code with the challenge to
    /// `POST /api/auth/login/2fa`.
    #[derive(Serialize, ToSchema)]
    pub struct TwoFactorChallenge {
        two_factor_required: bool,
        challenge: String,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(untagged)]
    pub enum LoginResponse {
        Session(SessionStarted),
        TwoFactor(TwoFactorChallenge),
    }

    #[derive(ToSchema)]
    pub struct Account {
        id: String,
        username: String,
        is_admin: bool,
        email: Option<String>,
        /// Unix millis.
        created_at: i64,
    }

    #[derive(ToSchema)]
    pub struct ApiKey {
        id: String,
        name: String,
        /// The first characters of the key, to recognise it.
        prefix: String,
        created_at: i64,
        last_used_at: Option<i64>,
        /// `null`: all of the owner's rights.
        permissions: Option<Vec<PermissionName>>,
        allowed_ips: Option<Vec<String>>,
        expires_at: Option<i64>,
    }

    /// A new key: its metadata plus `key`, the secret, shown only this once.
    #[derive(ToSchema)]
    pub struct NewApiKey {
        id: String,
        name: String,
        prefix: String,
        created_at: i64,
        last_used_at: Option<i64>,
        permissions: Option<Vec<PermissionName>>,
        allowed_ips: Option<Vec<String>>,
        expires_at: Option<i64>,
        /// Send as `Authorization: Bearer <key>`.
        key: String,
    }

    #[derive(ToSchema)]
    pub struct Session {
        /// A prefix of the token's hash: names the session, cannot be used as it.
        id: String,
        created_at: i64,
        expires_at: i64,
        last_seen_at: Option<i64>,
        ip: Option<String>,
        user_agent: Option<String>,
        /// The session making this request.
        current: bool,
    }

    #[derive(ToSchema)]
    pub struct TwoFactorStatus {
        enabled: bool,
        /// Set up but not confirmed yet.
        pending: bool,
        recovery_codes_left: i64,
        /// The panel asks every user to enrol.
        required: bool,
    }

    #[derive(ToSchema)]
    pub struct TwoFactorSetup {
        /// Base32 TOTP secret.
        secret: String,
        /// `otpauth://totp/...` for the QR code.
        otpauth_uri: String,
    }

    #[derive(ToSchema)]
    pub struct RecoveryCodes {
        /// Single-use codes, shown only this once.
        recovery_codes: Vec<String>,
    }

    #[derive(ToSchema)]
    pub struct Enabled {
        enabled: bool,
    }

    /// An SSH public key of the caller's (for SFTP).
    #[derive(ToSchema)]
    pub struct SshKey {
        id: String,
        name: String,
        /// e.g. `ssh-ed25519`
        key_type: String,
        /// `SHA256:…`, as `ssh-keygen -l` prints it
        fingerprint: String,
        created_at: i64,
    }

    #[derive(ToSchema)]
    pub struct User {
        id: String,
        username: String,
        email: Option<String>,
        is_admin: bool,
        disabled: bool,
        created_at: i64,
    }

    /// A template a server can be made from (docs/templates.md describes every field).
    #[derive(ToSchema)]
    pub struct Template {
        id: String,
        name: String,
        game: String,
        description: String,
        category: String,
        tags: Vec<String>,
        /// `command` (argv, or one string with `shell`), `done` patterns, `stop`, `stop_timeout_secs`, `restart_exit_codes`.
        #[schema(value_type = Object)]
        startup: (),
        variables: Vec<TemplateVariable>,
        /// `{name, protocol, default | offset}`; the first is the server's port.
        #[schema(value_type = Vec<Object>)]
        ports: Vec<()>,
        /// Install steps, each with a `type` (download, extract, write, command, script, steamcmd, mojang, papermc).
        #[schema(value_type = Vec<Object>)]
        install: Vec<()>,
        /// `{path, format, create, set: [{key, value, kind}]}`.
        #[schema(value_type = Vec<Object>)]
        config_files: Vec<()>,
        env: BTreeMap<String, String>,
        /// `{native, docker: [{name, image}]}`.
        #[schema(value_type = Object)]
        runtimes: (),
        /// `{binaries, min_memory_mb, java, docker}`.
        #[schema(value_type = Object)]
        requirements: (),
        /// `{url_regex, code_regex, message}`.
        #[schema(value_type = Vec<Object>)]
        prompts: Vec<()>,
        /// Paths users may not see or touch (gitignore syntax).
        file_deny: Vec<String>,
        /// Console commands around a backup of the running server (`before`,
        /// `wait_for`, `wait_secs`, `after`); absent when there are none.
        #[schema(value_type = Option<Object>)]
        backup: Option<()>,
        /// `{protocol: a2s | minecraft_slp | minecraft_query | openttd, port?}`: how the
        /// panel counts players; absent when the game has none.
        #[schema(value_type = Option<Object>)]
        query: Option<()>,
        /// `{join, leave}`: console regexes with a `name` group; absent when none.
        #[schema(value_type = Option<Object>)]
        players: Option<()>,
        /// `built_in` or `custom` (in responses only).
        origin: Option<String>,
    }

    #[derive(ToSchema)]
    pub struct TemplateVariable {
        /// Placeholder name, used as `{{key}}`.
        key: String,
        /// The environment variable it is exposed as (the key upper-cased when absent).
        env: Option<String>,
        name: String,
        description: String,
        /// string, integer, boolean, enum or secret.
        #[schema(rename = "type")]
        kind: String,
        default: String,
        user_viewable: bool,
        user_editable: bool,
        /// `{required, min, max, min_length, max_length, regex, one_of}`.
        #[schema(value_type = Object)]
        rules: (),
    }

    /// A server's startup settings.
    #[derive(ToSchema)]
    pub struct Startup {
        /// `{id, name}`.
        #[schema(value_type = Object)]
        template: (),
        /// The startup command with the current values (secrets masked).
        command: String,
        variables: Vec<StartupVariable>,
        /// `{name, protocol, port}`.
        #[schema(value_type = Vec<Object>)]
        ports: Vec<()>,
        auto_start: bool,
        restart: RestartPolicy,
        limits: Limits,
    }

    #[derive(ToSchema)]
    pub struct StartupVariable {
        key: String,
        env: String,
        name: String,
        description: String,
        #[schema(rename = "type")]
        kind: String,
        default: String,
        /// The current value; `********` for a set secret.
        value: String,
        #[schema(value_type = Object)]
        rules: (),
        user_viewable: bool,
        user_editable: bool,
        /// Whether the caller may change it.
        editable: bool,
    }

    /// Resource limits; 0 = none.
    #[derive(ToSchema)]
    pub struct Limits {
        memory_mb: u64,
        disk_mb: u64,
        cpu_percent: u64,
    }

    #[derive(ToSchema)]
    pub struct InstallStatus {
        /// running, succeeded, failed or cancelled.
        state: String,
        started_at: i64,
        finished_at: Option<i64>,
        error: Option<String>,
    }

    #[derive(ToSchema)]
    pub struct ImportResult {
        template: Template,
        /// toml, json or egg.
        format: String,
        /// For eggs: `{format, source_name, unmapped, notes, requires_docker}`.
        #[schema(value_type = Option<Object>)]
        report: Option<()>,
        saved: bool,
    }

    #[derive(ToSchema)]
    pub struct TemplateRepo {
        id: String,
        location: String,
        /// git or dir.
        kind: String,
        added_at: i64,
        synced_at: Option<i64>,
        sync_error: Option<String>,
        template_count: i64,
    }

    #[derive(ToSchema)]
    pub struct RepoSync {
        repo: TemplateRepo,
        /// `{imported: [ids], skipped: [[file, reason]]}`; null when the sync failed.
        #[schema(value_type = Option<Object>)]
        sync: Option<()>,
        /// Why the sync failed.
        error: Option<String>,
    }

    #[derive(ToSchema)]
    pub struct RestartPolicy {
        enabled: bool,
        max_restarts: u32,
        window_secs: u64,
        backoff_secs: u64,
    }

    #[derive(ToSchema)]
    pub struct ExitInfo {
        code: Option<i32>,
        signal: Option<i32>,
        /// The last console lines before the exit, oldest first.
        last_lines: Vec<String>,
    }

    /// A resource sample. `uptime_secs` is 0 when no process runs.
    #[derive(ToSchema)]
    pub struct Stats {
        cpu_percent: f64,
        memory_bytes: u64,
        disk_bytes: u64,
        uptime_secs: u64,
        processes: u32,
        sampled_at: i64,
    }

    #[derive(ToSchema)]
    pub struct StatsNow {
        cpu_percent: f64,
        memory_bytes: u64,
        disk_bytes: u64,
        uptime_secs: u64,
        processes: u32,
        sampled_at: i64,
        state: ServerStateName,
    }

    #[derive(ToSchema)]
    pub struct Server {
        id: String,
        name: String,
        template: String,
        /// The template's game, if the template still exists.
        game: Option<String>,
        port: u16,
        variables: BTreeMap<String, String>,
        auto_start: bool,
        restart: RestartPolicy,
        state: ServerStateName,
        state_changed_at: i64,
        last_exit: Option<ExitInfo>,
        node: String,
        /// The owning user's id; `null`: admins only.
        owner: Option<String>,
        created_at: i64,
        updated_at: i64,
        description: String,
        limits: Limits,
        /// The last install's outcome; null before the first.
        install: Option<InstallStatus>,
        /// The last restore from a backup.
        restore: Option<RestoreStatus>,
        /// The latest sample, when the node has one.
        stats: Option<Stats>,
        /// The server permissions the caller holds on this server.
        permissions: Vec<PermissionName>,
    }

    #[derive(ToSchema)]
    pub struct PowerAccepted {
        action: PowerActionName,
        /// The state right after the action was accepted.
        state: ServerStateName,
    }

    #[derive(ToSchema)]
    pub struct Logs {
        /// Oldest first.
        lines: Vec<String>,
        /// The sequence number the next line will have.
        next_seq: u64,
    }

    #[derive(ToSchema)]
    pub struct StateChange {
        from: ServerStateName,
        to: ServerStateName,
        at: i64,
        reason: Option<String>,
        exit: Option<ExitInfo>,
    }

    #[derive(ToSchema)]
    pub struct AuditEntry {
        id: String,
        at: i64,
        user_id: Option<String>,
        username: Option<String>,
        /// `session`, `key:<api key id>`, `ticket`; `null` for Garrison's own actions.
        via: Option<String>,
        ip: Option<String>,
        server: Option<String>,
        action: String,
        target: Option<String>,
        #[schema(value_type = Object)]
        detail: (),
    }

    /// One page of the audit log, newest first.
    #[derive(ToSchema)]
    pub struct AuditPage {
        entries: Vec<AuditEntry>,
        /// Pass as `before` for the next page; `null` on the last page.
        next: Option<i64>,
    }

    #[derive(ToSchema)]
    pub struct PanelStats {
        users: i64,
        admins: i64,
        servers: i64,
        /// Every state, with 0 when no server is in it.
        servers_by_state: BTreeMap<String, i64>,
        nodes: i64,
    }

    #[derive(ToSchema)]
    pub struct DatabaseHealth {
        backend: String,
        ok: bool,
        latency_ms: Option<f64>,
    }

    #[derive(ToSchema)]
    pub struct NodeHealth {
        id: String,
        ok: bool,
    }

    #[derive(ToSchema)]
    pub struct DiskHealth {
        path: String,
        ok: bool,
        total_bytes: Option<u64>,
        free_bytes: Option<u64>,
    }

    #[derive(ToSchema)]
    pub struct PanelHealth {
        database: DatabaseHealth,
        nodes: Vec<NodeHealth>,
        disk: DiskHealth,
    }

    #[derive(ToSchema)]
    pub struct Subuser {
        user_id: String,
        username: String,
        permissions: Vec<PermissionName>,
        created_at: i64,
        updated_at: i64,
    }

    /// One file, directory or symlink (never followed).
    #[derive(ToSchema)]
    pub struct FileEntry {
        name: String,
        /// Relative to the server root.
        path: String,
        /// `file`, `dir`, `symlink` or `other` (FIFO, socket, device).
        kind: String,
        size: u64,
        /// Permission bits.
        mode: u32,
        /// Unix milliseconds.
        modified: i64,
        /// Where a symlink points, as written in it.
        target: Option<String>,
    }

    /// Progress of a backup being made.
    #[derive(ToSchema)]
    pub struct BackupProgress {
        bytes: u64,
        files: u64,
        total_bytes: Option<u64>,
        percent: Option<f32>,
    }

    #[derive(ToSchema)]
    pub struct Backup {
        id: String,
        server_id: String,
        name: String,
        /// `creating`, `ready`, `failed` or `cancelled`.
        state: String,
        /// `local` or `s3`.
        storage: String,
        /// `zstd` or `gzip`.
        compression: String,
        /// gitignore lines left out (besides the server's `.garrisonignore`).
        ignore: Vec<String>,
        locked: bool,
        /// Archive bytes.
        size: Option<u64>,
        /// SHA-256 of the archive, lower-case hex.
        sha256: Option<String>,
        /// Entries archived.
        files: Option<u64>,
        /// Bytes of file contents archived.
        bytes: Option<u64>,
        /// `ok`, `missing` or `corrupt` from the last check; `null`: never checked.
        integrity: Option<String>,
        verified_at: Option<i64>,
        error: Option<String>,
        created_by: Option<String>,
        created_at: i64,
        completed_at: Option<i64>,
        progress: Option<BackupProgress>,
    }

    #[derive(ToSchema)]
    pub struct BackupLimits {
        /// `null`: no limit.
        max_count: Option<u64>,
        max_bytes: Option<u64>,
        count: u64,
        bytes: u64,
    }

    #[derive(ToSchema)]
    pub struct BackupList {
        backups: Vec<Backup>,
        limits: BackupLimits,
    }

    #[derive(ToSchema)]
    pub struct ManifestEntry {
        path: String,
        /// `file`, `dir` or `symlink`.
        kind: String,
        size: u64,
        mode: u32,
        mtime: i64,
        sha256: Option<String>,
        target: Option<String>,
    }

    #[derive(ToSchema)]
    pub struct BackupManifest {
        entries: Vec<ManifestEntry>,
    }

    #[derive(ToSchema)]
    pub struct BackupVerify {
        /// `ok`, `missing` or `corrupt`.
        integrity: String,
        problem: Option<String>,
        entries: u64,
        backup: Backup,
    }

    #[derive(ToSchema)]
    pub struct RestoreStatus {
        backup: String,
        /// `running`, `succeeded`, `failed` or `cancelled`.
        state: String,
        started_at: i64,
        finished_at: Option<i64>,
        error: Option<String>,
    }

    /// A schedule as stored, with a readable description of its trigger.
    #[derive(ToSchema)]
    pub struct Schedule {
        id: String,
        /// `null` for an admin-wide schedule.
        server_id: Option<String>,
        targets: crate::schedules::Targets,
        name: String,
        trigger: crate::schedules::Trigger,
        enabled: bool,
        only_when_online: bool,
        missed: crate::schedules::MissedPolicy,
        tasks: Vec<crate::schedules::Task>,
        /// Unix millis of the next run; `null` while disabled.
        next_run_at: Option<i64>,
        last_run_at: Option<i64>,
        /// The last run's state.
        last_outcome: Option<crate::store::RunState>,
        /// A run is going now.
        running: bool,
        /// The trigger in words.
        description: String,
        created_by: Option<String>,
        created_at: i64,
        updated_at: i64,
    }

    #[derive(ToSchema)]
    pub struct ScheduleRun {
        id: String,
        schedule_id: String,
        /// The slot it ran for; `null` for run-now.
        due_at: Option<i64>,
        cause: crate::store::RunCause,
        state: crate::store::RunState,
        started_at: i64,
        finished_at: Option<i64>,
        /// Every task's outcome on every server, in order.
        tasks: Vec<crate::store::TaskOutcome>,
        error: Option<String>,
    }

    #[derive(ToSchema)]
    pub struct ScheduleRuns {
        runs: Vec<ScheduleRun>,
        /// Cursor for `before`; `null` on the last page.
        next: Option<i64>,
    }

    #[derive(ToSchema)]
    pub struct PreviewRun {
        /// Unix millis.
        at: i64,
        /// The same, RFC 3339 UTC.
        utc: String,
    }

    #[derive(ToSchema)]
    pub struct SchedulePreview {
        description: String,
        next: Vec<PreviewRun>,
    }

    /// A node's machine now.
    #[derive(ToSchema)]
    pub struct HostStats {
        cpu_percent: f64,
        memory_used_bytes: u64,
        memory_total_bytes: u64,
        disk_used_bytes: u64,
        disk_total_bytes: u64,
        /// 1, 5 and 15 minute load averages.
        load: Vec<f64>,
        sampled_at: i64,
    }

    #[derive(ToSchema)]
    pub struct MetricSeries {
        /// The server id, or `node:<name>`.
        target: String,
        /// `raw`, `minute` or `hour`.
        resolution: String,
        from: i64,
        to: i64,
        points: Vec<crate::store::MetricPoint>,
        /// Nodes only: the machine as last sampled.
        current: Option<HostStats>,
    }

    #[derive(ToSchema)]
    pub struct TopConsumer {
        server: String,
        name: String,
        cpu_percent: f64,
        memory_bytes: u64,
        disk_bytes: u64,
        players: Option<u32>,
        sampled_at: i64,
    }

    #[derive(ToSchema)]
    pub struct Alert {
        id: String,
        rule_id: String,
        kind: crate::alerts::AlertKind,
        /// A server id, or `node:<name>`.
        target: String,
        server_id: Option<String>,
        /// `firing` or `resolved`.
        state: String,
        /// `info`, `warning` or `critical`.
        severity: String,
        title: String,
        message: String,
        value: Option<f64>,
        /// Raised in a maintenance window: not notified.
        muted: bool,
        fired_at: i64,
        resolved_at: Option<i64>,
        /// `auto` or the id of the user who resolved it.
        resolved_by: Option<String>,
        notified_at: Option<i64>,
    }

    #[derive(ToSchema)]
    pub struct AlertPage {
        alerts: Vec<Alert>,
        next: Option<i64>,
    }

    #[derive(ToSchema)]
    pub struct AlertStats {
        firing: i64,
        #[schema(value_type = Object)]
        by_severity: std::collections::HashMap<String, i64>,
        #[schema(value_type = Object)]
        by_kind: std::collections::HashMap<String, i64>,
        resolved_24h: i64,
    }

    #[derive(ToSchema)]
    pub struct Resolved {
        resolved: u64,
        ids: Vec<String>,
    }

    #[derive(ToSchema)]
    pub struct AlertRule {
        id: String,
        name: String,
        kind: crate::alerts::AlertKind,
        server_id: Option<String>,
        params: crate::alerts::RuleParams,
        severity: String,
        enabled: bool,
        throttle_secs: u64,
        created_at: i64,
        updated_at: i64,
    }

    #[derive(ToSchema)]
    pub struct NotificationChannel {
        id: String,
        name: String,
        /// The channel's settings (`kind` and its fields) with `has_secret` /
        /// `has_password` instead of the secrets.
        #[schema(value_type = Object)]
        channel: serde_json::Value,
        events: Vec<String>,
        servers: Vec<String>,
        enabled: bool,
        created_at: i64,
        updated_at: i64,
    }

    #[derive(ToSchema)]
    pub struct Attempt {
        at: i64,
        duration_ms: u64,
        /// HTTP status or SMTP reply code.
        status: Option<u16>,
        error: Option<String>,
    }

    #[derive(ToSchema)]
    pub struct Delivery {
        id: String,
        ok: bool,
        attempts: Vec<Attempt>,
    }

    #[derive(ToSchema)]
    pub struct DeliveryLog {
        id: String,
        channel_id: String,
        event: String,
        title: String,
        ok: bool,
        attempts: Vec<Attempt>,
        created_at: i64,
    }

    #[derive(ToSchema)]
    pub struct MaintenanceWindow {
        id: String,
        server_id: Option<String>,
        name: String,
        cron: String,
        timezone: String,
        duration_secs: u64,
        stop_at_start: bool,
        start_at_end: bool,
        enabled: bool,
        /// Open now.
        open: bool,
        open_since: Option<i64>,
        next_start: Option<i64>,
        created_at: i64,
        updated_at: i64,
    }

    #[derive(ToSchema)]
    pub struct PlayersNow {
        /// `null`: not counted (no query or patterns, or not running).
        online: Option<u32>,
        max: Option<u32>,
        names: Vec<String>,
        /// `query` or `console`.
        source: Option<String>,
        updated_at: Option<i64>,
    }

    #[derive(ToSchema)]
    pub struct PlayerEvent {
        name: String,
        /// `joined` or `left`.
        kind: String,
        at: i64,
    }

    #[derive(ToSchema)]
    pub struct PlayerActivity {
        from: i64,
        to: i64,
        peak: Option<i64>,
        peak_at: Option<i64>,
        average: Option<f64>,
        /// 24 averages, by hour of day in the requested time zone.
        by_hour: Vec<Option<f64>>,
        /// Newest first, at most 100.
        events: Vec<PlayerEvent>,
    }

    #[derive(ToSchema)]
    pub struct RestoreStarted {
        restore: RestoreStatus,
    }

    #[derive(ToSchema)]
    pub struct FilePage {
        path: String,
        offset: u64,
        /// Entries in the whole directory.
        total: u64,
        entries: Vec<FileEntry>,
    }

    #[derive(ToSchema)]
    pub struct FileContent {
        path: String,
        content: String,
        size: u64,
        modified: i64,
    }

    #[derive(ToSchema)]
    pub struct Upload {
        id: String,
        path: String,
        size: u64,
        /// Bytes received so far: where the next chunk starts.
        offset: u64,
        /// The file is in place.
        done: bool,
    }

    #[derive(ToSchema)]
    pub struct FileMatch {
        entry: FileEntry,
        /// Content searches: the first matching line (1-based) and its text.
        line: Option<u64>,
        text: Option<String>,
    }

    #[derive(ToSchema)]
    pub struct FileSearch {
        matches: Vec<FileMatch>,
        truncated: bool,
    }

    #[derive(ToSchema)]
    pub struct DiskUsage {
        used_bytes: u64,
        /// `null`: no limit.
        limit_bytes: Option<u64>,
    }

    #[derive(ToSchema)]
    pub struct SftpDetails {
        host: String,
        port: u16,
        /// `<username>.<server short id>`.
        username: String,
        /// `sftp://username@host:port`.
        url: String,
    }

    #[derive(ToSchema)]
    pub struct WsTicket {
        /// Pass as `?ticket=` to the console WebSocket; single use.
        ticket: String,
        expires_in: u64,
    }
}

// ---- the document ----------------------------------------------------------------

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Garrison API",
        description = "Self-hosted game server control plane. Every operation's `x-permission` \
                       names what it needs (from the panel's route list); errors all have the \
                       `ErrorBody` shape.",
        license(name = "AGPL-3.0-or-later", identifier = "AGPL-3.0-or-later"),
    ),
    paths(
        super::health::health,
        super::auth::login,
        super::auth::login_two_factor,
        super::auth::logout,
        super::registration::register,
        super::registration::get_setting,
        super::registration::put_setting,
        super::account::me,
        super::account::change_password,
        super::account::list_keys,
        super::account::create_key,
        super::account::delete_key,
        super::ssh_keys::list,
        super::ssh_keys::add,
        super::ssh_keys::remove,
        super::account::list_sessions,
        super::account::delete_session,
        super::two_factor::status,
        super::two_factor::setup,
        super::two_factor::enable,
        super::two_factor::disable,
        super::two_factor::get_required,
        super::two_factor::put_required,
        super::admin::list_users,
        super::admin::create_user,
        super::admin::update_user,
        super::admin::delete_user,
        super::templates::list,
        super::templates::get,
        super::templates::create,
        super::templates::replace,
        super::templates::remove,
        super::templates::import,
        super::templates::export,
        super::template_repos::list,
        super::template_repos::add,
        super::template_repos::sync,
        super::template_repos::remove,
        super::startup::get,
        super::startup::patch,
        super::startup::reinstall,
        super::startup::cancel_install,
        super::servers::list,
        super::servers::create,
        super::servers::get,
        super::servers::update,
        super::servers::remove,
        super::servers::power,
        super::servers::command,
        super::servers::logs,
        super::servers::stats,
        super::servers::history,
        super::audit::activity,
        super::audit::admin_log,
        super::stats::stats,
        super::stats::health,
        super::subusers::list,
        super::subusers::invite,
        super::subusers::update,
        super::subusers::remove,
        super::files::list,
        super::files::stat,
        super::files::read_content,
        super::files::write_content,
        super::files::download,
        super::files::begin_upload,
        super::files::upload_state,
        super::files::upload_chunk,
        super::files::abort_upload,
        super::files::create_folder,
        super::files::rename,
        super::files::copy,
        super::files::chmod,
        super::files::delete,
        super::files::compress,
        super::files::decompress,
        super::files::search,
        super::files::pull,
        super::files::usage,
        super::files::sftp_details,
        super::backups::list,
        super::backups::create,
        super::backups::get,
        super::backups::download,
        super::backups::manifest,
        super::backups::lock_backup,
        super::backups::unlock_backup,
        super::backups::cancel,
        super::backups::remove,
        super::backups::verify,
        super::backups::restore,
        super::schedules::list,
        super::schedules::create,
        super::schedules::get,
        super::schedules::update,
        super::schedules::remove,
        super::schedules::run_now,
        super::schedules::runs,
        super::schedules::admin_list,
        super::schedules::admin_create,
        super::schedules::admin_get,
        super::schedules::admin_update,
        super::schedules::admin_remove,
        super::schedules::admin_run_now,
        super::schedules::admin_runs,
        super::schedules::preview,
        super::sse::events,
        super::metrics::server_metrics,
        super::metrics::node_metrics,
        super::metrics::top,
        super::alerts::list,
        super::alerts::stats,
        super::alerts::resolve_many,
        super::alerts::resolve_one,
        super::alerts::list_rules,
        super::alerts::create_rule,
        super::alerts::get_rule,
        super::alerts::replace_rule,
        super::alerts::delete_rule,
        super::alerts::server_alerts,
        super::channels::list,
        super::channels::create,
        super::channels::get,
        super::channels::replace,
        super::channels::remove,
        super::channels::test,
        super::channels::deliveries,
        super::maintenance::list,
        super::maintenance::create,
        super::maintenance::replace,
        super::maintenance::remove,
        super::maintenance::for_server,
        super::players::now,
        super::players::activity,
        super::players::luanti_announce,
        super::ws::ticket,
        super::ws::console,
        openapi_json,
    ),
    components(schemas(ErrorBody, PermissionName, PowerActionName, ServerStateName)),
    modifiers(&Annotate),
    tags(
        (name = "meta", description = "Health and this document"),
        (name = "auth", description = "Logging in and out"),
        (name = "account", description = "The caller's own account, sessions, API keys and 2FA"),
        (name = "admin", description = "Panel administration"),
        (name = "servers", description = "Game servers, their console, stats and history"),
        (name = "subusers", description = "Other users' permissions on a server"),
        (name = "templates", description = "Templates, egg import and template repositories"),
        (name = "files", description = "A server's files: listing, editing, uploads, downloads, archives, search, SFTP details"),
        (name = "backups", description = "A server's backups: create, list, download, lock, verify, restore"),
        (name = "alerts", description = "Alert rules and alerts, notification channels and their deliveries, maintenance windows"),
        (name = "metrics", description = "Resource and player history of servers and nodes; top consumers"),
        (name = "schedules", description = "Schedules (cron or interval, a chain of tasks) for a server or, admin-wide, for many; their runs"),
        (name = "audit", description = "The audit log"),
    )
)]
struct ApiDoc;

/// Fills in from [`ROUTES`] what each route needs: `x-permission`, security, and the
/// standard error responses.
struct Annotate;

impl Modify for Annotate {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SESSION_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "The session cookie set by `POST /api/auth/login`.",
            ))),
        );
        components.add_security_scheme(
            API_KEY_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key from `POST /api/account/api-keys`: `Authorization: Bearer gsk_...`.",
                    ))
                    .build(),
            ),
        );
        doc.security = Some(vec![
            SecurityRequirement::new(SESSION_SCHEME, Vec::<String>::new()),
            SecurityRequirement::new(API_KEY_SCHEME, Vec::<String>::new()),
        ]);
        for route in ROUTES {
            let path = format!("/api{}", route.path);
            let Some(item) = doc.paths.paths.get_mut(&path) else {
                continue;
            };
            if let Some(op) = operation_mut(item, route.method) {
                annotate(op, route);
            }
        }
    }
}

/// The operation for `method` (upper case) in `item`.
pub fn operation_mut<'a>(item: &'a mut PathItem, method: &str) -> Option<&'a mut Operation> {
    match method {
        "GET" => item.get.as_mut(),
        "POST" => item.post.as_mut(),
        "PUT" => item.put.as_mut(),
        "PATCH" => item.patch.as_mut(),
        "DELETE" => item.delete.as_mut(),
        _ => None,
    }
}

/// The (METHOD, path below `/api`) pairs that `item` at `path` holds.
fn operations(path: &str, item: &PathItem) -> Vec<(String, String)> {
    let below = path.strip_prefix("/api").unwrap_or(path).to_owned();
    let mut out = Vec::new();
    for (method, op) in [
        ("GET", &item.get),
        ("POST", &item.post),
        ("PUT", &item.put),
        ("PATCH", &item.patch),
        ("DELETE", &item.delete),
        ("HEAD", &item.head),
        ("OPTIONS", &item.options),
        ("TRACE", &item.trace),
        ("QUERY", &item.query),
    ] {
        if op.is_some() {
            out.push((method.to_owned(), below.clone()));
        }
    }
    for method in item.additional_operations.keys() {
        out.push((method.to_uppercase(), below.clone()));
    }
    out
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", error_content())
        .into()
}

fn error_content() -> Content {
    Content::new(Some(Ref::from_schema_name(ERROR_SCHEMA)))
}

fn annotate(op: &mut Operation, route: &Route) {
    let needs = route.needs;
    let ext = op.extensions.get_or_insert_with(Extensions::default);
    ext.insert("x-permission".into(), permission_label(needs).into());
    if matches!(needs, Needs::Session(_)) {
        ext.insert("x-session-only".into(), true.into());
    }
    let sentence = permission_sentence(needs);
    op.description = Some(
        match op.description.take().filter(|d| !d.trim().is_empty()) {
            Some(d) => format!("{sentence}\n\n{d}"),
            None => sentence,
        },
    );
    op.security = match needs {
        // Empty: overrides the document-wide requirement.
        Needs::Public => Some(vec![SecurityRequirement::default()]),
        Needs::Session(_) => Some(vec![SecurityRequirement::new(
            SESSION_SCHEME,
            Vec::<String>::new(),
        )]),
        _ => None,
    };

    let has_body = op.request_body.is_some();
    let has_path_params = route.path.contains('{');
    let mut standard: Vec<(&str, &str)> = Vec::new();
    if has_body {
        standard.push((
            "400",
            "The body is not JSON, not `application/json`, or has an unknown field (`field`).",
        ));
        standard.push(("413", "The body is larger than 64 KiB."));
        standard.push((
            "422",
            "A value has the wrong type or is not acceptable; `field` names it.",
        ));
    }
    if needs != Needs::Public {
        standard.push(("401", "No valid session cookie or API key."));
    }
    if matches!(
        needs,
        Needs::Permission(_) | Needs::PowerAction | Needs::Session(_)
    ) {
        standard.push((
            "403",
            "The caller lacks the permission (or the API key's scope does not include it).",
        ));
    }
    if has_path_params {
        standard.push((
            "404",
            "No such record, or a server the caller has no role on.",
        ));
    }
    standard.push((
        "429",
        "Rate limited; `retry_after` and the `Retry-After` header say how long to wait.",
    ));
    let responses = &mut op.responses.responses;
    for (status, description) in standard {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(description));
    }
    // Error responses declared on the handler (409, 401, 422...) get the error body too.
    for (status, response) in responses.iter_mut() {
        if let RefOr::T(r) = response
            && (status.starts_with('4') || status.starts_with('5'))
            && r.content.is_empty()
        {
            r.content
                .insert("application/json".into(), error_content().into());
        }
    }
    if let Some(RefOr::T(r)) = responses.get_mut("429") {
        r.headers.entry("Retry-After".into()).or_insert_with(|| {
            HeaderBuilder::new()
                .schema(Some(u64::schema()))
                .description(Some("Seconds to wait."))
                .build()
                .into()
        });
    }
}

/// The document, built once.
pub fn spec() -> &'static utoipa::openapi::OpenApi {
    static SPEC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").into();
        doc
    })
}

fn spec_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| serde_json::to_string(spec()).expect("the OpenAPI document serializes"))
}

/// No authentication. This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    summary = "The OpenAPI document",
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json", body = Object)),
)]
pub async fn openapi_json() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], spec_json()).into_response()
}

/// Every (METHOD, path below `/api`) the document has.
pub fn documented_routes() -> std::collections::BTreeSet<(String, String)> {
    spec()
        .paths
        .paths
        .iter()
        .flat_map(|(path, item)| operations(path, item))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn spec_and_routes_agree() {
        let declared: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_owned(), r.path.to_owned()))
            .collect();
        let documented = documented_routes();
        let missing: Vec<_> = declared.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "routes in ROUTES but not in the OpenAPI document (add #[utoipa::path] to the \
             handler and list it in api/openapi.rs): {missing:?}"
        );
        let extra: Vec<_> = documented.difference(&declared).collect();
        assert!(
            extra.is_empty(),
            "the OpenAPI document has routes ROUTES lacks: {extra:?}"
        );
    }

    #[test]
    fn every_operation_names_its_permission_and_errors() {
        let doc = serde_json::to_value(spec()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        for route in ROUTES {
            let op = &doc["paths"][format!("/api{}", route.path)][route.method.to_lowercase()];
            let what = format!("{} {}", route.method, route.path);
            assert_eq!(
                op["x-permission"],
                permission_label(route.needs),
                "{what}: x-permission"
            );
            assert!(
                op["description"]
                    .as_str()
                    .unwrap()
                    .starts_with(&permission_sentence(route.needs)),
                "{what}: description"
            );
            assert!(op["summary"].is_string(), "{what}: summary");
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2') || s == "101"),
                "{what}: no success response"
            );
            for (status, r) in responses {
                if status.starts_with('4') {
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"],
                        format!("#/components/schemas/{ERROR_SCHEMA}"),
                        "{what}: {status} does not use the error schema"
                    );
                }
            }
            if route.needs != Needs::Public {
                assert!(responses.contains_key("401"), "{what}: 401");
            } else {
                assert_eq!(op["security"], serde_json::json!([{}]), "{what}: security");
            }
            if route.path.contains('{') {
                let params = op["parameters"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                for name in route
                    .path
                    .split('{')
                    .skip(1)
                    .filter_map(|s| s.split('}').next())
                {
                    assert!(
                        params
                            .iter()
                            .any(|p| p["name"] == name && p["in"] == "path"),
                        "{what}: path parameter {name} undocumented"
                    );
                }
            }
        }
        for name in [
            ERROR_SCHEMA,
            "ErrorDetail",
            "Permission",
            "ServerState",
            "PowerAction",
        ] {
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "schema {name} missing"
            );
        }
    }

    /// The doc-only shapes list exactly the fields the proto types serialize.
    #[test]
    fn shapes_match_proto_types() {
        fn keys(v: serde_json::Value) -> BTreeSet<String> {
            v.as_object().unwrap().keys().cloned().collect()
        }
        fn props(name: &str) -> BTreeSet<String> {
            let doc = serde_json::to_value(spec()).unwrap();
            keys(doc["components"]["schemas"][name]["properties"].clone())
        }
        assert_eq!(
            props("Stats"),
            keys(serde_json::to_value(garrison_proto::Stats::default()).unwrap())
        );
        assert_eq!(
            props("RestartPolicy"),
            keys(serde_json::to_value(garrison_proto::RestartPolicy::default()).unwrap())
        );
        let templates = crate::templates::Templates::built_in().unwrap();
        // Minecraft has every optional part (backup hooks, query, player patterns).
        let full = templates.require("minecraft-vanilla").unwrap();
        let mut t = serde_json::to_value(&full.template).unwrap();
        t["origin"] = serde_json::json!("built_in");
        assert_eq!(props("Template"), keys(t));
        let doc = serde_json::to_value(spec()).unwrap();
        let perms = doc["components"]["schemas"]["Permission"]["enum"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(perms, Permission::ALL.len());
    }
}
