"""Indexes added after the initial schema (migration 0002), declared on the existing tables so
that the models and the migrations stay identical (tests/db/test_migrations.py)."""
from __future__ import annotations

from sqlalchemy import Index

from core.db.models.people import Expert

_e = Expert.__table__.c

# The draw's one scan of the experts (core/services/pool.py): a narrow covering index in id
# order, so neither engine reads the wide rows nor sorts.
ix_experts_draw_scan = Index("ix_experts_draw_scan", _e.id, _e.field_mask, _e.status, _e.term_start, _e.term_end)
