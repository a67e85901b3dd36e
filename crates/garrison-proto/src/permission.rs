//! Permission names. Every API route and WebSocket message names the one it needs; the
//! panel's single check function decides. The strings are stable: they are stored with
//! subusers and API key scopes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a permission applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The caller's own account: every signed-in user has these.
    Account,
    /// One server: its owner has all of them, subusers the ones they were given.
    Server,
    /// The whole panel: admins only.
    Admin,
}

macro_rules! permissions {
    ($( $variant:ident = $name:literal, $scope:ident, $what:literal; )*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Permission {
            $( #[doc = $what] $variant, )*
        }

        impl Permission {
            pub const ALL: &'static [Permission] = &[ $( Permission::$variant, )* ];

            pub fn as_str(self) -> &'static str {
                match self { $( Permission::$variant => $name, )* }
            }

            pub fn scope(self) -> Scope {
                match self { $( Permission::$variant => Scope::$scope, )* }
            }

            pub fn description(self) -> &'static str {
                match self { $( Permission::$variant => $what, )* }
            }

            pub fn parse(s: &str) -> Option<Permission> {
                match s { $( $name => Some(Permission::$variant), )* _ => None }
            }
        }
    };
}

permissions! {
    AccountApiKeys = "account.api_keys", Account, "Manage one's own API keys";
    AccountSecurity = "account.security", Account, "Change one's own password and two-factor settings";
    TemplateRead = "template.read", Account, "List the templates servers can be made from";

    ServerRead = "server.read", Server, "See the server, its state, stats and console output";
    ControlConsole = "control.console", Server, "Send commands to the server's console";
    ControlStart = "control.start", Server, "Start the server";
    ControlStop = "control.stop", Server, "Stop the server";
    ControlRestart = "control.restart", Server, "Restart the server";
    ControlKill = "control.kill", Server, "Kill the server's processes";
    FileRead = "file.read", Server, "List files";
    FileReadContent = "file.read-content", Server, "Read and download files";
    FileCreate = "file.create", Server, "Create and upload files";
    FileUpdate = "file.update", Server, "Edit and rename files";
    FileDelete = "file.delete", Server, "Delete files";
    FileArchive = "file.archive", Server, "Compress and extract archives";
    FileSftp = "file.sftp", Server, "Use SFTP";
    BackupRead = "backup.read", Server, "List backups";
    BackupCreate = "backup.create", Server, "Create backups";
    BackupDelete = "backup.delete", Server, "Delete backups";
    BackupDownload = "backup.download", Server, "Download backups";
    BackupRestore = "backup.restore", Server, "Restore backups";
    ScheduleRead = "schedule.read", Server, "List schedules";
    ScheduleCreate = "schedule.create", Server, "Create schedules";
    ScheduleUpdate = "schedule.update", Server, "Edit schedules";
    ScheduleDelete = "schedule.delete", Server, "Delete schedules";
    UserRead = "user.read", Server, "List the server's subusers";
    UserCreate = "user.create", Server, "Invite subusers";
    UserUpdate = "user.update", Server, "Change subusers' permissions";
    UserDelete = "user.delete", Server, "Remove subusers";
    StartupRead = "startup.read", Server, "See the startup settings (port, variables, restart policy)";
    StartupUpdate = "startup.update", Server, "Change the startup settings";
    SettingsRename = "settings.rename", Server, "Rename the server";
    SettingsReinstall = "settings.reinstall", Server, "Reinstall the server";
    ActivityRead = "activity.read", Server, "Read the server's activity log";

    ServerCreate = "admin.servers.create", Admin, "Create servers";
    ServerDelete = "admin.servers.delete", Admin, "Delete servers";
    AdminNodes = "admin.nodes", Admin, "Manage nodes";
    AdminUsers = "admin.users", Admin, "Manage users";
    AdminTemplates = "admin.templates", Admin, "Manage templates";
    AdminSettings = "admin.settings", Admin, "Change panel-wide settings";
    AdminAudit = "admin.audit", Admin, "Read the panel-wide audit log";
    AdminSchedules = "admin.schedules", Admin, "Manage schedules that act on many servers";
    AdminAlerts = "admin.alerts", Admin, "Manage alert rules, alerts, notification channels and maintenance windows";
}

impl Permission {
    pub fn for_power(action: crate::state::PowerAction) -> Permission {
        use crate::state::PowerAction::*;
        match action {
            Start => Permission::ControlStart,
            Stop => Permission::ControlStop,
            Restart => Permission::ControlRestart,
            Kill => Permission::ControlKill,
        }
    }

    /// Every permission a server owner has.
    pub fn server_permissions() -> impl Iterator<Item = Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(|p| p.scope() == Scope::Server)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Permission::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown permission {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for p in Permission::ALL {
            assert!(seen.insert(p.as_str()), "duplicate {p}");
            assert_eq!(Permission::parse(p.as_str()), Some(*p));
            let json = serde_json::to_string(p).unwrap();
            assert_eq!(serde_json::from_str::<Permission>(&json).unwrap(), *p);
        }
        assert!(serde_json::from_str::<Permission>("\"control.fly\"").is_err());
    }

    #[test]
    fn the_issue_names_exist() {
        for name in [
            "control.console",
            "control.start",
            "control.stop",
            "control.restart",
            "file.read",
            "file.read-content",
            "file.create",
            "file.update",
            "file.delete",
            "file.archive",
            "file.sftp",
            "backup.read",
            "backup.create",
            "backup.delete",
            "backup.download",
            "backup.restore",
            "schedule.read",
            "schedule.create",
            "schedule.update",
            "schedule.delete",
            "user.read",
            "user.create",
            "user.update",
            "user.delete",
            "startup.read",
            "startup.update",
            "settings.rename",
            "settings.reinstall",
            "activity.read",
        ] {
            let p = Permission::parse(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(p.scope(), Scope::Server, "{name}");
        }
    }
}
