-- Lists shared with roles, subtasks and manual order.
--
-- Expand only, so the previous release keeps working beside this one
-- during a rolling deploy: new tables, new nullable or defaulted columns,
-- new indexes. `tasks.owner_id` keeps its name and now means the task's
-- creator; the previous release still scopes its queries by it. Tasks it
-- writes meanwhile (with no list) are adopted into their creator's default
-- list by this release's background pass (see `lists::adopt_orphans`).

-- A list. A user's default list ("Inbox") has the user's id as its id, so
-- making it on first use is an insert that can only happen once.
CREATE TABLE lists (
    id           VARCHAR(36)  NOT NULL PRIMARY KEY,
    title        VARCHAR(200) NOT NULL,
    -- `#rrggbb` or empty.
    color        VARCHAR(7)   NOT NULL DEFAULT '',
    owner_id     VARCHAR(36)  NOT NULL,
    is_default   BIGINT       NOT NULL DEFAULT 0,
    -- Kept in the transaction of every change, so the limits of tasks
    -- and members per list cost no count.
    task_count   BIGINT       NOT NULL DEFAULT 0,
    member_count BIGINT       NOT NULL DEFAULT 1,
    create_time  BIGINT       NOT NULL,
    update_time  BIGINT       NOT NULL,
    revision     BIGINT       NOT NULL DEFAULT 1
);
CREATE INDEX lists_owner ON lists (owner_id);

-- Who may see a list and what they may do: role 1 OWNER, 2 EDITOR,
-- 3 VIEWER. Every task query joins this table on (list_id, user_id).
CREATE TABLE list_members (
    list_id   VARCHAR(36) NOT NULL,
    user_id   VARCHAR(36) NOT NULL,
    role      BIGINT      NOT NULL,
    join_time BIGINT      NOT NULL,
    PRIMARY KEY (list_id, user_id)
);
CREATE INDEX list_members_user ON list_members (user_id, list_id);

-- Invitations by address. Rows are kept (state 1 pending, 2 accepted,
-- 3 declined, 4 replaced) until 14 days after they expire, so the daily
-- limit per inviter counts every invitation sent, replaced ones included.
CREATE TABLE invitations (
    id          VARCHAR(36)  NOT NULL PRIMARY KEY,
    list_id     VARCHAR(36)  NOT NULL,
    -- The address's case-insensitive key.
    email       VARCHAR(254) NOT NULL,
    role        BIGINT       NOT NULL,
    inviter_id  VARCHAR(36)  NOT NULL,
    state       BIGINT       NOT NULL DEFAULT 1,
    create_time BIGINT       NOT NULL,
    expire_time BIGINT       NOT NULL
);
CREATE INDEX invitations_email ON invitations (email, state);
CREATE INDEX invitations_list ON invitations (list_id, state);
CREATE INDEX invitations_inviter ON invitations (inviter_id, create_time);
CREATE INDEX invitations_expiry ON invitations (expire_time);

-- Every task in a list, under a parent ('' at the top level), at a
-- position among its siblings: a base-36 fraction, so a move rewrites one
-- row. Existing tasks keep their creation order: their id without dashes
-- (UUIDv7, time-ordered, lower-case hex) is such a fraction.
ALTER TABLE tasks ADD COLUMN list_id VARCHAR(36) NULL;
ALTER TABLE tasks ADD COLUMN parent_id VARCHAR(36) NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN position VARCHAR(255) NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN subtask_count BIGINT NOT NULL DEFAULT 0;

-- Existing tasks move into their creator's default list.
INSERT INTO lists (id, title, color, owner_id, is_default, task_count, member_count, create_time, update_time, revision)
    SELECT owner_id, 'Inbox', '', owner_id, 1, COUNT(*), 1, MIN(create_time), MIN(create_time), 1
    FROM tasks GROUP BY owner_id;
INSERT INTO list_members (list_id, user_id, role, join_time)
    SELECT owner_id, owner_id, 1, MIN(create_time) FROM tasks GROUP BY owner_id;
UPDATE tasks SET list_id = owner_id, position = REPLACE(id, '-', '') WHERE list_id IS NULL;

-- The list-led indexes: one per sort order, so a page of one list costs
-- the same at its end as at its start; positions are unique among
-- siblings, which makes two concurrent moves to one spot collide.
CREATE INDEX tasks_list_id ON tasks (list_id, id);
CREATE INDEX tasks_list_due ON tasks (list_id, due_key, id);
CREATE INDEX tasks_list_priority ON tasks (list_id, priority, id);
CREATE INDEX tasks_list_updated ON tasks (list_id, update_time, id);
CREATE UNIQUE INDEX tasks_list_position ON tasks (list_id, parent_id, position);
