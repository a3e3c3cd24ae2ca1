"""Run Alembic programmatically so `expertpanel db upgrade` needs no alembic.ini."""
from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations

SCRIPT_LOCATION = str(Path(migrations.__file__).parent)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _run(fn: str, url: str, revision: str) -> None:
    getattr(command, fn)(alembic_config(url), revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database to `revision`; runs Alembic in a thread (its env uses asyncio.run)."""
    await asyncio.to_thread(_run, "upgrade", url, revision)


async def downgrade(url: str, revision: str = "base") -> None:
    await asyncio.to_thread(_run, "downgrade", url, revision)
