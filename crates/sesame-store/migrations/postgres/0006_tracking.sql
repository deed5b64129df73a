-- Tracking and unsubscribe: the account's tracking switch, per-recipient copies of a message
-- (their links are the recipient's own), what each recipient did, the default unsubscribe
-- footer per sender address, and who unsubscribed from which sender domain.
ALTER TABLE accounts ADD COLUMN tracking BOOLEAN NOT NULL DEFAULT TRUE;

ALTER TABLE deliveries ADD COLUMN body BYTEA;  -- this recipient's own signed copy; NULL = the message's
ALTER TABLE deliveries ADD COLUMN opened BIGINT  NOT NULL DEFAULT 0;        -- opens seen (repeats count)
ALTER TABLE deliveries ADD COLUMN clicked BIGINT  NOT NULL DEFAULT 0;       -- clicks seen
ALTER TABLE deliveries ADD COLUMN unsubscribed BIGINT  NOT NULL DEFAULT 0;  -- 1 once unsubscribed

CREATE TABLE unsubscribe_configs (
    account_id       BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    address          TEXT    NOT NULL,             -- the sender address
    language         TEXT    NOT NULL,             -- UnsubscribeConfig: "0".."10"
    status           BIGINT  NOT NULL,             -- 1 = on, 0 = off
    created_at       BIGINT  NOT NULL,
    PRIMARY KEY (account_id, address)
);

CREATE TABLE unsubscribes (
    account_id       BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    from_domain      TEXT    NOT NULL,             -- unsubscribes apply per sender domain
    recipient        TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    PRIMARY KEY (account_id, from_domain, recipient)
);
