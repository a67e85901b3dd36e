//! Notification delivery: one [`Notification`] to one [`Channel`] (a signed webhook,
//! Discord, Slack or email), retried on transient failures, every attempt recorded in
//! the [`Delivery`] the caller keeps as the delivery log.
//!
//! Targets are user-supplied URLs and SMTP hosts, so every request goes through
//! [`garrison_outbound`]: private and loopback targets are refused unless the
//! [`SenderOptions::allow_private`] switch (an admin setting) is on. Errors and logs
//! show a URL's scheme and host only, since Discord and Slack webhook paths carry
//! tokens; secrets and passwords are never logged.
//!
//! # Webhook requests
//!
//! A [`Channel::Webhook`] gets `POST` with the [`Notification`] as the JSON body and
//! these headers:
//!
//! | header | value |
//! | --- | --- |
//! | `Content-Type` | `application/json` |
//! | `User-Agent` | `Garrison/<version>` |
//! | `X-Garrison-Event` | the notification's `event` (`alert.firing`, `test` …) |
//! | `X-Garrison-Delivery` | the notification's `id`, the same on every retry |
//! | `X-Garrison-Timestamp` | unix seconds when this attempt was sent |
//! | `X-Garrison-Signature` | with a secret: `sha256=<hex>`, see [`signature`] |
//!
//! Receivers verify the signature as [`signature`] describes and should reject a
//! timestamp more than a few minutes old (replays) and deduplicate on the delivery id
//! (a retry after a lost response sends the same notification again).

mod email;
mod http;
mod time;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use email::SmtpSecurity;
pub use http::{discord_payload, signature, slack_payload};
pub use time::rfc3339;

/// The User-Agent of every webhook request.
pub const USER_AGENT: &str = concat!("Garrison/", env!("CARGO_PKG_VERSION"));
/// The longest wait between two attempts, whatever the backoff or `Retry-After` says.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Redirect hops a webhook may take (each checked like the first URL).
const MAX_REDIRECTS: usize = 3;

/// Where a notification goes. Stored by the panel as JSON tagged by `kind`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Channel {
    /// A generic JSON webhook, signed when a secret is set.
    Webhook {
        url: String,
        #[serde(default)]
        secret: Option<String>,
    },
    /// A Discord webhook URL (`https://discord.com/api/webhooks/…`).
    Discord { url: String },
    /// A Slack incoming webhook URL (`https://hooks.slack.com/services/…`).
    Slack { url: String },
    /// Email through an SMTP relay.
    Email {
        host: String,
        port: u16,
        security: SmtpSecurity,
        #[serde(default)]
        username: Option<String>,
        #[serde(default)]
        password: Option<String>,
        /// A mailbox: `alerts@example.com` or `Garrison <alerts@example.com>`.
        from: String,
        to: Vec<String>,
        /// Subject template; default [`DEFAULT_SUBJECT`]. Placeholders as in
        /// [`template_values`].
        #[serde(default)]
        subject: Option<String>,
        /// Plain-text body template; default [`DEFAULT_BODY`].
        #[serde(default)]
        body: Option<String>,
    },
}

impl Channel {
    /// `webhook`, `discord`, `slack` or `email`.
    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Webhook { .. } => "webhook",
            Channel::Discord { .. } => "discord",
            Channel::Slack { .. } => "slack",
            Channel::Email { .. } => "email",
        }
    }
}

/// The default email subject template.
pub const DEFAULT_SUBJECT: &str = "[Garrison] {{title}}";
/// The default email body template.
pub const DEFAULT_BODY: &str = "{{title}}\n\n{{message}}\n\nEvent: {{event}}\nSeverity: {{severity}}\nServer: {{server_name}}\nTime: {{at}}\n{{link}}\n";

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ServerRef {
    pub id: String,
    pub name: String,
}

