-- Users whose accounts were deleted and whose data here was erased: their
-- access tokens, which may live on for minutes, are refused from then on.
-- Rows are kept a day (see todo_common::erased).
CREATE TABLE erased_users (
    user_id    VARCHAR(36) NOT NULL PRIMARY KEY,
    erase_time BIGINT      NOT NULL
);
CREATE INDEX erased_users_time ON erased_users (erase_time);
