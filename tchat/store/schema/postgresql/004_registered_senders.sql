-- tchat schema version 4 (PostgreSQL): who sent a message, for the guest mark and offline quotas.

-- TRUE when the sender was logged in to a registered account, so history
-- and delayed messages carry the same mark as live ones. Messages stored
-- before this upgrade have FALSE: unknown, shown without the mark.
-- (A constant default: PostgreSQL adds these without rewriting the table.)
ALTER TABLE messages ADD COLUMN registered BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE offline ADD COLUMN registered BOOLEAN NOT NULL DEFAULT FALSE;

-- The sender's key (name_key of "from"), for the per-sender and from-guests
-- limits of a recipient's queue. NULL for messages queued before this
-- upgrade: they count toward the recipient's total only.
ALTER TABLE offline ADD COLUMN sender_key TEXT COLLATE "C";
-- How many messages one sender has waiting for one recipient.
CREATE INDEX offline_by_recipient_sender ON offline (recipient, sender_key);
