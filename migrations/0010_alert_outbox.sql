-- The alert outbox (issue #4): one row per (alert, channel), inserted in the
-- same transaction as the event that caused the alert, so an alert exists
-- exactly when its event does. Deliverers (one per channel) take rows in id
-- order, retry with backoff, and finish each row as delivered or failed.
-- Rows are kept after they finish: `certvigil status` shows failures, and
-- the history of what was sent where is worth having. All times are Unix
-- milliseconds (UTC), as elsewhere in the schema.

CREATE TABLE alert_outbox (
    id              INTEGER PRIMARY KEY,
    -- The alert's random id, the same on every channel it goes to; it is the
    -- idempotency key receivers see (Message-ID, X-Certvigil-Delivery).
    alert_id        TEXT    NOT NULL,
    -- Stable channel identity (alert::ChannelId), e.g. 'email:smtp.example.com:587#1a2b3c4d'.
    channel         TEXT    NOT NULL,
    -- The event that caused the alert, when there is one.
    event_id        INTEGER REFERENCES events (id),
    -- Copies of alert fields, for `status` and for reading the table by hand.
    kind            TEXT    NOT NULL,
    domain          TEXT    NOT NULL,
    severity        TEXT    NOT NULL,
    summary         TEXT    NOT NULL,
    -- The whole alert (alert::Alert as JSON): enough to render it after a
    -- restart without looking anything else up.
    alert_json      TEXT    NOT NULL,
    -- pending: waiting for next_attempt_at; sending: claimed by a deliverer
    -- until lease_until (a crash leaves it here, and it is retried);
    -- delivered and failed are final.
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_attempt_at INTEGER,
    last_error      TEXT,
    finished_at     INTEGER,
    UNIQUE (alert_id, channel)
);

-- A deliverer's question: the oldest unfinished row of my channel.
CREATE INDEX alert_outbox_queue ON alert_outbox (channel, id)
    WHERE status IN ('pending', 'sending');
-- `status`'s question: what failed lately.
CREATE INDEX alert_outbox_finished ON alert_outbox (status, finished_at);
