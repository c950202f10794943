-- All-day dues, recurrence, several reminders, and the time zones they
-- are read in.
--
-- Expand only: new nullable or defaulted columns and a new table, so the
-- previous release keeps working beside this one. It keeps writing
-- `remind_time` alone; a row whose `reminders` is NULL is read as that one
-- absolute reminder.

-- The all-day due as `YYYY-MM-DD` in the creator's time zone; `due_time`
-- then holds the local midnight that starts the day, so filters, orders
-- and their indexes treat both kinds of due alike.
ALTER TABLE tasks ADD COLUMN due_date VARCHAR(10) NULL;
-- An RFC 5545 RRULE, and the number of the current due in its series
-- (for COUNT).
ALTER TABLE tasks ADD COLUMN recurrence VARCHAR(500) NULL;
ALTER TABLE tasks ADD COLUMN occurrence BIGINT NOT NULL DEFAULT 1;
-- JSON array of up to 5 reminders with their fire times for the current
-- due: [{"at": micros} | {"before": seconds, "fire": micros}].
ALTER TABLE tasks ADD COLUMN reminders VARCHAR(1000) NULL;

-- The time zone of each task creator, as the user service last announced
-- it (or as it was looked up once): the highest revision wins.
CREATE TABLE user_zones (
    user_id   VARCHAR(36) NOT NULL PRIMARY KEY,
    time_zone VARCHAR(64) NOT NULL,
    revision  BIGINT      NOT NULL
);
