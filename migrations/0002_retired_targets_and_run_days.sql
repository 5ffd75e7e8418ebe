-- 1. A domain removed from the configuration is retired, not deleted: its
--    history stays readable, `status` stops listing it, and re-adding it
--    picks up where it left off (same target id, same last known state).
ALTER TABLE targets ADD COLUMN retired_at INTEGER;

-- 2. Raw runs older than the retention period are folded into one row per
--    target and UTC day before they are deleted, so "how many checks, how
--    many failed, how slow" stays answerable for every day ever watched at
--    about 20 bytes per target and day.
CREATE TABLE run_days (
    target_id   INTEGER NOT NULL REFERENCES targets (id),
    day         INTEGER NOT NULL, -- days since 1970-01-01 (UTC)
    checks      INTEGER NOT NULL,
    errors      INTEGER NOT NULL,
    total_ms    INTEGER NOT NULL,
    max_ms      INTEGER NOT NULL,
    PRIMARY KEY (target_id, day)
) WITHOUT ROWID;
