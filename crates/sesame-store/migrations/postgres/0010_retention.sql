-- Retention: the purge job walks old rows by time, so each kind gets an index on its clock.
-- Bodies still kept (not yet emptied) are found through a partial index, so emptied rows
-- are never scanned again.
CREATE INDEX messages_created ON messages(created_at);
CREATE INDEX messages_body_kept ON messages(created_at) WHERE length(body) > 0;
CREATE INDEX complaints_time ON complaints(complain_time);
CREATE INDEX daily_stats_day ON daily_stats(day);
CREATE INDEX event_outbox_created ON event_outbox(created_at);