/// What happened. Serialized as is for [`Channel::Webhook`] bodies.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Notification {
    /// The delivery id, set by the caller (`X-Garrison-Delivery`).
    pub id: String,
    /// `alert.firing`, `server.crashed`, `backup.failed`, `test` …
    pub event: String,
    pub title: String,
    pub message: String,
    pub severity: Severity,
    pub server: Option<ServerRef>,
    /// Unix milliseconds.
    pub at: i64,
    /// A link into the panel.
    pub link: Option<String>,
    #[serde(default)]
    pub data: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A channel setting that cannot work; `field` names it (`url`, `to[1]`, `subject`).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error(transparent)]
    Client(#[from] garrison_outbound::OutboundError),
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> NotifyError {
    NotifyError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Check a channel before it is saved: URLs parse and are http(s), mailboxes parse,
/// there is a recipient, templates use known placeholders only. Whether a target is
/// private is checked at delivery, against the sender's setting.
pub fn validate(channel: &Channel) -> Result<(), NotifyError> {
    match channel {
        Channel::Webhook { url, secret } => {
            http::parse_url(url)?;
            if secret.as_deref().is_some_and(str::is_empty) {
                return Err(invalid("secret", "must not be empty when set"));
            }
        }
        Channel::Discord { url } | Channel::Slack { url } => {
            http::parse_url(url)?;
        }
        Channel::Email {
            host,
            port,
            from,
            to,
            subject,
            body,
            ..
        } => email::validate(host, *port, from, to, subject.as_deref(), body.as_deref())?,
    }
    Ok(())
}

/// The placeholders of email templates: `{{event}}`, `{{title}}`, `{{message}}`,
/// `{{severity}}`, `{{server_name}}`, `{{server_id}}` (empty without a server), `{{at}}`
/// (RFC 3339, UTC) and `{{link}}` (empty without one).
pub fn template_values(n: &Notification) -> BTreeMap<String, String> {
    let (server_id, server_name) = match &n.server {
        Some(s) => (s.id.clone(), s.name.clone()),
        None => (String::new(), String::new()),
    };
    BTreeMap::from([
        ("event".to_owned(), n.event.clone()),
        ("title".to_owned(), n.title.clone()),
        ("message".to_owned(), n.message.clone()),
        ("severity".to_owned(), n.severity.as_str().to_owned()),
        ("server_name".to_owned(), server_name),
        ("server_id".to_owned(), server_id),
        ("at".to_owned(), rfc3339(n.at)),
        ("link".to_owned(), n.link.clone().unwrap_or_default()),
    ])
}

/// How a [`Sender`] retries and what it may reach.
#[derive(Debug, Clone)]
pub struct SenderOptions {
    /// Allow private, loopback and link-local targets (an admin setting).
    pub allow_private: bool,
    /// Attempts per delivery, the first included (at least 1).
    pub attempts: u32,
    /// Wait before the second attempt; doubled per attempt, at most [`MAX_BACKOFF`].
    pub first_backoff: Duration,
    /// Limit of one attempt (connect, send, answer).
    pub timeout: Duration,
}

impl Default for SenderOptions {
    fn default() -> Self {
        SenderOptions {
            allow_private: false,
            attempts: 5,
            first_backoff: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        }
    }
}

/// One try at delivering, as the delivery log shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Attempt {
    /// Unix milliseconds when it started.
    pub at: i64,
    pub duration_ms: u64,
    /// The HTTP status, or for email the SMTP reply code of a refusal.
    pub status: Option<u16>,
    /// Why it failed; `None` on success.
    pub error: Option<String>,
}

/// The outcome of [`Sender::deliver`]: every attempt, in order.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Delivery {
    pub ok: bool,
    pub attempts: Vec<Attempt>,
}

/// What one attempt's result means for the next.
#[derive(Debug)]
pub(crate) enum Next {
    Done,
    /// Try again, after `Retry-After` when the target said so.
    Retry(Option<Duration>),
    /// A failure that retrying will not heal (a 4xx, a refused target, a bad setting).
    Stop,
}

#[derive(Debug)]
pub(crate) struct Outcome {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub next: Next,
}

impl Outcome {
    pub(crate) fn stop(error: impl Into<String>) -> Outcome {
        Outcome {
            status: None,
            error: Some(error.into()),
            next: Next::Stop,
        }
    }
    pub(crate) fn retry(error: impl Into<String>) -> Outcome {
        Outcome {
            status: None,
            error: Some(error.into()),
            next: Next::Retry(None),
        }
    }
}

