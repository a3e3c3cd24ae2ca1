"""The bureau's monthly figures, read with SQL (rendering is `core.reports`).

A month is a calendar month in the bureau's time zone. Snapshots (experts per field and status,
terms ending soon, open flags) are taken at generation time; flows (panels, invitations, fill
times, responses, evaluations, decisions, directed selections) count what happened in the month.
Only public or internal fields are read: never ID numbers, phones, addresses, e-mails or birth dates.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, func, select

from core.db.models import (
    AuditEntry,
    Category,
    Commendation,
    DirectedExpert,
    DirectedSelection,
    Evaluation,
    Expert,
    ExpertCategory,
    Flag,
    Invitation,
    Panel,
    Sanction,
    UsingUnit,
)
from core.db.models.people import expert_code
from core.db.uow import UnitOfWork
from core.enums import ExpertStatus, FlagStatus, InvitationStatus, PanelStatus
from core.errors import DomainError
from core.services.oversight_access import Who, viewer_actor

TERM_WINDOW_DAYS = 90   # "terms ending soon": from the month's first day to 90 days after its end
TREND_MONTHS = 12
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
CONFIRMED_LIKE = (PanelStatus.CONFIRMED.value, PanelStatus.COMPLETED.value, PanelStatus.EVALUATED.value)
ANSWERED = (InvitationStatus.ACCEPTED.value, InvitationStatus.DECLINED.value, InvitationStatus.CONFLICT.value,
            InvitationStatus.WITHDRAWN.value)


def parse_month(text: str) -> tuple[int, int]:
    m = _MONTH.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 2000:
        raise DomainError("monthly.bad_month", value=text[:20], example="2026-11")
    return int(m.group(1)), int(m.group(2))


def _next_month(y: int, m: int) -> tuple[int, int]:
    return (y + 1, 1) if m == 12 else (y, m + 1)


def _prev_month(y: int, m: int) -> tuple[int, int]:
    return (y - 1, 12) if m == 1 else (y, m - 1)


@dataclass
class PanelCounts:
    requested: int = 0
    confirmed: int = 0
    short: int = 0
    cancelled: int = 0


@dataclass
class MonthlyFigures:
    month: str
    generated_at: datetime
    categories: list[tuple[int, str, str, str]]  # (id, code, name_zh, name_en) in display order
    experts_by_field_status: dict[tuple[int, str], int]
    experts_by_status: dict[str, int]
    terms_ending: list[tuple[str, str, str, date]]  # (code, name, work unit, term end)
    panels_by_unit: dict[str, PanelCounts]
    panels_by_type: dict[str, PanelCounts]
    invitations: dict[str, int]  # outcome -> count, for invitations sent in the month
    fill_hours: list[float]  # panels confirmed in the month: request → confirmed
    response_hours: list[float]  # invitations answered in the month: invited → answered
    scores: dict[str, Counter[int]]  # professional/attitude/quality -> score -> count
    attendance: Counter[str]
    sanctions: list[dict[str, Any]]
    commendations: list[dict[str, Any]]
    flags_raised: Counter[str]
    flags_closed: int
    flags_open: int
    directed: list[dict[str, Any]]
    trend: list[tuple[str, int, int]]  # (YYYY-MM, requested, confirmed) for the last 12 months

    @property
    def panels_total(self) -> PanelCounts:
        total = PanelCounts()
        for c in self.panels_by_unit.values():
            total.requested += c.requested
            total.confirmed += c.confirmed
            total.short += c.short
            total.cancelled += c.cancelled
        return total


class Month:
    """A calendar month in the bureau's time zone, as UTC bounds, plus the 12-month trend window."""

    def __init__(self, uow: UnitOfWork, month: str) -> None:
        y, m = parse_month(month)
        tz = uow.settings.tz
        self.tz = tz
        self.label = f"{y:04d}-{m:02d}"
        self.first = date(y, m, 1)
        self.after = date(*_next_month(y, m), 1)
        self.start = datetime(y, m, 1, tzinfo=tz).astimezone(timezone.utc)
        self.end = datetime(*_next_month(y, m), 1, tzinfo=tz).astimezone(timezone.utc)
        ty, tm = y, m
        for _ in range(TREND_MONTHS - 1):
            ty, tm = _prev_month(ty, tm)
        self.trend_start = datetime(ty, tm, 1, tzinfo=tz).astimezone(timezone.utc)
        self.trend_labels = []
        for _ in range(TREND_MONTHS):
            self.trend_labels.append(f"{ty:04d}-{tm:02d}")
            ty, tm = _next_month(ty, tm)

    def within(self, col: Any) -> Any:
        return and_(col >= self.start, col < self.end)


