"""The sandbox's demo database: seeded once, through the real services, with fictional data.

`seed(core)` fills an *empty* database (no experts, no accounts) and does nothing otherwise:

- 60 experts across all eleven fields (core.demo_data), enrolled with the real form validation
  (`parse_application` → `write_expert` → `start_term`), some with previous units, two working
  for a using unit, one whose term ends about a month from today;
- the bureau admin, a supervisor, four using units with one contact each;
- a history of five past panels, requested with the one-message template, drawn, answered and
  evaluated through the real services on a clock set back in time. One expert declines three of
  them without a justified reason, so the system raises its Art. 16(3) flag by itself.

Every simulated Telegram user has a fixed id (core.demo_data), so the playground page can list
the personas (`personas(core)`) and the sandbox's chats have the same ids.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select, update

from core import actors
from core import demo_data as data
from core import draw as drawlib
from core.bootstrap import Core
from core.clock import ManualClock
from core.db.models.people import expert_code
from core.db.models import Account, AuditEntry, Contact, Expert, Invitation, Outbox, Panel, UsingUnit
from core.db.uow import UnitOfWork
from core.enums import InvitationStatus, OutboxStatus, PanelStatus, TermKind
from core.forms import parse_application
from core.services import accounts, audit, evaluation, panels, roster
from core.services.accounts import Roles, roles_of
from core.services.enrolment import form_context, start_term, write_expert
from core.services.panel_intake import submit_request_text

DEMO_ACTOR = actors.SYSTEM


@dataclass(frozen=True)
class PastPanel:
    unit: int            # index into demo_data.UNITS
    days_ago: int
    title: str
    matter: str
    fields: str
    size: int
    parties: str
    location: str
    flagged_declines: bool  # the flagged expert is ranked first and declines without a good reason


HISTORY: tuple[PastPanel, ...] = (
    PastPanel(0, 150, "雪域能源准东2×660MW热电联产项目环境影响报告书技术评审", "评审",
              "环境影响评价×2、环境工程×2、环境监测与监控×1", 5, "新疆雪域能源集团有限公司；准东热电项目筹建处",
              "乌鲁木齐市天山区青云街88号雪域大厦6楼会议室", True),
    PastPanel(1, 100, "天山新区污水处理厂提标改造工程方案咨询", "咨询", "环境工程、环境影响评价", 3,
              "乌鲁木齐天山新区建设管理局；新疆瀚清水处理工程有限公司", "天山新区管理局3号会议室", True),
    PastPanel(2, 60, "博格达工业园区规划环境影响跟踪评价技术审查", "评审",
              "环境影响评价×2、生态保护×1、环境政策与法规标准×1、环境经济×1", 5, "博格达工业园区管理委员会",
              "博格达工业园区管委会二楼会议室", True),
    PastPanel(3, 25, "西域绿源水务二水源地生态保护方案评审", "评审", "生态保护、农业农村环境、环境科学", 3,
              "西域绿源水务有限公司", "西域绿源水务有限公司调度中心会议室", False),
    PastPanel(0, 12, "雪域能源2025年度碳排放核算报告专家咨询", "咨询", "气候变化×2、环境经济×1", 3,
              "新疆雪域能源集团有限公司", "线上会议（腾讯会议）", False),
)
DECLINE_TEXTS = ("临时有其他工作安排", "近期事务较多，不便参加", "本周另有安排")


@dataclass(frozen=True)
class Persona:
    telegram_id: int
    name: str
    roles: tuple[str, ...]  # "admin", "supervisor", "contact", "expert"; () for a new user
    unit: str
    language: str
    title: str = ""         # an expert's technical title
    term_end: str = ""      # an expert's term end (ISO date)
    known: bool = True      # has written to the bot (has an account); False for the fresh "new user"


async def is_empty(core: Core) -> bool:
    async with core.uow() as uow:
        experts = await uow.session.scalar(select(func.count()).select_from(Expert))
        accounts_n = await uow.session.scalar(select(func.count()).select_from(Account))
    return not experts and not accounts_n


SEEDED = "demo.seeded"  # the audit action written last: its absence after data means seeding was cut short


async def seed_state(core: Core) -> str:
    """'empty', 'seeded', or 'partial' (a first start killed while seeding: the data is incomplete)."""
    if await is_empty(core):
        return "empty"
    async with core.uow() as uow:
        done = await uow.session.scalar(select(func.count()).select_from(AuditEntry)
                                        .where(AuditEntry.action == SEEDED))
    return "seeded" if done else "partial"


async def seed(core: Core) -> bool:
    """Seed the demo data if the database is empty; returns True when it seeded."""
    await roster.sync_categories(core.uow(), core.settings.categories)
    if not await is_empty(core):
        return False
    now = core.clock.now()
    today = now.astimezone(core.settings.tz).date()
    await _people(core, today)
    await _history(core, now)
    async with core.uow() as uow:
        await audit.append(uow, actors.SYSTEM, SEEDED, "system", None)
        await uow.commit()
    return True


# --- people ---------------------------------------------------------------------------------------

async def _people(core: Core, today: date) -> None:
    uow = core.uow()
    rng = random.Random(7)
    await accounts.grant_role(uow, data.ADMIN_TG, "admin", DEMO_ACTOR)
    await accounts.grant_role(uow, data.SUPERVISOR_TG, "supervisor", DEMO_ACTOR)
    names = {data.ADMIN_TG: (data.ADMIN_NAME, "zh"), data.SUPERVISOR_TG: (data.SUPERVISOR_NAME, "zh")}
    for i, (org, contact, lang) in enumerate(data.UNITS, start=1):
        await accounts.add_unit(uow, org.name, data.uscc(org.uscc_head, rng), DEMO_ACTOR)
        tg = data.CONTACT_TG_BASE + i
        await accounts.add_contact(uow, org.name, DEMO_ACTOR, name=contact, phone=data.contact_phone(i), telegram_id=tg)
        names[tg] = (contact, lang)
    async with uow:
        ctx = await form_context(uow)
        for n, form in enumerate(data.expert_forms(today), start=1):
            fields = {k: v for k, v in form.items() if not k.startswith("_")}
            expert = await write_expert(uow, None, parse_application(fields, ctx))
            await start_term(uow, expert, form["_term_start"], TermKind.IMPORTED)
            acc = await accounts.ensure_account(uow, data.EXPERT_TG_BASE + n, expert.name, form["_language"])
            acc.expert_id = expert.id
            await audit.append(uow, DEMO_ACTOR, "expert.import", "expert", expert.id, created=True, demo=True)
        for tg, (name, lang) in names.items():
            await uow.session.execute(update(Account).where(Account.telegram_id == tg)
                                      .values(display_name=name, language=lang))
        await uow.commit()


# --- history --------------------------------------------------------------------------------------

@contextmanager
def _demo_seeds(rng: random.Random, codes: list[str]) -> Iterator[list[str | None]]:
    """Reproducible draw seeds for the demo history only. Put an expert code in the yielded slot
    to get a seed that ranks that expert first among `codes` (stages the demo's refusal flag)."""
    favour: list[str | None] = [None]
    original = drawlib.new_seed

    def pick() -> bytes:
        while True:
            candidate = rng.randbytes(drawlib.SEED_BYTES)
            if favour[0] is None or drawlib.rank(candidate, codes)[0] == favour[0]:
                return candidate

    drawlib.new_seed = pick  # type: ignore[assignment]
    try:
        yield favour
    finally:
        drawlib.new_seed = original  # type: ignore[assignment]


def _template(p: PastPanel, start: datetime, end: datetime, deadline: datetime) -> str:
    return "\n".join([
        f"事项名称：{p.title}", f"事项类型：{p.matter}",
        f"时间：{start:%Y-%m-%d %H:%M}-{end:%H:%M}", f"地点：{p.location}",
        f"专业领域：{p.fields}", f"人数：{p.size}", f"相关单位：{p.parties}",
        f"回复期限：{deadline:%Y-%m-%d %H:%M}",
    ])


async def _roles_by(uow: UnitOfWork, column: object, value: int) -> Roles:
    async with uow:
        acc = await uow.session.scalar(select(Account).where(column == value))
        assert acc is not None
        return await roles_of(uow, acc)


async def _history(core: Core, now: datetime) -> None:
    clock = ManualClock(now)
    uow = UnitOfWork(core.sessions, clock, core.settings)
    tz = core.settings.tz
    rng = random.Random(11)
    async with uow:
        experts = (await uow.session.execute(select(Expert.id, Expert.name).order_by(Expert.id))).all()
        contacts = (await uow.session.execute(
            select(UsingUnit.name, Contact.id).join(Contact, Contact.unit_id == UsingUnit.id))).all()
        first_outbox = (await uow.session.scalar(select(func.max(Outbox.id)))) or 0
    flagged_id = experts[data.FLAGGED - 1][0]
    contact_of = {name: cid for name, cid in contacts}
    with _demo_seeds(rng, [expert_code(eid) for eid, _ in experts]) as favour:
        for p in HISTORY:
            day = now.astimezone(tz).date() - timedelta(days=p.days_ago)
            start = datetime.combine(day, time(9, 30), tz)
            end = datetime.combine(day, time(12, 0), tz)
            clock.set(start - timedelta(days=12) + timedelta(hours=1))
            deadline = start - timedelta(days=5) + timedelta(hours=8, minutes=30)
            contact = await _roles_by(uow, Account.contact_id, contact_of[data.UNITS[p.unit][0].name])
            favour[0] = expert_code(flagged_id) if p.flagged_declines else None
            result = await submit_request_text(uow, contact, _template(p, start, end, deadline))
            await _answer_all(uow, clock, result.panel_id, flagged_id if p.flagged_declines else None, rng)
            clock.set(end + timedelta(hours=2))
            await panels.complete_finished(uow)
            clock.set(end + timedelta(days=1, hours=-3))
            await _evaluate(uow, contact, result.panel_id, rng)
    async with uow:  # the history's notifications were "delivered" back then: never send them now
        await uow.session.execute(update(Outbox).where(Outbox.id > first_outbox, Outbox.status == OutboxStatus.PENDING)
                                  .values(status=OutboxStatus.SKIPPED, last_error="demo history"))
        await uow.commit()


async def _answer_all(uow: UnitOfWork, clock: ManualClock, panel_id: int, decliner: int | None,
                      rng: random.Random) -> None:
    """Invited experts answer, one every hour or two, until the panel is confirmed."""
    for _ in range(20):
        async with uow:
            pending = (await uow.session.execute(select(Invitation.id, Invitation.expert_id).where(
                Invitation.panel_id == panel_id, Invitation.status == InvitationStatus.PENDING)
                .order_by(Invitation.id))).all()
        if not pending:
            break
        for inv_id, expert_id in pending:
            clock.advance(timedelta(minutes=rng.randint(40, 180)))
            roles = await _roles_by(uow, Account.expert_id, expert_id)
            if expert_id == decliner:
                await panels.decline(uow, roles, inv_id, "other", rng.choice(DECLINE_TEXTS))
            else:
                await panels.accept(uow, roles, inv_id, unit_consent=True, no_conflict=True, confidentiality=True)


async def _evaluate(uow: UnitOfWork, contact: Roles, panel_id: int, rng: random.Random) -> None:
    async with uow:
        served = (await uow.session.scalars(select(Invitation.id).where(
            Invitation.panel_id == panel_id, Invitation.status == InvitationStatus.ACCEPTED)
            .order_by(Invitation.id))).all()
        status = await uow.session.scalar(select(Panel.status).where(Panel.id == panel_id))
    if status != PanelStatus.COMPLETED:
        return
    for inv_id in served:
        score = lambda: rng.choice((3, 4, 4, 5, 5, 5))  # noqa: E731
        await evaluation.record(uow, contact, inv_id, professional=score(), attitude=score(), quality=score(),
                                attendance="late" if rng.random() < 0.1 else "present")


# --- personas -------------------------------------------------------------------------------------

async def personas(core: Core) -> list[Persona]:
    """Everyone with a chat account, admin first, then contacts, experts and the rest; plus one
    fresh "new user" who has never written to the bot."""
    out: list[Persona] = []
    newest = data.NEW_USER_TG_BASE
    async with core.uow() as uow:
        s = uow.session
        units = dict((await s.execute(select(Contact.id, UsingUnit.name).join(UsingUnit))).all())
        experts = {e.id: e for e in (await s.scalars(select(Expert))).all()}
        for a in (await s.scalars(select(Account).order_by(Account.telegram_id))).all():
            held = tuple(r for r, on in (("admin", a.is_admin), ("supervisor", a.is_supervisor),
                                         ("contact", a.contact_id is not None),
                                         ("expert", a.expert_id is not None)) if on)
            e = experts.get(a.expert_id) if a.expert_id is not None else None
            unit = units.get(a.contact_id, "") if a.contact_id is not None else (e.work_unit if e else "")
            out.append(Persona(a.telegram_id, a.display_name or (e.name if e else ""), held, unit,
                               a.language or core.settings.default_language, e.title if e else "",
                               e.term_end.isoformat() if e and e.term_end else ""))
            newest = max(newest, a.telegram_id)
    out.append(Persona(newest + 1, "", (), "", core.settings.default_language, known=False))
    order = {"admin": 0, "supervisor": 1, "contact": 2, "expert": 3}
    out.sort(key=lambda p: (min((order[r] for r in p.roles), default=4), p.telegram_id))
    return out


async def summary(core: Core) -> dict[str, int]:
    """Counts for the console line after seeding."""
    async with core.uow() as uow:
        s = uow.session
        return {"experts": await s.scalar(select(func.count()).select_from(Expert)) or 0,
                "units": await s.scalar(select(func.count()).select_from(UsingUnit)) or 0,
                "panels": await s.scalar(select(func.count()).select_from(Panel)) or 0}
