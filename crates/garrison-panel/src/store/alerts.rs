//! Alert rules, alerts (one open per rule and target, by a partial unique index),
//! notification channels with their delivery log, and maintenance windows.

use super::{Store, StoreError, bool_int, col, col_bool, col_json, new_id, to_json};
use crate::alerts::{AlertKind, RuleParams, parse_severity, severity_str};
use garrison_notify::{Channel, Severity};
use garrison_proto::ServerId;
use serde::Serialize;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRule {
    pub id: String,
    pub name: String,
    pub kind: AlertKind,
    /// `None`: every server (node rules: the node).
    pub server_id: Option<ServerId>,
    pub params: RuleParams,
    pub severity: Severity,
    pub enabled: bool,
    pub throttle_secs: u64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a user sets on a rule.
#[derive(Debug, Clone)]
pub struct RuleSpec {
    pub name: String,
    pub kind: AlertKind,
    pub server_id: Option<ServerId>,
    pub params: RuleParams,
    pub severity: Severity,
    pub enabled: bool,
    pub throttle_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Firing,
    Resolved,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRecord {
    pub id: String,
    pub rule_id: String,
    pub kind: AlertKind,
    pub target: String,
    pub server_id: Option<ServerId>,
    pub state: AlertState,
    pub severity: Severity,
    pub title: String,
    pub message: String,
    pub value: Option<f64>,
    /// Raised during a maintenance window: not notified.
    pub muted: bool,
    pub fired_at: i64,
    pub resolved_at: Option<i64>,
    /// `auto`, or the id of the user who resolved it.
    pub resolved_by: Option<String>,
    pub notified_at: Option<i64>,
}

/// A new alert.
#[derive(Debug, Clone)]
pub struct NewAlert<'a> {
    pub rule: &'a AlertRule,
    pub target: &'a str,
    pub server_id: Option<&'a ServerId>,
    pub title: &'a str,
    pub message: &'a str,
    pub value: Option<f64>,
    pub muted: bool,
    pub at: i64,
}

/// Filters for [`Store::list_alerts`].
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    pub state: Option<AlertState>,
    pub server: Option<ServerId>,
    pub kind: Option<AlertKind>,
    pub limit: u32,
    /// A `fired_at` cursor.
    pub before: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelRecord {
    pub id: String,
    pub name: String,
    pub channel: Channel,
    /// Event names or prefixes (`alert`, `server.crashed`).
    pub events: Vec<String>,
    /// Only these servers' events; empty: all.
    pub servers: Vec<ServerId>,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct ChannelSpec {
    pub name: String,
    pub channel: Channel,
    pub events: Vec<String>,
    pub servers: Vec<ServerId>,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryRecord {
    pub id: String,
    pub channel_id: String,
    pub event: String,
    pub title: String,
    pub ok: bool,
    pub attempts: Vec<garrison_notify::Attempt>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaintenanceWindow {
    pub id: String,
    /// `None`: the whole node.
    pub server_id: Option<ServerId>,
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub duration_secs: u64,
    pub stop_at_start: bool,
    pub start_at_end: bool,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct WindowSpec {
    pub server_id: Option<ServerId>,
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub duration_secs: u64,
    pub stop_at_start: bool,
    pub start_at_end: bool,
    pub enabled: bool,
}

fn corrupt(c: &str, v: &str) -> StoreError {
    StoreError::Corrupt(format!("column {c}: {v:?}"))
}

fn u64_col(row: &AnyRow, name: &str) -> Result<u64, StoreError> {
    let v: i64 = col(row, name)?;
    u64::try_from(v).map_err(|_| corrupt(name, &v.to_string()))
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn rule_from_row(row: &AnyRow) -> Result<AlertRule, StoreError> {
    let kind: String = col(row, "kind")?;
    let severity: String = col(row, "severity")?;
    Ok(AlertRule {
        id: col(row, "id")?,
        name: col(row, "name")?,
        kind: AlertKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        server_id: col::<Option<String>>(row, "server_id")?.map(ServerId),
        params: col_json(row, "params")?,
        severity: parse_severity(&severity).ok_or_else(|| corrupt("severity", &severity))?,
        enabled: col_bool(row, "enabled")?,
        throttle_secs: u64_col(row, "throttle_secs")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

fn alert_from_row(row: &AnyRow) -> Result<AlertRecord, StoreError> {
    let kind: String = col(row, "kind")?;
    let severity: String = col(row, "severity")?;
    let state: String = col(row, "state")?;
    Ok(AlertRecord {
        id: col(row, "id")?,
        rule_id: col(row, "rule_id")?,
        kind: AlertKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        target: col(row, "target")?,
        server_id: col::<Option<String>>(row, "server_id")?.map(ServerId),
        state: match state.as_str() {
            "firing" => AlertState::Firing,
            "resolved" => AlertState::Resolved,
            _ => return Err(corrupt("state", &state)),
        },
        severity: parse_severity(&severity).ok_or_else(|| corrupt("severity", &severity))?,
        title: col(row, "title")?,
        message: col(row, "message")?,
        value: col(row, "value")?,
        muted: col_bool(row, "muted")?,
        fired_at: col(row, "fired_at")?,
        resolved_at: col(row, "resolved_at")?,
        resolved_by: col(row, "resolved_by")?,
        notified_at: col(row, "notified_at")?,
    })
}

fn channel_from_row(row: &AnyRow) -> Result<ChannelRecord, StoreError> {
    Ok(ChannelRecord {
        id: col(row, "id")?,
        name: col(row, "name")?,
        channel: col_json(row, "config")?,
        events: col_json(row, "events")?,
        servers: col_json::<Vec<String>>(row, "servers")?
            .into_iter()
            .map(ServerId)
            .collect(),
        enabled: col_bool(row, "enabled")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

fn window_from_row(row: &AnyRow) -> Result<MaintenanceWindow, StoreError> {
    Ok(MaintenanceWindow {
        id: col(row, "id")?,
        server_id: col::<Option<String>>(row, "server_id")?.map(ServerId),
        name: col(row, "name")?,
        cron: col(row, "cron")?,
        timezone: col(row, "timezone")?,
        duration_secs: u64_col(row, "duration_secs")?,
        stop_at_start: col_bool(row, "stop_at_start")?,
        start_at_end: col_bool(row, "start_at_end")?,
        enabled: col_bool(row, "enabled")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

const RULE_COLS: &str = "SELECT id, name, kind, server_id, params, severity, enabled, \
                         throttle_secs, created_at, updated_at FROM alert_rules";
const ALERT_COLS: &str = "SELECT id, rule_id, kind, target, server_id, state, severity, title, \
                          message, value, muted, fired_at, resolved_at, resolved_by, notified_at \
                          FROM alerts";
const CHANNEL_COLS: &str = "SELECT id, name, kind, config, events, servers, enabled, created_at, \
                            updated_at FROM notification_channels";
const WINDOW_COLS: &str = "SELECT id, server_id, name, cron, timezone, duration_secs, \
                           stop_at_start, start_at_end, enabled, created_at, updated_at \
                           FROM maintenance_windows";

impl Store {
    // ---- rules ------------------------------------------------------------------------

    pub async fn insert_rule(&self, r: &RuleSpec, now: i64) -> Result<AlertRule, StoreError> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO alert_rules (id, name, kind, server_id, params, severity, enabled, \
             throttle_secs, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(&id)
        .bind(&r.name)
        .bind(r.kind.as_str())
        .bind(r.server_id.as_ref().map(ServerId::as_str))
        .bind(to_json(&r.params)?)
        .bind(severity_str(r.severity))
        .bind(bool_int(r.enabled))
        .bind(i(r.throttle_secs))
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.get_rule(&id).await?.ok_or(StoreError::NotFound)
    }

    pub async fn update_rule(&self, id: &str, r: &RuleSpec, now: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE alert_rules SET name = $2, kind = $3, server_id = $4, params = $5, \
             severity = $6, enabled = $7, throttle_secs = $8, updated_at = $9 WHERE id = $1",
        )
        .bind(id)
        .bind(&r.name)
        .bind(r.kind.as_str())
        .bind(r.server_id.as_ref().map(ServerId::as_str))
        .bind(to_json(&r.params)?)
        .bind(severity_str(r.severity))
        .bind(bool_int(r.enabled))
        .bind(i(r.throttle_secs))
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    pub async fn get_rule(&self, id: &str) -> Result<Option<AlertRule>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!("{RULE_COLS} WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(rule_from_row)
            .transpose()
    }

    pub async fn list_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{RULE_COLS} ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rule_from_row).collect()
    }

    /// Deletes a rule with its alerts.
    pub async fn delete_rule(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM alerts WHERE rule_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM alert_rules WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    // ---- alerts -----------------------------------------------------------------------

    /// Raises an alert; `None` when one is already open for the rule and target.
    pub async fn fire_alert(&self, a: &NewAlert<'_>) -> Result<Option<AlertRecord>, StoreError> {
        let id = new_id();
        let res = sqlx::query(
            "INSERT INTO alerts (id, rule_id, kind, target, server_id, state, severity, title, \
             message, value, muted, fired_at) \
             VALUES ($1, $2, $3, $4, $5, 'firing', $6, $7, $8, $9, $10, $11)",
        )
        .bind(&id)
        .bind(&a.rule.id)
        .bind(a.rule.kind.as_str())
        .bind(a.target)
        .bind(a.server_id.map(ServerId::as_str))
        .bind(severity_str(a.rule.severity))
        .bind(a.title)
        .bind(a.message)
        .bind(a.value)
        .bind(bool_int(a.muted))
        .bind(a.at)
        .execute(&self.pool)
        .await;
        match res {
            Ok(_) => self.get_alert(&id).await,
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get_alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!("{ALERT_COLS} WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(alert_from_row)
            .transpose()
    }

    /// The open alert of a rule on a target.
    pub async fn open_alert(
        &self,
        rule: &str,
        target: &str,
    ) -> Result<Option<AlertRecord>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{ALERT_COLS} WHERE rule_id = $1 AND target = $2 AND state = 'firing'"
        )))
        .bind(rule)
        .bind(target)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(alert_from_row)
        .transpose()
    }

    /// Every open alert.
    pub async fn firing_alerts(&self) -> Result<Vec<AlertRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{ALERT_COLS} WHERE state = 'firing' ORDER BY fired_at"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(alert_from_row).collect()
    }

    /// Resolves an open alert; `None` when it was not open.
    pub async fn resolve_alert(
        &self,
        id: &str,
        by: &str,
        now: i64,
    ) -> Result<Option<AlertRecord>, StoreError> {
        let n = sqlx::query(
            "UPDATE alerts SET state = 'resolved', resolved_at = $2, resolved_by = $3 \
             WHERE id = $1 AND state = 'firing'",
        )
        .bind(id)
        .bind(now)
        .bind(by)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(None);
        }
        self.get_alert(id).await
    }

    pub async fn mark_notified(&self, id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE alerts SET notified_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// When a rule last notified about a target (for throttling).
    pub async fn last_notified(&self, rule: &str, target: &str) -> Result<Option<i64>, StoreError> {
        let v: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(notified_at) FROM alerts WHERE rule_id = $1 AND target = $2",
        )
        .bind(rule)
        .bind(target)
        .fetch_one(&self.pool)
        .await?;
        Ok(v)
    }

    pub async fn list_alerts(&self, q: &AlertQuery) -> Result<Vec<AlertRecord>, StoreError> {
        let state = q.state.map(|s| match s {
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        });
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{ALERT_COLS} WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR server_id = $2) \
             AND ($3 IS NULL OR kind = $3) AND fired_at < $4 \
             ORDER BY fired_at DESC, id DESC LIMIT $5"
        )))
        .bind(state)
        .bind(q.server.as_ref().map(ServerId::as_str))
        .bind(q.kind.map(AlertKind::as_str))
        .bind(q.before.unwrap_or(i64::MAX))
        .bind(i64::from(q.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(alert_from_row).collect()
    }

    /// Counts of open alerts by severity and kind, and of alerts resolved since `since`.
    pub async fn alert_counts(
        &self,
        since: i64,
    ) -> Result<(Vec<(String, String, i64)>, i64), StoreError> {
        let rows = sqlx::query(
            "SELECT severity, kind, COUNT(*) AS n FROM alerts WHERE state = 'firing' \
             GROUP BY severity, kind",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut open = Vec::new();
        for r in &rows {
            open.push((col(r, "severity")?, col(r, "kind")?, col(r, "n")?));
        }
        let resolved: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM alerts WHERE state = 'resolved' AND resolved_at >= $1",
        )
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok((open, resolved))
    }

    // ---- channels and deliveries ------------------------------------------------------

    pub async fn insert_channel(
        &self,
        c: &ChannelSpec,
        now: i64,
    ) -> Result<ChannelRecord, StoreError> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO notification_channels (id, name, kind, config, events, servers, \
             enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(&id)
        .bind(&c.name)
        .bind(c.channel.kind())
        .bind(to_json(&c.channel)?)
        .bind(to_json(&c.events)?)
        .bind(to_json(
            &c.servers.iter().map(ServerId::as_str).collect::<Vec<_>>(),
        )?)
        .bind(bool_int(c.enabled))
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.get_channel(&id).await?.ok_or(StoreError::NotFound)
    }

    pub async fn update_channel(
        &self,
        id: &str,
        c: &ChannelSpec,
        now: i64,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE notification_channels SET name = $2, kind = $3, config = $4, events = $5, \
             servers = $6, enabled = $7, updated_at = $8 WHERE id = $1",
        )
        .bind(id)
        .bind(&c.name)
        .bind(c.channel.kind())
        .bind(to_json(&c.channel)?)
        .bind(to_json(&c.events)?)
        .bind(to_json(
            &c.servers.iter().map(ServerId::as_str).collect::<Vec<_>>(),
        )?)
        .bind(bool_int(c.enabled))
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    pub async fn get_channel(&self, id: &str) -> Result<Option<ChannelRecord>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!("{CHANNEL_COLS} WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(channel_from_row)
            .transpose()
    }

    pub async fn list_channels(&self) -> Result<Vec<ChannelRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{CHANNEL_COLS} ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(channel_from_row).collect()
    }

    pub async fn delete_channel(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM notification_deliveries WHERE channel_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM notification_channels WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    pub async fn record_delivery(
        &self,
        id: &str,
        channel: &str,
        event: &str,
        title: &str,
        d: &garrison_notify::Delivery,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO notification_deliveries (id, channel_id, event, title, ok, attempts, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(channel)
        .bind(event)
        .bind(title)
        .bind(bool_int(d.ok))
        .bind(to_json(&d.attempts)?)
        .bind(now)
        .execute(&self.pool)
        .await
        // A channel deleted while its delivery ran: nothing to log it under.
        .map(|_| ())
        .or_else(|e| match StoreError::from(e) {
            StoreError::NotFound => Ok(()),
            e => Err(e),
        })
    }

    pub async fn list_deliveries(
        &self,
        channel: &str,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, channel_id, event, title, ok, attempts, created_at \
             FROM notification_deliveries WHERE channel_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(channel)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryRecord {
                    id: col(r, "id")?,
                    channel_id: col(r, "channel_id")?,
                    event: col(r, "event")?,
                    title: col(r, "title")?,
                    ok: col_bool(r, "ok")?,
                    attempts: col_json(r, "attempts")?,
                    created_at: col(r, "created_at")?,
                })
            })
            .collect()
    }

    /// Deletes deliveries and resolved alerts older than `before`.
    pub async fn prune_alert_history(&self, before: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM notification_deliveries WHERE created_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- maintenance windows ----------------------------------------------------------

    pub async fn insert_window(
        &self,
        w: &WindowSpec,
        now: i64,
    ) -> Result<MaintenanceWindow, StoreError> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO maintenance_windows (id, server_id, name, cron, timezone, \
             duration_secs, stop_at_start, start_at_end, enabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        )
        .bind(&id)
        .bind(w.server_id.as_ref().map(ServerId::as_str))
        .bind(&w.name)
        .bind(&w.cron)
        .bind(&w.timezone)
        .bind(i(w.duration_secs))
        .bind(bool_int(w.stop_at_start))
        .bind(bool_int(w.start_at_end))
        .bind(bool_int(w.enabled))
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.get_window(&id).await?.ok_or(StoreError::NotFound)
    }

    pub async fn update_window(
        &self,
        id: &str,
        w: &WindowSpec,
        now: i64,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE maintenance_windows SET server_id = $2, name = $3, cron = $4, \
             timezone = $5, duration_secs = $6, stop_at_start = $7, start_at_end = $8, \
             enabled = $9, updated_at = $10 WHERE id = $1",
        )
        .bind(id)
        .bind(w.server_id.as_ref().map(ServerId::as_str))
        .bind(&w.name)
        .bind(&w.cron)
        .bind(&w.timezone)
        .bind(i(w.duration_secs))
        .bind(bool_int(w.stop_at_start))
        .bind(bool_int(w.start_at_end))
        .bind(bool_int(w.enabled))
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    pub async fn get_window(&self, id: &str) -> Result<Option<MaintenanceWindow>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!("{WINDOW_COLS} WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(window_from_row)
            .transpose()
    }

    pub async fn list_windows(&self) -> Result<Vec<MaintenanceWindow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{WINDOW_COLS} ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(window_from_row).collect()
    }

    pub async fn delete_window(&self, id: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("DELETE FROM maintenance_windows WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }
}
