-- Revocations as CRLs list them, maintained by the projector: one row per certificate (or
-- subordinate CA certificate) that is or was revoked, under the CA that issued it. A released
-- hold stays, not revoked, so that a delta CRL can announce removeFromCRL.
CREATE TABLE revocation_view (
    issuer_id         TEXT    NOT NULL,
    serial_number     TEXT    NOT NULL,
    revoked            BIGINT  NOT NULL,
    reason             BIGINT  NOT NULL,
    revoked_at_us      BIGINT  NOT NULL,
    invalidity_at_us  BIGINT,
    valid_to_us        BIGINT  NOT NULL,
    changed_tx         BIGINT  NOT NULL,
    changed_position   BIGINT  NOT NULL,
    PRIMARY KEY (issuer_id, serial_number)
);
CREATE INDEX revocation_view_changed ON revocation_view (issuer_id, changed_tx, changed_position);

-- Per issuer, where in the log its revocations last changed: the CRL publisher compares it with
-- the point its CRLs cover.
CREATE TABLE crl_dirty (
    issuer_id         TEXT    PRIMARY KEY,
    changed_tx         BIGINT  NOT NULL,
    changed_position   BIGINT  NOT NULL
);

-- The newest signed CRL of each kind (FULL, DELTA) per CA, as served. Not a view: the log
-- records each CRL (crl.published: number, times, the point covered, the DER's digest), and a
-- rebuild of the views keeps these.
CREATE TABLE crl_documents (
    ca_id            TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    number            BIGINT  NOT NULL,
    base_number      BIGINT,
    this_update_us    BIGINT  NOT NULL,
    next_update_us    BIGINT  NOT NULL,
    covers_tx         BIGINT  NOT NULL,
    covers_position   BIGINT  NOT NULL,
    der              BYTEA   NOT NULL,
    PRIMARY KEY (ca_id, kind)
);
