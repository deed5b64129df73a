-- Bulk sending: recipient lists (receivers) and their addresses, and batch tasks that fan a
-- list out into the queue, one message per recipient.
CREATE TABLE receivers (
    id               BIGSERIAL PRIMARY KEY,
    account_id       BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name             TEXT    NOT NULL,             -- ReceiversName, unique per account
    description      TEXT    NOT NULL DEFAULT '',
    status           BIGINT  NOT NULL DEFAULT 1,   -- 1 awaiting upload, 2 uploading, 3 upload complete
    data_keys        TEXT,                         -- sorted TemplateData keys of its rows, JSON; NULL = none yet
    created_at       BIGINT  NOT NULL,
    UNIQUE (account_id, name)
);

CREATE TABLE receiver_details (
    id               BIGSERIAL PRIMARY KEY,               -- EmailId; also the task cursor's order
    receiver_id      BIGINT  NOT NULL REFERENCES receivers(id) ON DELETE CASCADE,
    email            TEXT    NOT NULL,
    template_data    TEXT,                         -- this recipient's TemplateData (JSON object)
    status           BIGINT  NOT NULL,             -- 1 valid, 2 invalid
    reason           TEXT    NOT NULL DEFAULT '',  -- why it is invalid
    created_at       BIGINT  NOT NULL
);
CREATE INDEX receiver_details_list ON receiver_details(receiver_id, id);

CREATE TABLE send_tasks (
    id               BIGSERIAL PRIMARY KEY,               -- TaskId
    account_id       BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    from_address     TEXT    NOT NULL,             -- FromEmailAddress as given (alias kept)
    receiver_id      BIGINT  NOT NULL,             -- no foreign key: a deleted list stops the task (7)
    receivers_name   TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    template_id      BIGINT ,
    template_data    TEXT    NOT NULL DEFAULT '',  -- the task's TemplateData; rows' data override it
    reply_to         TEXT,
    unsubscribe      BIGINT ,                      -- footer language; NULL = the sender's default
    ad_location      BIGINT  NOT NULL DEFAULT 0,   -- 0 none, 1 mark before the subject, 2 after
    task_type        BIGINT  NOT NULL,             -- 1 now, 2 timed, 3 cyclic
    begin_at         BIGINT ,                      -- TimedParam/CycleParam BeginTime
    interval_hours   BIGINT  NOT NULL DEFAULT 0,   -- CycleParam.IntervalTime
    term_cycle       BIGINT  NOT NULL DEFAULT 0,   -- CycleParam.TermCycle: 1 = no further cycles
    status           BIGINT  NOT NULL,             -- 1 waiting, 5 sending, 6 paused (quota), 7 error, 10 finished
    next_run_at      BIGINT ,                      -- when the scheduler picks it up next; NULL = never
    run_started      BIGINT  NOT NULL DEFAULT 0,   -- 1 while a run (cycle) is in progress
    cursor_id        BIGINT  NOT NULL DEFAULT 0,   -- last receiver_details.id fanned out in this run
    n_cycles         BIGINT  NOT NULL DEFAULT 0,   -- runs finished
    request_count    BIGINT  NOT NULL DEFAULT 0,   -- recipients of the runs so far
    send_count       BIGINT  NOT NULL DEFAULT 0,   -- recipients queued
    cache_count      BIGINT  NOT NULL DEFAULT 0,   -- recipients waiting for tomorrow's quota
    n_suppressed     BIGINT  NOT NULL DEFAULT 0,   -- skipped: black-listed or unsubscribed
    n_limited        BIGINT  NOT NULL DEFAULT 0,   -- skipped: frequency limit
    n_failed         BIGINT  NOT NULL DEFAULT 0,   -- skipped: the recipient's own data failed
    err_msg          TEXT    NOT NULL DEFAULT '',
    lease_owner      TEXT,
    lease_until      BIGINT ,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
CREATE INDEX send_tasks_account ON send_tasks(account_id, id);
CREATE INDEX send_tasks_due ON send_tasks(next_run_at) WHERE next_run_at IS NOT NULL;
