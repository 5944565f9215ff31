-- The event log. SQLite has one writer at a time, so AUTOINCREMENT order is commit order and
-- readers need no gap protection (docs/adr/0002-event-log-ordering.md).
CREATE TABLE events (
    position        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT    NOT NULL UNIQUE,
    stream_id       TEXT    NOT NULL,
    stream_version  INTEGER NOT NULL,
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    data            TEXT    NOT NULL,
    metadata        TEXT    NOT NULL,
    recorded_at_us  INTEGER NOT NULL,
    prev_hash       BLOB    NOT NULL,
    hash            BLOB    NOT NULL,
    UNIQUE (stream_id, stream_version)
);

-- One row per stream: its version and the head of its hash chain. Appends check and bump it.
CREATE TABLE streams (
    stream_id  TEXT    PRIMARY KEY,
    version    INTEGER NOT NULL,
    last_hash  BLOB    NOT NULL
) WITHOUT ROWID;
