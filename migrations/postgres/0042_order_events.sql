-- Order conditions in the one timeline: the PostgreSQL twin of the SQLite
-- migration 0042 (see its comment). An event is about a target or an
-- order, exactly one of the two. PostgreSQL changes the columns in place;
-- no database of this backend predates the order timeline, so there is
-- nothing to carry across (`store copy` brings a SQLite history's order
-- events with it).
ALTER TABLE events ALTER COLUMN target_id DROP NOT NULL;
ALTER TABLE events ADD COLUMN order_id BIGINT REFERENCES orders (id);
ALTER TABLE events ADD CONSTRAINT events_about_one
    CHECK ((target_id IS NULL) <> (order_id IS NULL));
CREATE INDEX events_by_order ON events (order_id, at) WHERE order_id IS NOT NULL;
