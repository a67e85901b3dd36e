//! Webhook, Discord and Slack deliveries: one JSON `POST` per attempt.

use crate::{Channel, Next, Notification, NotifyError, Outcome, Severity, invalid, rfc3339};
use hmac::{KeyInit, Mac};
use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use serde_json::{Value, json};
use std::time::Duration;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The `X-Garrison-Signature` value of a webhook request:
/// `sha256=` followed by the lowercase hex HMAC-SHA256, keyed with the secret's UTF-8
/// bytes, of the `X-Garrison-Timestamp` value (decimal unix seconds), a `.`, and the
/// raw request body bytes:
///
/// ```text
/// X-Garrison-Signature: sha256=hex(HMAC-SHA256(secret, "<timestamp>.<body>"))
/// ```
///
/// A receiver recomputes it over the body exactly as received (before parsing the
/// JSON), compares in constant time, and rejects timestamps far from its own clock.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length: new_from_slice cannot fail.
    let mut mac = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::from("sha256="),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub(crate) fn parse_url(url: &str) -> Result<Url, NotifyError> {
    let parsed = Url::parse(url.trim()).map_err(|e| invalid("url", format!("not a URL: {e}")))?;
    garrison_outbound::check_url(&parsed, true).map_err(|e| invalid("url", e.to_string()))?;
    Ok(parsed)
}

/// Discord embed colours by severity.
fn discord_color(s: Severity) -> u32 {
    match s {
        Severity::Info => 0x3498db,
        Severity::Warning => 0xf1c40f,
        Severity::Critical => 0xe74c3c,
    }
}

/// At most `max` characters of `s`, with an ellipsis when cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The Discord webhook body: one embed with title, description (the message), a
/// severity colour, the time, the link, and server, event and severity fields.
pub fn discord_payload(n: &Notification) -> Value {
    let mut fields = Vec::new();
    if let Some(s) = &n.server {
        fields.push(json!({"name": "Server", "value": clip(&s.name, 1024), "inline": true}));
    }
    fields.push(json!({"name": "Event", "value": clip(&n.event, 1024), "inline": true}));
    fields.push(json!({"name": "Severity", "value": n.severity.as_str(), "inline": true}));
    let mut embed = json!({
        "title": clip(&n.title, 256),
        "description": clip(&n.message, 4096),
        "color": discord_color(n.severity),
        "timestamp": rfc3339(n.at),
        "fields": fields,
    });
    if let Some(link) = n.link.as_deref().filter(|l| Url::parse(l).is_ok())
        && let Some(obj) = embed.as_object_mut()
    {
        obj.insert("url".into(), Value::String(link.to_owned()));
    }
    json!({"content": null, "embeds": [embed], "allowed_mentions": {"parse": []}})
}

/// Slack's mrkdwn escapes.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The Slack incoming-webhook body: `text` (the fallback for notifications) and
/// blocks: a header with the title, a section with the message, and a context line
/// with severity, server and event (and the link).
pub fn slack_payload(n: &Notification) -> Value {
    let mut context = format!("*{}* · {}", n.severity.as_str(), slack_escape(&n.event));
    if let Some(s) = &n.server {
        context.push_str(&format!(" · {}", slack_escape(&s.name)));
    }
    if let Some(link) = n.link.as_deref().filter(|l| Url::parse(l).is_ok()) {
        context.push_str(&format!(" · <{}|Open in Garrison>", slack_escape(link)));
    }
    let message = if n.message.is_empty() {
        " "
    } else {
        &n.message
    };
    json!({
        "text": clip(&format!("{}: {}", n.title, n.message), 3000),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": clip(&n.title, 150), "emoji": true}},
            {"type": "section", "text": {"type": "mrkdwn", "text": clip(&slack_escape(message), 3000)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(&context, 3000)}]},
        ],
    })
}

/// One prepared HTTP delivery.
pub(crate) struct HttpRequest {
    url: Url,
    body: Vec<u8>,
    /// Only webhooks carry the Garrison headers.
    garrison: Option<GarrisonHeaders>,
}

struct GarrisonHeaders {
    event: String,
    id: String,
    secret: Option<String>,
}

