-- Accounts, credentials and the user service's outbox.
-- Portable DDL: runs unchanged on SQLite and MySQL 8 / MariaDB 10.6+.
-- Times are UTC microseconds since the Unix epoch; booleans are 0/1.

CREATE TABLE users (
    id             VARCHAR(36)  NOT NULL PRIMARY KEY,
    email          VARCHAR(320) NOT NULL,
    -- Lower-cased address: one account per address, case-insensitively.
    email_key      VARCHAR(320) NOT NULL,
    display_name   VARCHAR(400) NOT NULL,
    password_hash  VARCHAR(255) NOT NULL,
    email_verified BIGINT       NOT NULL DEFAULT 0,
    time_zone      VARCHAR(64)  NOT NULL DEFAULT 'UTC',
    create_time    BIGINT       NOT NULL,
    update_time    BIGINT       NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email_key);

-- Ed25519 keys that sign access tokens. The newest is used for signing;
-- all are published so tokens signed before a rotation stay valid.
CREATE TABLE signing_keys (
    kid         VARCHAR(64)   NOT NULL PRIMARY KEY,
    private_pem VARCHAR(1024) NOT NULL,
    public_x    VARCHAR(64)   NOT NULL,
    create_time BIGINT        NOT NULL
);

-- Opaque refresh tokens, stored as SHA-256 digests. A family is one login;
-- every refresh spends a token and issues the next of its family.
CREATE TABLE refresh_tokens (
    token_hash  VARCHAR(64) NOT NULL PRIMARY KEY,
    user_id     VARCHAR(36) NOT NULL,
    family_id   VARCHAR(36) NOT NULL,
    expire_time BIGINT      NOT NULL,
    spent_time  BIGINT      NULL,
    revoke_time BIGINT      NULL,
    create_time BIGINT      NOT NULL
);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Single-use e-mail verification and password reset tokens, as digests.
CREATE TABLE email_tokens (
    token_hash  VARCHAR(64) NOT NULL PRIMARY KEY,
    user_id     VARCHAR(36) NOT NULL,
    purpose     VARCHAR(16) NOT NULL,
    expire_time BIGINT      NOT NULL,
    used_time   BIGINT      NULL,
    create_time BIGINT      NOT NULL
);
CREATE INDEX email_tokens_user ON email_tokens (user_id);

CREATE TABLE outbox (
    id              VARCHAR(36) NOT NULL PRIMARY KEY,
    kind            VARCHAR(64) NOT NULL,
    payload         BLOB        NOT NULL,
    attempts        BIGINT      NOT NULL DEFAULT 0,
    next_attempt_at BIGINT      NOT NULL,
    created_at      BIGINT      NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_attempt_at);
