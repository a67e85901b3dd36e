//! Email deliveries through an SMTP relay (lettre, rustls on aws-lc-rs).

use crate::{
    Channel, DEFAULT_BODY, DEFAULT_SUBJECT, Next, Notification, NotifyError, Outcome, Severity,
    invalid, template_values,
};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How the SMTP connection is protected.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which is required: a server that does
    /// not offer it is an error, nothing is sent in the clear (port 587).
    #[serde(rename = "starttls")]
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    #[serde(rename = "tls")]
    Tls,
    /// No encryption, for a relay on the same host or network.
    #[serde(rename = "none")]
    None,
}

pub(crate) fn validate(
    host: &str,
    port: u16,
    from: &str,
    to: &[String],
    subject: Option<&str>,
    body: Option<&str>,
) -> Result<(), NotifyError> {
    let h = host.trim();
    if h.is_empty() {
        return Err(invalid("host", "must not be empty"));
    }
    if h.contains(|c: char| c.is_whitespace() || matches!(c, '/' | '@' | '?' | '#')) {
        return Err(invalid(
            "host",
            "a host name or IP address, without scheme or path",
        ));
    }
    if port == 0 {
        return Err(invalid("port", "must be between 1 and 65535"));
    }
    parse_mailbox(from, "from".to_owned())?;
    if to.is_empty() {
        return Err(invalid("to", "at least one recipient is needed"));
    }
    for (i, addr) in to.iter().enumerate() {
        parse_mailbox(addr, format!("to[{i}]"))?;
    }
    let sample = template_values(&Notification {
        id: String::new(),
        event: "test".into(),
        title: "Test".into(),
        message: "Test".into(),
        severity: Severity::Info,
        server: None,
        at: 0,
        link: None,
        data: serde_json::Value::Null,
    });
    for (field, text) in [("subject", subject), ("body", body)] {
        if let Some(t) = text {
            garrison_proto::render(t, &sample).map_err(|e| {
                invalid(
                    field,
                    format!("{e}; known placeholders: {}", known(&sample)),
                )
            })?;
        }
    }
    Ok(())
}

