"""Persistence: SQLAlchemy models, engine, migrations, demo seed, embedded PostgreSQL."""
