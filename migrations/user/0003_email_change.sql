-- Address changes: the address a change token was sent to, so verifying
-- that token makes exactly that address the account's.
-- Expand-only: the previous release never writes the column and never
-- accepts a token of the new purpose ('email_change'), since it asks for
-- purpose 'verify'.
ALTER TABLE email_tokens ADD COLUMN new_email VARCHAR(320) NULL;
