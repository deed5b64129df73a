-- Bulk mail is rendered and signed at delivery time. A batch task's fan-out stores, per
-- chunk, what rendering needs frozen (the task's snapshot: template bodies, subject, sender
-- and alias, reply-to, footer, tracking; opaque JSON to the store, one row per task while it
-- does not change), and per recipient a message row without a body that points at it.
CREATE TABLE task_snapshots (
    id               BIGSERIAL PRIMARY KEY,
    task_id          BIGINT  NOT NULL,             -- no foreign key, like the messages it renders
    account_id       BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    snapshot         TEXT    NOT NULL,             -- JSON written by engine::submit (BatchSnapshot)
    created_at       BIGINT  NOT NULL
);
CREATE INDEX task_snapshots_task ON task_snapshots(task_id, id);

-- Set while the message's body is still to be rendered (its body is empty until then): the
-- snapshot it renders from and the recipient's merged TemplateData. The delivery worker
-- stores the signed bytes and clears render_id in one statement before the first send.
ALTER TABLE messages ADD COLUMN render_id BIGINT;
ALTER TABLE messages ADD COLUMN render_data TEXT;
