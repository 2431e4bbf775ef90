"""tchat-client: the terminal client."""