def _hours(a: datetime, b: datetime) -> float:
    return round((b - a).total_seconds() / 3600, 2)


async def _experts(uow: UnitOfWork, mo: Month) -> dict[str, Any]:
    s = uow.session
    cats = [(c.id, c.code, c.name_zh, c.name_en) for c in
            (await s.scalars(select(Category).order_by(Category.position, Category.id))).all()]
    by_fs = {(cid, st): int(n) for cid, st, n in (await s.execute(
        select(ExpertCategory.category_id, Expert.status, func.count())
        .join(Expert, Expert.id == ExpertCategory.expert_id)
        .group_by(ExpertCategory.category_id, Expert.status))).all()}
    by_status = {st: int(n) for st, n in (await s.execute(
        select(Expert.status, func.count()).group_by(Expert.status))).all()}
    until = mo.after + timedelta(days=TERM_WINDOW_DAYS)
    terms = [(expert_code(i), n, u, t) for i, n, u, t in (await s.execute(
        select(Expert.id, Expert.name, Expert.work_unit, Expert.term_end)
        .where(Expert.status == ExpertStatus.ACTIVE.value, Expert.term_end >= mo.first, Expert.term_end < until)
        .order_by(Expert.term_end, Expert.id))).all()]
    return {"categories": cats, "experts_by_field_status": by_fs, "experts_by_status": by_status,
            "terms_ending": terms}


async def short_panel_ids(uow: UnitOfWork) -> set[int]:
    """Panels that were short of experts at some point (the audit chain records each time)."""
    return {int(x) for x in (await uow.session.scalars(select(AuditEntry.subject_id).where(
        AuditEntry.action == "panel.short", AuditEntry.subject_type == "panel").distinct())).all() if x}


async def _panels(uow: UnitOfWork, mo: Month) -> dict[str, Any]:
    s = uow.session
    ever_short = await short_panel_ids(uow)
    rows = (await s.execute(select(Panel.id, UsingUnit.name, Panel.matter_type, Panel.status, Panel.confirmed_at)
                            .join(UsingUnit, UsingUnit.id == Panel.unit_id)
                            .where(mo.within(Panel.created_at)))).all()
    by_unit: dict[str, PanelCounts] = defaultdict(PanelCounts)
    by_type: dict[str, PanelCounts] = defaultdict(PanelCounts)
    for pid, unit, mtype, status, confirmed_at in rows:
        for c in (by_unit[unit], by_type[mtype]):
            c.requested += 1
            c.confirmed += confirmed_at is not None or status in CONFIRMED_LIKE
            c.short += status == PanelStatus.SHORT.value or pid in ever_short
            c.cancelled += status == PanelStatus.CANCELLED.value
    fills = [_hours(a, b) for a, b in (await s.execute(
        select(Panel.created_at, Panel.confirmed_at).where(mo.within(Panel.confirmed_at)))).all()]
    trend_rows = (await s.execute(select(Panel.created_at, Panel.confirmed_at, Panel.status).where(
        Panel.created_at >= mo.trend_start, Panel.created_at < mo.end))).all()
    req: Counter[str] = Counter()
    conf: Counter[str] = Counter()
    for created, confirmed_at, status in trend_rows:
        key = created.astimezone(mo.tz).strftime("%Y-%m")
        req[key] += 1
        conf[key] += confirmed_at is not None or status in CONFIRMED_LIKE
    return {"panels_by_unit": dict(sorted(by_unit.items())), "panels_by_type": dict(sorted(by_type.items())),
            "fill_hours": fills, "trend": [(k, req[k], conf[k]) for k in mo.trend_labels]}


def invitation_outcome(status: str, justified: bool | None) -> str:
    if status == InvitationStatus.DECLINED.value:
        return "declined_justified" if justified else "declined_unjustified"
    return status


