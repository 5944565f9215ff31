-- The event log. Positions come from an identity column and are allocated before commit, so
-- they can commit out of order; readers order by (tx_id, position) and read only below the
-- oldest transaction still in flight (docs/adr/0002-event-log-ordering.md).
CREATE TABLE events (
    position        BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_id           xid8    NOT NULL DEFAULT pg_current_xact_id(),
    event_id        UUID    NOT NULL UNIQUE,
    stream_id       TEXT    NOT NULL,
    stream_version  BIGINT  NOT NULL,
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    -- json, not jsonb: the exact text that was hashed is what reads back (jsonb would
    -- normalise numbers such as -0.0 and break the hash chain).
    data            JSON    NOT NULL,
    metadata        JSON    NOT NULL,
    recorded_at_us  BIGINT  NOT NULL,
    prev_hash       BYTEA   NOT NULL,
    hash            BYTEA   NOT NULL,
    UNIQUE (stream_id, stream_version)
);
CREATE INDEX events_tx_position ON events (tx_id, position);

-- One row per stream: its version and the head of its hash chain. Writers lock it FOR UPDATE;
-- guards (an issuance that must not outrun its CA's revocation) lock it FOR SHARE.
CREATE TABLE streams (
    stream_id  TEXT   PRIMARY KEY,
    version    BIGINT NOT NULL,
    last_hash  BYTEA  NOT NULL
);
