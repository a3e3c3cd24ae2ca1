"""Shared fixtures. Database tests run on the engine named by EXPERTPANEL_TEST_DATABASE_URL
(default: a fresh SQLite file per test); `.ci/run` runs the suite once per engine."""
from __future__ import annotations

import asyncio
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator

import pytest
from sqlalchemy import text

from core.bootstrap import Core, build_core
from core.clock import ManualClock
from core.config import Settings
from core.db.migrate import upgrade
from core.db.models import Base
from core.db.session import create_engine

START = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)  # a Monday, 09:00 Beijing time


def _test_url() -> str | None:
    return os.environ.get("EXPERTPANEL_TEST_DATABASE_URL")


def engine_name() -> str:
    url = _test_url()
    return "postgresql" if url and url.startswith("postgresql") else "sqlite"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--database-tests-only", action="store_true",
                     help="run only the tests that use the test database (db_url): the others do not depend on "
                          "EXPERTPANEL_TEST_DATABASE_URL, so .ci/run's second engine skips them")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--database-tests-only"):
        return
    keep = [item for item in items if "db_url" in getattr(item, "fixturenames", ())]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once per session: a SQLite template file, or the PostgreSQL test database."""
    url = _test_url()
    if url and url.startswith("postgresql"):
        async def reset() -> None:
            engine = create_engine(url)
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
            await engine.dispose()
            await upgrade(url)

        asyncio.run(reset())
        return url
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(upgrade(f"sqlite+aiosqlite:///{path}"))
    return str(path)


_OWNED_SEQUENCES = ("SELECT s.oid::regclass::text FROM pg_class s "
                    "JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i') "
                    "JOIN pg_class t ON t.oid = d.refobjid WHERE s.relkind = 'S' AND t.relname = ANY($1::text[])")
_clear_pg: str | None = None  # the script, made once per session


async def _empty_pg(url: str) -> None:
    """Empty every table and restart its ids, as TRUNCATE … RESTART IDENTITY CASCADE does, in
    ~3 ms instead of ~90: TRUNCATE gives each of the ~100 tables, indexes and TOAST tables a
    new file, and the tests leave a few rows at most. Row triggers (the foreign keys, the audit
    log's append-only trigger) are off for the transaction (session_replication_role, which the
    tests' superuser may set), so the order does not matter."""
    global _clear_pg
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        if _clear_pg is None:
            names = [t.name for t in Base.metadata.sorted_tables]
            sequences = [r[0] for r in await conn.fetch(_OWNED_SEQUENCES, names)]
            _clear_pg = ("SET LOCAL session_replication_role = replica; "
                         + " ".join(f'DELETE FROM "{n}";' for n in names)
                         + "".join(f" SELECT setval('{q}', 1, false);" for q in sequences))
        async with conn.transaction():
            await conn.execute(_clear_pg)
    finally:
        await conn.close()


@pytest.fixture
async def db_url(_migrated_template: str, tmp_path: Path) -> str:
    """A migrated, empty database for this test."""
    if _migrated_template.startswith("postgresql"):
        await _empty_pg(_migrated_template)
        return _migrated_template
    dest = tmp_path / "test.db"
    shutil.copyfile(_migrated_template, dest)
    return f"sqlite+aiosqlite:///{dest}"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database={"url": db_url})  # type: ignore[arg-type]


@pytest.fixture
async def core(settings: Settings, clock: ManualClock) -> AsyncIterator[Core]:
    from core.services import roster

    c = build_core(settings, clock)
    await roster.sync_categories(c.uow(), settings.categories)
    try:
        yield c
    finally:
        await c.close()
