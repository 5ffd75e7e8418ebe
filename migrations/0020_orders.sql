-- Pending orders (issue #6): every order certvigil follows, the timeline of
-- its statuses (how long each held), the CA notices the user recorded, and
-- the conditions already alerted (so an alert fires on a change, not on
-- every poll). All times are Unix milliseconds (UTC), as elsewhere.

-- One row per order, keyed by its source (the [[providers]] name, or
-- 'manual') and the source's id (Tencent CertificateId, ACME order URL,
-- manual order name). Rows are kept after the order finishes.
CREATE TABLE orders (
    id              INTEGER PRIMARY KEY,
    source          TEXT    NOT NULL,
    external_id     TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('tencent', 'acme', 'manual')),
    display_name    TEXT    NOT NULL,
    ca              TEXT    NOT NULL,   -- as people call it (catalogue display name or product)
    names           TEXT    NOT NULL,   -- JSON array of certificate names
    phase           TEXT    NOT NULL,   -- orders::Phase, snake_case
    status_code     TEXT    NOT NULL,   -- the source's own status, the timeline key
    status_label    TEXT    NOT NULL,
    placed_at       INTEGER,
    first_seen      INTEGER NOT NULL,
    last_polled     INTEGER NOT NULL,
    -- The latest observation as JSON (orders::OrderObservation), for `show`.
    observation_json TEXT   NOT NULL,
    -- The last failure to poll it, cleared by the next success.
    last_error      TEXT,
    last_error_at   INTEGER,
    UNIQUE (source, external_id)
);

-- Each status an order was seen in, and for how long: `until` is NULL for
-- the current one.
CREATE TABLE order_statuses (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES orders (id),
    status_code TEXT    NOT NULL,
    label       TEXT    NOT NULL,
    phase       TEXT    NOT NULL,
    since       INTEGER NOT NULL,
    until       INTEGER
);
CREATE INDEX order_statuses_by_order ON order_statuses (order_id, since);

-- What the CA told the user (`certvigil orders notice`).
-- kind: review | validation_passed | issued | failed | other
CREATE TABLE order_notices (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES orders (id),
    at          INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    note        TEXT,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX order_notices_by_order ON order_notices (order_id, at);

-- The conditions (orders::judge::OrderEvent) that hold and were alerted:
-- one per order and kind. A new kind, or a changed fingerprint, alerts; a
-- kind that no longer holds is deleted (and reported as cleared).
CREATE TABLE order_conditions (
    order_id    INTEGER NOT NULL REFERENCES orders (id),
    kind        TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    severity    TEXT    NOT NULL,
    summary     TEXT    NOT NULL,
    since       INTEGER NOT NULL,
    alerted_at  INTEGER NOT NULL,
    PRIMARY KEY (order_id, kind)
) WITHOUT ROWID;
