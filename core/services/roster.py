"""Categories (Art. 6) and the public roster (Art. 9): name, work unit, title, fields only."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sqlalchemy import select

from core.config import Category as CategorySetting
from core.db.models import Category, Expert, ExpertCategory
from core.db.uow import UnitOfWork
from core.enums import ExpertStatus
from core.services import audit


async def sync_categories(uow: UnitOfWork, categories: Sequence[CategorySetting]) -> None:
    """Make the categories table match the configured list: add new codes, rename existing ones.

    Codes never disappear (experts and panels refer to them); a code missing from the
    configuration is marked inactive instead.
    """
    async with uow:
        s = uow.session
        rows = {c.code: c for c in (await s.scalars(select(Category))).all()}
        changed = []
        for pos, cat in enumerate(categories):
            row = rows.get(cat.code)
            if row is None:
                used = {r.id for r in rows.values()}
                new_id = next(i for i in range(1, 63) if i not in used)
                row = Category(id=new_id, code=cat.code, name_zh=cat.name_zh, name_en=cat.name_en,
                               description=cat.description, position=pos, active=True)
                s.add(row)
                rows[cat.code] = row
                changed.append(cat.code)
            elif (row.name_zh, row.name_en, row.description, row.position, row.active) != (
                cat.name_zh, cat.name_en, cat.description, pos, True
            ):
                row.name_zh, row.name_en, row.description, row.position, row.active = (
                    cat.name_zh, cat.name_en, cat.description, pos, True)
                changed.append(cat.code)
        configured = {c.code for c in categories}
        for code, row in rows.items():
            if code not in configured and row.active:
                row.active = False
                changed.append(code)
        if changed:
            await s.flush()
            await audit.append(uow, "system", "categories.sync", "categories", None, codes=sorted(changed))
        await uow.commit()


@dataclass(frozen=True)
class RosterRow:
    """One public roster line — deliberately nothing private (CHECKLIST 38)."""

    code: str
    name: str
    work_unit: str
    title: str
    fields_zh: tuple[str, ...]
    fields_en: tuple[str, ...]
    term_end: str


async def public_roster(uow: UnitOfWork) -> list[RosterRow]:
    """Active experts whose term covers today, ordered by name."""
    today = uow.today()
    async with uow:
        s = uow.session
        cats = {c.id: c for c in (await s.scalars(select(Category))).all()}
        experts = (
            await s.scalars(
                select(Expert)
                .where(Expert.status == ExpertStatus.ACTIVE, Expert.term_end >= today)
                .order_by(Expert.name, Expert.id)
            )
        ).all()
        rows = []
        for e in experts:
            ids = sorted((ec.category_id for ec in e.categories), key=lambda i: cats[i].position)
            rows.append(RosterRow(e.code, e.name, e.work_unit, e.title,
                                  tuple(cats[i].name_zh for i in ids), tuple(cats[i].name_en for i in ids),
                                  e.term_end.isoformat() if e.term_end else ""))
    return rows


async def expert_category_ids(uow: UnitOfWork, expert_id: int) -> list[int]:
    async with uow:
        return list((await uow.session.scalars(select(ExpertCategory.category_id).where(ExpertCategory.expert_id == expert_id))).all())
