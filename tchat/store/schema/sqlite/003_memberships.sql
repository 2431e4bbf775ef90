-- tchat schema version 3 (SQLite): the rooms a registered user is in.

-- A registered user stays in the rooms they joined across logins: on login
-- they are put back in them and told how many messages each has had since
-- they were last seen. Guests' rooms are not kept.
CREATE TABLE memberships (
    account TEXT NOT NULL REFERENCES accounts (key) ON DELETE CASCADE,
    room    TEXT NOT NULL,
    name    TEXT NOT NULL,
    joined  REAL NOT NULL,
    PRIMARY KEY (account, room)
);