/// Delivers notifications; one per process is enough (it keeps a connection pool).
#[derive(Debug, Clone)]
pub struct Sender {
    opts: SenderOptions,
    http: reqwest::Client,
}

impl Sender {
    pub fn new(opts: SenderOptions) -> Result<Sender, NotifyError> {
        let http = garrison_outbound::client(&garrison_outbound::ClientOptions {
            allow_private: opts.allow_private,
            timeout: Some(opts.timeout),
            connect_timeout: Some(opts.timeout),
            read_timeout: None,
            user_agent: USER_AGENT.to_owned(),
            max_redirects: MAX_REDIRECTS,
        })?;
        Ok(Sender { opts, http })
    }

    /// Deliver `n` to `channel`, retrying as the module docs say. Never fails: a
    /// channel that cannot work is one failed attempt with the reason.
    pub async fn deliver(&self, channel: &Channel, n: &Notification) -> Delivery {
        let attempts = self.opts.attempts.max(1);
        let mut log = Vec::new();
        let prepared = match Prepared::new(channel, n) {
            Ok(p) => p,
            Err(e) => {
                log.push(Attempt {
                    at: time::now_millis(),
                    duration_ms: 0,
                    status: None,
                    error: Some(e.to_string()),
                });
                return Delivery {
                    ok: false,
                    attempts: log,
                };
            }
        };
        for i in 0..attempts {
            let at = time::now_millis();
            let started = Instant::now();
            let out = self.attempt(&prepared).await;
            let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let ok = matches!(out.next, Next::Done);
            if let Some(e) = &out.error {
                tracing::debug!(
                    channel = channel.kind(),
                    target = %prepared.target(),
                    attempt = i + 1,
                    "notification attempt failed: {e}"
                );
            }
            log.push(Attempt {
                at,
                duration_ms,
                status: out.status,
                error: out.error,
            });
            let wait = match out.next {
                Next::Done | Next::Stop => {
                    return Delivery { ok, attempts: log };
                }
                Next::Retry(after) => after,
            };
            if i + 1 < attempts {
                let wait = wait.unwrap_or_else(|| backoff(self.opts.first_backoff, i));
                tokio::time::sleep(wait.min(MAX_BACKOFF)).await;
            }
        }
        tracing::warn!(
            channel = channel.kind(),
            target = %prepared.target(),
            "notification {} not delivered after {attempts} attempts",
            n.id
        );
        Delivery {
            ok: false,
            attempts: log,
        }
    }

    async fn attempt(&self, p: &Prepared) -> Outcome {
        match p {
            Prepared::Http(h) => h.send(&self.http, self.opts.allow_private).await,
            Prepared::Email(e) => e.send(self.opts.allow_private, self.opts.timeout).await,
        }
    }
}

/// The wait after failed attempt `i` (0-based): `first`, doubled per attempt, capped.
fn backoff(first: Duration, i: u32) -> Duration {
    let factor = 1u32.checked_shl(i.min(31)).unwrap_or(u32::MAX);
    first.saturating_mul(factor).min(MAX_BACKOFF)
}

/// A channel and notification turned into what each attempt sends.
enum Prepared {
    Http(http::HttpRequest),
    Email(Box<email::EmailRequest>),
}

impl Prepared {
    fn new(channel: &Channel, n: &Notification) -> Result<Prepared, NotifyError> {
        validate(channel)?;
        Ok(match channel {
            Channel::Email { .. } => {
                Prepared::Email(Box::new(email::EmailRequest::new(channel, n)?))
            }
            _ => Prepared::Http(http::HttpRequest::new(channel, n)?),
        })
    }

