//! Resource history: raw samples written in batches, rolled up into per-minute and
//! per-hour rows by SQL, and pruned by age per resolution.

use super::{Store, StoreError, col};
use serde::Serialize;
use sqlx::any::AnyRow;

/// Raw samples.
pub const RES_RAW: i64 = 0;
pub const RES_MINUTE: i64 = 60_000;
pub const RES_HOUR: i64 = 3_600_000;

/// Rows per INSERT statement (12 bound values each stays far below both databases' limits on
/// bound parameters).
const ROWS_PER_INSERT: usize = 250;

/// One raw sample of a server (`target` = its id) or a node (`node:<name>`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricSample {
    pub target: String,
    pub at: i64,
    pub cpu: Option<f64>,
    pub memory: Option<u64>,
    pub disk: Option<u64>,
    pub players: Option<u32>,
    pub net_rx: Option<u64>,
    pub net_tx: Option<u64>,
    pub load1: Option<f64>,
    pub memory_total: Option<u64>,
    pub disk_total: Option<u64>,
}

/// A point of a series: for rolled-up rows the averages and maxima over the period.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MetricPoint {
    /// Start of the period (the sample's time for raw points), unix millis.
    pub at: i64,
    pub cpu: Option<f64>,
    pub cpu_max: Option<f64>,
    pub memory: Option<i64>,
    pub memory_max: Option<i64>,
    pub disk: Option<i64>,
    pub players: Option<f64>,
    pub players_max: Option<i64>,
    pub net_rx: Option<i64>,
    pub net_tx: Option<i64>,
    pub load1: Option<f64>,
    pub memory_total: Option<i64>,
    pub disk_total: Option<i64>,
    /// Raw samples behind this point.
    pub samples: i64,
}

fn i(v: Option<u64>) -> Option<i64> {
    v.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

fn point(row: &AnyRow) -> Result<MetricPoint, StoreError> {
    Ok(MetricPoint {
        at: col(row, "at")?,
        cpu: col(row, "cpu")?,
        cpu_max: col(row, "cpu_max")?,
        memory: col(row, "memory")?,
        memory_max: col(row, "memory_max")?,
        disk: col(row, "disk")?,
        players: col(row, "players")?,
        players_max: col(row, "players_max")?,
        net_rx: col(row, "net_rx")?,
        net_tx: col(row, "net_tx")?,
        load1: col(row, "load1")?,
        memory_total: col(row, "memory_total")?,
        disk_total: col(row, "disk_total")?,
        samples: col(row, "samples")?,
    })
}

impl Store {
    /// Writes raw samples in a few multi-row statements inside one transaction. A
    /// sample whose (target, time) is already stored is left out.
    pub async fn insert_samples(&self, samples: &[MetricSample]) -> Result<u64, StoreError> {
        if samples.is_empty() {
            return Ok(0);
        }
        let mut tx = self.write_tx().await?;
        let mut written = 0;
        for chunk in samples.chunks(ROWS_PER_INSERT) {
            let mut sql = String::from(
                "INSERT INTO metrics (target, res, at, cpu, cpu_max, memory, memory_max, disk, \
                 players, players_max, net_rx, net_tx, load1, memory_total, disk_total, samples) \
                 VALUES ",
            );
            for (n, _) in chunk.iter().enumerate() {
                let b = n * 12;
                if n > 0 {
                    sql.push(',');
                }
                // cpu, memory and players are their own maxima in a raw row.
                sql.push_str(&format!(
                    "(${}, 0, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, 1)",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 3,
                    b + 4,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8,
                    b + 9,
                    b + 10,
                    b + 11,
                    b + 12,
                ));
            }
            sql.push_str(" ON CONFLICT (target, res, at) DO NOTHING");
            // Only placeholders are formatted in; every value is bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for s in chunk {
                q = q
                    .bind(s.target.as_str())
                    .bind(s.at)
                    .bind(s.cpu)
                    .bind(i(s.memory))
                    .bind(i(s.disk))
                    .bind(s.players.map(f64::from))
                    .bind(s.players.map(i64::from))
                    .bind(i(s.net_rx))
                    .bind(i(s.net_tx))
                    .bind(s.load1)
                    .bind(i(s.memory_total))
                    .bind(i(s.disk_total));
            }
            written += q.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(written)
    }

    /// Rolls rows of resolution `from_res` with times in `[from, to)` up into rows of
    /// `to_res` (averages, maxima, sample counts). Periods already rolled up are kept,
    /// so call it only for periods that are complete.
    pub async fn rollup_metrics(
        &self,
        from_res: i64,
        to_res: i64,
        from: i64,
        to: i64,
    ) -> Result<u64, StoreError> {
        let res = sqlx::query(
            "INSERT INTO metrics (target, res, at, cpu, cpu_max, memory, memory_max, disk, \
             players, players_max, net_rx, net_tx, load1, memory_total, disk_total, samples) \
             SELECT target, $2, (at / $2) * $2, AVG(cpu), MAX(cpu_max), \
             CAST(AVG(memory) AS BIGINT), MAX(memory_max), CAST(AVG(disk) AS BIGINT), \
             AVG(players), MAX(players_max), CAST(AVG(net_rx) AS BIGINT), \
             CAST(AVG(net_tx) AS BIGINT), AVG(load1), MAX(memory_total), MAX(disk_total), \
             CAST(SUM(samples) AS BIGINT) \
             FROM metrics WHERE res = $1 AND at >= $3 AND at < $4 \
             GROUP BY target, (at / $2) * $2 \
             ON CONFLICT (target, res, at) DO NOTHING",
        )
        .bind(from_res)
        .bind(to_res)
        .bind(from)
        .bind(to)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected())
    }

    /// Deletes rows of resolution `res` older than `before`.
    pub async fn prune_metrics(&self, res: i64, before: i64) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM metrics WHERE res = $1 AND at < $2")
                .bind(res)
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// A target's points of resolution `res` in `[from, to)`, oldest first, at most
    /// `limit`.
    pub async fn metric_series(
        &self,
        target: &str,
        res: i64,
        from: i64,
        to: i64,
        limit: u32,
    ) -> Result<Vec<MetricPoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, cpu, cpu_max, memory, memory_max, disk, players, players_max, net_rx, \
             net_tx, load1, memory_total, disk_total, samples FROM metrics \
             WHERE target = $1 AND res = $2 AND at >= $3 AND at < $4 ORDER BY at LIMIT $5",
        )
        .bind(target)
        .bind(res)
        .bind(from)
        .bind(to)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(point).collect()
    }

    /// Deletes every row of a target (a deleted server).
    pub async fn delete_metrics(&self, target: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM metrics WHERE target = $1")
            .bind(target)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
