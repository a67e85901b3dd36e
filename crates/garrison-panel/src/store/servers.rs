//! Servers and their state history.

use super::{Store, StoreError, bool_int, col, col_bool, col_json, col_json_opt, to_json};
use garrison_proto::{ExitInfo, RestartPolicy, ServerId, ServerState, StatusEvent};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerRecord {
    pub id: ServerId,
    pub name: String,
    pub template: String,
    pub port: u16,
    pub variables: BTreeMap<String, String>,
    pub auto_start: bool,
    pub restart: RestartPolicy,
    pub state: ServerState,
    pub state_changed_at: i64,
    pub last_exit: Option<ExitInfo>,
    /// The node that hosts the server; `"local"` for now.
    pub node: String,
    /// The user who owns the server (all server permissions); `None` = admins only.
    pub owner_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub description: String,
    pub limits: Limits,
    /// The last install's outcome; `None` before the first one.
    pub install: Option<InstallStatus>,
    /// The last restore from a backup; `None` before the first one.
    pub restore: Option<RestoreStatus>,
}

/// A restore's start and end, like an install's, plus the backup it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreStatus {
    pub backup: String,
    pub state: InstallState,
    pub started_at: i64,
    #[serde(default)]
    pub finished_at: Option<i64>,
    #[serde(default)]
    pub error: Option<String>,
}

