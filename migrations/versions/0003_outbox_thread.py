"""outbox threads: one live message per subject, edited in place

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 02:00:00

outbox.thread names a live message (e.g. `panel_status:42` — a panel's status in a using unit's
chat). The notifier looks up the latest sent row of the same account and thread to edit that
message instead of sending a new one, and skips rows a newer one of the thread supersedes.
The model declares the same column and index (Outbox).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("thread", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_outbox_thread", ["account_id", "thread"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_thread")
        batch_op.drop_column("thread")
