-- Sending: messages (signed once), one delivery row per recipient (the queue), the black
-- list of hard-bounced addresses and each account's custom black list.
CREATE TABLE messages (
    id               BIGSERIAL PRIMARY KEY,
    account_id       BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    message_id       TEXT    NOT NULL UNIQUE,      -- the API MessageId
    header_message_id TEXT   NOT NULL,             -- RFC 5322 Message-ID, without <>
    from_address     TEXT    NOT NULL,             -- sender address, no alias
    domain_id        BIGINT  NOT NULL,
    subject          TEXT    NOT NULL,
    template_id      BIGINT ,
    trigger_type     BIGINT  NOT NULL DEFAULT 0,   -- 1 = transactional, ahead of bulk
    body             BYTEA   NOT NULL,             -- the signed message, sent as is on every try
    created_at       BIGINT  NOT NULL
);
CREATE INDEX messages_account ON messages(account_id, created_at);

CREATE TABLE deliveries (
    id               BIGSERIAL PRIMARY KEY,
    message_row      BIGINT  NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    account_id       BIGINT  NOT NULL,
    domain_id        BIGINT  NOT NULL,             -- sender domain (quota)
    recipient        TEXT    NOT NULL,
    recipient_domain TEXT    NOT NULL,
    send_status      BIGINT  NOT NULL DEFAULT 0,   -- 0 accepted, else the refusal code (1006, 1007...)
    deliver_status   BIGINT  NOT NULL DEFAULT 0,   -- 0 queued, 1 delivered, 2 dropped, 3 bounced, 8 deferred
    deliver_message  TEXT    NOT NULL DEFAULT '',
    priority         BIGINT  NOT NULL DEFAULT 0,   -- trigger_type: higher goes first
    n_attempts       BIGINT  NOT NULL DEFAULT 0,
    due_at           BIGINT ,                      -- NULL once final
    lease_owner      TEXT,
    lease_until      BIGINT ,
    created_at       BIGINT  NOT NULL,
    delivered_at     BIGINT ,
    updated_at       BIGINT  NOT NULL
);
CREATE INDEX deliveries_due ON deliveries(due_at) WHERE due_at IS NOT NULL;
CREATE INDEX deliveries_message ON deliveries(message_row);
CREATE INDEX deliveries_account ON deliveries(account_id, created_at);
CREATE INDEX deliveries_recipient ON deliveries(account_id, recipient, created_at);
CREATE INDEX deliveries_domain ON deliveries(domain_id, created_at);

CREATE TABLE black_list (
    account_id       BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    address          TEXT    NOT NULL,
    reason           TEXT    NOT NULL,             -- the remote server's reply (IspDesc)
    bounced_at       BIGINT  NOT NULL,
    expires_at       BIGINT  NOT NULL,
    PRIMARY KEY (account_id, address)
);
CREATE INDEX black_list_time ON black_list(account_id, bounced_at);

CREATE TABLE custom_black_list (
    id               BIGSERIAL PRIMARY KEY,
    account_id       BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    address          TEXT    NOT NULL,
    expires_at       BIGINT ,                      -- NULL = permanent
    created_at       BIGINT  NOT NULL,
    UNIQUE (account_id, address)
);
