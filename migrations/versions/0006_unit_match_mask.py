"""the current-unit look-up's index covers the field mask again

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 21:30:00

The pool's current-unit look-up (experts whose work unit is a party) reads only experts in scope
since it filters on `(field_mask & requested) <> 0`. ix_experts_unit_match (work_unit_norm,
work_unit_uscc, id) did not hold field_mask, so that filter sent the look-up to the wide expert
rows (PostgreSQL: a bitmap heap scan of ~1,000 pages for a party list of 50 names at 100,000
experts, 2.4-3.1 ms; 0.7 ms as an index-only scan). field_mask becomes its fourth column (a
key column, not INCLUDE, which SQLite does not have).

Plain CREATE/DROP INDEX, not a batch: SQLite must not rebuild `experts` (that would drop the
triggers of migration 0005).
"""
from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_experts_unit_match", table_name="experts")
    op.create_index("ix_experts_unit_match", "experts", ["work_unit_norm", "work_unit_uscc", "id", "field_mask"])


def downgrade() -> None:
    op.drop_index("ix_experts_unit_match", table_name="experts")
    op.create_index("ix_experts_unit_match", "experts", ["work_unit_norm", "work_unit_uscc", "id"])
