-- E-mails to send, in-app notifications and settings.
-- Portable DDL: runs unchanged on SQLite and MySQL 8 / MariaDB 10.6+.
-- Times are UTC microseconds since the Unix epoch; booleans are 0/1.

-- The e-mail queue. A row is durable before SendEmail returns; workers
-- claim due rows with a lease, so a crashed worker's rows are retried.
CREATE TABLE emails (
    id              VARCHAR(36)  NOT NULL PRIMARY KEY,
    -- The caller's deduplication key: the same key twice is one e-mail.
    dedup_key       VARCHAR(200) NOT NULL,
    user_id         VARCHAR(36)  NOT NULL,
    template        BIGINT       NOT NULL,
    to_email        VARCHAR(320) NOT NULL,
    display_name    VARCHAR(400) NOT NULL,
    -- The link token; cleared once the message is sent.
    token           VARCHAR(200) NULL,
    -- pending, sent or dead.
    state           VARCHAR(16)  NOT NULL,
    attempts        BIGINT       NOT NULL DEFAULT 0,
    next_attempt_at BIGINT       NOT NULL,
    lease_owner     VARCHAR(36)  NULL,
    lease_until     BIGINT       NULL,
    last_error      VARCHAR(500) NULL,
    create_time     BIGINT       NOT NULL,
    sent_time       BIGINT       NULL
);
CREATE UNIQUE INDEX emails_dedup ON emails (dedup_key);
CREATE INDEX emails_due ON emails (state, next_attempt_at);
CREATE INDEX emails_user ON emails (user_id);

-- The in-app inbox.
CREATE TABLE notifications (
    id          VARCHAR(36)  NOT NULL PRIMARY KEY,
    user_id     VARCHAR(36)  NOT NULL,
    kind        BIGINT       NOT NULL,
    title       VARCHAR(500) NOT NULL,
    body        VARCHAR(4000) NOT NULL,
    task_id     VARCHAR(36)  NOT NULL DEFAULT '',
    dedup_key   VARCHAR(200) NOT NULL,
    create_time BIGINT       NOT NULL,
    read_time   BIGINT       NULL
);
CREATE UNIQUE INDEX notifications_dedup ON notifications (dedup_key);
CREATE INDEX notifications_user ON notifications (user_id, id);

CREATE TABLE settings (
    user_id         VARCHAR(36) NOT NULL PRIMARY KEY,
    email_reminders BIGINT      NOT NULL DEFAULT 1,
    update_time     BIGINT      NOT NULL
);
