//! A server's files: listing, the editor's read and write, resumable uploads, streamed
//! downloads, folders, rename/move, copy, chmod, delete, archives, search and URL pulls,
//! plus the SFTP details box. Every path goes to the node unchanged; the node's one
//! sandbox resolves it. Bulk bytes stream between the HTTP body and the node: never
//! buffered whole, never on the console WebSocket.

use crate::AppState;
use crate::api::servers::load;
use crate::auth::{Principal, authorize_server};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::ratelimit::ClientIp;
use crate::store::ServerRecord;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use futures_util::TryStreamExt;
use garrison_proto::{
    ArchiveKind, ByteStream, Download, FileEntry, FileErrorKind, ListRequest, NodeError,
    Permission, PullRequest, SearchRequest, ServerId, SortKey,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// Largest file the editor opens or saves; bigger files are downloaded instead.
pub const EDITOR_MAX_BYTES: u64 = 5 * 1024 * 1024;
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

type Params<T> = Result<Query<T>, QueryRejection>;

fn query<T>(params: Params<T>) -> ApiResult<T> {
    params.map(|Query(q)| q).map_err(|e| ApiError::BadRequest {
        code: "bad_query",
        message: e.body_text(),
        field: None,
    })
}

/// Loads the server and checks `permission` with the one check.
pub(crate) async fn server(
    state: &AppState,
    p: &Principal,
    id: &str,
    permission: Permission,
) -> ApiResult<ServerRecord> {
    let r = load(state, id).await?;
    authorize_server(state, p, permission, &r).await?;
    Ok(r)
}

/// An audit entry about `target` on `server`, from the caller's address.
pub(crate) async fn audit(
    state: &AppState,
    p: &Principal,
    ip: &ClientIp,
    action: &str,
    server: &ServerId,
    target: &str,
    detail: Value,
) -> ApiResult<()> {
    crate::audit::record(
        state,
        p,
        Some(&ip.0.to_string()),
        action,
        Some(server),
        Some(target),
        &detail,
    )
    .await?;
    Ok(())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Directory, relative to the server root (default: the root).
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub offset: u64,
    /// 1 to 1000 (default 100).
    pub limit: Option<u32>,
    /// `name` (default), `size` or `modified`.
    pub sort: Option<String>,
    /// `asc` (default) or `desc`.
    pub order: Option<String>,
}

/// Permission: file.read
#[utoipa::path(get, path = "/api/servers/{id}/files", tag = "files", summary = "List a directory", description = "One page of a directory, directories first, sorted by name, size or modification time. No cap on the number of entries: page through them with `offset`.", params(("id" = String, Path, description = "Server id"), ListParams), responses((status = 200, description = "The page", body = crate::api::openapi::shapes::FilePage)))]
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    params: Params<ListParams>,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::FileRead).await?;
    let q = query(params)?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("limit must be 1 to {MAX_PAGE}"),
        ));
    }
    let sort = match q.sort.as_deref() {
        None | Some("name") => SortKey::Name,
        Some("size") => SortKey::Size,
        Some("modified") => SortKey::Modified,
        Some(_) => {
            return Err(ApiError::invalid(
                "sort",
                "sort must be name, size or modified",
            ));
        }
    };
    let descending = match q.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(ApiError::invalid("order", "order must be asc or desc")),
    };
    let page = state
        .node
        .list_files(
            &r.id,
            ListRequest {
                path: q.path,
                offset: q.offset,
                limit,
                sort,
                descending,
            },
        )
        .await?;
    Ok(Json(json!(page)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PathParam {
    /// Relative to the server root.
    pub path: String,
}

/// Permission: file.read
#[utoipa::path(get, path = "/api/servers/{id}/files/stat", tag = "files", summary = "One entry", description = "Kind, size, mode and modification time of one path (a symlink is described, never followed).", params(("id" = String, Path, description = "Server id"), PathParam), responses((status = 200, description = "The entry", body = crate::api::openapi::shapes::FileEntry)))]
pub async fn stat(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    params: Params<PathParam>,
) -> ApiResult<Json<FileEntry>> {
    let r = server(&state, &p, &id, Permission::FileRead).await?;
    let q = query(params)?;
    Ok(Json(state.node.stat_file(&r.id, &q.path).await?))
}

/// Permission: file.read-content
#[utoipa::path(get, path = "/api/servers/{id}/files/content", tag = "files", summary = "Read a text file", description = "The content of a text file for the editor, up to 5 MiB (413 `file_too_large` beyond: download it instead; 422 `not_text` for binary files).", params(("id" = String, Path, description = "Server id"), PathParam), responses((status = 200, description = "The file", body = crate::api::openapi::shapes::FileContent)))]
pub async fn read_content(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    params: Params<PathParam>,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::FileReadContent).await?;
    let q = query(params)?;
    let bytes = state
        .node
        .read_file(&r.id, &q.path, EDITOR_MAX_BYTES)
        .await?;
    let entry = state.node.stat_file(&r.id, &q.path).await?;
    let content = String::from_utf8(bytes).map_err(|_| {
        ApiError::File(garrison_proto::FileError::new(
            FileErrorKind::NotText,
            Some(&q.path),
            format!("{} is not a text file: download it instead", q.path),
        ))
    })?;
    Ok(Json(json!({
        "path": entry.path,
        "content": content,
        "size": entry.size,
        "modified": entry.modified,
    })))
}

/// Permission: file.update (and file.create when the file is new)
#[utoipa::path(put, path = "/api/servers/{id}/files/content", tag = "files", summary = "Save a text file", description = "Replaces (or creates) a file with the request body, atomically: readers see the old or the new content, never a part. At most 5 MiB; larger files go through uploads. Checked against the disk limit (413 `quota_exceeded`).", params(("id" = String, Path, description = "Server id"), PathParam), request_body(content = String, content_type = "application/octet-stream"), responses((status = 200, description = "The saved file", body = crate::api::openapi::shapes::FileEntry)))]
pub async fn write_content(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
    params: Params<PathParam>,
    body: Bytes,
) -> ApiResult<Json<FileEntry>> {
    let r = server(&state, &p, &id, Permission::FileUpdate).await?;
    let q = query(params)?;
    let exists = match state.node.stat_file(&r.id, &q.path).await {
        Ok(_) => true,
        Err(NodeError::File(e)) if e.kind == FileErrorKind::NotFound => false,
        Err(e) => return Err(e.into()),
    };
    if !exists {
        authorize_server(&state, &p, Permission::FileCreate, &r).await?;
    }
    let size = body.len();
    let entry = state.node.write_file(&r.id, &q.path, body.to_vec()).await?;
    audit(
        &state,
        &p,
        &ip,
        "file.write",
        &r.id,
        &entry.path,
        json!({"bytes": size, "created": !exists}),
    )
    .await?;
    Ok(Json(entry))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUpload {
    /// Where the file lands, relative to the server root.
    pub path: String,
    /// Total bytes that will be sent.
    pub size: u64,
    /// Replace an existing file (409 `file_exists` otherwise).
    #[serde(default)]
    pub overwrite: bool,
}

/// Permission: file.create
#[utoipa::path(post, path = "/api/servers/{id}/files/uploads", tag = "files", summary = "Begin an upload", description = "Reserves disk quota for `size` bytes (413 `quota_exceeded` when it does not fit) and returns an upload id. Send the bytes with PATCH in chunks of any size; after a dropped connection, GET the upload and continue from its `offset`. The file appears under its path only when the last byte arrived.", params(("id" = String, Path, description = "Server id")), request_body = NewUpload, responses((status = 201, description = "The upload", body = crate::api::openapi::shapes::Upload)))]
pub async fn begin_upload(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<NewUpload>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let r = server(&state, &p, &id, Permission::FileCreate).await?;
    if req.overwrite {
        authorize_server(&state, &p, Permission::FileUpdate, &r).await?;
    }
    let up = state
        .node
        .begin_upload(&r.id, &req.path, req.size, req.overwrite)
        .await?;
    Ok((StatusCode::CREATED, Json(json!(up))))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChunkParams {
    /// Bytes already received (must equal the upload's `offset`).
    pub offset: u64,
}

/// Permission: file.create
#[utoipa::path(patch, path = "/api/servers/{id}/files/uploads/{upload}", tag = "files", summary = "Send upload bytes", description = "Appends the request body at `offset`, streamed to disk. A chunk at another offset is 409 `upload_conflict`; bytes beyond the declared size are refused. The response after the last byte has `done: true` and the file is in place.", params(("id" = String, Path, description = "Server id"), ("upload" = String, Path, description = "Upload id"), ChunkParams), request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 200, description = "The upload after this chunk", body = crate::api::openapi::shapes::Upload)))]
pub async fn upload_chunk(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path((id, upload)): Path<(String, String)>,
    params: Params<ChunkParams>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::FileCreate).await?;
    let q = query(params)?;
    let stream: ByteStream = Box::pin(body.into_data_stream().map_err(std::io::Error::other));
    let up = state
        .node
        .upload_chunk(&r.id, &upload, q.offset, stream)
        .await?;
    if up.done {
        audit(
            &state,
            &p,
            &ip,
            "file.upload",
            &r.id,
            &up.path,
            json!({"bytes": up.size}),
        )
        .await?;
    }
    Ok(Json(json!(up)))
}

/// Permission: file.create
#[utoipa::path(get, path = "/api/servers/{id}/files/uploads/{upload}", tag = "files", summary = "An upload's progress", description = "How many bytes arrived, to resume from there.", params(("id" = String, Path, description = "Server id"), ("upload" = String, Path, description = "Upload id")), responses((status = 200, description = "The upload", body = crate::api::openapi::shapes::Upload)))]
pub async fn upload_state(
    State(state): State<AppState>,
    p: Principal,
    Path((id, upload)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::FileCreate).await?;
    Ok(Json(json!(state.node.upload_state(&r.id, &upload).await?)))
}

/// Permission: file.create
#[utoipa::path(delete, path = "/api/servers/{id}/files/uploads/{upload}", tag = "files", summary = "Abort an upload", description = "Throws the received bytes away and releases the reserved quota.", params(("id" = String, Path, description = "Server id"), ("upload" = String, Path, description = "Upload id")), responses((status = 204, description = "Aborted")))]
pub async fn abort_upload(
    State(state): State<AppState>,
    p: Principal,
    Path((id, upload)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let r = server(&state, &p, &id, Permission::FileCreate).await?;
    state.node.abort_upload(&r.id, &upload).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Permission: file.read-content
#[utoipa::path(get, path = "/api/servers/{id}/files/download", tag = "files", summary = "Download a file or directory", description = "The file's bytes, streamed (`Range: bytes=N-` resumes with 206), or a directory as a tar.gz made on the fly.", params(("id" = String, Path, description = "Server id"), PathParam), responses((status = 200, description = "The bytes", content_type = "application/octet-stream"), (status = 206, description = "The bytes from the requested offset")))]
pub async fn download(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    params: Params<PathParam>,
) -> ApiResult<Response> {
    let r = server(&state, &p, &id, Permission::FileReadContent).await?;
    let q = query(params)?;
    let offset = range_start(&headers)?;
    let d = state.node.download(&r.id, &q.path, offset).await?;
    let mime = if d.archive {
        "application/gzip"
    } else {
        "application/octet-stream"
    };
    Ok(download_response(d, offset, mime))
}

/// A node's download as an attachment, streamed; ranged (206) when it starts at
/// `offset` > 0. Also used for backup archives.
pub(crate) fn download_response(d: Download, offset: u64, mime: &'static str) -> Response {
    let mut response = Response::new(Body::from_stream(d.stream));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&d.name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if let Some(size) = d.size {
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        h.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(size.saturating_sub(offset)),
        );
        if offset > 0 {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let range = format!("bytes {offset}-{}/{size}", size.saturating_sub(1));
            if let Ok(v) = HeaderValue::from_str(&range) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
        }
    }
    response
}

/// `Range: bytes=N-` (the only form a resuming client needs); anything else is refused
/// rather than silently answered with the whole file.
pub(crate) fn range_start(headers: &HeaderMap) -> ApiResult<u64> {
    let Some(v) = headers.get(header::RANGE) else {
        return Ok(0);
    };
    let bad = || ApiError::BadRequest {
        code: "bad_range",
        message: "only `Range: bytes=N-` is supported".into(),
        field: Some("range".into()),
    };
    let text = v.to_str().map_err(|_| bad())?;
    let start = text
        .strip_prefix("bytes=")
        .and_then(|r| r.strip_suffix('-'))
        .ok_or_else(bad)?;
    start.parse::<u64>().map_err(|_| bad())
}

/// RFC 6266 with an ASCII fallback, so any file name survives.
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PathBody {
    pub path: String,
}

/// Permission: file.create
#[utoipa::path(post, path = "/api/servers/{id}/files/folder", tag = "files", summary = "Create a folder", description = "Creates one directory (its parent must exist).", params(("id" = String, Path, description = "Server id")), request_body = PathBody, responses((status = 201, description = "The new folder", body = crate::api::openapi::shapes::FileEntry)))]
pub async fn create_folder(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PathBody>,
) -> ApiResult<(StatusCode, Json<FileEntry>)> {
    let r = server(&state, &p, &id, Permission::FileCreate).await?;
    let entry = state.node.create_dir(&r.id, &req.path).await?;
    audit(&state, &p, &ip, "file.mkdir", &r.id, &entry.path, json!({})).await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FromTo {
    pub from: String,
    /// The new path (a move names the target directory and the name).
    pub to: String,
}

/// Permission: file.update
#[utoipa::path(post, path = "/api/servers/{id}/files/rename", tag = "files", summary = "Rename or move", description = "Renames or moves a file, directory or symlink; an existing target is never replaced (409 `file_exists`).", params(("id" = String, Path, description = "Server id")), request_body = FromTo, responses((status = 200, description = "The entry at its new path", body = crate::api::openapi::shapes::FileEntry)))]
pub async fn rename(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<FromTo>,
) -> ApiResult<Json<FileEntry>> {
    let r = server(&state, &p, &id, Permission::FileUpdate).await?;
    let entry = state.node.rename_file(&r.id, &req.from, &req.to).await?;
    audit(
        &state,
        &p,
        &ip,
        "file.rename",
        &r.id,
        &req.from,
        json!({"to": entry.path}),
    )
    .await?;
    Ok(Json(entry))
}

/// Permission: file.create
#[utoipa::path(post, path = "/api/servers/{id}/files/copy", tag = "files", summary = "Copy", description = "Copies a file or a whole directory (symlinks are copied as links, never followed), checked against the disk limit; an existing target is never replaced.", params(("id" = String, Path, description = "Server id")), request_body = FromTo, responses((status = 201, description = "The copy", body = crate::api::openapi::shapes::FileEntry)))]
pub async fn copy(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<FromTo>,
) -> ApiResult<(StatusCode, Json<FileEntry>)> {
    let r = server(&state, &p, &id, Permission::FileCreate).await?;
    authorize_server(&state, &p, Permission::FileReadContent, &r).await?;
    let entry = state.node.copy_file(&r.id, &req.from, &req.to).await?;
    audit(
        &state,
        &p,
        &ip,
        "file.copy",
        &r.id,
        &req.from,
        json!({"to": entry.path}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Chmod {
    pub path: String,
    /// Permission bits, 0 to 0o777 (send 420 for 0644).
    pub mode: u32,
}

/// Permission: file.update
#[utoipa::path(post, path = "/api/servers/{id}/files/chmod", tag = "files", summary = "Change permissions", description = "Sets the permission bits (read, write, execute for owner, group, others). Never follows a symlink.", params(("id" = String, Path, description = "Server id")), request_body = Chmod, responses((status = 200, description = "The entry", body = crate::api::openapi::shapes::FileEntry)))]
pub async fn chmod(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Chmod>,
) -> ApiResult<Json<FileEntry>> {
    let r = server(&state, &p, &id, Permission::FileUpdate).await?;
    if req.mode > 0o777 {
        return Err(ApiError::invalid(
            "mode",
            "mode must be 0 to 0o777 (511): set-id and sticky bits are not allowed",
        ));
    }
    let entry = state.node.chmod_file(&r.id, &req.path, req.mode).await?;
    audit(
        &state,
        &p,
        &ip,
        "file.chmod",
        &r.id,
        &entry.path,
        json!({"mode": format!("{:o}", req.mode)}),
    )
    .await?;
    Ok(Json(entry))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Paths {
    /// 1 to 1000 paths.
    pub paths: Vec<String>,
}

/// Permission: file.delete
#[utoipa::path(post, path = "/api/servers/{id}/files/delete", tag = "files", summary = "Delete", description = "Deletes files and whole directories; a symlink is removed, never what it points to.", params(("id" = String, Path, description = "Server id")), request_body = Paths, responses((status = 204, description = "Deleted")))]
pub async fn delete(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Paths>,
) -> ApiResult<StatusCode> {
    let r = server(&state, &p, &id, Permission::FileDelete).await?;
    paths_in_range(&req.paths)?;
    state.node.delete_files(&r.id, req.paths.clone()).await?;
    let target = req.paths.first().cloned().unwrap_or_default();
    audit(
        &state,
        &p,
        &ip,
        "file.delete",
        &r.id,
        &target,
        json!({"paths": req.paths}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn paths_in_range(paths: &[String]) -> ApiResult<()> {
    if paths.is_empty() || paths.len() > 1000 {
        return Err(ApiError::invalid("paths", "give 1 to 1000 paths"));
    }
    Ok(())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Compress {
    /// 1 to 1000 files or directories to put in the archive.
    pub paths: Vec<String>,
    /// The archive's path.
    pub destination: String,
    /// `tar_gz` (default), `tar_zst` or `zip`.
    #[serde(default)]
    pub format: Option<String>,
}

/// Permission: file.archive
#[utoipa::path(post, path = "/api/servers/{id}/files/compress", tag = "files", summary = "Compress", description = "Packs files and directories into a tar.gz, tar.zst or zip archive (symlinks stored as links in tar and left out of zip), checked against the disk limit as it grows. The archive appears only when complete.", params(("id" = String, Path, description = "Server id")), request_body = Compress, responses((status = 201, description = "The archive", body = crate::api::openapi::shapes::FileEntry)))]
pub async fn compress(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Compress>,
) -> ApiResult<(StatusCode, Json<FileEntry>)> {
    let r = server(&state, &p, &id, Permission::FileArchive).await?;
    paths_in_range(&req.paths)?;
    let format = match req.format.as_deref() {
        None | Some("tar_gz") => ArchiveKind::TarGz,
        Some("tar_zst") => ArchiveKind::TarZst,
        Some("zip") => ArchiveKind::Zip,
        Some(_) => {
            return Err(ApiError::invalid(
                "format",
                "format must be tar_gz, tar_zst or zip",
            ));
        }
    };
    let entry = state
        .node
        .compress_files(&r.id, req.paths.clone(), &req.destination, format)
        .await?;
    audit(
        &state,
        &p,
        &ip,
        "file.compress",
        &r.id,
        &entry.path,
        json!({"paths": req.paths}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decompress {
    /// The archive (tar, tar.gz, tar.xz, tar.zst or zip).
    pub path: String,
    /// The directory to unpack into (created when missing).
    pub destination: String,
}

/// Permission: file.archive
#[utoipa::path(post, path = "/api/servers/{id}/files/decompress", tag = "files", summary = "Extract an archive", description = "Unpacks an archive through the path sandbox: entries that would land outside the server directory, links out of it and archives that expand beyond the limits or the disk quota are refused (422 `bad_archive`, 413 `quota_exceeded`).", params(("id" = String, Path, description = "Server id")), request_body = Decompress, responses((status = 204, description = "Extracted")))]
pub async fn decompress(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Decompress>,
) -> ApiResult<StatusCode> {
    let r = server(&state, &p, &id, Permission::FileArchive).await?;
    state
        .node
        .decompress_file(&r.id, &req.path, &req.destination)
        .await?;
    audit(
        &state,
        &p,
        &ip,
        "file.decompress",
        &r.id,
        &req.path,
        json!({"destination": req.destination}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Directory to search under (default: the root).
    #[serde(default)]
    pub path: String,
    /// Case-insensitive text to find in names (or contents with `content=true`).
    pub query: String,
    #[serde(default)]
    pub content: bool,
    /// 1 to 1000 matches (default 200).
    pub limit: Option<u32>,
}

/// Permission: file.read (file.read-content to search contents)
#[utoipa::path(get, path = "/api/servers/{id}/files/search", tag = "files", summary = "Search files", description = "Finds files whose name (or, with `content=true`, whose text) contains `query`, case-insensitively. `truncated` says the search stopped at the limit.", params(("id" = String, Path, description = "Server id"), SearchParams), responses((status = 200, description = "The matches", body = crate::api::openapi::shapes::FileSearch)))]
pub async fn search(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    params: Params<SearchParams>,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::FileRead).await?;
    let q = query(params)?;
    if q.content {
        authorize_server(&state, &p, Permission::FileReadContent, &r).await?;
    }
    let query = q.query.trim().to_owned();
    if query.is_empty() || query.chars().count() > 200 {
        return Err(ApiError::invalid(
            "query",
            "query must be 1 to 200 characters",
        ));
    }
    let limit = q.limit.unwrap_or(200);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("limit must be 1 to {MAX_PAGE}"),
        ));
    }
    let result = state
        .node
        .search_files(
            &r.id,
            SearchRequest {
                path: q.path,
                query,
                content: q.content,
                limit,
            },
        )
        .await?;
    Ok(Json(json!(result)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Pull {
    /// An https URL (http only when the admin allows it). Private, loopback and
    /// link-local addresses are refused, also after DNS and on redirects.
    pub url: String,
    /// A file path, or an existing directory to put the file in under the URL's name.
    pub destination: String,
    #[serde(default)]
    pub overwrite: bool,
}

/// Permission: file.create
#[utoipa::path(post, path = "/api/servers/{id}/files/pull", tag = "files", summary = "Download a URL into the server", description = "Fetches a file from the internet straight into the server directory, within the node's size limit and the disk quota; the file appears only when complete. 422 `pull_refused` for a refused address or scheme.", params(("id" = String, Path, description = "Server id")), request_body = Pull, responses((status = 201, description = "The file", body = crate::api::openapi::shapes::FileEntry)))]
pub async fn pull(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Pull>,
) -> ApiResult<(StatusCode, Json<FileEntry>)> {
    let r = server(&state, &p, &id, Permission::FileCreate).await?;
    if req.overwrite {
        authorize_server(&state, &p, Permission::FileUpdate, &r).await?;
    }
    let url = req.url.clone();
    let entry = state
        .node
        .pull_file(
            &r.id,
            PullRequest {
                url: req.url,
                destination: req.destination,
                overwrite: req.overwrite,
            },
        )
        .await?;
    audit(
        &state,
        &p,
        &ip,
        "file.pull",
        &r.id,
        &entry.path,
        json!({"url": url, "bytes": entry.size}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

/// Permission: file.read
#[utoipa::path(get, path = "/api/servers/{id}/files/usage", tag = "files", summary = "Disk usage", description = "Bytes used by the server directory and its disk limit (`null`: none).", params(("id" = String, Path, description = "Server id")), responses((status = 200, description = "The usage", body = crate::api::openapi::shapes::DiskUsage)))]
pub async fn usage(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::FileRead).await?;
    Ok(Json(json!(state.node.disk_usage(&r.id).await?)))
}

/// Permission: file.sftp
#[utoipa::path(get, path = "/api/servers/{id}/sftp", tag = "files", summary = "SFTP details", description = "Host, port and the login name (`<username>.<server short id>`) to use with an SFTP client; sign in with the panel password or an SSH key added to the account. 404 when SFTP is turned off.", params(("id" = String, Path, description = "Server id")), responses((status = 200, description = "The details", body = crate::api::openapi::shapes::SftpDetails)))]
pub async fn sftp_details(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let r = server(&state, &p, &id, Permission::FileSftp).await?;
    let Some(sftp) = &state.config.sftp else {
        return Err(ApiError::NotFound("SFTP (turned off on this panel)".into()));
    };
    let host = sftp
        .public_host
        .clone()
        .or_else(|| request_host(&headers))
        .unwrap_or_else(|| "localhost".into());
    let username = format!("{}.{}", p.user.username, crate::sftp::short_id(&r.id));
    let url_host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    Ok(Json(json!({
        "host": host,
        "port": sftp.port,
        "username": username,
        "url": format!("sftp://{username}@{url_host}:{}", sftp.port),
    })))
}

/// The host name the browser used, without its port.
fn request_host(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next()?.to_owned()
    } else {
        host.rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(host)
            .to_owned()
    };
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let mut h = HeaderMap::new();
        assert_eq!(range_start(&h).unwrap(), 0);
        h.insert(header::RANGE, HeaderValue::from_static("bytes=1024-"));
        assert_eq!(range_start(&h).unwrap(), 1024);
        for bad in ["bytes=0-10", "bytes=-5", "items=1-", "bytes=a-"] {
            h.insert(header::RANGE, HeaderValue::from_static(bad));
            assert!(range_start(&h).is_err(), "{bad}");
        }
    }

    #[test]
    fn disposition_keeps_any_name() {
        assert_eq!(
            content_disposition("world.tar.gz"),
            "attachment; filename=\"world.tar.gz\"; filename*=UTF-8''world.tar.gz"
        );
        let d = content_disposition("wélt \"x\".txt");
        assert!(d.contains("filename=\"w_lt _x_.txt\""), "{d}");
        assert!(
            d.contains("filename*=UTF-8''w%C3%A9lt%20%22x%22.txt"),
            "{d}"
        );
    }

    #[test]
    fn host_without_port() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("panel.example:8080"));
        assert_eq!(request_host(&h).as_deref(), Some("panel.example"));
        h.insert(header::HOST, HeaderValue::from_static("[::1]:8080"));
        assert_eq!(request_host(&h).as_deref(), Some("::1"));
    }
}
