-- The latest report of each target, exactly as `certvigil check --format
-- json` prints it (report::CheckReport, the JSON Lines contract), so
-- `status --format json` can show what the daemon found. Rewritten in place
-- on every check: one row per target, never history. checked_at is Unix
-- milliseconds, like every time in this schema.

CREATE TABLE target_reports (
    target_id   INTEGER PRIMARY KEY REFERENCES targets (id),
    report_json TEXT    NOT NULL,
    checked_at  INTEGER NOT NULL
);
