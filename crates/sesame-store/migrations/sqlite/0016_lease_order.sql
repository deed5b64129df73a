-- The worker leases due deliveries by priority, then by due time (`Store::lease_due`): one
-- index in that order lets each lease read only the rows it takes, instead of sorting every
-- due row. It replaces the index on due_at alone (the queue-depth queries use it too).
DROP INDEX deliveries_due;
CREATE INDEX deliveries_next ON deliveries(priority, due_at) WHERE due_at IS NOT NULL;
