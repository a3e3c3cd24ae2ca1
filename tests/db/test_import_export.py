"""Roster import (all or nothing, per-row errors) and exports (public ones hold nothing private)."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from core.bootstrap import Core
from core.db.models import Account, Expert, Term
from core.errors import DomainError
from core.roster_export import roster_csv, roster_html, roster_xlsx
from core.services import audit
from core.services.admin_export import export_experts
from core.services.importer import COLUMNS, ImportFailed, import_experts
from core.services.roster import public_roster
from tests.support.people import form_data

HEADER = list(COLUMNS)
NATURE = {"research": "科研院所"}
FIELD_ZH = {"eia": "环境影响评价", "monitoring": "环境监测与监控"}


def sheet_row(i: int, **over: Any) -> list[Any]:
    d = form_data(i)
    row = {
        "姓名": d["name"], "性别": "男" if d["gender"] == "male" else "女", "出生年月": d["birth_month"],
        "民族": d["ethnicity"], "学历/学位": d["education"], "身份证号": d["id_number"],
        "工作单位": d["work_unit"], "职务": d["position"], "职业证书及编号": d["certificate"],
        "是否在职": "是", "单位性质": NATURE[d["unit_nature"]], "技术职称": d["title"],
        "职称取得时间": d["title_obtained"], "现从事专业": d["specialty"], "毕业院校及专业": d["graduated"],
        "通信地址": d["address"], "联系电话": d["phone"], "电子邮箱": d["email"],
        "专业领域": "、".join(FIELD_ZH[f] for f in d["fields"]), "主要工作经历": d["work_history"],
        "专业领域研究成果": d["achievements"], "任期开始": "", "Telegram ID": "",
    }
    row.update(over)
    return [row[h] for h in HEADER]


def write_xlsx(path: Path, rows: list[list[Any]], header: list[str] = HEADER) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


async def _experts(core: Core) -> int:
    async with core.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(Expert)) or 0)


async def test_500_rows_import_then_reimport_updates(core: Core, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "roster.xlsx", [sheet_row(i) for i in range(1, 501)])
    dry = await import_experts(core.uow(), path, "cli", dry_run=True)
    assert (dry.created, dry.updated, dry.dry_run) == (500, 0, True)
    assert await _experts(core) == 0
    res = await import_experts(core.uow(), path, "cli")
    assert (res.created, res.updated) == (500, 0)
    assert await _experts(core) == 500
    # same people again with a new title: updated, not duplicated; a new term only when given
    path2 = write_xlsx(tmp_path / "again.xlsx", [sheet_row(i, 技术职称="正高级工程师") for i in range(1, 501)])
    res2 = await import_experts(core.uow(), path2, "cli")
    assert (res2.created, res2.updated) == (0, 500)
    async with core.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Expert)) == 500
        assert await s.scalar(select(func.count()).select_from(Term)) == 500
        assert set((await s.scalars(select(Expert.title))).all()) == {"正高级工程师"}
    assert (await audit.verify(core.uow())).ok


async def test_bad_rows_are_all_named_and_nothing_is_written(core: Core, tmp_path: Path) -> None:
    rows = [sheet_row(i) for i in range(1, 501)]
    good_id = rows[0][HEADER.index("身份证号")]
    rows[9][HEADER.index("身份证号")] = good_id[:-1] + ("0" if good_id[-1] != "0" else "1")  # bad check digit
    rows[99][HEADER.index("联系电话")] = "12800138000"
    rows[199][HEADER.index("专业领域")] = "环境影响评价、气候变化、核与辐射、环境经济"
    rows[299][HEADER.index("单位性质")] = "外星企业"
    rows[399] = sheet_row(399, 姓名="重复的人")  # same person as line 400
    path = write_xlsx(tmp_path / "bad.xlsx", rows)
    with pytest.raises(ImportFailed) as exc:
        await import_experts(core.uow(), path, "cli")
    named = {(e.line, e.column) for e in exc.value.errors}
    assert (11, "身份证号") in named       # line = row index + 2 (header is line 1)
    assert (101, "联系电话") in named
    assert (201, "专业领域") in named
    assert (301, "单位性质") in named
    assert (401, "身份证号") in named
    assert {e.line for e in exc.value.errors} == {11, 101, 201, 301, 401}
    assert await _experts(core) == 0


@pytest.mark.parametrize("content, name, code", [
    (b"", "empty.xlsx", "import.empty"),
    (b"this is not a zip file at all", "fake.xlsx", "import.not_spreadsheet"),
    (b"%PDF-1.4 ...", "roster.pdf", "import.bad_format"),
])
async def test_unreadable_files(core: Core, tmp_path: Path, content: bytes, name: str, code: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DomainError) as exc:
        await import_experts(core.uow(), path, "cli")
    assert exc.value.code == code


async def test_header_problems_named(core: Core, tmp_path: Path) -> None:
    header = [h for h in HEADER if h != "电子邮箱"] + ["备注"]
    header[0] = "名字"  # renamed
    path = write_xlsx(tmp_path / "h.xlsx", [], header)
    with pytest.raises(DomainError) as exc:
        await import_experts(core.uow(), path, "cli")
    assert exc.value.code == "import.header"
    assert "电子邮箱" in exc.value.params["missing"] and "姓名" in exc.value.params["missing"]
    assert "备注" in exc.value.params["unknown"] and "名字" in exc.value.params["unknown"]


async def test_csv_in_gb18030_with_telegram_binding(core: Core, tmp_path: Path) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADER)
    w.writerow(sheet_row(1, **{"Telegram ID": "424242", "任期开始": "2025-01-01"}))
    path = tmp_path / "r.csv"
    path.write_bytes(buf.getvalue().encode("gb18030"))
    res = await import_experts(core.uow(), path, "cli")
    assert res.created == 1
    async with core.sessions() as s:
        acc = await s.scalar(select(Account).where(Account.telegram_id == 424242))
        expert = await s.scalar(select(Expert))
    assert acc is not None and expert is not None and acc.expert_id == expert.id
    assert str(expert.term_start) == "2025-01-01" and str(expert.term_end) == "2027-12-31"


async def test_full_export_round_trips(core: Core, tmp_path: Path) -> None:
    await import_experts(core.uow(), write_xlsx(tmp_path / "a.xlsx", [sheet_row(i) for i in range(1, 6)]), "cli")
    out = tmp_path / "full.xlsx"
    assert await export_experts(core.uow(), out) == 5
    res = await import_experts(core.uow(), out, "cli", dry_run=True)
    assert (res.created, res.updated) == (0, 5)


async def test_public_roster_outputs_hold_nothing_private(core: Core, tmp_path: Path) -> None:
    await import_experts(core.uow(), write_xlsx(tmp_path / "a.xlsx", [sheet_row(i) for i in range(1, 41)]), "cli")
    rows = await public_roster(core.uow())
    assert len(rows) == 40
    async with core.sessions() as s:
        experts = (await s.scalars(select(Expert))).all()
    secrets_ = set()
    for e in experts:
        secrets_ |= {e.id_number, e.phone, e.address, e.email, f"{e.birth_month:%Y-%m}", e.id_number[:6] + e.id_number[-4:]}
    wb = load_workbook(io.BytesIO(roster_xlsx(rows)))
    xlsx_text = "\n".join(str(c) for r in wb.active.iter_rows(values_only=True) for c in r)
    outputs = {"csv": roster_csv(rows).decode("utf-8-sig"), "html": roster_html(rows).decode(), "xlsx": xlsx_text}
    for fmt, text in outputs.items():
        assert experts[0].name in text, fmt
        leaked = [v for v in secrets_ if v and v in text]
        assert leaked == [], (fmt, leaked)
