"""Async Alembic environment. The URL comes from the caller (core.db.migrate) or the settings."""
from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from core.db.models import Base
from core.db.session import create_engine

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from core.config import get_settings

    return get_settings().database.url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def _do_run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch migrations rebuild a SQLite table to change a column (copy, drop, rename); with
        # foreign keys on, dropping a table other rows refer to fails (0004: draws, referred to
        # by invitations). The pragma only works outside a transaction: set it before the
        # migrations begin — on the driver's connection, since a statement through SQLAlchemy
        # would first BEGIN (core/db/session.py) — and check every reference once they are done.
        cur = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cur.execute("PRAGMA foreign_keys=OFF")
        cur.close()
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"foreign keys broken by the migration: {broken[:5]}")


async def run_migrations_online() -> None:
    engine = create_engine(_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_do_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _do_run(connectable)
    else:
        asyncio.run(run_migrations_online())
