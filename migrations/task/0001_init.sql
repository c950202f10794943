-- Tasks and the task service's outbox.
-- Portable DDL: runs unchanged on SQLite and MySQL 8 / MariaDB 10.6+.
-- Times are UTC microseconds since the Unix epoch; booleans are 0/1.

CREATE TABLE tasks (
    id            VARCHAR(36)    NOT NULL PRIMARY KEY,
    owner_id      VARCHAR(36)    NOT NULL,
    title         VARCHAR(500)   NOT NULL,
    description   VARCHAR(10000) NOT NULL,
    done          BIGINT         NOT NULL DEFAULT 0,
    complete_time BIGINT         NULL,
    due_time      BIGINT         NULL,
    remind_time   BIGINT         NULL,
    priority      BIGINT         NOT NULL DEFAULT 0,
    -- JSON array of strings, at most 20 of at most 50 characters.
    labels        VARCHAR(4000)  NOT NULL,
    create_time   BIGINT         NOT NULL,
    update_time   BIGINT         NOT NULL,
    -- Bumped on every change; the etag is derived from it.
    revision      BIGINT         NOT NULL DEFAULT 1
);
-- Every query is scoped to one owner; the id breaks ties in keyset paging.
CREATE INDEX tasks_owner_id ON tasks (owner_id, id);

CREATE TABLE outbox (
    id              VARCHAR(36) NOT NULL PRIMARY KEY,
    kind            VARCHAR(64) NOT NULL,
    payload         BLOB        NOT NULL,
    attempts        BIGINT      NOT NULL DEFAULT 0,
    next_attempt_at BIGINT      NOT NULL,
    created_at      BIGINT      NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_attempt_at);
