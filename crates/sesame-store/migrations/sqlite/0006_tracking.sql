-- Tracking and unsubscribe: the account's tracking switch, per-recipient copies of a message
-- (their links are the recipient's own), what each recipient did, the default unsubscribe
-- footer per sender address, and who unsubscribed from which sender domain.
ALTER TABLE accounts ADD COLUMN tracking INTEGER NOT NULL DEFAULT 1;

ALTER TABLE deliveries ADD COLUMN body BLOB;   -- this recipient's own signed copy; NULL = the message's
ALTER TABLE deliveries ADD COLUMN opened INTEGER NOT NULL DEFAULT 0;        -- opens seen (repeats count)
ALTER TABLE deliveries ADD COLUMN clicked INTEGER NOT NULL DEFAULT 0;       -- clicks seen
ALTER TABLE deliveries ADD COLUMN unsubscribed INTEGER NOT NULL DEFAULT 0;  -- 1 once unsubscribed

CREATE TABLE unsubscribe_configs (
    account_id       INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    address          TEXT    NOT NULL,             -- the sender address
    language         TEXT    NOT NULL,             -- UnsubscribeConfig: "0".."10"
    status           INTEGER NOT NULL,             -- 1 = on, 0 = off
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (account_id, address)
);

CREATE TABLE unsubscribes (
    account_id       INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    from_domain      TEXT    NOT NULL,             -- unsubscribes apply per sender domain
    recipient        TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (account_id, from_domain, recipient)
);
