-- Control plane: accounts and their API keys, sender domains with DKIM keys,
-- sender addresses and templates. Times are Unix seconds (UTC).
CREATE TABLE accounts (
    id               BIGINT  PRIMARY KEY,          -- the AppId, from 1000001
    name             TEXT    NOT NULL,
    daily_quota      BIGINT ,                      -- operator override; NULL = reputation caps only
    template_review  BOOLEAN NOT NULL DEFAULT FALSE,   -- templates wait for an operator
    custom_content   BOOLEAN NOT NULL DEFAULT FALSE,   -- may send Simple (non-template) content
    created_at       BIGINT  NOT NULL
);

CREATE TABLE api_keys (
    secret_id        TEXT    PRIMARY KEY,
    account_id       BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    secret_key_enc   BYTEA   NOT NULL,             -- sealed with the server key
    enabled          BOOLEAN NOT NULL DEFAULT TRUE,
    created_at       BIGINT  NOT NULL
);
CREATE INDEX api_keys_account ON api_keys(account_id);

CREATE TABLE domains (
    id               BIGSERIAL PRIMARY KEY,
    account_id       BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name             TEXT    NOT NULL UNIQUE,      -- normalised; one owner per domain
    dkim_option      BIGINT  NOT NULL,
    tags             TEXT    NOT NULL DEFAULT '[]',-- JSON [{TagKey, TagValue}]
    verified         BOOLEAN NOT NULL DEFAULT FALSE,
    reputation_level BIGINT  NOT NULL DEFAULT 0,
    last_check       TEXT    NOT NULL DEFAULT '[]',-- JSON: current value and status per record
    checked_at       BIGINT ,
    verified_at      BIGINT ,
    created_at       BIGINT  NOT NULL
);
CREATE INDEX domains_account ON domains(account_id, name);
CREATE INDEX domains_recheck ON domains(verified, checked_at);

CREATE TABLE dkim_keys (
    domain_id        BIGINT  NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    bits             BIGINT  NOT NULL,
    private_key_enc  BYTEA   NOT NULL,             -- PKCS#1 DER, sealed with the server key
    public_key       TEXT    NOT NULL,             -- base64 DER, the p= tag
    created_at       BIGINT  NOT NULL,
    PRIMARY KEY (domain_id, bits)
);

CREATE TABLE senders (
    id               BIGSERIAL PRIMARY KEY,
    account_id       BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    domain_id        BIGINT  NOT NULL REFERENCES domains(id),
    address          TEXT    NOT NULL UNIQUE,      -- local@domain, domain normalised
    alias            TEXT    NOT NULL DEFAULT '',
    smtp_password    TEXT,                         -- argon2 PHC string; NULL = no SMTP
    created_at       BIGINT  NOT NULL
);
CREATE INDEX senders_account ON senders(account_id, id);
CREATE INDEX senders_domain ON senders(domain_id);

CREATE TABLE templates (
    id               BIGSERIAL PRIMARY KEY,
    account_id       BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name             TEXT    NOT NULL,
    html             TEXT    NOT NULL DEFAULT '',
    text             TEXT    NOT NULL DEFAULT '',
    status           BIGINT  NOT NULL,             -- 0 approved, 1 pending, 2 rejected
    review_reason    TEXT    NOT NULL DEFAULT '',
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
CREATE INDEX templates_account ON templates(account_id, id);
