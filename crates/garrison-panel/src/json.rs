//! `ApiJson<T>`: the JSON body extractor every handler uses, so that bad bodies get the
//! API's error shape: syntax errors and unknown fields are 400, a value of the wrong
//! type or out of range is 422 naming the field.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let mime = v.split(';').next().unwrap_or("").trim();
                mime == "application/json" || mime.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::BadRequest {
                code: "unsupported_media_type",
                message: "expected Content-Type: application/json".into(),
                field: None,
            });
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest {
                    code: "bad_body",
                    message: rejection.body_text(),
                    field: None,
                }
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// An optional body: an empty one is `None` (so `POST` without a body takes the
/// defaults); anything else must be JSON like for [`ApiJson`].
impl<S: Send + Sync, T: DeserializeOwned> axum::extract::OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let empty = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "0")
            || (!req.headers().contains_key(header::CONTENT_LENGTH)
                && !req.headers().contains_key(header::TRANSFER_ENCODING));
        if empty {
            return Ok(None);
        }
        <ApiJson<T> as FromRequest<S>>::from_request(req, state)
            .await
            .map(Some)
    }
}

/// Decode `bytes` as `T` with the API's error rules (shared with the WebSocket).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest {
            code: "malformed_json",
            message: format!("malformed JSON: {e}"),
            field: None,
        })?;
    from_value(value)
}

/// A JSON value already read into `T`, with the same error mapping as `parse_json`.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if let Some(rest) = inner.strip_prefix("unknown field `") {
            let name = rest.split('`').next().unwrap_or_default();
            // The path already ends with the unknown key.
            let field = if path == "." || path.is_empty() {
                name.to_owned()
            } else {
                path
            };
            ApiError::BadRequest {
                code: "unknown_field",
                message: format!("unknown field `{field}`"),
                field: Some(field),
            }
        } else if inner.starts_with("missing field `") {
            let name = inner.split('`').nth(1).unwrap_or_default().to_owned();
            let field = if path == "." || path.is_empty() {
                name
            } else {
                format!("{path}.{name}")
            };
            ApiError::invalid(field.clone(), format!("{field} is required"))
        } else {
            let field = if path == "." { String::new() } else { path };
            ApiError::invalid(field, inner)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        port: u16,
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_json::<Body>(b"{nope").unwrap_err();
        assert_eq!(e.code(), "malformed_json");
        let e = parse_json::<Body>(br#"{"name":"a","port":1,"x":2}"#).unwrap_err();
        assert_eq!(e.code(), "unknown_field");
        assert_eq!(e.body()["error"]["field"], "x");
        let e = parse_json::<Body>(br#"{"name":"a","port":70000}"#).unwrap_err();
        assert_eq!(e.status(), 422);
        assert_eq!(e.body()["error"]["field"], "port");
        let e = parse_json::<Body>(br#"{"port":1}"#).unwrap_err();
        assert_eq!(e.status(), 422);
        assert_eq!(e.body()["error"]["field"], "name");
    }
}
