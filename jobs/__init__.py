"""Background jobs on pgqueuer, a PostgreSQL-backed job queue: its set-up (queue.py), the worker
that runs them (worker.py) and the tasks (sweeps.py). Only server.py imports this package; work
reaches it through rows written in the business transaction (the queue's table, the outbox)."""
