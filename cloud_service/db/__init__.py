"""Persistence: the SQLAlchemy tables, the engine, and the group-committing writer."""
