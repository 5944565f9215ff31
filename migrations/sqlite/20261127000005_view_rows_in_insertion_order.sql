-- The CA and certificate views become rowid tables. As WITHOUT ROWID tables keyed by random
-- serial numbers, their rows (1.7 KB documents each) went in at random places of a B-tree of
-- large cells: pages split half-empty, the certificate view took 4.5 KB per certificate and a
-- rebuild wrote all of it. As rowid tables, rows are appended in projection order and only the
-- small primary-key index takes random inserts: 2.3 times smaller, rebuilt 2.4 times faster
-- (docs/PROFILE.md). The rows are copied, so no rebuild is needed after this migration.
CREATE TABLE certificate_view_rows (
    serial_number  TEXT    PRIMARY KEY,
    doc            TEXT    NOT NULL,
    issuer_id      TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    hold           INTEGER NOT NULL,
    subject_cn     TEXT    NOT NULL,
    key_type       TEXT    NOT NULL,
    profile_id     TEXT,
    valid_from_us  INTEGER NOT NULL,
    valid_to_us    INTEGER NOT NULL,
    created_at_us  INTEGER NOT NULL,
    position       INTEGER NOT NULL
);
INSERT INTO certificate_view_rows SELECT serial_number, doc, issuer_id, status, hold, subject_cn, key_type,
    profile_id, valid_from_us, valid_to_us, created_at_us, position FROM certificate_view ORDER BY position;
DROP TABLE certificate_view;
ALTER TABLE certificate_view_rows RENAME TO certificate_view;
CREATE INDEX certificate_view_issuer ON certificate_view (issuer_id, created_at_us, serial_number);
CREATE INDEX certificate_view_issuer_status ON certificate_view (issuer_id, status);
CREATE INDEX certificate_view_status ON certificate_view (status, valid_to_us);
CREATE INDEX certificate_view_valid_to ON certificate_view (valid_to_us, serial_number);
CREATE INDEX certificate_view_created ON certificate_view (created_at_us, serial_number);
CREATE INDEX certificate_view_cn ON certificate_view (subject_cn);
CREATE INDEX certificate_view_status_created ON certificate_view (status, created_at_us, serial_number);

CREATE TABLE ca_view_rows (
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
);
INSERT INTO ca_view_rows SELECT id, doc, ca_type, status, level, profile_id, engine_id, key_id, serial_number,
    subject_cn, subject_key_id, issuer_id, key_type, valid_from_us, valid_to_us, created_at_us, position
    FROM ca_view ORDER BY position;
DROP TABLE ca_view;
ALTER TABLE ca_view_rows RENAME TO ca_view;
CREATE INDEX ca_view_status ON ca_view (status, valid_to_us);
CREATE INDEX ca_view_issuer ON ca_view (issuer_id);
CREATE INDEX ca_view_ski ON ca_view (subject_key_id);
CREATE INDEX ca_view_cn ON ca_view (subject_cn);
CREATE INDEX ca_view_key ON ca_view (key_id);
CREATE INDEX ca_view_created ON ca_view (created_at_us, id);
CREATE INDEX ca_view_valid_to ON ca_view (valid_to_us, id);
CREATE INDEX ca_view_profile ON ca_view (profile_id);
