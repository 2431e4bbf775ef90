"""Doors: the ways into the hub. Each owns framing, decoding, limits and its send queue."""
