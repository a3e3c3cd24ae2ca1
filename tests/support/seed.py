"""A realistic database for report and site tests, written with bulk inserts (seconds, not minutes).

`seed(core)` writes ~1,000 experts (every private 附件1 field filled with a distinct, well-formed
value), 20 using units with contacts, ~500 panels over twelve months ending with the report
month, their invitations (every outcome), evaluations, sanctions, commendations, flags,
announcements and directed selections. Randomness is seeded: the same call gives the same data.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from core.bootstrap import Core
from core.conflicts import normalize_unit_name
from core.db.models import (
    Announcement,
    Category,
    Commendation,
    Contact,
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
from core.enums import ExpertStatus, FlagKind, FlagStatus, InvitationStatus, MatterType, PanelStatus
from core.services import audit
from tests.support.people import make_id_number

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红文辉玉兰海燕鹏飞春梅新疆天山博格达"
UNITS = [f"新疆{a}{b}" for a in ("环境", "生态", "环保", "水利", "地质", "农业")
         for b in ("科学研究院", "监测中心", "设计院", "大学", "工程有限公司", "咨询有限公司", "技术中心",
                   "研究所", "检测有限公司", "规划院")]
TITLES = ("高级工程师", "正高级工程师", "教授", "研究员", "副教授", "副研究员")
DISTRICTS = ("天山区", "沙依巴克区", "新市区", "水磨沟区", "头屯河区", "达坂城区", "米东区")
TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Seeded:
    experts: int
    panels: int
    invitations: int
    evaluations: int
    month: str


def _month_start(y: int, m: int) -> datetime:
    return datetime(y, m, 1, tzinfo=TZ).astimezone(timezone.utc)


def _months(month: str, n: int) -> list[tuple[int, int]]:
    y, m = (int(x) for x in month.split("-"))
    out = []
    for _ in range(n):
        out.append((y, m))
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]


async def _bulk(core: Core, model: type, rows: Sequence[dict[str, Any]], *, ids: bool = False) -> list[int]:
    if not rows:
        return []
    async with core.sessions() as s:
        if ids:
            result = await s.execute(insert(model).returning(model.id, sort_by_parameter_order=True), list(rows))  # type: ignore[attr-defined]
            out = [r[0] for r in result.all()]
        else:
            await s.execute(insert(model), list(rows))
            out = []
        await s.commit()
    return out


def _expert_rows(rnd: random.Random, n: int, now: datetime, today: date) -> list[dict[str, Any]]:
    rows, seen = [], set()
    for i in range(n):
        birth = date(1955 + i % 40, 1 + (i * 7) % 12, 1 + (i * 11) % 28)
        male = i % 2 == 0
        seq = i
        idn = make_id_number(birth, male=male, seq=seq, region="650102")
        while idn in seen:
            seq += 2
            idn = make_id_number(birth, male=male, seq=seq, region="650104")
        seen.add(idn)
        roll = rnd.random()
        status = (ExpertStatus.ACTIVE if roll < 0.85 else ExpertStatus.SUSPENDED if roll < 0.89 else
                  ExpertStatus.EXPIRED if roll < 0.94 else ExpertStatus.WITHDRAWN if roll < 0.97 else
                  ExpertStatus.REMOVED).value
        start = today - timedelta(days=rnd.randrange(30, 1000))
        end = start + timedelta(days=3 * 365) if status != ExpertStatus.EXPIRED.value else today - timedelta(days=rnd.randrange(1, 200))
        unit = UNITS[i % len(UNITS)]
        rows.append({
            "name": SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 3) % len(GIVEN)] + GIVEN[(i * 7 + 1) % len(GIVEN)],
            "gender": "male" if male else "female", "birth_month": birth.replace(day=1), "ethnicity": "汉族",
            "education": "研究生/博士", "id_number": idn, "work_unit": unit, "work_unit_norm": normalize_unit_name(unit),
            "work_unit_uscc": None, "position": "总工程师", "certificate": f"注册环保工程师 HB{i:05d}", "employed": True,
            "unit_nature": "research", "title": TITLES[i % len(TITLES)], "title_obtained": date(2005 + i % 15, 6, 1),
            "specialty": "大气污染控制", "graduated": "新疆大学 环境工程",
            "address": f"乌鲁木齐市{DISTRICTS[i % len(DISTRICTS)]}幸福路{1000 + i}号{i % 30 + 1}栋",
            "phone": f"139{i:08d}", "email": f"seed.expert{i}@example.cn", "years_in_field": 5 + i % 25,
            "work_history": "", "achievements": "", "status": status, "term_start": start, "term_end": end,
            "field_mask": 0, "created_at": now, "updated_at": now, "erased_at": None,
        })
    return rows


async def seed(core: Core, *, experts: int = 1000, panels: int = 500, month: str = "2026-11",
               rng_seed: int = 20261101) -> Seeded:
    rnd = random.Random(rng_seed)
    now = core.clock.now()
    today = now.astimezone(TZ).date()
    async with core.sessions() as s:
        cats = [c for c, in (await s.execute(select(Category.id).order_by(Category.position)))]
    rows = _expert_rows(rnd, experts, now, today)
    fields_of: list[list[int]] = [rnd.sample(cats, rnd.choice((1, 2, 2, 3))) for _ in rows]
    for row, fs in zip(rows, fields_of):
        row["field_mask"] = sum(1 << c for c in fs)
    expert_ids = await _bulk(core, Expert, rows, ids=True)
    await _bulk(core, ExpertCategory, [{"expert_id": e, "category_id": c}
                                       for e, fs in zip(expert_ids, fields_of) for c in fs])
    status_of = dict(zip(expert_ids, (r["status"] for r in rows)))

    unit_ids = await _bulk(core, UsingUnit, [{"name": f"乌鲁木齐市使用单位{i:02d}", "name_norm": f"使用单位{i:02d}",
                                              "uscc": None, "created_at": now} for i in range(20)], ids=True)
    contact_ids = await _bulk(core, Contact, [{"unit_id": u, "name": f"联系人{i}", "phone": f"137{i:08d}",
                                               "active": True, "created_at": now}
                                              for i, u in enumerate(unit_ids)], ids=True)

    months = _months(month, 12)
    panel_rows, plan = [], []
    for i in range(panels):
        y, m = months[-1] if i % 5 < 2 else months[rnd.randrange(11)]
        start = _month_start(y, m)
        created = start + timedelta(days=rnd.randrange(0, 27), hours=rnd.randrange(0, 24))
        size = rnd.choice((3, 3, 5))
        roll = rnd.random()
        status = (PanelStatus.EVALUATED if roll < 0.45 else PanelStatus.COMPLETED if roll < 0.6 else
                  PanelStatus.CONFIRMED if roll < 0.72 else PanelStatus.INVITING if roll < 0.82 else
                  PanelStatus.SHORT if roll < 0.9 else PanelStatus.CANCELLED).value
        meets = created + timedelta(days=rnd.randrange(7, 25))
        confirmed = created + timedelta(hours=rnd.uniform(2, 160)) if status in (
            PanelStatus.EVALUATED.value, PanelStatus.COMPLETED.value, PanelStatus.CONFIRMED.value) else None
        u = i % len(unit_ids)
        panel_rows.append({
            "unit_id": unit_ids[u], "contact_id": contact_ids[u], "title": f"第{i}号项目环境影响报告书技术评审",
            "matter_type": rnd.choice([t.value for t in MatterType]), "description": "", "location": "局会议室",
            "starts_at": meets, "ends_at": meets + timedelta(hours=3), "size": size,
            "response_deadline": created + timedelta(days=5), "status": status, "created_at": created,
            "updated_at": created, "confirmed_at": confirmed,
            "completed_at": meets + timedelta(hours=3) if status in (PanelStatus.EVALUATED.value,
                                                                    PanelStatus.COMPLETED.value) else None,
            "cancelled_at": created + timedelta(days=1) if status == PanelStatus.CANCELLED.value else None,
            "cancel_reason": "", "short_detail": None, "status_chat_id": None, "status_message_id": None,
        })
        plan.append((status, size, created, meets))
    panel_ids = await _bulk(core, Panel, panel_rows, ids=True)

    active = [e for e in expert_ids if status_of[e] == ExpertStatus.ACTIVE.value]
    inv_rows, served = [], []
    for pid, (status, size, created, meets) in zip(panel_ids, plan):
        chosen = rnd.sample(active, size + 3)
        for k, eid in enumerate(chosen):
            invited = created + timedelta(minutes=5 + k)
            replied = invited + timedelta(hours=rnd.choice((0.3, 2, 5, 12, 20, 30, 60, 100, 200)) * rnd.uniform(0.5, 1.5))
            row = {"panel_id": pid, "draw_id": None, "expert_id": eid, "group_index": 0, "rank": k + 1,
                   "replacement_of": None, "invited_at": invited, "deadline": created + timedelta(days=5),
                   "responded_at": replied, "decline_reason": None, "decline_text": "", "justified": None,
                   "conflict_party_id": None, "conflict_text": "", "withdrawn_reason": "", "nudged_at": None}
            if status == PanelStatus.CANCELLED.value:
                row.update(status=InvitationStatus.CANCELLED.value, responded_at=None)
            elif k < size and status != PanelStatus.SHORT.value:
                pending = status == PanelStatus.INVITING.value and k == 0
                row.update(status=InvitationStatus.PENDING.value if pending else InvitationStatus.ACCEPTED.value,
                           responded_at=None if pending else replied)
            else:
                outcome = rnd.choice(("declined_j", "declined_u", "expired", "conflict", "withdrawn"))
                if outcome == "expired":
                    row.update(status=InvitationStatus.EXPIRED.value, responded_at=None)
                elif outcome == "conflict":
                    row.update(status=InvitationStatus.CONFLICT.value)
                elif outcome == "withdrawn":
                    row.update(status=InvitationStatus.WITHDRAWN.value, justified=rnd.random() < 0.5)
                else:
                    row.update(status=InvitationStatus.DECLINED.value, justified=outcome == "declined_j",
                               decline_reason="schedule" if outcome == "declined_j" else "other")
            inv_rows.append(row)
    inv_ids = await _bulk(core, Invitation, inv_rows, ids=True)
    for iid, row in zip(inv_ids, inv_rows):
        if row["status"] == InvitationStatus.ACCEPTED.value:
            served.append((iid, row))

    status_by_panel = {pid: p[0] for pid, p in zip(panel_ids, plan)}
    meets_by_panel = {pid: p[3] for pid, p in zip(panel_ids, plan)}
    ev_rows = []
    for iid, row in served:
        pst = status_by_panel[row["panel_id"]]
        if pst == PanelStatus.EVALUATED.value or (pst == PanelStatus.COMPLETED.value and iid % 2):
            done = meets_by_panel[row["panel_id"]] + timedelta(days=rnd.randrange(1, 6))
            ev_rows.append({"panel_id": row["panel_id"], "expert_id": row["expert_id"], "invitation_id": iid,
                            "professional": rnd.choice((3, 4, 4, 5, 5, 5)), "attitude": rnd.choice((2, 4, 5, 5)),
                            "quality": rnd.choice((1, 3, 4, 5, 5)),
                            "attendance": rnd.choice(("present",) * 8 + ("late", "absent")), "comment": "",
                            "rated_by": "account:1", "created_at": done, "updated_at": done, "completed_at": done})
    await _bulk(core, Evaluation, ev_rows)

    await _decisions(core, rnd, expert_ids, status_of, rows, months, panel_ids, unit_ids, contact_ids)
    uow = core.uow()
    async with uow:  # a few panels were short at some point: the audit chain says so
        for pid, (status, *_rest) in zip(panel_ids, plan):
            if status == PanelStatus.INVITING.value and pid % 3 == 0:
                await audit.append(uow, "system", "panel.short", "panel", pid, open_seats=1, reason="pool")
        await uow.commit()
    return Seeded(len(expert_ids), len(panel_ids), len(inv_ids), len(ev_rows), month)


async def _decisions(core: Core, rnd: random.Random, expert_ids: list[int], status_of: dict[int, str],
                     rows: list[dict[str, Any]], months: list[tuple[int, int]], panel_ids: list[int],
                     unit_ids: list[int], contact_ids: list[int]) -> None:
    info = dict(zip(expert_ids, rows))
    sanctions, announcements, commendations, flags, directed = [], [], [], [], []
    for k, eid in enumerate(expert_ids):
        when = _month_start(*months[-1 - (k % 3)]) + timedelta(days=3 + k % 20, hours=3)
        body = {"name": info[eid]["name"], "work_unit": info[eid]["work_unit"],
                "date": when.astimezone(TZ).date().isoformat()}
        if status_of[eid] == ExpertStatus.REMOVED.value:
            ground = 1 + k % 7
            sanctions.append({"expert_id": eid, "kind": "removal", "ground": ground, "note": "局务会研究决定",
                              "flag_id": None, "decided_by": "cli", "decided_at": when})
            announcements.append({"kind": "removal", "expert_id": eid, "body": {**body, "ground": ground},
                                  "published_at": when})
        elif k % 61 == 0:
            sanctions.append({"expert_id": eid, "kind": ("warning", "interview_reminder")[k % 2], "ground": 1 + k % 5,
                              "note": "约谈", "flag_id": None, "decided_by": "cli", "decided_at": when})
        elif k % 97 == 0:
            commendations.append({"expert_id": eid, "note": "表现突出", "decided_by": "cli", "decided_at": when})
            announcements.append({"kind": "commendation", "expert_id": eid, "body": body, "published_at": when})
        if k % 83 == 0:
            closed = k % 2 == 0
            flags.append({"expert_id": eid, "kind": (FlagKind.REFUSAL_RULE, FlagKind.POOR_EVALUATIONS)[k % 2].value,
                          "status": (FlagStatus.CLOSED if closed else FlagStatus.OPEN).value,
                          "evidence": {"rule": "seed"}, "created_at": when,
                          "closed_at": when + timedelta(days=2) if closed else None,
                          "closed_by": "cli" if closed else "", "decision": "已研究" if closed else ""})
    await _bulk(core, Sanction, sanctions)
    await _bulk(core, Announcement, announcements)
    await _bulk(core, Commendation, commendations)
    await _bulk(core, Flag, flags)
    for j in range(8):
        pid = panel_ids[j * 7]
        when = _month_start(*months[-1 - (j % 2)]) + timedelta(days=5 + j)
        directed.append({"panel_id": pid, "contact_id": contact_ids[j % len(contact_ids)], "reason": "专业特殊",
                         "seats": 1 + j % 2, "status": ("pending", "approved", "rejected")[j % 3],
                         "created_at": when, "decided_by": "", "decided_at": None, "decision_note": ""})
    ids = await _bulk(core, DirectedSelection, directed, ids=True)
    await _bulk(core, DirectedExpert, [{"directed_id": d, "panel_id": row["panel_id"], "name": f"外聘专家{n}",
                                        "unit": "新疆大学", "title": "教授", "contact": f"136{n:08d}",
                                        "added_at": row["created_at"]}
                                       for n, (d, row) in enumerate(zip(ids, directed)) if row["status"] == "approved"])
