"""covering index for the draw's scan of the experts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 02:00:00

experts (id, field_mask, status, term_start, term_end): the pool's one scan of the experts
reads only these columns, in id order; a narrow covering index lets it skip the wide rows
(the application form's free text) and the sort — an index-only scan on both engines.
The model declares the same index (Expert.__table_args__).
"""
from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("experts", schema=None) as batch_op:
        batch_op.create_index("ix_experts_draw_scan", ["id", "field_mask", "status", "term_start", "term_end"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("experts", schema=None) as batch_op:
        batch_op.drop_index("ix_experts_draw_scan")
