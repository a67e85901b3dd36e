//! Counts and a liveness probe for the admin API's stats and health.

use super::{Store, StoreError, col};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What `GET /api/admin/stats` reports from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelCounts {
    pub users: i64,
    pub admins: i64,
    pub servers: i64,
    /// Stored state (as text, e.g. `"offline"`) → number of servers in it.
    pub servers_by_state: BTreeMap<String, i64>,
}

impl Store {
    pub async fn panel_counts(&self) -> Result<PanelCounts, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS users, \
             COUNT(CASE WHEN is_admin <> 0 THEN 1 END) AS admins FROM users",
        )
        .fetch_one(&self.pool)
        .await?;
        let users: i64 = col(&row, "users")?;
        let admins: i64 = col(&row, "admins")?;
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM servers GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        let mut servers_by_state = BTreeMap::new();
        let mut servers = 0;
        for row in &rows {
            let n: i64 = col(row, "n")?;
            servers += n;
            servers_by_state.insert(col::<String>(row, "state")?, n);
        }
        Ok(PanelCounts {
            users,
            admins,
            servers,
            servers_by_state,
        })
    }

    /// Runs a trivial query and says how long the round trip took.
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let started = Instant::now();
        let one: i64 = sqlx::query_scalar("SELECT CAST(1 AS BIGINT)")
            .fetch_one(&self.pool)
            .await?;
        if one != 1 {
            return Err(StoreError::Corrupt(format!("SELECT 1 answered {one}")));
        }
        Ok(started.elapsed())
    }
}
