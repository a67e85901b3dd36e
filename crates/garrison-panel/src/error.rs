//! The one error shape of the API (DESIGN.md §8):
//! `{"error": {"code": "...", "message": "...", "field": ..., "state": ...}}`.

use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use garrison_proto::{
    BackupError, BackupErrorKind, FileError, FileErrorKind, NodeError, ServerState,
};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request could not be read: malformed JSON, unknown fields, bad query syntax.
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    #[error("authentication required")]
    Unauthorized,
    #[error("wrong username or password")]
    InvalidCredentials,
    /// The second login step failed: `invalid_two_factor_code` or `invalid_challenge`.
    #[error("{message}")]
    TwoFactorFailed {
        code: &'static str,
        message: &'static str,
    },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The action is not possible in the server's current state.
    #[error("{message}")]
    Conflict {
        message: String,
        state: Option<ServerState>,
    },
    /// Refused because of what the resource is now, with a code naming why
    /// (`backup_locked`, `backup_limit_reached`, `backup_not_ready`).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("this route does not accept that method")]
    MethodNotAllowed,
    /// Rate limited; the response carries `Retry-After`.
    #[error("too many requests; try again in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    /// A value is well-formed but not acceptable.
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Unavailable(String),
    /// A file operation failed on the node; `kind` chooses the status and code.
    #[error("{}", file_message(.0))]
    File(FileError),
    /// A backup call failed on the node or in the panel; `kind` chooses status and code.
    #[error("{}", backup_message(.0))]
    Backup(BackupError),
    /// Logged with its details; the client sees only a generic message.
    #[error("internal error")]
    Internal(String),
}

fn file_message(e: &FileError) -> String {
    match e.kind {
        FileErrorKind::Io => "the file operation failed on the node".to_owned(),
        _ => e.message.clone(),
    }
}

fn file_status(kind: FileErrorKind) -> StatusCode {
    match kind {
        FileErrorKind::NotFound => StatusCode::NOT_FOUND,
        FileErrorKind::AlreadyExists | FileErrorKind::Upload | FileErrorKind::Busy => {
            StatusCode::CONFLICT
        }
        FileErrorKind::Escape | FileErrorKind::Denied => StatusCode::FORBIDDEN,
        FileErrorKind::TooLarge | FileErrorKind::QuotaExceeded => StatusCode::PAYLOAD_TOO_LARGE,
        FileErrorKind::InvalidPath
        | FileErrorKind::NotADirectory
        | FileErrorKind::IsADirectory
        | FileErrorKind::NotAFile
        | FileErrorKind::NotText
        | FileErrorKind::BadArchive
        | FileErrorKind::Pull => StatusCode::UNPROCESSABLE_ENTITY,
        FileErrorKind::Io => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn file_code(kind: FileErrorKind) -> &'static str {
    match kind {
        FileErrorKind::NotFound => "file_not_found",
        FileErrorKind::AlreadyExists => "file_exists",
        FileErrorKind::InvalidPath => "invalid_path",
        FileErrorKind::Escape => "path_escape",
        FileErrorKind::Denied => "path_denied",
        FileErrorKind::NotADirectory => "not_a_directory",
        FileErrorKind::IsADirectory => "is_a_directory",
        FileErrorKind::NotAFile => "not_a_file",
        FileErrorKind::NotText => "not_text",
        FileErrorKind::TooLarge => "file_too_large",
        FileErrorKind::QuotaExceeded => "quota_exceeded",
        FileErrorKind::BadArchive => "bad_archive",
        FileErrorKind::Pull => "pull_refused",
        FileErrorKind::Upload => "upload_conflict",
        FileErrorKind::Busy => "server_busy",
        FileErrorKind::Io => "file_io",
    }
}

fn backup_message(e: &BackupError) -> String {
    match e.kind {
        BackupErrorKind::Storage => "the backup storage failed on the node".to_owned(),
        _ => e.message.clone(),
    }
}

fn backup_status(kind: BackupErrorKind) -> StatusCode {
    match kind {
        BackupErrorKind::Missing => StatusCode::NOT_FOUND,
        BackupErrorKind::Busy | BackupErrorKind::NotRunning => StatusCode::CONFLICT,
        BackupErrorKind::Corrupt | BackupErrorKind::InvalidPath => StatusCode::UNPROCESSABLE_ENTITY,
        BackupErrorKind::QuotaExceeded => StatusCode::PAYLOAD_TOO_LARGE,
        BackupErrorKind::Storage => StatusCode::BAD_GATEWAY,
    }
}

fn backup_code(kind: BackupErrorKind) -> &'static str {
    match kind {
        BackupErrorKind::Missing => "backup_missing",
        BackupErrorKind::Corrupt => "backup_corrupt",
        BackupErrorKind::Busy => "backup_in_progress",
        BackupErrorKind::NotRunning => "backup_not_running",
        BackupErrorKind::QuotaExceeded => "quota_exceeded",
        BackupErrorKind::InvalidPath => "invalid_path",
        BackupErrorKind::Storage => "backup_storage",
    }
}

