-- Password reset, session-aware password change and abuse throttling.
-- Expand-only: the previous release keeps working against this schema.

-- The access token issued together with each refresh token, so a password
-- change can tell the caller's own login from the others it revokes.
ALTER TABLE refresh_tokens ADD COLUMN access_jti VARCHAR(36) NULL;
CREATE INDEX refresh_tokens_access_jti ON refresh_tokens (access_jti);

-- One row per counted event (a failed login, a registration, a reset
-- request) of a subject within its bucket. The subject is a SHA-256 digest
-- of the account's address or the client's network address, so the table
-- holds no personal data in the clear. Kept in the database, not in
-- memory, so limits hold across replicas.
CREATE TABLE throttle_events (
    id          VARCHAR(36) NOT NULL PRIMARY KEY,
    bucket      VARCHAR(16) NOT NULL,
    subject     VARCHAR(64) NOT NULL,
    create_time BIGINT      NOT NULL
);
CREATE INDEX throttle_events_subject ON throttle_events (bucket, subject, create_time);
CREATE INDEX throttle_events_time ON throttle_events (create_time);
