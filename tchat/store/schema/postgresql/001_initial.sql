-- tchat schema version 1 (PostgreSQL): accounts, history, offline messages.
-- Keys are tchat.names.name_key(name): case-folded, so Alice and alice are one.
-- Key columns use the "C" collation: byte order, the same order as SQLite,
-- and cheaper comparisons than a locale's.

-- One row per registered name; name is the name as chosen, for display.
CREATE TABLE accounts (
    key           TEXT COLLATE "C" PRIMARY KEY,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created       DOUBLE PRECISION NOT NULL,
    last_login    DOUBLE PRECISION,
    last_address  TEXT
);

-- Every message. id is the insertion order: history pages go by it, never
-- by msgid text. conversation is the room key ("#lobby") or, for a private
-- message, the two user keys sorted and joined by a space (a space cannot be
-- in a name), so both parties find the same conversation.
CREATE TABLE messages (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    msgid        TEXT COLLATE "C" NOT NULL UNIQUE,
    conversation TEXT COLLATE "C" NOT NULL,
    sender       TEXT NOT NULL,
    target       TEXT NOT NULL,
    text         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    ts           DOUBLE PRECISION NOT NULL
);
-- The last N of a conversation, and the N before a given id.
CREATE INDEX messages_by_conversation ON messages (conversation, id);

-- Private messages waiting for a registered user who is offline; removed
-- when delivered. recipient is the user key.
CREATE TABLE offline (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient TEXT COLLATE "C" NOT NULL,
    msgid     TEXT NOT NULL,
    sender    TEXT NOT NULL,
    target    TEXT NOT NULL,
    text      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    ts        DOUBLE PRECISION NOT NULL
);
CREATE INDEX offline_by_recipient ON offline (recipient, id);
