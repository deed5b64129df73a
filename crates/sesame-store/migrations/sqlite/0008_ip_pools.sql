-- Dedicated sending IPs: source addresses the operator gives an account (its pool) or one of
-- its sender domains (the domain's pool, which overrides the account's). `ip_owners` makes an
-- address belong to one account in the whole deployment (its primary key is the guard: two
-- accounts can never both own an address, even when two operators race); `ip_pool_members`
-- says which pools of that account use it.
CREATE TABLE ip_owners (
    ip               TEXT    PRIMARY KEY,          -- canonical text form, e.g. 192.0.2.7, 2001:db8::7
    account_id       INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at       INTEGER NOT NULL
);
CREATE INDEX ip_owners_account ON ip_owners(account_id);

CREATE TABLE ip_pool_members (
    id               INTEGER PRIMARY KEY AUTOINCREMENT, -- insertion order = round-robin order
    ip               TEXT    NOT NULL REFERENCES ip_owners(ip) ON DELETE CASCADE,
    account_id       INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    domain_id        INTEGER REFERENCES domains(id) ON DELETE CASCADE, -- NULL = the account's pool
    created_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX ip_pool_members_account ON ip_pool_members(account_id, ip) WHERE domain_id IS NULL;
CREATE UNIQUE INDEX ip_pool_members_domain ON ip_pool_members(domain_id, ip) WHERE domain_id IS NOT NULL;
CREATE INDEX ip_pool_members_ip ON ip_pool_members(ip);
