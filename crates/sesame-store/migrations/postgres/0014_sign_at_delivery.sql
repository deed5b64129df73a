-- 1 = the stored bodies (the message's and its deliveries' own copies) carry no DKIM signature
-- yet: the delivery worker signs each attempt's copy with the sender domain's (domain_id) key(s).
-- Messages accepted by SendEmail and SMTP are stored so; a batch copy is stored signed.
ALTER TABLE messages ADD COLUMN sign_pending BIGINT NOT NULL DEFAULT 0;
