-- Reachability of the file-validation path (issue #5), per target (name,
-- wildcard, CA) whose validation method is file or http-01. Like
-- `caa_state`, the state is rewritten in place on every check and a change
-- (a new verdict fingerprint) is an event. All times Unix milliseconds.

CREATE TABLE reach_state (
    target_id          INTEGER PRIMARY KEY REFERENCES targets (id),
    -- checks::reach::ReachVerdictKind
    verdict            TEXT    NOT NULL
                       CHECK (verdict IN ('reachable', 'geo_blocked', 'unreachable', 'error')),
    -- ReachVerdict::fingerprint(): the verdict and the kinds of problem.
    fingerprint        TEXT    NOT NULL,
    blocks             INTEGER NOT NULL CHECK (blocks IN (0, 1)),
    reason             TEXT    NOT NULL,
    -- The verdict as `check --format json` shows it (its `reach` object).
    verdict_json       TEXT    NOT NULL,
    -- When the fingerprint last changed.
    since              INTEGER NOT NULL,
    last_checked       INTEGER NOT NULL,
    checks             INTEGER NOT NULL,
    consecutive_errors INTEGER NOT NULL,
    -- alert::policy::TrackMemory as JSON.
    alert_memory       TEXT
);

-- Reach state changes: never pruned.
CREATE TABLE reach_events (
    id             INTEGER PRIMARY KEY,
    target_id      INTEGER NOT NULL REFERENCES targets (id),
    at             INTEGER NOT NULL,
    before_verdict TEXT,
    after_verdict  TEXT    NOT NULL,
    blocks         INTEGER NOT NULL CHECK (blocks IN (0, 1)),
    reason         TEXT    NOT NULL,
    verdict_json   TEXT    NOT NULL
);
CREATE INDEX reach_events_by_time ON reach_events (at);
CREATE INDEX reach_events_by_target ON reach_events (target_id, at);
