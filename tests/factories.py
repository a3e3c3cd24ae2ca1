"""Small, generic factories for database tests: experts, using units with a contact, admins.

They write ORM rows directly (no enrolment flow) and commit, returning the `Roles` each person
acts with, so any service test can start from "an active expert in these fields".
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Iterable, Sequence

from sqlalchemy import select

from core.bootstrap import Core
from core.conflicts import normalize_unit_name
from core.db.models import (
    Account,
    Category,
    Contact,
    DeclaredConflict,
    Expert,
    ExpertCategory,
    PreviousUnit,
    RecordedExclusion,
    Unavailability,
    UsingUnit,
)
from core.db.models.people import expert_code
from core.enums import ExpertStatus
from core.panel_request import PanelRequestForm, RequestContext, parse_panel_request
from core.services.accounts import Roles

_ids = itertools.count(1)


def _next() -> int:
    return next(_ids)


@dataclass(frozen=True)
class MadeExpert:
    id: int
    code: str
    roles: Roles  # account_id is 0 when the expert has no chat account

    @property
    def account_id(self) -> int | None:
        return self.roles.account_id or None


async def category_ids(core: Core) -> dict[str, int]:
    async with core.sessions() as s:
        return {c: i for c, i in (await s.execute(select(Category.code, Category.id))).all()}


async def make_expert(
    core: Core,
    fields: Sequence[str] = ("eia",),
    *,
    name: str | None = None,
    status: str = ExpertStatus.ACTIVE.value,
    term_start: date | None = None,
    term_end: date | None = None,
    work_unit: str | None = None,
    work_unit_uscc: str | None = None,
    previous_units: Iterable[tuple[str, str | None, date | None]] = (),
    unavailable: Iterable[date] = (),
    declared: Iterable[tuple[str, str | None]] = (),
    recorded: Iterable[tuple[str, str | None]] = (),
    account: bool = True,
    phone: str = "13800138000",
) -> MadeExpert:
    """An expert holding `fields` (category codes) with a term covering the next two years."""
    n = _next()
    cats = await category_ids(core)
    today = core.clock.now().date()
    now = core.clock.now()
    async with core.sessions() as s:
        unit = work_unit or f"测试研究院{n}"
        e = Expert(
            name=name or f"专家{n}", gender="male", birth_month=date(1970, 1, 1), work_unit=unit,
            work_unit_norm=normalize_unit_name(unit), work_unit_uscc=work_unit_uscc, unit_nature="research",
            title="高级工程师", phone=phone, status=status,
            term_start=term_start or today - timedelta(days=30), term_end=term_end or today + timedelta(days=730),
            field_mask=sum(1 << cats[f] for f in fields), created_at=now, updated_at=now,
        )
        s.add(e)
        await s.flush()
        for f in fields:
            s.add(ExpertCategory(expert_id=e.id, category_id=cats[f]))
        for pname, puscc, left in previous_units:
            s.add(PreviousUnit(expert_id=e.id, name=pname, name_norm=normalize_unit_name(pname), uscc=puscc,
                               left_on=left))
        for day in unavailable:
            s.add(Unavailability(expert_id=e.id, day=day))
        for pname, puscc in declared:
            s.add(DeclaredConflict(expert_id=e.id, party_name=pname, party_norm=normalize_unit_name(pname),
                                   uscc=puscc, created_at=now))
        for pname, puscc in recorded:
            s.add(RecordedExclusion(expert_id=e.id, party_name=pname, party_norm=normalize_unit_name(pname),
                                    uscc=puscc, reason="test", created_by="cli", created_at=now, active=True))
        account_id = 0
        if account:
            acc = Account(telegram_id=1_000_000 + n, display_name=f"expert{n}", expert_id=e.id, created_at=now)
            s.add(acc)
            await s.flush()
            account_id = acc.id
        await s.commit()
        return MadeExpert(e.id, expert_code(e.id), Roles(account_id, e.id, None, None, False, False, None))


async def make_unit_contact(core: Core, unit_name: str | None = None, uscc: str | None = None) -> Roles:
    """A using unit (created if new) and one contact of it with a chat account."""
    n = _next()
    now = core.clock.now()
    name = unit_name or f"测试使用单位{n}"
    async with core.sessions() as s:
        unit = await s.scalar(select(UsingUnit).where(UsingUnit.name == name))
        if unit is None:
            unit = UsingUnit(name=name, name_norm=normalize_unit_name(name), uscc=uscc, created_at=now)
            s.add(unit)
            await s.flush()
        contact = Contact(unit_id=unit.id, name=f"联系人{n}", phone="13900139000", active=True, created_at=now)
        s.add(contact)
        await s.flush()
        acc = Account(telegram_id=2_000_000 + n, display_name=f"contact{n}", contact_id=contact.id, created_at=now)
        s.add(acc)
        await s.commit()
        return Roles(acc.id, None, contact.id, unit.id, False, False, None)


async def make_admin(core: Core, *, supervisor: bool = False) -> Roles:
    """A bureau admin (or, with supervisor=True, a read-only supervisor)."""
    n = _next()
    async with core.sessions() as s:
        acc = Account(telegram_id=3_000_000 + n, display_name=f"admin{n}", is_admin=not supervisor,
                      is_supervisor=supervisor, created_at=core.clock.now())
        s.add(acc)
        await s.commit()
        return Roles(acc.id, None, None, None, not supervisor, supervisor, None)


def panel_form(
    core: Core,
    *,
    fields: Sequence[tuple[str, int | None]] = (("eia", None),),
    size: int = 3,
    parties: Sequence[tuple[str, str | None]] = (("某某化工有限公司", None),),
    starts_in: timedelta = timedelta(days=14),
    hours: float = 3,
    deadline_in: timedelta = timedelta(days=5),
    title: str = "某项目环境影响报告书技术评审",
) -> PanelRequestForm:
    """A valid panel request relative to the test clock."""
    now: datetime = core.clock.now()
    start = now + starts_in
    data = {
        "title": title, "matter_type": "review", "location": "局三楼会议室",
        "starts_at": start, "ends_at": start + timedelta(hours=hours), "response_deadline": now + deadline_in,
        "size": size, "fields": [{"category": c, "quota": q} for c, q in fields],
        "parties": [{"name": n, "uscc": u} for n, u in parties],
    }
    ctx = RequestContext(categories={c.code: c.name_zh for c in core.settings.categories}, now=now)
    return parse_panel_request(data, ctx)


# --- small read helpers for assertions ------------------------------------------------------

async def rows(core: Core, model: type, *where: object, order_by: object = None) -> list:
    """Every row of `model` matching `where`, in id (or `order_by`) order."""
    async with core.sessions() as s:
        q = select(model).where(*where)  # type: ignore[arg-type]
        q = q.order_by(order_by if order_by is not None else list(model.__table__.primary_key.columns)[0])
        return list((await s.scalars(q)).all())


async def outbox_kinds(core: Core, account_id: int | None = None) -> list[str]:
    from core.db.models import Outbox

    where = [Outbox.account_id == account_id] if account_id is not None else []
    return [o.kind for o in await rows(core, Outbox, *where)]
