"""field_masks (migration 0005): every mask an expert holds is there, whoever wrote it, so the
draw's scan — which reads only the experts of the listed masks — misses nobody."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select, text, update

from core.bootstrap import Core
from core.db.migrate import downgrade, upgrade
from core.db.models import Expert, FieldMask
from core.db.session import create_engine
from core.services import pool as poolmod
from tests.factories import category_ids, make_expert


async def _masks(core: Core) -> set[int]:
    async with core.sessions() as s:
        return set((await s.scalars(select(FieldMask.mask))).all())


async def _pool_ids(core: Core, field_ids: list[int]) -> set[int]:
    start = core.clock.now() + timedelta(days=30)
    q = poolmod.meeting_pool_query(start, start + timedelta(hours=2), [], field_ids, None, core.settings.tz, 3)
    uow = core.uow()
    async with uow:
        pool = await poolmod.compute_pool(uow, q)
    return set(map(int, pool.ids))


async def test_a_new_mask_written_any_way_is_listed_and_its_expert_drawn(core: Core) -> None:
    cats = await category_ids(core)
    a = await make_expert(core, ["eia", "monitoring"])  # the ORM
    mask = (1 << cats["eia"]) | (1 << cats["monitoring"])
    assert mask in await _masks(core)
    assert a.id in await _pool_ids(core, [cats["monitoring"]])
    # An update to a combination nobody held before.
    new = (1 << cats["monitoring"]) | (1 << cats["env_engineering"]) | (1 << cats["eia"])
    assert new not in await _masks(core)
    async with core.sessions() as s:
        await s.execute(update(Expert).where(Expert.id == a.id).values(field_mask=new))
        await s.commit()
    assert new in await _masks(core)
    assert a.id in await _pool_ids(core, [cats["env_engineering"]])
    # A plain SQL insert, as a bulk load would write it.
    solo = 1 << cats["env_engineering"]
    async with core.sessions() as s:
        row = (await s.execute(select(Expert).where(Expert.id == a.id))).scalar_one()
        values = {c.name: getattr(row, c.key) for c in Expert.__table__.columns if c.name not in ("id", "id_number")}
        await s.execute(Expert.__table__.insert().values({**values, "field_mask": solo}))
        await s.commit()
    assert solo in await _masks(core)


async def test_a_rolled_back_write_leaves_its_mask_harmless(core: Core) -> None:
    """A mask listed by a write that was rolled back (or no longer held) matches nobody."""
    cats = await category_ids(core)
    b = await make_expert(core, ["eia"])
    async with core.sessions() as s:
        await s.execute(update(Expert).where(Expert.id == b.id).values(field_mask=1 << 40))
        await s.rollback()
    async with core.sessions() as s:
        await s.execute(FieldMask.__table__.insert().values(mask=(1 << 41) | (1 << cats["eia"])))
        await s.commit()
    assert await _pool_ids(core, [cats["eia"]]) == {b.id}


async def test_the_migration_lists_the_masks_already_held(db_url: str) -> None:
    await downgrade(db_url, "0004")
    engine = create_engine(db_url)
    now = datetime(2026, 11, 1, tzinfo=timezone.utc)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO experts (name, gender, birth_month, ethnicity, education, work_unit, work_unit_norm, "
                "position, certificate, employed, unit_nature, title, specialty, graduated, address, phone, email, "
                "work_history, achievements, status, field_mask, created_at, updated_at) VALUES ('甲', 'male', "
                ":d, '', '', 'u', 'u', '', '', true, 'research', '', '', '', '', '', '', '', '', 'active', 6, "
                ":t, :t)"), {"d": date(1970, 1, 1), "t": now})
        await upgrade(db_url, "head")
        async with engine.connect() as conn:
            assert 6 in set((await conn.execute(text("SELECT mask FROM field_masks"))).scalars().all())
    finally:
        await engine.dispose()
