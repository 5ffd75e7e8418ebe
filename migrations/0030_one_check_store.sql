-- no-transaction
-- One state and event store for every check (issue "One check engine").
--
-- Until now each check had its own tables: CAA in `caa_state`, `events` and
-- `observations` (whose CHECK allowed only CAA verdicts), reachability in
-- `reach_state` and `reach_events`. From here on every check, the ones to
-- come included, is stored the same way, told apart by `check_kind`:
-- - `observations`: each distinct observed state of a (target, check),
--   stored once, keyed by the check's fingerprint of it;
-- - `check_state`: the current state of each (target, check), rewritten in
--   place by every check;
-- - `events`: every state change of every check, one timeline.
--
-- `observations` must be rebuilt (a CHECK constraint and a UNIQUE key
-- change), and `events` and `check_state` point at it, so this migration
-- runs with foreign keys off, in its own transaction, as SQLite's
-- documented procedure for schema changes asks (sqlite.org/lang_altertable.html
-- "Making Other Kinds Of Table Schema Changes"); it checks the keys before
-- committing. Nothing is dropped before it has been copied.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE observations_v2 (
    id           INTEGER PRIMARY KEY,
    target_id    INTEGER NOT NULL REFERENCES targets (id),
    -- findings::CheckKind: 'caa', 'reach', ...
    check_kind   TEXT    NOT NULL,
    -- The check's fingerprint of what it observed (what a change is).
    fingerprint  BLOB    NOT NULL,
    -- The check's verdict word ('allowed', 'forbidden', 'reachable', ...).
    verdict      TEXT    NOT NULL,
    -- The judge's full verdict as JSON, as first seen in that state.
    verdict_json TEXT    NOT NULL,
    first_seen   INTEGER NOT NULL,
    UNIQUE (target_id, check_kind, fingerprint)
);
INSERT INTO observations_v2 (id, target_id, check_kind, fingerprint, verdict, verdict_json, first_seen)
    SELECT id, target_id, 'caa', fingerprint, verdict, verdict_json, first_seen FROM observations;

-- Reach verdicts become observations: the current one of each target with
-- the fingerprint the check compares against...
INSERT INTO observations_v2 (target_id, check_kind, fingerprint, verdict, verdict_json, first_seen)
    SELECT target_id, 'reach', CAST(fingerprint AS BLOB), verdict, verdict_json, since
    FROM reach_state;
-- ...and the one after each past reach event. Their fingerprints were not
-- kept, so these carry one that no check computes ('migrated:<event id>'):
-- they stay readable in the timeline and never match a new observation.
INSERT INTO observations_v2 (target_id, check_kind, fingerprint, verdict, verdict_json, first_seen)
    SELECT target_id, 'reach', CAST('migrated:' || id AS BLOB), after_verdict, verdict_json, at
    FROM reach_events;

DROP TABLE observations;
ALTER TABLE observations_v2 RENAME TO observations;

CREATE TABLE check_state (
    target_id          INTEGER NOT NULL REFERENCES targets (id),
    check_kind         TEXT    NOT NULL,
    -- The verdict word of the last check ('error' when it could not observe).
    status             TEXT    NOT NULL,
    -- Whether a CA would refuse as things stand.
    blocks             INTEGER NOT NULL CHECK (blocks IN (0, 1)),
    -- When `status` (or, for an observed state, its fingerprint) last changed.
    since              INTEGER NOT NULL,
    -- The last *successfully observed* state: an error keeps it, so a return
    -- to the same state after an error is a recovery, not a change.
    observation_id     INTEGER REFERENCES observations (id),
    last_checked       INTEGER NOT NULL,
    checks             INTEGER NOT NULL,
    consecutive_errors INTEGER NOT NULL,
    last_error         TEXT,
    last_error_at      INTEGER,
    -- alert::policy::TrackMemory as JSON: what recipients were last told.
    alert_memory       TEXT,
    PRIMARY KEY (target_id, check_kind)
) WITHOUT ROWID;

INSERT INTO check_state
    SELECT target_id, 'caa', status, status <> 'allowed', since, observation_id, last_checked,
           checks, consecutive_errors, last_error, last_error_at, alert_memory
    FROM caa_state;
INSERT INTO check_state
    SELECT r.target_id, 'reach', r.verdict, r.blocks, r.since, o.id, r.last_checked, r.checks,
           r.consecutive_errors,
           CASE WHEN r.verdict = 'error' THEN r.reason END,
           CASE WHEN r.verdict = 'error' THEN r.last_checked END,
           r.alert_memory
    FROM reach_state r
    JOIN observations o ON o.target_id = r.target_id AND o.check_kind = 'reach'
                       AND o.fingerprint = CAST(r.fingerprint AS BLOB);

-- Events of every check. Existing rows are CAA's; reach events are copied
-- in with their times, so `ORDER BY at, id` is one timeline.
ALTER TABLE events ADD COLUMN check_kind TEXT NOT NULL DEFAULT 'caa';
INSERT INTO events (target_id, at, kind, before_status, after_status, before_observation,
                    after_observation, blocks, detail, check_kind)
    SELECT e.target_id, e.at,
           CASE WHEN e.before_verdict IS NULL THEN 'baseline' ELSE 'reach_change' END,
           e.before_verdict, e.after_verdict,
           (SELECT o.id FROM reach_events p
              JOIN observations o ON o.check_kind = 'reach'
                                 AND o.fingerprint = CAST('migrated:' || p.id AS BLOB)
             WHERE p.target_id = e.target_id AND (p.at, p.id) < (e.at, e.id)
             ORDER BY p.at DESC, p.id DESC LIMIT 1),
           (SELECT o.id FROM observations o
             WHERE o.check_kind = 'reach' AND o.fingerprint = CAST('migrated:' || e.id AS BLOB)),
           e.blocks, e.reason, 'reach'
    FROM reach_events e
    ORDER BY e.at, e.id;
DROP INDEX events_by_target;
CREATE INDEX events_by_target ON events (target_id, check_kind, at);

DROP TABLE caa_state;
DROP TABLE reach_events;
DROP TABLE reach_state;

-- Delivered and failed outbox rows older than the retention are pruned
-- from now on (the daemon's retention task): the database grows with
-- changes, not with time.
CREATE INDEX alert_outbox_prune ON alert_outbox (finished_at) WHERE finished_at IS NOT NULL;

-- Refuses to commit if any key is left dangling: the CHECK fails on a
-- non-zero count, the statement errors, and the transaction is never
-- committed (closing the connection rolls it back).
CREATE TEMP TABLE migration_0030_guard (dangling INTEGER CHECK (dangling = 0));
INSERT INTO migration_0030_guard SELECT count(*) FROM pragma_foreign_key_check;
DROP TABLE migration_0030_guard;

COMMIT;
PRAGMA foreign_keys = ON;
