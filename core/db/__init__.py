"""Persistence: typed SQLAlchemy 2 models, engine/session factories, the unit of work."""
