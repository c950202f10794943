-- What an invitation e-mail says: the list, who invited, the role offered.
-- Expand-only: new nullable columns, empty for every other template, so the
-- previous release keeps working against this schema.
ALTER TABLE emails ADD COLUMN list_title VARCHAR(800) NULL;
ALTER TABLE emails ADD COLUMN inviter_name VARCHAR(400) NULL;
ALTER TABLE emails ADD COLUMN invite_role VARCHAR(16) NULL;