impl ApiError {
    /// A query parameter the route does not take (400 `unknown_field`).
    pub fn unknown_param(name: &str) -> ApiError {
        ApiError::BadRequest {
            code: "unknown_field",
            message: format!("unknown query parameter {name:?}"),
            field: Some(name.to_owned()),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized
            | ApiError::InvalidCredentials
            | ApiError::TwoFactorFailed { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } | ApiError::Refused { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::File(e) => file_status(e.kind),
            ApiError::Backup(e) => backup_status(e.kind),
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } => code,
            ApiError::Unauthorized => "unauthorized",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::TwoFactorFailed { code, .. } => code,
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict { .. } => "conflict",
            ApiError::Refused { code, .. } => code,
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::Invalid { .. } => "invalid_value",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::File(e) => file_code(e.kind),
            ApiError::Backup(e) => backup_code(e.kind),
            ApiError::Internal(_) => "internal",
        }
    }

    /// The JSON body, also used for errors sent over the console WebSocket.
    pub fn body(&self) -> serde_json::Value {
        let mut err = json!({"code": self.code(), "message": self.to_string()});
        match self {
            ApiError::BadRequest {
                field: Some(field), ..
            }
            | ApiError::Invalid { field, .. } => {
                err["field"] = json!(field);
            }
            ApiError::Conflict {
                state: Some(state), ..
            } => {
                err["state"] = json!(state);
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                err["retry_after"] = json!(retry_after_secs);
            }
            ApiError::File(FileError {
                path: Some(path), ..
            }) => {
                err["path"] = json!(path);
            }
            _ => {}
        }
        json!({ "error": err })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error answering a request");
        }
        if let ApiError::File(e) = &self
            && e.kind == FileErrorKind::Io
        {
            tracing::error!(path = ?e.path, detail = %e.message, "file operation failed");
        }
        if let ApiError::Backup(e) = &self
            && e.kind == BackupErrorKind::Storage
        {
            tracing::error!(detail = %e.message, "backup storage failed");
        }
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let ApiError::TooManyRequests { retry_after_secs } = self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_secs),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("record".into()),
            StoreError::Conflict(m) => ApiError::Conflict {
                message: m,
                state: None,
            },
            other => ApiError::Internal(format!("store: {other}")),
        }
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::UnknownServer(id) => ApiError::NotFound(format!("server {id}")),
            NodeError::Conflict { state, .. } => ApiError::Conflict {
                message: e.to_string(),
                state: Some(state),
            },
            NodeError::NotRunning => ApiError::Conflict {
                message: "the server is not running".into(),
                state: None,
            },
            NodeError::InvalidSpec(m) => ApiError::invalid("spec", m),
            NodeError::Config { path, message } => {
                ApiError::invalid(format!("config_files.{path}"), format!("{path}: {message}"))
            }
            NodeError::Unavailable(m) => ApiError::Unavailable(m),
            NodeError::File(e) => ApiError::File(e),
            NodeError::Backup(e) => ApiError::Backup(e),
            NodeError::Io(m) => ApiError::Internal(format!("node: {m}")),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
