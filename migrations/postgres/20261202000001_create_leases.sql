-- Leases: which process runs a part that must run once at a time (the NATS relay). A holder
-- renews its lease well before it expires; another process takes it over once it has expired.
CREATE TABLE leases (
    name           TEXT    PRIMARY KEY,
    holder         TEXT    NOT NULL,
    expires_at_us  BIGINT  NOT NULL
);