impl HttpRequest {
    pub(crate) fn new(channel: &Channel, n: &Notification) -> Result<HttpRequest, NotifyError> {
        let encode =
            |v: &Value| serde_json::to_vec(v).map_err(|e| invalid("notification", e.to_string()));
        Ok(match channel {
            Channel::Webhook { url, secret } => HttpRequest {
                url: parse_url(url)?,
                body: serde_json::to_vec(n).map_err(|e| invalid("notification", e.to_string()))?,
                garrison: Some(GarrisonHeaders {
                    event: n.event.clone(),
                    id: n.id.clone(),
                    secret: secret.clone(),
                }),
            },
            Channel::Discord { url } => HttpRequest {
                url: parse_url(url)?,
                body: encode(&discord_payload(n))?,
                garrison: None,
            },
            Channel::Slack { url } => HttpRequest {
                url: parse_url(url)?,
                body: encode(&slack_payload(n))?,
                garrison: None,
            },
            Channel::Email { .. } => return Err(invalid("kind", "not an HTTP channel")),
        })
    }

    /// Scheme, host and port: all an error or log shows of the URL.
    pub(crate) fn shown(&self) -> String {
        garrison_outbound::redact(&self.url)
    }

    pub(crate) async fn send(&self, client: &reqwest::Client, allow_private: bool) -> Outcome {
        let shown = self.shown();
        if let Err(e) = garrison_outbound::check_url(&self.url, allow_private) {
            return Outcome::stop(format!("{shown}: {e}"));
        }
        let mut req = client
            .post(self.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(g) = &self.garrison {
            let ts = crate::time::now_millis().div_euclid(1000);
            req = req
                .header("X-Garrison-Event", g.event.as_str())
                .header("X-Garrison-Delivery", g.id.as_str())
                .header("X-Garrison-Timestamp", ts.to_string());
            if let Some(secret) = &g.secret {
                req = req.header("X-Garrison-Signature", signature(secret, ts, &self.body));
            }
        }
        let resp = match req.body(self.body.clone()).send().await {
            Ok(r) => r,
            Err(e) => return network_failure(e, &shown),
        };
        let status = resp.status();
        let code = status.as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        if status.is_success() {
            return Outcome {
                status: Some(code),
                error: None,
                next: Next::Done,
            };
        }
        let snippet = body_snippet(resp).await;
        let error = Some(format!("{shown} answered HTTP {code}{snippet}"));
        let next = if code == 429 {
            Next::Retry(retry_after)
        } else if status.is_server_error() {
            Next::Retry(None)
        } else {
            Next::Stop
        };
        Outcome {
            status: Some(code),
            error,
            next,
        }
    }
}

/// The start of an error response's body, which often says what is wrong
/// (`{"message": "Unknown Webhook"}`).
async fn body_snippet(resp: reqwest::Response) -> String {
    let text = tokio::time::timeout(Duration::from_secs(2), resp.text())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {}", clip(&text.replace(['\r', '\n'], " "), 200))
    }
}

/// `Retry-After` in seconds (Discord sends fractions); an HTTP date is not used.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

/// A request that got no answer: the guard's refusals stop, timeouts and connection
/// failures retry. The message names scheme and host only (reqwest's own message
/// carries the whole URL).
fn network_failure(e: reqwest::Error, shown: &str) -> Outcome {
    if let Some(r) = garrison_outbound::refusal(&e) {
        return Outcome::stop(format!("{shown}: {r}"));
    }
    let timeout = e.is_timeout();
    let connect = e.is_connect();
    let builder = e.is_builder();
    let e = e.without_url();
    let mut chain = Vec::new();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
    while let Some(c) = cause {
        let s = c.to_string();
        if !chain.contains(&s) {
            chain.push(s);
        }
        cause = c.source();
    }
    let detail = if chain.is_empty() {
        e.to_string()
    } else {
        chain.join(": ")
    };
    if timeout {
        Outcome::retry(format!("{shown}: timed out ({detail})"))
    } else if connect {
        Outcome::retry(format!("{shown}: connection failed: {detail}"))
    } else if builder {
        Outcome::stop(format!("{shown}: {detail}"))
    } else {
        Outcome::retry(format!("{shown}: request failed: {detail}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after("1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-3"), None);
    }

    #[test]
    fn signature_is_stable() {
        // HMAC-SHA256("secret", "1700000000.{}"), computed with Python's hmac module.
        let s = signature("secret", 1_700_000_000, b"{}");
        assert_eq!(
            s,
            "sha256=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
        assert_ne!(s, signature("secret", 1_700_000_001, b"{}"));
        assert_ne!(s, signature("other", 1_700_000_000, b"{}"));
    }

    #[test]
    fn clip_counts_characters() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "ab…");
        assert_eq!(clip("ééé", 2), "é…");
    }
}
