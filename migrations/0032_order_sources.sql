-- How the last poll of each order source (a [[providers]] entry, the ACME
-- accounts, the manual orders) went. A source that refuses us before it
-- lists any order (a revoked Tencent key) has no order row to carry the
-- error, so without this the failure was in the daemon log only.
-- Times are Unix milliseconds, like every time in this schema.

CREATE TABLE order_sources (
    source        TEXT    PRIMARY KEY,
    last_polled   INTEGER NOT NULL,
    last_ok       INTEGER,
    last_error    TEXT,
    last_error_at INTEGER
);
