-- Access tokens of a user issued (`iat`, Unix seconds) before this are
-- refused: set by a password change or reset, so the other sessions' access
-- tokens stop working at once instead of after up to 15 minutes. NULL: no
-- cut-off. Expand-only: the previous release neither reads nor writes it.
ALTER TABLE users ADD COLUMN token_cutoff BIGINT NULL;
