//! Several daemons on one PostgreSQL database (migration
//! `postgres/0045_instances_and_leases.sql`): who runs (`instances`) and who
//! checks which domain this cycle (`target_leases`). There is no
//! coordinator beyond the database.
//!
//! Every instance's cron dispatches every domain each cycle (a cycle is
//! named by its firing time, the same on every instance); before it checks
//! one it claims it for that cycle: not done for it yet (`done_cycle`) and
//! nobody holds an unexpired lease on it. The claim is one statement that
//! locks the row `FOR UPDATE SKIP LOCKED`, so of several instances trying
//! at once exactly one gets it and the others move on without waiting. The
//! holder renews its lease while the check runs and, once the check is
//! recorded, marks the cycle done and lets go. An instance that finds the
//! domain held but not done tries again a little later in the same cycle.
//! A dead instance stops renewing: its leases run out, and the others'
//! retries (or the next cycle's claims) take its domains over.
//!
//! An SQLite database has one daemon (its lock file, `instance`): these
//! tables exist on PostgreSQL only, and the methods here are no-ops (or
//! empty) on SQLite.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Backend, Store, StoreError, from_millis, to_millis};

/// What claiming a domain found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This instance holds it now: check it.
    Got,
    /// Checked for this cycle (or a later one) already.
    NotDue,
    /// Due, but another instance holds it (a check of the previous cycle
    /// still running, or a claim being made): try again a little later.
    Held,
}

/// A daemon process that ran on this database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRow {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub started_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    /// How many domains it holds a lease on now.
    pub leases: i64,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

impl Store {
    fn shares_targets(&self) -> bool {
        self.backend == Backend::Postgres
    }

