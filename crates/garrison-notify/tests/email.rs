//! Email deliveries against a real SMTP server: aiosmtpd on 127.0.0.1, saving what it
//! receives into a Maildir (`pip install aiosmtpd`; CI installs it).

use garrison_notify::{
    Channel, Notification, Sender, SenderOptions, ServerRef, Severity, SmtpSecurity,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// An aiosmtpd process, killed when dropped.
struct Smtp {
    port: u16,
    maildir: tempfile::TempDir,
    _child: tokio::process::Child,
}

impl Smtp {
    async fn start() -> Smtp {
        let maildir = tempfile::tempdir().unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = tokio::process::Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 -m aiosmtpd (pip install aiosmtpd)");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not start on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Smtp {
            port,
            maildir,
            _child: child,
        }
    }

    /// The messages delivered so far, raw.
    fn messages(&self) -> Vec<String> {
        let new: PathBuf = self.maildir.path().join("mail").join("new");
        read_dir(&new)
    }
}

fn read_dir(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect()
}

fn notification() -> Notification {
    Notification {
        id: "0190f6c4-delivery-7".into(),
        event: "backup.failed".into(),
        title: "Backup failed".into(),
        message: "The nightly backup of Survival could not upload.".into(),
        severity: Severity::Warning,
        server: Some(ServerRef {
            id: "srv-7".into(),
            name: "Survival".into(),
        }),
        at: 1_700_000_000_000,
        link: Some("https://panel.example.com/servers/srv-7/backups".into()),
        data: serde_json::Value::Null,
    }
}

fn channel(port: u16, security: SmtpSecurity) -> Channel {
    Channel::Email {
        host: "127.0.0.1".into(),
        port,
        security,
        username: None,
        password: None,
        from: "Garrison Alerts <alerts@garrison.test>".into(),
        to: vec![
            "ops@garrison.test".into(),
            "Admin <admin@garrison.test>".into(),
        ],
        subject: Some("{{severity}}: {{title}} on {{server_name}}".into()),
        body: Some(
            "{{message}}\nevent={{event}} server={{server_id}} at={{at}}\nlink={{link}}\n".into(),
        ),
    }
}

fn sender(allow_private: bool, attempts: u32) -> Sender {
    Sender::new(SenderOptions {
        allow_private,
        attempts,
        first_backoff: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

/// The value of a header, unfolded.
fn header(msg: &str, name: &str) -> Option<String> {
    let head = msg.split("\n\n").next().unwrap_or("");
    let mut lines = head.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case(name)
        {
            let mut value = v.trim().to_owned();
            while let Some(next) = lines.peek() {
                if next.starts_with([' ', '\t']) {
                    value.push(' ');
                    value.push_str(next.trim());
                    lines.next();
                } else {
                    break;
                }
            }
            return Some(value);
        }
    }
    None
}

#[tokio::test]
async fn plain_smtp_delivers_the_rendered_templates() {
    let smtp = Smtp::start().await;
    let d = sender(true, 2)
        .deliver(&channel(smtp.port, SmtpSecurity::None), &notification())
        .await;
    assert!(d.ok, "{d:?}");
    assert_eq!(d.attempts.len(), 1);
    assert!(d.attempts[0].error.is_none());

    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let m = msgs[0].replace("\r\n", "\n");
    assert_eq!(
        header(&m, "Subject").as_deref(),
        Some("warning: Backup failed on Survival")
    );
    assert_eq!(
        header(&m, "From").as_deref(),
        Some("\"Garrison Alerts\" <alerts@garrison.test>")
    );
    let to = header(&m, "To").unwrap();
    assert!(to.contains("ops@garrison.test"), "{to}");
    assert!(to.contains("admin@garrison.test"), "{to}");
    // aiosmtpd's Mailbox handler records the envelope recipients too.
    assert!(
        m.contains("X-RcptTo: ops@garrison.test, admin@garrison.test"),
        "{m}"
    );
    assert_eq!(
        header(&m, "Message-ID").as_deref(),
        Some("<0190f6c4-delivery-7@garrison>")
    );
    let body = m.split_once("\n\n").unwrap().1;
    assert!(
        body.contains("The nightly backup of Survival could not upload."),
        "{body}"
    );
    assert!(
        body.contains("event=backup.failed server=srv-7 at=2023-11-14T22:13:20Z"),
        "{body}"
    );
    assert!(
        body.contains("link=https://panel.example.com/servers/srv-7/backups"),
        "{body}"
    );
}

#[tokio::test]
async fn default_templates_are_used_without_any() {
    let smtp = Smtp::start().await;
    let mut c = channel(smtp.port, SmtpSecurity::None);
    if let Channel::Email { subject, body, .. } = &mut c {
        *subject = None;
        *body = None;
    }
    let d = sender(true, 1).deliver(&c, &notification()).await;
    assert!(d.ok, "{d:?}");
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 1);
    let m = msgs[0].replace("\r\n", "\n");
    assert_eq!(
        header(&m, "Subject").as_deref(),
        Some("[Garrison] Backup failed")
    );
    let body = m.split_once("\n\n").unwrap().1;
    assert!(body.contains("Severity: warning"), "{body}");
    assert!(body.contains("Server: Survival"), "{body}");
}

#[tokio::test]
async fn required_starttls_against_a_plain_server_fails_without_sending() {
    let smtp = Smtp::start().await;
    let d = sender(true, 3)
        .deliver(&channel(smtp.port, SmtpSecurity::StartTls), &notification())
        .await;
    assert!(!d.ok, "{d:?}");
    assert_eq!(
        d.attempts.len(),
        1,
        "a server without STARTTLS will not heal"
    );
    let e = d.attempts[0].error.as_deref().unwrap();
    assert!(e.contains("STARTTLS"), "{e}");
    assert!(e.contains(&format!("127.0.0.1:{}", smtp.port)), "{e}");
    // Give the server a moment: nothing may arrive.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(smtp.messages().is_empty(), "a message was sent in plain");
}

#[tokio::test]
async fn a_private_smtp_host_is_refused_unless_allowed() {
    let smtp = Smtp::start().await;
    for host in ["127.0.0.1", "localhost"] {
        let mut c = channel(smtp.port, SmtpSecurity::None);
        if let Channel::Email { host: h, .. } = &mut c {
            *h = host.into();
        }
        let d = sender(false, 3).deliver(&c, &notification()).await;
        assert!(!d.ok, "{host}");
        assert_eq!(d.attempts.len(), 1, "{host}");
        let e = d.attempts[0].error.as_deref().unwrap();
        assert!(
            e.contains("an admin can allow private targets"),
            "{host}: {e}"
        );
    }
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn an_smtp_server_that_is_down_is_retried() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let d = sender(true, 2)
        .deliver(&channel(port, SmtpSecurity::None), &notification())
        .await;
    assert!(!d.ok);
    assert_eq!(d.attempts.len(), 2, "{d:?}");
}
