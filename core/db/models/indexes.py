"""Indexes added after the initial schema (migrations 0002, 0004, 0005, 0006), declared on the existing
tables so that the models and the migrations stay identical (tests/db/test_migrations.py)."""
from __future__ import annotations

from sqlalchemy import Index

from core.db.models.people import Expert

_e = Expert.__table__.c

# The draw's one scan of the experts (core/services/pool.py): a narrow covering index, by field
# mask then id, so that neither engine reads the wide rows and only the experts holding a
# requested field are visited (their masks from field_masks; an id range within each).
ix_experts_mask_scan = Index("ix_experts_mask_scan", _e.field_mask, _e.id, _e.status, _e.term_start, _e.term_end)

# The pool's current-unit look-up (work unit named as a party, expert in scope): covering, so the
# ~1,000 rows a party list of 50 names matches are read from the index, not from the wide expert
# rows; field_mask for the scope test (0006). It replaces ix_experts_work_unit_norm (same
# leading column).
ix_experts_unit_match = Index("ix_experts_unit_match", _e.work_unit_norm, _e.work_unit_uscc, _e.id, _e.field_mask)
