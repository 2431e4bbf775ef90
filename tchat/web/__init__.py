"""The web door's page: static files served next to the WebSocket."""
