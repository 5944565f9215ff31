-- A status filter with the default order (newest or oldest first) reads its page straight from
-- this index. Without it a page of revoked certificates (1 % of them) walked the creation-order
-- index and checked rows one by one: 78 ms at 200,000 certificates on SQLite.
CREATE INDEX certificate_view_status_created ON certificate_view (status, created_at_us, serial_number);
-- Built inside the migration's transaction: on a large existing deployment, writes to the views
-- wait for it (the event log does not); `shedu migrate` before starting the new version.
