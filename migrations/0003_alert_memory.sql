-- Alerts for the CAA check (issue #4): what the alert policy remembers, kept
-- next to the state it is about and written in the same transaction as the
-- check, its events and its outbox rows.

-- alert::policy::TrackMemory as JSON, per (target, CA): what recipients were
-- last told, the error streak, flap damping. NULL until the first check
-- that runs the policy (a database from before this migration starts fresh:
-- its first check alerts only if the target is blocking).
ALTER TABLE caa_state ADD COLUMN alert_memory TEXT;

-- The relevant CAA record set (alert::policy::CaaRrset as JSON) last seen by
-- a successful lookup, per configured domain (the name the CAA climb starts
-- from, A-labels): what `caa_drift` compares with. One row per domain, not
-- per CA, so one DNS change is one drift.
CREATE TABLE caa_rrsets (
    domain     TEXT    PRIMARY KEY,
    rrset_json TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
