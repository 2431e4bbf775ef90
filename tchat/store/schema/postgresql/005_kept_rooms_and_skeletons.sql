-- tchat schema version 5 (PostgreSQL): kept rooms, and account names' skeletons.

-- A room made by a registered user is kept: its owner, ops, topic, modes,
-- bans and mutes survive restarts and empty periods. settings is the
-- room's settings as JSON (tchat.chat.model.RoomSettings.to_dict), read
-- back through RoomSettings.from_dict, which checks every field.
CREATE TABLE kept_rooms (
    key      TEXT COLLATE "C" PRIMARY KEY,
    name     TEXT NOT NULL,
    owner    TEXT COLLATE "C",
    settings TEXT NOT NULL,
    updated  DOUBLE PRECISION NOT NULL
);

-- The UTS #39 skeleton of each account's name (tchat.names.skeleton), so a
-- new name that looks like a registered one is refused. NULL for accounts
-- made before this version: filled in at start-up.
ALTER TABLE accounts ADD COLUMN skeleton TEXT COLLATE "C";
CREATE INDEX accounts_skeleton ON accounts (skeleton);
