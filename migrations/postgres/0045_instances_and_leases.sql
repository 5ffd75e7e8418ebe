-- Several daemons on one database (PostgreSQL only; an SQLite database has
-- one daemon, held by its lock file).
--
-- instances: one row per daemon process that has run, refreshed while it
-- runs (last_seen); `status` shows them.
CREATE TABLE instances (
    id         TEXT   PRIMARY KEY,    -- random, per process start
    host       TEXT   NOT NULL,
    pid        BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    stopped_at BIGINT
);

-- target_leases: which instance checks a configured domain this cycle
-- (src/store/leases.rs). A cycle is named by its firing time (Unix ms);
-- a domain is to do for cycle C when done_cycle < C and nobody holds an
-- unexpired lease on it; the instance that claims it (FOR UPDATE SKIP
-- LOCKED) holds it until lease_until, renewing it while the check runs,
-- and sets done_cycle = C when the check is recorded. A dead instance's
-- leases simply run out.
CREATE TABLE target_leases (
    domain      TEXT   PRIMARY KEY,
    done_cycle  BIGINT NOT NULL,
    owner       TEXT,
    lease_until BIGINT,
    last_done   BIGINT
);
CREATE INDEX target_leases_owner ON target_leases (owner);
