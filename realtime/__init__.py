"""Real-time: channel names and the transactional outbox (the relay and subscriptions come
with the real-time issue)."""
