-- Reminders, and the task title that reminder e-mails show.

-- One row per task: the reminder's latest state. `revision` is the task's
-- revision of the last change applied; older changes arriving late (a
-- retried delivery) are ignored, so a cancelled or moved reminder never
-- comes back.
CREATE TABLE reminders (
    task_id     VARCHAR(36)  NOT NULL PRIMARY KEY,
    user_id     VARCHAR(36)  NOT NULL,
    task_title  VARCHAR(500) NOT NULL,
    remind_time BIGINT       NULL,
    revision    BIGINT       NOT NULL,
    -- scheduled, cancelled or fired.
    state       VARCHAR(16)  NOT NULL,
    lease_owner VARCHAR(36)  NULL,
    lease_until BIGINT       NULL,
    fire_time   BIGINT       NULL,
    update_time BIGINT       NOT NULL
);
CREATE INDEX reminders_due ON reminders (state, remind_time);
CREATE INDEX reminders_user ON reminders (user_id);

ALTER TABLE emails ADD COLUMN task_title VARCHAR(500) NULL;
