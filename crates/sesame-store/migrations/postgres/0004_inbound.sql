-- Inbound: complaints (ARF reports) for GetAbuseReport, and a per-delivery complaint mark
-- for GetSendEmailStatus's UserComplainted.
ALTER TABLE deliveries ADD COLUMN complained BIGINT  NOT NULL DEFAULT 0;
CREATE INDEX messages_header_id ON messages(header_message_id);

CREATE TABLE complaints (
    id               BIGSERIAL PRIMARY KEY,
    account_id       BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    delivery_id      BIGINT,                      -- NULL once the delivery is purged
    message_id       TEXT    NOT NULL,             -- the API MessageId (BulkId)
    header_message_id TEXT   NOT NULL,             -- its RFC 5322 Message-ID
    original_mail_from TEXT  NOT NULL,             -- sender address of the complained-about mail
    original_rcpt_to TEXT    NOT NULL,             -- its recipient, who complained
    from_domain      TEXT    NOT NULL,
    mta              TEXT    NOT NULL,             -- the recipient's domain
    source_ip        TEXT    NOT NULL DEFAULT '',
    subject          TEXT    NOT NULL DEFAULT '',
    template_id      BIGINT,
    feedback_type    TEXT    NOT NULL DEFAULT 'abuse',
    deliver_time     BIGINT,                      -- when the mail was delivered, if it was
    complain_time    BIGINT  NOT NULL,             -- the report's Arrival-Date, else insert time
    created_at       BIGINT  NOT NULL
);
CREATE INDEX complaints_account ON complaints(account_id, complain_time);
