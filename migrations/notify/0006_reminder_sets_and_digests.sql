-- Several reminders per task, each user's time zone, and the daily digest.
-- Expand-only: new tables and defaulted or nullable columns, so the previous
-- release keeps working against this schema while both run.

-- A task's reminder times, one row each: the pending ones (`scheduled`) and
-- those that fired (`fired`), which no later change fires again. The task's
-- row in `reminders` keeps the revision and title of the last change
-- applied; this release marks it `set`. A row the previous release writes
-- (`scheduled` with its one time, or `cancelled`) is adopted into this table
-- by the reminder worker.
CREATE TABLE reminder_times (
    task_id     VARCHAR(36) NOT NULL,
    remind_time BIGINT      NOT NULL,
    user_id     VARCHAR(36) NOT NULL,
    -- scheduled or fired.
    state       VARCHAR(16) NOT NULL,
    lease_owner VARCHAR(36) NULL,
    lease_until BIGINT      NULL,
    fire_time   BIGINT      NULL,
    PRIMARY KEY (task_id, remind_time)
);
CREATE INDEX reminder_times_due ON reminder_times (state, remind_time);
CREATE INDEX reminder_times_user ON reminder_times (user_id);

-- Today's reminders move over, fired ones included. Scheduled ones stay
-- `scheduled` in `reminders` until the worker adopts them, so the previous
-- release, still running during the deploy, may fire them too: the
-- notification's and the e-mail's deduplication keys make that one of each.
INSERT INTO reminder_times (task_id, remind_time, user_id, state, fire_time)
SELECT task_id, remind_time, user_id, state, fire_time FROM reminders
WHERE state IN ('scheduled', 'fired') AND remind_time IS NOT NULL;
-- A cancelled task has no pending time: nothing to adopt.
UPDATE reminders SET state = 'set' WHERE state = 'cancelled';

-- Each user's time zone, as the user service last told it (the highest
-- revision), or as looked up from it once.
CREATE TABLE time_zones (
    user_id     VARCHAR(36) NOT NULL PRIMARY KEY,
    time_zone   VARCHAR(64) NOT NULL,
    revision    BIGINT      NOT NULL,
    update_time BIGINT      NOT NULL
);

-- The daily digest's setting: off, at 08:00 local time, until changed.
ALTER TABLE settings ADD COLUMN digest_enabled BIGINT NOT NULL DEFAULT 0;
ALTER TABLE settings ADD COLUMN digest_time VARCHAR(5) NOT NULL DEFAULT '08:00';

-- When each user's next digest is due, and the last local day that had
-- its digest. A worker leases a row to run it; the digest is sent in the
-- transaction that moves `last_date` on, so each local day has one.
CREATE TABLE digests (
    user_id     VARCHAR(36) NOT NULL PRIMARY KEY,
    -- The local date (YYYY-MM-DD) of the next digest and the instant it
    -- is due; NULL while the digest is off.
    run_date    VARCHAR(10) NULL,
    next_run    BIGINT      NULL,
    -- The last local date whose digest was done: sent, found nothing to
    -- send, or skipped as too late.
    last_date   VARCHAR(10) NULL,
    lease_owner VARCHAR(36) NULL,
    lease_until BIGINT      NULL,
    update_time BIGINT      NOT NULL
);
CREATE INDEX digests_due ON digests (next_run);

-- What a digest e-mail lists: JSON (its date, lines and how many more) as
-- bytes, up to 50 lines of 500-character titles.
ALTER TABLE emails ADD COLUMN digest MEDIUMBLOB NULL;
