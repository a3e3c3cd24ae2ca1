"""Days an expert marks as unavailable (no draw picks him that day): add, remove, list."""
from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import delete, select

from core.db.models import Unavailability
from core.db.uow import UnitOfWork
from core.errors import DomainError, Forbidden
from core.identity import normalize_text, parse_date
from core.services import audit
from core.services.accounts import Roles

MAX_AHEAD_DAYS = 730
MAX_DAYS = 92  # per request (a long trip is one range)
_RANGE = re.compile(r"\s*(?:~|至|到)\s*")
_SPLIT = re.compile(r"[\s,，、;；]+")


def parse_days(text: str, today: date) -> list[date]:
    """'2026-12-03 2026-12-05', '12月3日' (this year), ranges '2026-12-03~2026-12-06' / '至' / '到'.

    Raises DomainError: date.format / date.invalid, unavailable.none, unavailable.range_order,
    unavailable.too_many(max)."""
    s = _RANGE.sub("~", normalize_text(text))
    days: list[date] = []
    for token in (t for t in _SPLIT.split(s) if t):
        if "~" in token:
            first, _, last = token.partition("~")
            a, b = parse_date(first, today), parse_date(last, today)
            if b < a:
                raise DomainError("unavailable.range_order", first=a.isoformat(), last=b.isoformat())
            if (b - a).days >= MAX_DAYS:
                raise DomainError("unavailable.too_many", max=MAX_DAYS)
            days.extend(a + timedelta(days=i) for i in range((b - a).days + 1))
        else:
            days.append(parse_date(token, today))
    out = sorted(set(days))
    if not out:
        raise DomainError("unavailable.none")
    if len(out) > MAX_DAYS:
        raise DomainError("unavailable.too_many", max=MAX_DAYS)
    return out


def _expert(roles: Roles) -> int:
    if roles.expert_id is None:
        raise Forbidden("role.expert_required")
    return roles.expert_id


async def upcoming(uow: UnitOfWork, expert_id: int) -> list[date]:
    """In the caller's transaction: the expert's unavailable days from today on."""
    rows = await uow.session.scalars(select(Unavailability.day).where(
        Unavailability.expert_id == expert_id, Unavailability.day >= uow.today()).order_by(Unavailability.day))
    return list(rows.all())


async def list_days(uow: UnitOfWork, roles: Roles) -> list[date]:
    expert_id = _expert(roles)
    async with uow:
        return await upcoming(uow, expert_id)


async def add_days(uow: UnitOfWork, roles: Roles, days: list[date]) -> list[date]:
    """Mark `days` unavailable; returns the ones newly added. Past or far-future days are refused."""
    expert_id = _expert(roles)
    async with uow:
        today = uow.today()
        for d in days:
            if d < today:
                raise DomainError("unavailable.past", value=d.isoformat(), today=today.isoformat())
            if (d - today).days > MAX_AHEAD_DAYS:
                raise DomainError("unavailable.too_far", value=d.isoformat(), max=MAX_AHEAD_DAYS)
        s = uow.session
        have = set((await s.scalars(select(Unavailability.day).where(
            Unavailability.expert_id == expert_id, Unavailability.day.in_(days)))).all())
        new = sorted(set(days) - have)
        for d in new:
            s.add(Unavailability(expert_id=expert_id, day=d))
        if new:
            await s.flush()
            await audit.append(uow, roles.actor, "unavailability.add", "expert", expert_id, count=len(new),
                               first=new[0].isoformat(), last=new[-1].isoformat())
        await uow.commit()
    return new


async def remove_day(uow: UnitOfWork, roles: Roles, day: date) -> bool:
    """Make `day` available again; False when it was not marked."""
    expert_id = _expert(roles)
    async with uow:
        res = await uow.session.execute(delete(Unavailability).where(
            Unavailability.expert_id == expert_id, Unavailability.day == day))
        removed = bool(res.rowcount)  # type: ignore[attr-defined]
        if removed:
            await audit.append(uow, roles.actor, "unavailability.remove", "expert", expert_id, day=day.isoformat())
        await uow.commit()
    return removed
