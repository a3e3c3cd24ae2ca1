"""PostgreSQL connections that the server closed (a restart, an ended session) are replaced when
they are checked out of the pool: the next unit of work just works (core.db.session)."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from core.bootstrap import Core
from tests.conftest import engine_name

pytestmark = pytest.mark.skipif(engine_name() != "postgresql", reason="PostgreSQL connection pool")


async def test_a_connection_the_server_ended_is_replaced_on_checkout(core: Core) -> None:
    async with core.engine.connect() as admin:  # a second connection ends the first's session
        async with core.engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert (await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})).scalar_one()
    await asyncio.sleep(0.2)  # the loop reads the server's goodbye
    for _ in range(3):  # every pooled connection is checked out in turn
        uow = core.uow()
        async with uow:
            assert (await uow.session.execute(text("SELECT 1"))).scalar_one() == 1
            assert (await uow.session.execute(text("SELECT pg_backend_pid()"))).scalar_one() != pid
