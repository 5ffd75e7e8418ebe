-- certvigil's first schema. History grows with changes, not with checks:
-- `caa_state` is updated in place on every check, a full observation row is
-- written only when the CAA state of a target is new, and `runs` keeps one
-- compact row per raw check run (pruned by the retention setting).
-- All times are Unix milliseconds (UTC).

-- One row per (name, wildcard, CA) the configuration asks about. Rows are
-- never deleted: a domain removed from the config keeps its history.
CREATE TABLE targets (
    id         INTEGER PRIMARY KEY,
    domain     TEXT    NOT NULL,                           -- A-labels, no root dot
    wildcard   INTEGER NOT NULL CHECK (wildcard IN (0, 1)), -- judged for *.domain (issuewild)
    ca         TEXT    NOT NULL,                           -- catalogue name or issuer domain
    created_at INTEGER NOT NULL,
    UNIQUE (domain, wildcard, ca)
);

-- Each distinct CAA state a target has been seen in, stored once. The
-- fingerprint covers what drift is about (verdict, relevant name, alias
-- chain, records in canonical order); `verdict_json` is the judge's full
-- verdict (reason, remedy, findings) as first seen in that state.
CREATE TABLE observations (
    id           INTEGER PRIMARY KEY,
    target_id    INTEGER NOT NULL REFERENCES targets (id),
    fingerprint  BLOB    NOT NULL,
    verdict      TEXT    NOT NULL CHECK (verdict IN ('allowed', 'forbidden')),
    verdict_json TEXT    NOT NULL,
    first_seen   INTEGER NOT NULL,
    UNIQUE (target_id, fingerprint)
);

-- The current state of each target, rewritten in place by every check.
-- `observation_id` is the last *successfully observed* state: a lookup error
-- sets `status` to 'error' but keeps it, so a return to the same records
-- after an error is recognised and not reported as drift.
CREATE TABLE caa_state (
    target_id          INTEGER PRIMARY KEY REFERENCES targets (id),
    status             TEXT    NOT NULL CHECK (status IN ('allowed', 'forbidden', 'error')),
    since              INTEGER NOT NULL,
    observation_id     INTEGER REFERENCES observations (id),
    last_checked       INTEGER NOT NULL,
    checks             INTEGER NOT NULL,
    consecutive_errors INTEGER NOT NULL,
    last_error         TEXT,
    last_error_at      INTEGER
);

-- One row per raw check run: about 20 bytes. Clustered on time so the
-- retention prune is a range delete without a separate index.
-- outcome: 0 allowed, 1 forbidden, 2 error.
CREATE TABLE runs (
    started_at  INTEGER NOT NULL,
    target_id   INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    outcome     INTEGER NOT NULL,
    PRIMARY KEY (started_at, target_id)
) WITHOUT ROWID;

-- State changes: never pruned.
-- kind: baseline | caa_drift | lookup_error | lookup_recovered
CREATE TABLE events (
    id                 INTEGER PRIMARY KEY,
    target_id          INTEGER NOT NULL REFERENCES targets (id),
    at                 INTEGER NOT NULL,
    kind               TEXT    NOT NULL,
    before_status      TEXT,
    after_status       TEXT    NOT NULL,
    before_observation INTEGER REFERENCES observations (id),
    after_observation  INTEGER REFERENCES observations (id),
    blocks             INTEGER NOT NULL CHECK (blocks IN (0, 1)),
    detail             TEXT
);
CREATE INDEX events_by_time ON events (at);
CREATE INDEX events_by_target ON events (target_id, at);
