-- Link previews: the http(s) URLs in each task's text, and what the pages
-- they point to say about themselves.
--
-- Expand only: three new tables, so the previous release keeps working
-- beside this one; it writes no links, and a task without rows here shows
-- none. Links live outside `tasks`, whose rows are close to MariaDB's
-- 65,535-byte limit.

-- The links of a task, in the order they appear (title first). `url_key`
-- is the SHA-256 (hex) of the normalised URL: the key of the shared
-- preview. `user_id` is who wrote the text the link was found in (the
-- per-user fetch limit counts against them).
CREATE TABLE task_links (
    task_id VARCHAR(36)   NOT NULL,
    ordinal BIGINT        NOT NULL,
    url     VARCHAR(2048) NOT NULL,
    url_key VARCHAR(64)   NOT NULL,
    user_id VARCHAR(36)   NOT NULL,
    PRIMARY KEY (task_id, ordinal)
);
CREATE INDEX task_links_user ON task_links (user_id);
CREATE INDEX task_links_url ON task_links (url_key);

-- One fetch result per normalised URL, shared by every task that links
-- it: only what the public page says. `state` is 1 PENDING, 2 READY,
-- 3 FAILED (the `LinkState` numbers). `reason` is the failure code, kept
-- for operators and never shown. `requested_by` is the user whose link
-- asked for the fetch (counted by the per-user limit); `lease_until`
-- keeps two replicas from fetching one URL at once.
CREATE TABLE link_previews (
    url_key      VARCHAR(64)   NOT NULL PRIMARY KEY,
    url          VARCHAR(2048) NOT NULL,
    state        BIGINT        NOT NULL,
    title        VARCHAR(300)  NULL,
    description  VARCHAR(1000) NULL,
    site_name    VARCHAR(100)  NULL,
    image_url    VARCHAR(2048) NULL,
    reason       VARCHAR(32)   NULL,
    requested_by VARCHAR(36)   NOT NULL,
    requested_at BIGINT        NOT NULL,
    lease_until  BIGINT        NOT NULL DEFAULT 0,
    fetched_at   BIGINT        NULL
);
CREATE INDEX link_previews_state ON link_previews (state, requested_at);
CREATE INDEX link_previews_fetched ON link_previews (fetched_at);

-- The fetches each user caused in the last minute: the per-user limit,
-- kept in the database so it holds across replicas.
CREATE TABLE link_fetches (
    user_id    VARCHAR(36) NOT NULL,
    fetched_at BIGINT      NOT NULL
);
CREATE INDEX link_fetches_user ON link_fetches (user_id, fetched_at);