    fn target(&self) -> String {
        match self {
            Prepared::Http(h) => h.shown(),
            Prepared::Email(e) => e.shown(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let s = Duration::from_secs(1);
        assert_eq!(backoff(s, 0), s);
        assert_eq!(backoff(s, 1), 2 * s);
        assert_eq!(backoff(s, 3), 8 * s);
        assert_eq!(backoff(s, 6), MAX_BACKOFF);
        assert_eq!(backoff(s, 40), MAX_BACKOFF);
    }

    #[test]
    fn channels_are_tagged_by_kind() {
        let c: Channel = serde_json::from_value(serde_json::json!({
            "kind": "email", "host": "smtp.example.com", "port": 587,
            "security": "starttls", "from": "a@example.com", "to": ["b@example.com"]
        }))
        .unwrap();
        assert!(matches!(
            c,
            Channel::Email {
                security: SmtpSecurity::StartTls,
                ..
            }
        ));
        let w = Channel::Webhook {
            url: "https://example.com/h".into(),
            secret: None,
        };
        let v = serde_json::to_value(&w).unwrap();
        assert_eq!(v["kind"], "webhook");
        assert_eq!(serde_json::from_value::<Channel>(v).unwrap(), w);
    }

    #[test]
    fn validate_names_the_field() {
        let field = |c: &Channel| match validate(c) {
            Err(NotifyError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(&Channel::Discord {
                url: "not a url".into()
            }),
            "url"
        );
        assert_eq!(
            field(&Channel::Slack {
                url: "ftp://example.com/x".into()
            }),
            "url"
        );
        assert_eq!(
            field(&Channel::Webhook {
                url: "https://example.com/h".into(),
                secret: Some(String::new())
            }),
            "secret"
        );
        let email = |f: &dyn Fn(&mut Channel)| {
            let mut c = Channel::Email {
                host: "smtp.example.com".into(),
                port: 587,
                security: SmtpSecurity::StartTls,
                username: None,
                password: None,
                from: "Garrison <alerts@example.com>".into(),
                to: vec!["ops@example.com".into()],
                subject: None,
                body: None,
            };
            f(&mut c);
            c
        };
        assert!(validate(&email(&|_| {})).is_ok());
        let set = |c: &mut Channel, which: &str, v: &str| {
            if let Channel::Email {
                host,
                from,
                to,
                subject,
                body,
                port,
                ..
            } = c
            {
                match which {
                    "host" => *host = v.into(),
                    "port" => *port = 0,
                    "from" => *from = v.into(),
                    "to" => to.push(v.into()),
                    "to-empty" => to.clear(),
                    "subject" => *subject = Some(v.into()),
                    "body" => *body = Some(v.into()),
                    _ => unreachable!(),
                }
            }
        };
        assert_eq!(field(&email(&|c| set(c, "host", ""))), "host");
        assert_eq!(field(&email(&|c| set(c, "port", ""))), "port");
        assert_eq!(field(&email(&|c| set(c, "from", "nobody"))), "from");
        assert_eq!(field(&email(&|c| set(c, "to", "x@@y"))), "to[1]");
        assert_eq!(field(&email(&|c| set(c, "to-empty", ""))), "to");
        assert_eq!(
            field(&email(&|c| set(c, "subject", "{{titel}}"))),
            "subject"
        );
        assert_eq!(field(&email(&|c| set(c, "body", "{{title"))), "body");
        let e = validate(&email(&|c| set(c, "subject", "{{titel}}"))).unwrap_err();
        assert!(e.to_string().contains("titel"), "{e}");
    }

    #[test]
    fn template_values_fill_every_placeholder() {
        let n = Notification {
            id: "d1".into(),
            event: "server.crashed".into(),
            title: "Crashed".into(),
            message: "exit 1".into(),
            severity: Severity::Critical,
            server: Some(ServerRef {
                id: "s1".into(),
                name: "Lobby".into(),
            }),
            at: 1_700_000_000_123,
            link: None,
            data: serde_json::Value::Null,
        };
        let v = template_values(&n);
        assert_eq!(v["at"], "2023-11-14T22:13:20Z");
        assert_eq!(v["server_name"], "Lobby");
        assert_eq!(v["link"], "");
        assert!(garrison_proto::render(DEFAULT_BODY, &v).is_ok());
        assert!(garrison_proto::render(DEFAULT_SUBJECT, &v).is_ok());
    }
}
