-- tchat schema version 4 (SQLite): who sent a message, for the guest mark and offline quotas.

-- 1 when the sender was logged in to a registered account, so history and
-- delayed messages carry the same mark as live ones. Messages stored before
-- this upgrade have 0: unknown, shown without the mark.
ALTER TABLE messages ADD COLUMN registered INTEGER NOT NULL DEFAULT 0 CHECK (registered IN (0, 1));
ALTER TABLE offline ADD COLUMN registered INTEGER NOT NULL DEFAULT 0 CHECK (registered IN (0, 1));

-- The sender's key (name_key of "from"), for the per-sender and from-guests
-- limits of a recipient's queue. NULL for messages queued before this
-- upgrade: they count toward the recipient's total only.
ALTER TABLE offline ADD COLUMN sender_key TEXT;
-- How many messages one sender has waiting for one recipient.
CREATE INDEX offline_by_recipient_sender ON offline (recipient, sender_key);
