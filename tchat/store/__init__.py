"""Where tchat keeps what outlives a connection: accounts, history, offline messages, contacts."""
