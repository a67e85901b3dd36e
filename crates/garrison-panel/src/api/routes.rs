//! Every API route and what it needs: the one list that the permission tests and the
//! OpenAPI document (`openapi.rs`, `x-permission`) walk. A unit test checks it against
//! the router in `mod.rs`, so a route added without an entry here fails the build's tests.

use garrison_proto::Permission;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// No credentials.
    Public,
    /// Any signed-in user, for their own account.
    SignedIn,
    Permission(Permission),
    /// `control.<action>` for the `action` in the body (start, stop, restart, kill).
    PowerAction,
    /// The permission, from a browser session only: API keys are refused, so a leaked
    /// key cannot lock its owner out.
    Session(Permission),
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    /// Below `/api`.
    pub path: &'static str,
    pub needs: Needs,
}

const fn r(method: &'static str, path: &'static str, needs: Needs) -> Route {
    Route {
        method,
        path,
        needs,
    }
}

use Needs::{PowerAction, Public, Session, SignedIn};
const fn p(perm: Permission) -> Needs {
    Needs::Permission(perm)
}

pub const ROUTES: &[Route] = &[
    r("GET", "/health", Public),
    r("GET", "/openapi.json", Public),
    r("POST", "/auth/login", Public),
    r("POST", "/auth/login/2fa", Public),
    r("POST", "/auth/logout", Public),
    // Refused (403) unless an admin opened registration.
    r("POST", "/auth/register", Public),
    r(
        "GET",
        "/admin/settings/registration",
        p(Permission::AdminSettings),
    ),
    r(
        "PUT",
        "/admin/settings/registration",
        p(Permission::AdminSettings),
    ),
    r("GET", "/account", SignedIn),
    r("POST", "/account/password", p(Permission::AccountSecurity)),
    r("GET", "/account/api-keys", p(Permission::AccountApiKeys)),
    r("POST", "/account/api-keys", p(Permission::AccountApiKeys)),
    r(
        "DELETE",
        "/account/api-keys/{id}",
        p(Permission::AccountApiKeys),
    ),
    r("GET", "/account/2fa", p(Permission::AccountSecurity)),
    r(
        "POST",
        "/account/2fa/setup",
        Session(Permission::AccountSecurity),
    ),
    r(
        "POST",
        "/account/2fa/enable",
        Session(Permission::AccountSecurity),
    ),
    r(
        "POST",
        "/account/2fa/disable",
        Session(Permission::AccountSecurity),
    ),
    r(
        "GET",
        "/admin/settings/require-two-factor",
        p(Permission::AdminSettings),
    ),
    r(
        "PUT",
        "/admin/settings/require-two-factor",
        p(Permission::AdminSettings),
    ),
    r("GET", "/admin/users", p(Permission::AdminUsers)),
    r("POST", "/admin/users", p(Permission::AdminUsers)),
    r("PATCH", "/admin/users/{user_id}", p(Permission::AdminUsers)),
    r(
        "DELETE",
        "/admin/users/{user_id}",
        p(Permission::AdminUsers),
    ),
    r("GET", "/account/sessions", p(Permission::AccountSecurity)),
    r("GET", "/account/ssh-keys", p(Permission::AccountSecurity)),
    r(
        "POST",
        "/account/ssh-keys",
        Session(Permission::AccountSecurity),
    ),
    r(
        "DELETE",
        "/account/ssh-keys/{id}",
        Session(Permission::AccountSecurity),
    ),
    r(
        "DELETE",
        "/account/sessions/{id}",
        p(Permission::AccountSecurity),
    ),
    r("GET", "/templates", p(Permission::TemplateRead)),
    r("POST", "/templates", p(Permission::AdminTemplates)),
    r("POST", "/templates/import", p(Permission::AdminTemplates)),
    r("GET", "/templates/{tid}", p(Permission::TemplateRead)),
    r("PUT", "/templates/{tid}", p(Permission::AdminTemplates)),
    r("DELETE", "/templates/{tid}", p(Permission::AdminTemplates)),
    r(
        "GET",
        "/templates/{tid}/export",
        p(Permission::TemplateRead),
    ),
    r("GET", "/template-repos", p(Permission::AdminTemplates)),
    r("POST", "/template-repos", p(Permission::AdminTemplates)),
    r(
        "DELETE",
        "/template-repos/{rid}",
        p(Permission::AdminTemplates),
    ),
    r(
        "POST",
        "/template-repos/{rid}/sync",
        p(Permission::AdminTemplates),
    ),
    // Lists only the servers the caller has a role on (a key needs server.read).
    r("GET", "/servers", SignedIn),
    r("POST", "/servers", p(Permission::ServerCreate)),
    r("GET", "/servers/{id}", p(Permission::ServerRead)),
    // settings.rename for `name`, startup.update for the other fields.
    r("PATCH", "/servers/{id}", p(Permission::StartupUpdate)),
    r("DELETE", "/servers/{id}", p(Permission::ServerDelete)),
    r("POST", "/servers/{id}/power", PowerAction),
    r(
        "POST",
        "/servers/{id}/command",
        p(Permission::ControlConsole),
    ),
    r("GET", "/servers/{id}/logs", p(Permission::ServerRead)),
    r("GET", "/servers/{id}/stats", p(Permission::ServerRead)),
    r("GET", "/servers/{id}/history", p(Permission::ServerRead)),
    r("GET", "/servers/{id}/startup", p(Permission::StartupRead)),
    r(
        "PATCH",
        "/servers/{id}/startup",
        p(Permission::StartupUpdate),
    ),
    r(
        "POST",
        "/servers/{id}/reinstall",
        p(Permission::SettingsReinstall),
    ),
    r(
        "POST",
        "/servers/{id}/install/cancel",
        p(Permission::SettingsReinstall),
    ),
    r("GET", "/servers/{id}/activity", p(Permission::ActivityRead)),
    r("GET", "/admin/audit", p(Permission::AdminAudit)),
    r("GET", "/admin/stats", p(Permission::AdminUsers)),
    r("GET", "/admin/health", p(Permission::AdminNodes)),
    r("GET", "/servers/{id}/users", p(Permission::UserRead)),
    r("POST", "/servers/{id}/users", p(Permission::UserCreate)),
    r(
        "PATCH",
        "/servers/{id}/users/{user_id}",
        p(Permission::UserUpdate),
    ),
    r(
        "DELETE",
        "/servers/{id}/users/{user_id}",
        p(Permission::UserDelete),
    ),
    r("GET", "/servers/{id}/files", p(Permission::FileRead)),
    r("GET", "/servers/{id}/files/stat", p(Permission::FileRead)),
    r(
        "GET",
        "/servers/{id}/files/content",
        p(Permission::FileReadContent),
    ),
    // Creating a new file also needs file.create.
    r(
        "PUT",
        "/servers/{id}/files/content",
        p(Permission::FileUpdate),
    ),
    r(
        "GET",
        "/servers/{id}/files/download",
        p(Permission::FileReadContent),
    ),
    // `overwrite: true` also needs file.update.
    r(
        "POST",
        "/servers/{id}/files/uploads",
        p(Permission::FileCreate),
    ),
    r(
        "GET",
        "/servers/{id}/files/uploads/{upload}",
        p(Permission::FileCreate),
    ),
    r(
        "PATCH",
        "/servers/{id}/files/uploads/{upload}",
        p(Permission::FileCreate),
    ),
    r(
        "DELETE",
        "/servers/{id}/files/uploads/{upload}",
        p(Permission::FileCreate),
    ),
    r(
        "POST",
        "/servers/{id}/files/folder",
        p(Permission::FileCreate),
    ),
    r(
        "POST",
        "/servers/{id}/files/rename",
        p(Permission::FileUpdate),
    ),
    // Also needs file.read-content: a copy reads the file.
    r(
        "POST",
        "/servers/{id}/files/copy",
        p(Permission::FileCreate),
    ),
    r(
        "POST",
        "/servers/{id}/files/chmod",
        p(Permission::FileUpdate),
    ),
    r(
        "POST",
        "/servers/{id}/files/delete",
        p(Permission::FileDelete),
    ),
    r(
        "POST",
        "/servers/{id}/files/compress",
        p(Permission::FileArchive),
    ),
    r(
        "POST",
        "/servers/{id}/files/decompress",
        p(Permission::FileArchive),
    ),
    // `content=true` also needs file.read-content.
    r("GET", "/servers/{id}/files/search", p(Permission::FileRead)),
    // `overwrite: true` also needs file.update.
    r(
        "POST",
        "/servers/{id}/files/pull",
        p(Permission::FileCreate),
    ),
    r("GET", "/servers/{id}/files/usage", p(Permission::FileRead)),
    r("GET", "/servers/{id}/sftp", p(Permission::FileSftp)),
    r("GET", "/servers/{id}/backups", p(Permission::BackupRead)),
    r("POST", "/servers/{id}/backups", p(Permission::BackupCreate)),
    r(
        "GET",
        "/servers/{id}/backups/{backup}",
        p(Permission::BackupRead),
    ),
    r(
        "DELETE",
        "/servers/{id}/backups/{backup}",
        p(Permission::BackupDelete),
    ),
    r(
        "GET",
        "/servers/{id}/backups/{backup}/download",
        p(Permission::BackupDownload),
    ),
    r(
        "GET",
        "/servers/{id}/backups/{backup}/manifest",
        p(Permission::BackupRead),
    ),
    r(
        "POST",
        "/servers/{id}/backups/{backup}/lock",
        p(Permission::BackupDelete),
    ),
    r(
        "POST",
        "/servers/{id}/backups/{backup}/unlock",
        p(Permission::BackupDelete),
    ),
    r(
        "POST",
        "/servers/{id}/backups/{backup}/cancel",
        p(Permission::BackupCreate),
    ),
    r(
        "POST",
        "/servers/{id}/backups/{backup}/restore",
        p(Permission::BackupRestore),
    ),
    r(
        "POST",
        "/servers/{id}/backups/{backup}/verify",
        p(Permission::BackupRead),
    ),
    r(
        "GET",
        "/servers/{id}/schedules",
        p(Permission::ScheduleRead),
    ),
    r(
        "POST",
        "/servers/{id}/schedules",
        p(Permission::ScheduleCreate),
    ),
    r(
        "GET",
        "/servers/{id}/schedules/{schedule}",
        p(Permission::ScheduleRead),
    ),
    r(
        "PATCH",
        "/servers/{id}/schedules/{schedule}",
        p(Permission::ScheduleUpdate),
    ),
    r(
        "DELETE",
        "/servers/{id}/schedules/{schedule}",
        p(Permission::ScheduleDelete),
    ),
    r(
        "POST",
        "/servers/{id}/schedules/{schedule}/run",
        p(Permission::ScheduleUpdate),
    ),
    r(
        "GET",
        "/servers/{id}/schedules/{schedule}/runs",
        p(Permission::ScheduleRead),
    ),
    r("GET", "/admin/schedules", p(Permission::AdminSchedules)),
    r("POST", "/admin/schedules", p(Permission::AdminSchedules)),
    r(
        "GET",
        "/admin/schedules/{schedule}",
        p(Permission::AdminSchedules),
    ),
    r(
        "PATCH",
        "/admin/schedules/{schedule}",
        p(Permission::AdminSchedules),
    ),
    r(
        "DELETE",
        "/admin/schedules/{schedule}",
        p(Permission::AdminSchedules),
    ),
    r(
        "POST",
        "/admin/schedules/{schedule}/run",
        p(Permission::AdminSchedules),
    ),
    r(
        "GET",
        "/admin/schedules/{schedule}/runs",
        p(Permission::AdminSchedules),
    ),
    r("GET", "/schedules/preview", SignedIn),
    // Each event also needs server.read (and its own read permission) on its server.
    r("GET", "/events", SignedIn),
    r("GET", "/servers/{id}/metrics", p(Permission::ServerRead)),
    r("GET", "/nodes/{node}/metrics", p(Permission::AdminNodes)),
    r("GET", "/admin/metrics/top", p(Permission::AdminNodes)),
    r("GET", "/alerts", p(Permission::AdminAlerts)),
    r("GET", "/alerts/stats", p(Permission::AdminAlerts)),
    r("POST", "/alerts/resolve", p(Permission::AdminAlerts)),
    r(
        "POST",
        "/alerts/{alert}/resolve",
        p(Permission::AdminAlerts),
    ),
    r("GET", "/alerts/rules", p(Permission::AdminAlerts)),
    r("POST", "/alerts/rules", p(Permission::AdminAlerts)),
    r("GET", "/alerts/rules/{rule}", p(Permission::AdminAlerts)),
    r("PUT", "/alerts/rules/{rule}", p(Permission::AdminAlerts)),
    r("DELETE", "/alerts/rules/{rule}", p(Permission::AdminAlerts)),
    r("GET", "/servers/{id}/alerts", p(Permission::ServerRead)),
    r("GET", "/admin/channels", p(Permission::AdminAlerts)),
    r("POST", "/admin/channels", p(Permission::AdminAlerts)),
    r(
        "GET",
        "/admin/channels/{channel}",
        p(Permission::AdminAlerts),
    ),
    r(
        "PUT",
        "/admin/channels/{channel}",
        p(Permission::AdminAlerts),
    ),
    r(
        "DELETE",
        "/admin/channels/{channel}",
        p(Permission::AdminAlerts),
    ),
    r(
        "POST",
        "/admin/channels/{channel}/test",
        p(Permission::AdminAlerts),
    ),
    r(
        "GET",
        "/admin/channels/{channel}/deliveries",
        p(Permission::AdminAlerts),
    ),
    r("GET", "/admin/maintenance", p(Permission::AdminAlerts)),
    r("POST", "/admin/maintenance", p(Permission::AdminAlerts)),
    r(
        "PUT",
        "/admin/maintenance/{window}",
        p(Permission::AdminAlerts),
    ),
    r(
        "DELETE",
        "/admin/maintenance/{window}",
        p(Permission::AdminAlerts),
    ),
    r(
        "GET",
        "/servers/{id}/maintenance",
        p(Permission::ServerRead),
    ),
    r("GET", "/servers/{id}/players", p(Permission::ServerRead)),
    r(
        "GET",
        "/servers/{id}/players/activity",
        p(Permission::ServerRead),
    ),
    // Loopback only, with the per-server token from `{{announce_url}}`.
    r("POST", "/luanti/{id}/{token}/announce", Public),
    r("POST", "/servers/{id}/ws-ticket", p(Permission::ServerRead)),
    // Console messages: `command` needs control.console, `power` control.<action>.
    r("GET", "/servers/{id}/ws", p(Permission::ServerRead)),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// (METHOD, path) for every `.route("path", get(..).post(..))` in the router source.
    fn routes_in_router_source() -> BTreeSet<(String, String)> {
        let src = include_str!("mod.rs");
        let start = src.find("fn router(").expect("router fn");
        let src = &src[start..];
        let mut out = BTreeSet::new();
        for chunk in src.split(".route(").skip(1) {
            let Some(path) = chunk.split('"').nth(1) else {
                continue;
            };
            // The handler expression ends at the route call's closing parenthesis.
            let mut depth = 1;
            let mut end = chunk.len();
            for (i, c) in chunk.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let expr = &chunk[..end];
            for (word, method) in [
                ("get(", "GET"),
                ("post(", "POST"),
                ("put(", "PUT"),
                ("patch(", "PATCH"),
                ("delete(", "DELETE"),
            ] {
                let found = expr.match_indices(word).any(|(i, _)| {
                    i == 0 || !expr[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                if found {
                    out.insert((method.to_owned(), path.to_owned()));
                }
            }
        }
        out
    }

    #[test]
    fn every_route_declares_what_it_needs() {
        let in_router = routes_in_router_source();
        let declared: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_owned(), r.path.to_owned()))
            .collect();
        assert!(
            in_router.len() > 20,
            "the router scan found too little: {in_router:?}"
        );
        let undeclared: Vec<_> = in_router.difference(&declared).collect();
        assert!(
            undeclared.is_empty(),
            "routes missing from ROUTES: {undeclared:?}"
        );
        let stale: Vec<_> = declared.difference(&in_router).collect();
        assert!(
            stale.is_empty(),
            "ROUTES lists routes the router lacks: {stale:?}"
        );
    }
}
