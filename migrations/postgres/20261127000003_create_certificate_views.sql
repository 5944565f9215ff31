-- Issued certificates, issuance profiles and statistics counters (maintained by the projector).
CREATE TABLE certificate_view (
    serial_number  TEXT    PRIMARY KEY,
    doc            TEXT    NOT NULL,
    issuer_id      TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    hold           BIGINT  NOT NULL,
    subject_cn     TEXT    NOT NULL,
    key_type       TEXT    NOT NULL,
    profile_id     TEXT,
    valid_from_us  BIGINT  NOT NULL,
    valid_to_us    BIGINT  NOT NULL,
    created_at_us  BIGINT  NOT NULL,
    position       BIGINT  NOT NULL
);
CREATE INDEX certificate_view_issuer ON certificate_view (issuer_id, created_at_us, serial_number);
CREATE INDEX certificate_view_issuer_status ON certificate_view (issuer_id, status);
CREATE INDEX certificate_view_status ON certificate_view (status, valid_to_us);
CREATE INDEX certificate_view_valid_to ON certificate_view (valid_to_us, serial_number);
CREATE INDEX certificate_view_created ON certificate_view (created_at_us, serial_number);
CREATE INDEX certificate_view_cn ON certificate_view (subject_cn);

CREATE TABLE profile_view (
    id    TEXT PRIMARY KEY,
    name  TEXT NOT NULL,
    doc   TEXT NOT NULL
);

CREATE TABLE stats (
    key    TEXT    PRIMARY KEY,
    value  BIGINT  NOT NULL
);

CREATE INDEX ca_view_profile ON ca_view (profile_id);
