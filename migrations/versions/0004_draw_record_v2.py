"""draw record version 2: ranking, fields and exclusions as texts hashed into the audit chain

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 04:00:00

A draw's long parts — the ranking (public codes in ranked order), each ranked expert's field
bits, and the exclusions with their reasons — are stored as plain texts, and the audit chain's
draw.record entry holds the SHA-256 of each (docs/draw.md § What is stored). Hashing the
stored bytes replaces building and hashing one canonical JSON document of ~50,000 entries per
draw.

draws: + record_version (1 for the rows already there: their digest is over the whole record
as canonical JSON and keeps verifying as such); masks and exclusions become TEXT (the JSON
already stored stays as its text).

experts: ix_experts_work_unit_norm (work_unit_norm) becomes the covering
ix_experts_unit_match (work_unit_norm, work_unit_uscc, id) for the pool's current-unit look-up.

PostgreSQL: the three texts are stored EXTERNAL (out of line, not compressed).

SQLite rebuilds `draws` for the type changes; invitations refer to it, so migrations/env.py
runs SQLite migrations with foreign keys off and checks them afterwards.

Downgrading rewrites version-2 rows in the version-1 layout (ranking as CODE:MASK) so that
replacements keep working; their digest, made over the version-2 header, no longer verifies
under version-1 code.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("draws", schema=None) as batch_op:
        batch_op.add_column(sa.Column("record_version", sa.Integer(), nullable=True))
    op.execute("UPDATE draws SET record_version = 1")
    with op.batch_alter_table("draws", schema=None) as batch_op:
        batch_op.alter_column("record_version", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("masks", existing_type=sa.JSON(), type_=sa.Text(), existing_nullable=False,
                              postgresql_using="masks::text")
        batch_op.alter_column("exclusions", existing_type=sa.JSON(), type_=sa.Text(), existing_nullable=False,
                              postgresql_using="exclusions::text")
    if op.get_bind().dialect.name == "postgresql":
        # Stored out of line and uncompressed: pglz spends ~30 ms compressing a 400 kB ranking
        # on every draw; the texts are written once and read rarely.
        for col in ("ranking", "masks", "exclusions"):
            op.execute(f"ALTER TABLE draws ALTER COLUMN {col} SET STORAGE EXTERNAL")
    with op.batch_alter_table("experts", schema=None) as batch_op:
        batch_op.drop_index("ix_experts_work_unit_norm")
        batch_op.create_index("ix_experts_unit_match", ["work_unit_norm", "work_unit_uscc", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("experts", schema=None) as batch_op:
        batch_op.drop_index("ix_experts_unit_match")
        batch_op.create_index("ix_experts_work_unit_norm", ["work_unit_norm"], unique=False)
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, ranking, masks FROM draws WHERE record_version <> 1")).all()
    for draw_id, ranking, masks in rows:
        codes = ranking.split(",") if ranking else []
        bits = masks.split(",") if masks else []
        conn.execute(sa.text("UPDATE draws SET ranking = :r, masks = '{}' WHERE id = :i"),
                     {"r": ",".join(f"{c}:{m}" for c, m in zip(codes, bits)), "i": draw_id})
    with op.batch_alter_table("draws", schema=None) as batch_op:
        batch_op.alter_column("exclusions", existing_type=sa.Text(), type_=sa.JSON(), existing_nullable=False,
                              postgresql_using="exclusions::json")
        batch_op.alter_column("masks", existing_type=sa.Text(), type_=sa.JSON(), existing_nullable=False,
                              postgresql_using="masks::json")
        batch_op.drop_column("record_version")
