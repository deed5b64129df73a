-- The web console: its users (an e-mail and an argon2 password hash; an operator sees every
-- account, a member only its own) and their sign-in sessions. A session row holds only the
-- SHA-256 of the cookie's token, so a copy of the table signs nobody in; `csrf_token` is the
-- per-session value the console's script sends back in a header on every state change.
CREATE TABLE console_users (
    id               BIGSERIAL PRIMARY KEY,
    email            TEXT    NOT NULL UNIQUE,      -- lower case
    password_hash    TEXT    NOT NULL,             -- argon2 PHC string
    role             TEXT    NOT NULL,             -- 'operator' or 'member'
    account_id       BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE, -- a member's account; an operator's first pick
    created_at       BIGINT  NOT NULL
);

CREATE TABLE console_sessions (
    token_hash       TEXT    PRIMARY KEY,          -- hex SHA-256 of the cookie's token
    user_id          BIGINT  NOT NULL REFERENCES console_users(id) ON DELETE CASCADE,
    csrf_token       TEXT    NOT NULL,
    account_id       BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE, -- the account acted on
    created_at       BIGINT  NOT NULL,
    expires_at       BIGINT  NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions(user_id);
CREATE INDEX console_sessions_expiry ON console_sessions(expires_at);
