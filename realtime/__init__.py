"""Real-time: the transactional outbox (outbox.py), the relay that numbers and publishes its
events (relay.py), the Redis broker behind broadcaster's API (broadcast.py), and following a
stream with replay for `since` (stream.py)."""