/// Resource limits; 0 = none. `memory_mb` also sizes a Java server's heap. The backup
/// limits are `None` for the panel's defaults; `backups: Some(0)` allows no backups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub memory_mb: u64,
    pub disk_mb: u64,
    pub cpu_percent: u64,
    /// Backups kept at most.
    pub backups: Option<u32>,
    /// Total size of the server's backups at most, in MiB.
    pub backup_mb: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallStatus {
    pub state: InstallState,
    pub started_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallState {
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateHistoryEntry {
    pub server: ServerId,
    pub from: ServerState,
    pub to: ServerState,
    pub at: i64,
    pub reason: Option<String>,
    pub exit: Option<ExitInfo>,
}

macro_rules! select_servers {
    () => {
        "SELECT id, name, template, port, variables, auto_start, restart, state, \
         state_changed_at, last_exit, node, owner_id, created_at, updated_at, description, \
         limits, install_status, restore_status FROM servers"
    };
}

fn state_col(row: &AnyRow, name: &str) -> Result<ServerState, StoreError> {
    let text: String = col(row, name)?;
    ServerState::parse(&text)
        .ok_or_else(|| StoreError::Corrupt(format!("column {name}: unknown state {text:?}")))
}

fn server_from_row(row: &AnyRow) -> Result<ServerRecord, StoreError> {
    let port: i64 = col(row, "port")?;
    Ok(ServerRecord {
        id: ServerId(col(row, "id")?),
        name: col(row, "name")?,
        template: col(row, "template")?,
        port: u16::try_from(port)
            .map_err(|_| StoreError::Corrupt(format!("column port: {port} out of range")))?,
        variables: col_json(row, "variables")?,
        auto_start: col_bool(row, "auto_start")?,
        restart: col_json(row, "restart")?,
        state: state_col(row, "state")?,
        state_changed_at: col(row, "state_changed_at")?,
        last_exit: col_json_opt(row, "last_exit")?,
        node: col(row, "node")?,
        owner_id: col(row, "owner_id")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
        description: col(row, "description")?,
        limits: col_json(row, "limits")?,
        install: col_json_opt(row, "install_status")?,
        restore: col_json_opt(row, "restore_status")?,
    })
}

impl Store {
    /// Inserts a server with all its columns, state included. `Conflict` on a duplicate id.
    pub async fn insert_server(&self, s: &ServerRecord) -> Result<(), StoreError> {
        let last_exit = s.last_exit.as_ref().map(to_json).transpose()?;
        sqlx::query(
            "INSERT INTO servers (id, name, template, port, variables, auto_start, restart, state, \
             state_changed_at, last_exit, node, created_at, updated_at, owner_id, description, \
             limits, install_status, restore_status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18)",
        )
        .bind(s.id.as_str())
        .bind(&s.name)
        .bind(&s.template)
        .bind(i64::from(s.port))
        .bind(to_json(&s.variables)?)
        .bind(bool_int(s.auto_start))
        .bind(to_json(&s.restart)?)
        .bind(s.state.as_str())
        .bind(s.state_changed_at)
        .bind(last_exit)
        .bind(&s.node)
        .bind(s.created_at)
        .bind(s.updated_at)
        .bind(s.owner_id.as_deref())
        .bind(&s.description)
        .bind(to_json(&s.limits)?)
        .bind(s.install.as_ref().map(to_json).transpose()?)
        .bind(s.restore.as_ref().map(to_json).transpose()?)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_sqlx(e, "a server with this id already exists"))?;
        Ok(())
    }

    /// Updates the settings columns (name, template, port, variables, auto_start,
    /// restart, updated_at, owner, description, limits). Never touches state,
    /// state_changed_at, last_exit, node, created_at or the install status. `NotFound`
    /// when the server does not exist.
    pub async fn update_server(&self, s: &ServerRecord) -> Result<(), StoreError> {
        let res = sqlx::query(
            "UPDATE servers SET name = $2, template = $3, port = $4, variables = $5, \
             auto_start = $6, restart = $7, updated_at = $8, owner_id = $9, description = $10, \
             limits = $11 WHERE id = $1",
        )
        .bind(s.id.as_str())
        .bind(&s.name)
        .bind(&s.template)
        .bind(i64::from(s.port))
        .bind(to_json(&s.variables)?)
        .bind(bool_int(s.auto_start))
        .bind(to_json(&s.restart)?)
        .bind(s.updated_at)
        .bind(s.owner_id.as_deref())
        .bind(&s.description)
        .bind(to_json(&s.limits)?)
        .execute(&self.pool)
        .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Records the outcome (or start) of an install. A server that no longer exists is
    /// not an error.
    pub async fn set_install_status(
        &self,
        id: &ServerId,
        status: &InstallStatus,
    ) -> Result<(), StoreError> {
        self.put_install_status(id, Some(status)).await
    }

    /// `set_install_status`, or back to "never installed" with `None`.
    pub async fn put_install_status(
        &self,
        id: &ServerId,
        status: Option<&InstallStatus>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE servers SET install_status = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(status.map(to_json).transpose()?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records the start or outcome of a restore (a missing server is not an error).
    pub async fn set_restore_status(
        &self,
        id: &ServerId,
        status: Option<&RestoreStatus>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE servers SET restore_status = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(status.map(to_json).transpose()?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn get_server(&self, id: &ServerId) -> Result<Option<ServerRecord>, StoreError> {
        let row = sqlx::query(concat!(select_servers!(), " WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(server_from_row).transpose()
    }

    /// All servers, ordered by `created_at`, then id.
    pub async fn list_servers(&self) -> Result<Vec<ServerRecord>, StoreError> {
        let rows = sqlx::query(concat!(select_servers!(), " ORDER BY created_at, id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(server_from_row).collect()
    }

    /// Servers `user_id` owns or is a subuser of, ordered like `list_servers`.
    pub async fn servers_for_user(&self, user_id: &str) -> Result<Vec<ServerRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            select_servers!(),
            " WHERE owner_id = $1 OR id IN (SELECT server_id FROM server_subusers WHERE user_id = $1)",
            " ORDER BY created_at, id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(server_from_row).collect()
    }

    /// Deletes the server and its state history in one transaction; `false` when it did
    /// not exist.
    pub async fn delete_server(&self, id: &ServerId) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM server_state_history WHERE server_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        let res = sqlx::query("DELETE FROM servers WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(res.rows_affected() > 0)
    }

    /// Persists a transition: in one transaction sets `state`, `state_changed_at` (and
    /// `last_exit` when the event carries exit info) and appends a history row. The
    /// transition itself was validated by the caller against the proto table. A server
    /// that no longer exists is not an error: nothing is written.
    pub async fn record_transition(&self, ev: &StatusEvent) -> Result<(), StoreError> {
        let exit = ev.exit.as_ref().map(to_json).transpose()?;
        let mut tx = self.write_tx().await?;
        let res = match &exit {
            Some(exit) => {
                sqlx::query(
                    "UPDATE servers SET state = $2, state_changed_at = $3, last_exit = $4 \
                     WHERE id = $1",
                )
                .bind(ev.server.as_str())
                .bind(ev.state.as_str())
                .bind(ev.at)
                .bind(exit.as_str())
                .execute(&mut *tx)
                .await?
            }
            None => {
                sqlx::query("UPDATE servers SET state = $2, state_changed_at = $3 WHERE id = $1")
                    .bind(ev.server.as_str())
                    .bind(ev.state.as_str())
                    .bind(ev.at)
                    .execute(&mut *tx)
                    .await?
            }
        };
        if res.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO server_state_history (server_id, from_state, to_state, at, reason, exit_info) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(ev.server.as_str())
        .bind(ev.previous.as_str())
        .bind(ev.state.as_str())
        .bind(ev.at)
        .bind(ev.reason.as_deref())
        .bind(exit.as_deref())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The server's most recent transitions, newest (last recorded) first.
    pub async fn state_history(
        &self,
        id: &ServerId,
        limit: i64,
    ) -> Result<Vec<StateHistoryEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT server_id, from_state, to_state, at, reason, exit_info \
             FROM server_state_history WHERE server_id = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(id.as_str())
        .bind(limit.max(0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StateHistoryEntry {
                    server: ServerId(col(row, "server_id")?),
                    from: state_col(row, "from_state")?,
                    to: state_col(row, "to_state")?,
                    at: col(row, "at")?,
                    reason: col(row, "reason")?,
                    exit: col_json_opt(row, "exit_info")?,
                })
            })
            .collect()
    }
}
