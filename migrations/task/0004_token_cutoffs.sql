-- Access tokens issued before a user's last password change or reset are
-- refused: one row per user, the cut-off in Unix seconds (compared with the
-- token's `iat`), relayed by the user service's outbox. Rows are kept a
-- day (see todo_common::erased). Expand-only: a new table.
CREATE TABLE token_cutoffs (
    user_id       VARCHAR(36) NOT NULL PRIMARY KEY,
    issued_before BIGINT      NOT NULL,
    record_time   BIGINT      NOT NULL
);
CREATE INDEX token_cutoffs_time ON token_cutoffs (record_time);
