//! Permission names. Every API handler names the one it needs; the panel's single
//! check function decides. Strings are stable: they are stored with subusers and keys.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    #[serde(rename = "server.create")]
    ServerCreate,
    #[serde(rename = "server.read")]
    ServerRead,
    #[serde(rename = "server.update")]
    ServerUpdate,
    #[serde(rename = "server.delete")]
    ServerDelete,
    #[serde(rename = "control.console")]
    ControlConsole,
    #[serde(rename = "control.start")]
    ControlStart,
    #[serde(rename = "control.stop")]
    ControlStop,
    #[serde(rename = "control.restart")]
    ControlRestart,
    #[serde(rename = "control.kill")]
    ControlKill,
    #[serde(rename = "account.api_keys")]
    AccountApiKeys,
    #[serde(rename = "template.read")]
    TemplateRead,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ServerCreate => "server.create",
            Permission::ServerRead => "server.read",
            Permission::ServerUpdate => "server.update",
            Permission::ServerDelete => "server.delete",
            Permission::ControlConsole => "control.console",
            Permission::ControlStart => "control.start",
            Permission::ControlStop => "control.stop",
            Permission::ControlRestart => "control.restart",
            Permission::ControlKill => "control.kill",
            Permission::AccountApiKeys => "account.api_keys",
            Permission::TemplateRead => "template.read",
        }
    }

    pub fn for_power(action: crate::state::PowerAction) -> Permission {
        use crate::state::PowerAction::*;
        match action {
            Start => Permission::ControlStart,
            Stop => Permission::ControlStop,
            Restart => Permission::ControlRestart,
            Kill => Permission::ControlKill,
        }
    }
}
