"""Edge policies: error masking, request limits, the HTTP/WebSocket view."""
