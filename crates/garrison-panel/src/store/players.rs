//! Players joining and leaving, as the console told.

use super::{Store, StoreError, col, new_id};
use garrison_proto::ServerId;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlayerEvent {
    pub name: String,
    /// `joined` or `left`.
    pub kind: String,
    pub at: i64,
}

impl Store {
    pub async fn insert_player_event(
        &self,
        server: &ServerId,
        name: &str,
        joined: bool,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO player_events (id, server_id, name, kind, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(new_id())
        .bind(server.as_str())
        .bind(name)
        .bind(if joined { "joined" } else { "left" })
        .bind(at)
        .execute(&self.pool)
        .await
        // A server deleted meanwhile: nothing to file it under.
        .map(|_| ())
        .or_else(|e| match StoreError::from(e) {
            StoreError::NotFound => Ok(()),
            e => Err(e),
        })
    }

    /// A server's joins and leaves in `[from, to)`, newest first.
    pub async fn player_events(
        &self,
        server: &ServerId,
        from: i64,
        to: i64,
        limit: u32,
    ) -> Result<Vec<PlayerEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, kind, at FROM player_events WHERE server_id = $1 AND at >= $2 \
             AND at < $3 ORDER BY at DESC, id DESC LIMIT $4",
        )
        .bind(server.as_str())
        .bind(from)
        .bind(to)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PlayerEvent {
                    name: col(r, "name")?,
                    kind: col(r, "kind")?,
                    at: col(r, "at")?,
                })
            })
            .collect()
    }

    /// Deletes joins and leaves older than `before`.
    pub async fn prune_player_events(&self, before: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM player_events WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
