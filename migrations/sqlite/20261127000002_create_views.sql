-- Query views, rebuilt from the log by `shedu projections rebuild`. Each projector's checkpoint
-- is written in the same transaction as its view rows.
CREATE TABLE checkpoints (
    name           TEXT    PRIMARY KEY,
    tx             INTEGER NOT NULL,
    position       INTEGER NOT NULL,
    updated_at_us  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE ca_view (
    id              TEXT    PRIMARY KEY,
    doc             TEXT    NOT NULL,
    ca_type         TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    level           INTEGER NOT NULL,
    profile_id      TEXT,
    engine_id       TEXT,
    key_id          TEXT,
    serial_number   TEXT    NOT NULL,
    subject_cn      TEXT    NOT NULL,
    subject_key_id  TEXT    NOT NULL,
    issuer_id       TEXT,
    key_type        TEXT    NOT NULL,
    valid_from_us   INTEGER NOT NULL,
    valid_to_us     INTEGER NOT NULL,
    created_at_us   INTEGER NOT NULL,
    position        INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX ca_view_status ON ca_view (status, valid_to_us);
CREATE INDEX ca_view_issuer ON ca_view (issuer_id);
CREATE INDEX ca_view_ski ON ca_view (subject_key_id);
CREATE INDEX ca_view_cn ON ca_view (subject_cn);
CREATE INDEX ca_view_key ON ca_view (key_id);
CREATE INDEX ca_view_created ON ca_view (created_at_us, id);
CREATE INDEX ca_view_valid_to ON ca_view (valid_to_us, id);

-- Responses of POST requests that carried an Idempotency-Key.
CREATE TABLE idempotency (
    key            TEXT    PRIMARY KEY,
    request_hash   TEXT    NOT NULL,
    status         INTEGER,
    headers        TEXT,
    body           BLOB,
    created_at_us  INTEGER NOT NULL
) WITHOUT ROWID;