    /// Records this daemon's start.
    pub async fn register_instance(
        &self,
        id: &str,
        host: &str,
        pid: u32,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if !self.shares_targets() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO instances (id, host, pid, started_at, last_seen) VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(id)
        .bind(host)
        .bind(i64::from(pid))
        .bind(to_millis(now))
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("registering this instance"))?;
        Ok(())
    }

    /// Says this daemon is alive (`last_seen`).
    pub async fn instance_seen(&self, id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        if !self.shares_targets() {
            return Ok(());
        }
        sqlx::query("UPDATE instances SET last_seen = $1 WHERE id = $2")
            .bind(to_millis(now))
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("refreshing this instance"))?;
        Ok(())
    }

    /// Records a clean stop and gives up this daemon's leases, so the
    /// others need not wait for them to run out.
    pub async fn instance_stopped(&self, id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        if !self.shares_targets() {
            return Ok(());
        }
        sqlx::query("UPDATE target_leases SET owner = NULL, lease_until = NULL WHERE owner = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("giving up this instance's leases"))?;
        sqlx::query("UPDATE instances SET stopped_at = $1, last_seen = $1 WHERE id = $2")
            .bind(to_millis(now))
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("recording this instance's stop"))?;
        Ok(())
    }

    /// The instances, most recently seen first (empty on SQLite).
    pub async fn instances(&self, now: DateTime<Utc>) -> Result<Vec<InstanceRow>, StoreError> {
        if !self.shares_targets() {
            return Ok(Vec::new());
        }
        type Row = (String, String, i64, i64, i64, Option<i64>, i64);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT i.id, i.host, i.pid, i.started_at, i.last_seen, i.stopped_at,
                    (SELECT count(*) FROM target_leases l
                     WHERE l.owner = i.id AND l.lease_until > $1)
             FROM instances i ORDER BY i.last_seen DESC, i.id",
        )
        .bind(to_millis(now))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("reading the instances"))?;
        rows.into_iter()
            .map(
                |(id, host, pid, started, seen, stopped, leases)| -> Result<_, StoreError> {
                    Ok(InstanceRow {
                        id,
                        host,
                        pid,
                        started_at: from_millis(started)?,
                        last_seen: from_millis(seen)?,
                        stopped_at: stopped.map(from_millis).transpose()?,
                        leases,
                    })
                },
            )
            .collect()
    }

    /// Claims `domain` for `owner` until `now + lease` to check it for
    /// `cycle` (the firing, Unix ms), if it was not checked for that cycle
    /// yet and nobody else holds it.
    pub async fn claim_domain(
        &self,
        domain: &str,
        owner: &str,
        cycle: i64,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        if !self.shares_targets() {
            return Ok(Claim::Got);
        }
        let now_ms = to_millis(now);
        if self.try_claim(domain, owner, cycle, now_ms, lease).await? {
            return Ok(Claim::Got);
        }
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT CASE WHEN done_cycle < $2 THEN 1 ELSE 0 END FROM target_leases WHERE domain = $1",
        )
        .bind(domain)
        .bind(cycle)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("reading a domain lease"))?;
        match due {
            Some(0) => return Ok(Claim::NotDue),
            Some(_) => return Ok(Claim::Held),
            None => {}
        }
        // No row yet (a domain never claimed): add it, due at once, and
        // claim it like any other (another instance may add it too).
        sqlx::query(
            "INSERT INTO target_leases (domain, done_cycle) VALUES ($1, 0) ON CONFLICT DO NOTHING",
        )
        .bind(domain)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("adding a domain lease"))?;
        Ok(
            if self.try_claim(domain, owner, cycle, now_ms, lease).await? {
                Claim::Got
            } else {
                Claim::Held
            },
        )
    }

    async fn try_claim(
        &self,
        domain: &str,
        owner: &str,
        cycle: i64,
        now_ms: i64,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        // SKIP LOCKED: an instance claiming the same row at this moment
        // wins; this one does not wait for it, it moves on.
        let got: Option<(String,)> = sqlx::query_as(
            "UPDATE target_leases SET owner = $2, lease_until = $3
             WHERE domain = (SELECT domain FROM target_leases
                             WHERE domain = $1 AND done_cycle < $5
                               AND (owner IS NULL OR lease_until IS NULL OR lease_until <= $4)
                             FOR UPDATE SKIP LOCKED)
             RETURNING domain",
        )
        .bind(domain)
        .bind(owner)
        .bind(now_ms.saturating_add(ms(lease)))
        .bind(now_ms)
        .bind(cycle)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("claiming a domain"))?;
        Ok(got.is_some())
    }

    /// Extends `owner`'s lease on `domain`; false when it no longer holds it.
    pub async fn renew_lease(
        &self,
        domain: &str,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if !self.shares_targets() {
            return Ok(true);
        }
        let done = sqlx::query(
            "UPDATE target_leases SET lease_until = $1 WHERE domain = $2 AND owner = $3",
        )
        .bind(to_millis(until))
        .bind(domain)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("renewing a domain lease"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Lets go of `domain`: done for a cycle when its check was recorded
    /// (`done`: when, for which cycle), still to do when it was not
    /// (another instance may try again this cycle).
    pub async fn release_domain(
        &self,
        domain: &str,
        owner: &str,
        done: Option<(DateTime<Utc>, i64)>,
    ) -> Result<(), StoreError> {
        if !self.shares_targets() {
            return Ok(());
        }
        let q = match done {
            Some((at, cycle)) => sqlx::query(
                "UPDATE target_leases SET owner = NULL, lease_until = NULL, last_done = $3,
                        done_cycle = CASE WHEN done_cycle > $4 THEN done_cycle ELSE $4 END
                 WHERE domain = $1 AND owner = $2",
            )
            .bind(domain)
            .bind(owner)
            .bind(to_millis(at))
            .bind(cycle),
            None => sqlx::query(
                "UPDATE target_leases SET owner = NULL, lease_until = NULL
                 WHERE domain = $1 AND owner = $2",
            )
            .bind(domain)
            .bind(owner),
        };
        q.execute(&self.pool)
            .await
            .map_err(StoreError::query("releasing a domain lease"))?;
        Ok(())
    }
}
