-- The scheduler's index, projected from the log: what falls due for each CA or certificate
-- stream (a named expiration warning, or the expiry) and when. The scheduler reads the soonest
-- entries and sleeps until the first; an appended warning or expiry removes its entry.
CREATE TABLE expiry_schedule (
    stream_id  TEXT    NOT NULL,
    trigger    TEXT    NOT NULL,
    due_at_us  BIGINT  NOT NULL,
    PRIMARY KEY (stream_id, trigger)
);
CREATE INDEX expiry_schedule_by_due ON expiry_schedule (due_at_us, stream_id, trigger);
