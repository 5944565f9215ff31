-- A CA certificate is imported once: imports look for the same serial number first.
CREATE INDEX ca_view_serial ON ca_view (serial_number);
