-- Retention of batch-task snapshots asks whether any message still renders from one.
CREATE INDEX messages_render ON messages(render_id) WHERE render_id IS NOT NULL;
