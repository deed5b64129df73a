-- Events: callback addresses (account- and sender-level), each account's sealed signing
-- secret, the durable outbox of event callbacks, and daily statistics counters kept in the
-- transactions of the state changes they count.
ALTER TABLE messages ADD COLUMN stat_day BIGINT  NOT NULL DEFAULT 0; -- start of the request's day (API time zone)

CREATE TABLE callback_addresses (
    account_id       BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    sender           TEXT    NOT NULL,             -- sender address; '' = account-level
    url              TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    PRIMARY KEY (account_id, sender)
);

CREATE TABLE callback_secrets (
    account_id       BIGINT  PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    secret_enc       BYTEA   NOT NULL,             -- sealed with the server key
    created_at       BIGINT  NOT NULL
);

CREATE TABLE event_outbox (
    id               BIGSERIAL PRIMARY KEY,
    account_id       BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    url              TEXT    NOT NULL,             -- the callback at the time of the event
    body             TEXT    NOT NULL,             -- the JSON posted, fixed at the event
    n_attempts       BIGINT  NOT NULL DEFAULT 0,
    due_at           BIGINT  NOT NULL,
    lease_owner      TEXT,
    lease_until      BIGINT ,
    last_error       TEXT    NOT NULL DEFAULT '',
    created_at       BIGINT  NOT NULL
);
CREATE INDEX event_outbox_due ON event_outbox(due_at);

CREATE TABLE daily_stats (
    account_id       BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    day              BIGINT  NOT NULL,             -- Unix second the request's day starts (API time zone)
    from_domain      TEXT    NOT NULL,             -- sender domain
    rcpt_domain      TEXT    NOT NULL,             -- recipient domain (ReceivingMailboxType)
    requests         BIGINT  NOT NULL DEFAULT 0,   -- recipients requested, refused ones included
    accepted         BIGINT  NOT NULL DEFAULT 0,
    delivered        BIGINT  NOT NULL DEFAULT 0,   -- deliveries whose status is delivered
    opened           BIGINT  NOT NULL DEFAULT 0,
    clicked          BIGINT  NOT NULL DEFAULT 0,
    bounced          BIGINT  NOT NULL DEFAULT 0,   -- deliveries whose status is bounced
    unsubscribed     BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, day, from_domain, rcpt_domain)
);
