//! Writing audit entries from request handlers: who (the principal), how they signed
//! in (`via`), from where, on which server.
//!
//! ```ignore
//! crate::audit::record(
//!     &state,
//!     &p,
//!     Some(&client_ip),
//!     "server.power.start",
//!     Some(&record.id),
//!     Some(record.id.as_str()),
//!     &json!({}),
//! )
//! .await?;
//! ```
//!
//! Entries without a principal (a failed login, something Garrison did by itself) go
//! straight to [`Store::audit_entry`](crate::store::Store::audit_entry), with
//! [`VIA_SESSION`] when a session is being made, or no `via`.

use crate::AppState;
use crate::auth::{Credential, Principal};
use crate::store::{NewAudit, StoreError};
use garrison_proto::ServerId;

/// `via` for actions done with a browser session (and for a login that makes one).
pub const VIA_SESSION: &str = "session";
/// `via` for actions done over a console WebSocket opened with a one-time ticket.
pub const VIA_TICKET: &str = "ticket";
/// `via` for actions done over SFTP.
pub const VIA_SFTP: &str = "sftp";
/// `via` for actions a maintenance window took (stopping or starting its servers).
pub const VIA_MAINTENANCE: &str = "maintenance";
/// `via` for actions a schedule took (filed under the schedule's author).
pub const VIA_SCHEDULE: &str = "schedule";

/// How `p` authenticated, as stored in the log's `via` column: `"session"`,
/// `"key:<api key id>"` or `"ticket"`.
pub fn via(p: &Principal) -> String {
    match (p.via, &p.key_id) {
        (Credential::ApiKey, Some(id)) => format!("key:{id}"),
        (Credential::ApiKey, None) => "key".to_owned(),
        (Credential::Session, _) => VIA_SESSION.to_owned(),
        (Credential::WsTicket, _) => VIA_TICKET.to_owned(),
        (Credential::Sftp, _) => VIA_SFTP.to_owned(),
    }
}

/// Appends an entry for something `p` did. `server` files it under that server's
/// activity (`GET /api/servers/{id}/activity`); `target` is what was acted on (often the
/// server id again, or a user, key or subuser id).
pub async fn record(
    state: &AppState,
    p: &Principal,
    ip: Option<&str>,
    action: &str,
    server: Option<&ServerId>,
    target: Option<&str>,
    detail: &serde_json::Value,
) -> Result<(), StoreError> {
    let via = via(p);
    state
        .store
        .audit_entry(&NewAudit {
            user_id: Some(&p.user.id),
            via: Some(&via),
            ip,
            server_id: server.map(ServerId::as_str),
            action,
            target,
            detail,
        })
        .await
}
