-- Keyset paging for every sort order, and idempotent creates.

-- The due time as a sort key that is never NULL: tasks without a due time
-- sort after every dated task (the largest BIGINT), so a page cursor is
-- always a plain (key, id) pair.
ALTER TABLE tasks ADD COLUMN due_key BIGINT NOT NULL DEFAULT 9223372036854775807;
UPDATE tasks SET due_key = due_time WHERE due_time IS NOT NULL;

-- One index per sort order, each led by the owner, so a page costs the same
-- at the end of a long list as at its start.
CREATE INDEX tasks_owner_due ON tasks (owner_id, due_key, id);
CREATE INDEX tasks_owner_priority ON tasks (owner_id, priority, id);
CREATE INDEX tasks_owner_updated ON tasks (owner_id, update_time, id);

-- A create with an Idempotency-Key, kept 24 hours: a retry with the same
-- key and the same request returns the task it made.
CREATE TABLE idempotency_keys (
    owner_id     VARCHAR(36)  NOT NULL,
    idem_key     VARCHAR(200) NOT NULL,
    request_hash VARCHAR(64)  NOT NULL,
    task_id      VARCHAR(36)  NOT NULL,
    create_time  BIGINT       NOT NULL,
    PRIMARY KEY (owner_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (create_time);
