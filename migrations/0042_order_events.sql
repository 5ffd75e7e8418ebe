-- no-transaction
-- Order conditions in the one timeline (issue "One check engine"): every
-- change of an order's status or conditions is an event in `events`, with
-- check_kind 'order', so `history`, /api/history and the web timeline show
-- order events among the CAA and reach ones. Orders keep their own tables
-- for what they are (`orders`, `order_statuses`, `order_conditions`).
--
-- An order is not a target, so `events` gets `order_id` and its
-- `target_id` may be NULL: each event is about exactly one of the two.
-- That changes a NOT NULL column, which SQLite can only do by rebuilding
-- the table (sqlite.org/lang_altertable.html "Making Other Kinds Of Table
-- Schema Changes"): foreign keys off, one transaction, ids kept (the
-- outbox points at them), keys checked before committing.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE events_v2 (
    id                 INTEGER PRIMARY KEY,
    target_id          INTEGER REFERENCES targets (id),
    order_id           INTEGER REFERENCES orders (id),
    at                 INTEGER NOT NULL,
    kind               TEXT    NOT NULL,
    before_status      TEXT,
    after_status       TEXT    NOT NULL,
    before_observation INTEGER REFERENCES observations (id),
    after_observation  INTEGER REFERENCES observations (id),
    blocks             INTEGER NOT NULL CHECK (blocks IN (0, 1)),
    detail             TEXT,
    check_kind         TEXT    NOT NULL DEFAULT 'caa',
    CHECK ((target_id IS NULL) <> (order_id IS NULL))
);
INSERT INTO events_v2 (id, target_id, at, kind, before_status, after_status, before_observation,
                       after_observation, blocks, detail, check_kind)
    SELECT id, target_id, at, kind, before_status, after_status, before_observation,
           after_observation, blocks, detail, check_kind
    FROM events;
DROP TABLE events;
ALTER TABLE events_v2 RENAME TO events;
CREATE INDEX events_by_time ON events (at);
CREATE INDEX events_by_target ON events (target_id, check_kind, at);
CREATE INDEX events_by_order ON events (order_id, at) WHERE order_id IS NOT NULL;

-- What the order tables already tell, carried into the timeline:
-- 1. every status an order was seen in ('order_status', before -> after);
INSERT INTO events (order_id, at, kind, before_status, after_status, blocks, detail, check_kind)
    SELECT s.order_id, s.since, 'order_status',
           (SELECT p.status_code FROM order_statuses p
             WHERE p.order_id = s.order_id AND (p.since, p.id) < (s.since, s.id)
             ORDER BY p.since DESC, p.id DESC LIMIT 1),
           s.status_code, 0, s.label, 'order'
    FROM order_statuses s
    ORDER BY s.since, s.id;
-- 2. every condition raised or cleared that an alert was made for (the
--    outbox keeps each alert once per channel: one event per alert);
INSERT INTO events (order_id, at, kind, before_status, after_status, blocks, detail, check_kind)
    SELECT o.id, a.created_at,
           CASE WHEN a.kind = 'resolved' THEN json_extract(a.alert_json, '$.before.event')
                ELSE a.kind END,
           CASE WHEN a.kind = 'resolved' THEN 'holding' END,
           CASE WHEN a.kind = 'resolved' THEN 'cleared' ELSE 'holding' END,
           a.severity = 'blocking', a.summary, 'order'
    FROM (SELECT alert_id, min(id) AS id FROM alert_outbox
           WHERE json_extract(alert_json, '$.check') = 'order' GROUP BY alert_id) first
    JOIN alert_outbox a ON a.id = first.id
    JOIN orders o ON o.source || '/' || o.external_id =
         coalesce(json_extract(a.alert_json, '$.after.order'),
                  json_extract(a.alert_json, '$.before.order'))
    ORDER BY a.created_at, a.id;
-- 3. the conditions holding now whose alert is not in the outbox (no
--    channel was configured, or the row was pruned).
INSERT INTO events (order_id, at, kind, after_status, blocks, detail, check_kind)
    SELECT c.order_id, c.alerted_at, c.kind, 'holding', c.severity = 'blocking', c.summary, 'order'
    FROM order_conditions c
    WHERE NOT EXISTS (SELECT 1 FROM events e
                       WHERE e.order_id = c.order_id AND e.kind = c.kind
                         AND e.after_status = 'holding' AND e.at = c.alerted_at)
    ORDER BY c.alerted_at, c.kind;

CREATE TEMP TABLE migration_0042_guard (dangling INTEGER CHECK (dangling = 0));
INSERT INTO migration_0042_guard SELECT count(*) FROM pragma_foreign_key_check;
DROP TABLE migration_0042_guard;

COMMIT;
PRAGMA foreign_keys = ON;