async def _invitations(uow: UnitOfWork, mo: Month) -> dict[str, Any]:
    s = uow.session
    outcomes: Counter[str] = Counter()
    for status, justified, n in (await s.execute(
            select(Invitation.status, Invitation.justified, func.count()).where(mo.within(Invitation.invited_at))
            .group_by(Invitation.status, Invitation.justified))).all():
        outcomes[invitation_outcome(status, justified)] += int(n)
    resp = [_hours(a, b) for a, b in (await s.execute(
        select(Invitation.invited_at, Invitation.responded_at)
        .where(mo.within(Invitation.responded_at), Invitation.status.in_(ANSWERED)))).all()]
    return {"invitations": dict(outcomes), "response_hours": resp}


async def _evaluations(uow: UnitOfWork, mo: Month) -> dict[str, Any]:
    rows = (await uow.session.execute(select(Evaluation.professional, Evaluation.attitude, Evaluation.quality,
                                             Evaluation.attendance).where(mo.within(Evaluation.completed_at)))).all()
    scores: dict[str, Counter[int]] = {k: Counter() for k in ("professional", "attitude", "quality")}
    attendance: Counter[str] = Counter()
    for p, a, q, att in rows:
        scores["professional"][p] += 1
        scores["attitude"][a] += 1
        scores["quality"][q] += 1
        attendance[att] += 1
    return {"scores": scores, "attendance": attendance}


async def _decisions(uow: UnitOfWork, mo: Month) -> dict[str, Any]:
    s = uow.session
    day = lambda at: at.astimezone(mo.tz).date().isoformat()  # noqa: E731
    sanctions = [{"date": day(at), "code": expert_code(eid), "name": name, "kind": kind, "ground": ground,
                  "flag_id": fid}
                 for at, eid, name, kind, ground, fid in (await s.execute(
                     select(Sanction.decided_at, Sanction.expert_id, Expert.name, Sanction.kind, Sanction.ground,
                            Sanction.flag_id).join(Expert, Expert.id == Sanction.expert_id)
                     .where(mo.within(Sanction.decided_at)).order_by(Sanction.decided_at, Sanction.id))).all()]
    commendations = [{"date": day(at), "code": expert_code(eid), "name": name}
                     for at, eid, name in (await s.execute(
                         select(Commendation.decided_at, Commendation.expert_id, Expert.name)
                         .join(Expert, Expert.id == Commendation.expert_id)
                         .where(mo.within(Commendation.decided_at))
                         .order_by(Commendation.decided_at, Commendation.id))).all()]
    raised = Counter({k: int(n) for k, n in (await s.execute(
        select(Flag.kind, func.count()).where(mo.within(Flag.created_at)).group_by(Flag.kind))).all()})
    closed = int(await s.scalar(select(func.count(Flag.id)).where(mo.within(Flag.closed_at))) or 0)
    open_now = int(await s.scalar(select(func.count(Flag.id)).where(Flag.status == FlagStatus.OPEN.value)) or 0)
    named = dict((await s.execute(select(DirectedExpert.directed_id, func.count()).group_by(
        DirectedExpert.directed_id))).all())
    directed = [{"id": d.id, "panel_id": d.panel_id, "unit": unit, "seats": d.seats, "status": d.status,
                 "named": int(named.get(d.id, 0)), "date": day(d.created_at)}
                for d, unit in (await s.execute(
                    select(DirectedSelection, UsingUnit.name).join(Panel, Panel.id == DirectedSelection.panel_id)
                    .join(UsingUnit, UsingUnit.id == Panel.unit_id)
                    .where(mo.within(DirectedSelection.created_at)).order_by(DirectedSelection.id))).all()]
    return {"sanctions": sanctions, "commendations": commendations, "flags_raised": raised,
            "flags_closed": closed, "flags_open": open_now, "directed": directed}


async def monthly_figures(uow: UnitOfWork, who: Who, month: str) -> MonthlyFigures:
    """Every figure of the monthly report (admins, supervisors, or a trusted CLI actor)."""
    mo = Month(uow, month)
    async with uow:
        await viewer_actor(uow, who, "report.monthly")
        parts: dict[str, Any] = {}
        for part in (_experts, _panels, _invitations, _evaluations, _decisions):
            parts.update(await part(uow, mo))
    return MonthlyFigures(month=mo.label, generated_at=uow.clock.now(), **parts)


def default_month(uow: UnitOfWork) -> str:
    """The month to report when none is named: the current month in the bureau's time zone."""
    return uow.today().strftime("%Y-%m")
