-- tchat schema version 2 (PostgreSQL): contacts, last seen, counting new messages.

-- When an account was last seen online (logged out or lost), for /seen and
-- for "N new messages since you were last here". NULL until first seen.
ALTER TABLE accounts ADD COLUMN last_seen DOUBLE PRECISION;

-- An account's contact list. Both ends are registered accounts; deleting
-- either account removes the entry.
CREATE TABLE contacts (
    owner   TEXT COLLATE "C" NOT NULL REFERENCES accounts (key) ON DELETE CASCADE,
    contact TEXT COLLATE "C" NOT NULL REFERENCES accounts (key) ON DELETE CASCADE,
    PRIMARY KEY (owner, contact)
);
-- Deleting an account finds the lists it is on without a full scan.
CREATE INDEX contacts_by_contact ON contacts (contact);

-- count_since: messages of a conversation newer than a time.
CREATE INDEX messages_by_conversation_ts ON messages (conversation, ts);
