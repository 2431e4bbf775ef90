-- tchat schema version 1 (SQLite): accounts, history, offline messages.
-- Keys are tchat.names.name_key(name): case-folded, so Alice and alice are one.

-- One row per registered name; name is the name as chosen, for display.
CREATE TABLE accounts (
    key           TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created       REAL NOT NULL,
    last_login    REAL,
    last_address  TEXT
);

-- Every message. id is the insertion order (the rowid): history pages go by
-- it, never by msgid text. conversation is the room key ("#lobby") or, for a
-- private message, the two user keys sorted and joined by a space (a space
-- cannot be in a name), so both parties find the same conversation.
CREATE TABLE messages (
    id           INTEGER PRIMARY KEY,
    msgid        TEXT NOT NULL UNIQUE,
    conversation TEXT NOT NULL,
    sender       TEXT NOT NULL,
    target       TEXT NOT NULL,
    text         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    ts           REAL NOT NULL
);
-- The last N of a conversation, and the N before a given id.
CREATE INDEX messages_by_conversation ON messages (conversation, id);

-- Private messages waiting for a registered user who is offline; removed
-- when delivered. recipient is the user key.
CREATE TABLE offline (
    id        INTEGER PRIMARY KEY,
    recipient TEXT NOT NULL,
    msgid     TEXT NOT NULL,
    sender    TEXT NOT NULL,
    target    TEXT NOT NULL,
    text      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    ts        REAL NOT NULL
);
CREATE INDEX offline_by_recipient ON offline (recipient, id);
