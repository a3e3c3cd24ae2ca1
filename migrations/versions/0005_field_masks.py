"""field masks: the draw's scan visits only the experts holding a requested field

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 17:00:00

A draw's scan tested `(field_mask & requested) <> 0` on every expert, through the covering
index ix_experts_draw_scan (id, field_mask, status, term_start, term_end): at 100,000 experts in
11 fields a 3-field panel keeps fewer than half of them. field_masks holds every value
`experts.field_mask` has taken (a few hundred: the combinations of fields experts hold), and
the scan reads, through ix_experts_mask_scan (field_mask, id, status, term_start, term_end),
only the experts whose mask shares a requested field: ~30 % less scan time on either engine.

Triggers on `experts` keep field_masks complete in the same transaction as any insert or
update, whoever writes (services, the importer, bulk loads): a scan's snapshot that holds an
expert holds his mask. PostgreSQL: statement-level triggers with transition tables (one
INSERT per statement, not per row). SQLite: row-level triggers. A later migration that makes
SQLite rebuild `experts` (batch mode "move and copy") drops its triggers and must create them
again (`create_triggers`).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE FUNCTION field_masks_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO field_masks (mask) SELECT DISTINCT field_mask FROM new_experts ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$
"""


def create_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for event in ("INSERT", "UPDATE"):
            op.execute(f"CREATE TRIGGER experts_field_masks_{event.lower()} AFTER {event} ON experts "
                       "REFERENCING NEW TABLE AS new_experts FOR EACH STATEMENT EXECUTE FUNCTION field_masks_note()")
    else:
        for event in ("INSERT", "UPDATE OF field_mask"):
            name = event.split()[0].lower()
            op.execute(f"CREATE TRIGGER experts_field_masks_{name} AFTER {event} ON experts "
                       "BEGIN INSERT OR IGNORE INTO field_masks (mask) VALUES (NEW.field_mask); END")


def drop_triggers() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name in ("insert", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS experts_field_masks_{name}{' ON experts' if postgresql else ''}")
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS field_masks_note()")


def upgrade() -> None:
    op.create_table("field_masks", sa.Column("mask", sa.BigInteger(), autoincrement=False, nullable=False),
                    sa.PrimaryKeyConstraint("mask", name=op.f("pk_field_masks")))
    with op.batch_alter_table("experts", schema=None) as batch_op:
        batch_op.drop_index("ix_experts_draw_scan")
        batch_op.create_index("ix_experts_mask_scan", ["field_mask", "id", "status", "term_start", "term_end"],
                              unique=False)
    op.execute("INSERT INTO field_masks (mask) SELECT DISTINCT field_mask FROM experts")
    create_triggers()  # after any batch operation on experts (a SQLite rebuild would drop them)


def downgrade() -> None:
    with op.batch_alter_table("experts", schema=None) as batch_op:
        batch_op.drop_index("ix_experts_mask_scan")
        batch_op.create_index("ix_experts_draw_scan", ["id", "field_mask", "status", "term_start", "term_end"],
                              unique=False)
    drop_triggers()
    op.drop_table("field_masks")
