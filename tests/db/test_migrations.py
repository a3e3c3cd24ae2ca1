"""Alembic: an empty database goes to head, back to base, and to head again."""
from __future__ import annotations

from sqlalchemy import inspect

from core.db.migrate import downgrade, upgrade
from core.db.models import Base
from core.db.session import create_engine


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    await engine.dispose()
    return names


async def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    expected = set(Base.metadata.tables)
    assert expected <= await _tables(db_url)
    await downgrade(db_url, "base")
    assert (await _tables(db_url)) & expected == set()
    await upgrade(db_url, "head")
    assert expected <= await _tables(db_url)


async def test_models_match_migrations(db_url: str) -> None:
    """The typed models and the Alembic history describe the same schema (no drift)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(db_url)
    async with engine.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
    await engine.dispose()
    assert diff == []