fn known(values: &std::collections::BTreeMap<String, String>) -> String {
    values
        .keys()
        .map(|k| format!("{{{{{k}}}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_mailbox(s: &str, field: String) -> Result<Mailbox, NotifyError> {
    s.trim()
        .parse::<Mailbox>()
        .map_err(|e| invalid(field, format!("not an email address ({s:?}): {e}")))
}

/// One prepared email delivery.
pub(crate) struct EmailRequest {
    host: String,
    port: u16,
    security: SmtpSecurity,
    credentials: Option<Credentials>,
    message: Message,
}

impl EmailRequest {
    pub(crate) fn new(channel: &Channel, n: &Notification) -> Result<EmailRequest, NotifyError> {
        let Channel::Email {
            host,
            port,
            security,
            username,
            password,
            from,
            to,
            subject,
            body,
        } = channel
        else {
            return Err(invalid("kind", "not an email channel"));
        };
        let values = template_values(n);
        let subject =
            garrison_proto::render(subject.as_deref().unwrap_or(DEFAULT_SUBJECT), &values)
                .map_err(|e| invalid("subject", e.to_string()))?;
        // One line: a title carrying a line break must not start a new header.
        let subject = subject.replace(['\r', '\n'], " ");
        let text = garrison_proto::render(body.as_deref().unwrap_or(DEFAULT_BODY), &values)
            .map_err(|e| invalid("body", e.to_string()))?;
        let mut builder = Message::builder()
            .from(parse_mailbox(from, "from".into())?)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        for (i, addr) in to.iter().enumerate() {
            builder = builder.to(parse_mailbox(addr, format!("to[{i}]"))?);
        }
        let id: String =
            n.id.chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .collect();
        if !id.is_empty() {
            builder = builder.message_id(Some(format!("<{id}@garrison>")));
        }
        let message = builder
            .body(text)
            .map_err(|e| invalid("to", format!("cannot build the message: {e}")))?;
        let credentials = username
            .as_ref()
            .filter(|u| !u.is_empty())
            .map(|u| Credentials::new(u.clone(), password.clone().unwrap_or_default()));
        Ok(EmailRequest {
            host: host.trim().to_owned(),
            port: *port,
            security: *security,
            credentials,
            message,
        })
    }

    pub(crate) fn shown(&self) -> String {
        let scheme = match self.security {
            SmtpSecurity::Tls => "smtps",
            SmtpSecurity::StartTls | SmtpSecurity::None => "smtp",
        };
        format!("{scheme}://{}:{}", self.host, self.port)
    }

    /// Where to connect: the host itself when private targets are allowed, otherwise
    /// one of its public addresses (resolved here, so what was checked is what is
    /// reached; TLS still verifies the certificate against the host name).
    async fn server(&self, allow_private: bool) -> Result<String, Outcome> {
        let shown = self.shown();
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        if allow_private {
            return Ok(bare.to_owned());
        }
        if let Some(host) = garrison_outbound::private_name(&self.host) {
            return Err(Outcome::stop(format!(
                "{shown}: {host} is a private or loopback address; an admin can allow private targets"
            )));
        }
        match garrison_outbound::public_addrs(bare, self.port).await {
            Ok(addrs) => match addrs.first() {
                Some(a) => Ok(a.ip().to_string()),
                None => Err(Outcome::stop(format!("{shown}: no address"))),
            },
            Err(e)
                if e.downcast_ref::<garrison_outbound::PrivateTarget>()
                    .is_some() =>
            {
                Err(Outcome::stop(format!("{shown}: {e}")))
            }
            Err(e) => Err(Outcome::retry(format!("{shown}: resolving {bare}: {e}"))),
        }
    }

    pub(crate) async fn send(&self, allow_private: bool, timeout: Duration) -> Outcome {
        let shown = self.shown();
        let server = match self.server(allow_private).await {
            Ok(s) => s,
            Err(out) => return out,
        };
        let domain = self.host.trim_start_matches('[').trim_end_matches(']');
        let tls = match self.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::StartTls | SmtpSecurity::Tls => {
                let params = match TlsParameters::new(domain.to_owned()) {
                    Ok(p) => p,
                    Err(e) => return Outcome::stop(format!("{shown}: TLS set-up: {e}")),
                };
                if self.security == SmtpSecurity::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server)
            .port(self.port)
            .timeout(Some(timeout))
            .tls(tls);
        if let Some(c) = &self.credentials {
            builder = builder.credentials(c.clone());
        }
        let transport = builder.build();
        let sent = tokio::time::timeout(timeout, transport.send(self.message.clone())).await;
        match sent {
            Ok(Ok(_)) => Outcome {
                status: None,
                error: None,
                next: Next::Done,
            },
            Ok(Err(e)) => self.failure(&e),
            Err(_) => Outcome::retry(format!(
                "{shown}: timed out after {} ms",
                timeout.as_millis()
            )),
        }
    }

    /// Permanent (5xx) refusals, TLS and client errors stop; transient (4xx) replies,
    /// timeouts and connection failures retry.
    fn failure(&self, e: &lettre::transport::smtp::Error) -> Outcome {
        let shown = self.shown();
        let status = e.status().map(u16::from);
        let mut error = format!("{shown}: {e}");
        let next = if e.is_permanent() {
            Next::Stop
        } else if e.is_transient() || e.is_timeout() {
            Next::Retry(None)
        } else if e.is_client() {
            if self.security == SmtpSecurity::StartTls {
                error.push_str(" (this channel requires STARTTLS; nothing was sent unencrypted)");
            }
            Next::Stop
        } else if e.is_tls() {
            Next::Stop
        } else {
            Next::Retry(None)
        };
        Outcome {
            status,
            error: Some(error),
            next,
        }
    }
}
