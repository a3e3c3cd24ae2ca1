"""The monthly report, the public roster and the public site from a seeded database of 1,000
experts and 500 panels: the HTML's numbers match the database, nothing private appears anywhere,
and generating all of it stays well under 10 s."""
from __future__ import annotations

import io
import re
import time
import zipfile
from collections import Counter
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from core import charts, site
from core.bootstrap import Core
from core.db.models import (
    AuditEntry,
    Contact,
    DirectedExpert,
    Evaluation,
    Expert,
    ExpertCategory,
    Category,
    Invitation,
    Panel,
    Sanction,
    UsingUnit,
)
from core.errors import DomainError, Forbidden
from core.reports import build_report, report_html, report_xlsx, write_report
from core.roster_export import roster_csv, roster_html, roster_xlsx
from core.services import monthly
from core.services.discipline import published
from core.services.roster import public_roster
from tests.factories import make_unit_contact
from tests.support.seed import seed

MONTH = "2026-11"
TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 1, tzinfo=TZ).astimezone(timezone.utc)
END = datetime(2026, 12, 1, tzinfo=TZ).astimezone(timezone.utc)
BUDGET_SECONDS = 10.0


class _Cells(HTMLParser):
    """data-k → data-v of every figure cell; the visible text; the embedded images."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "td" and a.get("data-k"):
            self.values[a["data-k"] or ""] = a.get("data-v") or ""
        if tag == "img":
            self.images.append(a.get("src") or "")


def _num(v: str) -> float | None:
    return None if v == "None" else float(v)


async def _scalar(core: Core, q: object) -> int:
    async with core.sessions() as s:
        return int(await s.scalar(q) or 0)  # type: ignore[arg-type]


async def _private_values(core: Core) -> set[str]:
    """Every stored ID number, phone, address, e-mail and birth date, in the forms people write them."""
    out: set[str] = set()
    async with core.sessions() as s:
        for idn, phone, address, email, birth in (await s.execute(
                select(Expert.id_number, Expert.phone, Expert.address, Expert.email, Expert.birth_month))).all():
            out |= {v for v in (idn, phone, address, email) if v}
            out |= {f"{birth:%Y-%m}", f"{birth:%Y年%m月}", f"{birth.year}年{birth.month}月", f"{birth:%Y/%m}",
                    f"{birth:%Y.%m}", f"{birth:%Y%m%d}", birth.isoformat()}
        out |= {p for p in (await s.scalars(select(Contact.phone))).all() if p}
        out |= {c for c in (await s.scalars(select(DirectedExpert.contact))).all() if c}
    return out


def _xlsx_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return "\n".join(z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xml"))


def _without_images(text: str) -> str:
    # PNG pixels cannot carry text; dropping the base64 keeps a 6-digit birth date from
    # matching by chance inside the image data.
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)


async def _expected(core: Core) -> dict[str, float | None]:
    """The figures recomputed straight from the tables, independently of the report code."""
    within = lambda col: (col >= START) & (col < END)  # noqa: E731
    e: dict[str, float | None] = {}
    e["summary.experts_active.value"] = await _scalar(core, select(func.count()).where(Expert.status == "active"))
    e["summary.experts_total.value"] = await _scalar(core, select(func.count(Expert.id)))
    e["summary.panels_requested.value"] = await _scalar(core, select(func.count()).where(within(Panel.created_at)))
    e["summary.panels_cancelled.value"] = await _scalar(core, select(func.count()).where(
        within(Panel.created_at), Panel.status == "cancelled"))
    e["summary.evaluations.value"] = await _scalar(core, select(func.count()).where(within(Evaluation.completed_at)))
    e["summary.removals.value"] = await _scalar(core, select(func.count()).where(
        within(Sanction.decided_at), Sanction.kind == "removal"))
    async with core.sessions() as s:
        inv = Counter()
        for st, just in (await s.execute(select(Invitation.status, Invitation.justified)
                                         .where(within(Invitation.invited_at)))).all():
            inv[st if st != "declined" else ("declined_justified" if just else "declined_unjustified")] += 1
        for cid, code in (await s.execute(select(Category.id, Category.code))).all():
            e[f"experts_by_field.{code}.active"] = int(await s.scalar(
                select(func.count()).select_from(ExpertCategory).join(Expert, Expert.id == ExpertCategory.expert_id)
                .where(ExpertCategory.category_id == cid, Expert.status == "active")) or 0)
        for name, n in (await s.execute(select(UsingUnit.name, func.count(Panel.id)).join(
                Panel, Panel.unit_id == UsingUnit.id).where(within(Panel.created_at)).group_by(UsingUnit.name))).all():
            e[f"panels_by_unit.{name}.requested"] = int(n)
        fills = [(b - a).total_seconds() / 3600 for a, b in (await s.execute(
            select(Panel.created_at, Panel.confirmed_at).where(within(Panel.confirmed_at)))).all()]
        scores = Counter((await s.scalars(select(Evaluation.professional).where(within(Evaluation.completed_at)))).all())
        october = sum(1 for c in (await s.scalars(select(Panel.created_at))).all()
                      if c.astimezone(TZ).strftime("%Y-%m") == "2026-10")
    base = sum(n for k, n in inv.items() if k not in ("pending", "cancelled"))
    for k in ("accepted", "declined_justified", "declined_unjustified", "expired", "withdrawn", "conflict",
              "cancelled", "pending"):
        e[f"invitations.{k}.count"] = inv.get(k, 0)
    e["summary.invitations.value"] = sum(inv.values())
    e["summary.acceptance_rate.value"] = round(100 * inv["accepted"] / base, 1)
    e["fill_time.panels.value"] = len(fills)
    e["fill_time.mean.value"] = round(sum(fills) / len(fills), 1)
    for k in range(1, 6):
        e[f"evaluation_scores.professional.s{k}"] = scores.get(k, 0)
    e["panels_per_month.2026-10.requested"] = october
    return e


async def test_report_roster_and_site_from_a_seeded_database(core: Core, tmp_path: Path) -> None:
    t0 = time.perf_counter()
    seeded = await seed(core)
    seeding = time.perf_counter() - t0
    assert (seeded.experts, seeded.panels) == (1000, 500)

    t1 = time.perf_counter()
    figures = await monthly.monthly_figures(core.uow(), "cli", MONTH)
    report = build_report(figures, "zh", TZ)
    html_path, xlsx_path = write_report(report, tmp_path / "report")
    count, notices = await site.publish(core.uow(), tmp_path / "site", "zh")
    rows = await public_roster(core.uow())
    notes = await published(core.uow())
    roster_files = {"roster.csv": roster_csv(rows), "roster.xlsx": roster_xlsx(rows, "zh", notes),
                    "roster.html": roster_html(rows, "zh", None, notes)}
    elapsed = time.perf_counter() - t1
    print(f"\nseeding {seeding:.2f} s; report (figures, 4 charts, HTML, XLSX) + site + roster: {elapsed:.2f} s")
    assert elapsed < BUDGET_SECONDS

    page = html_path.read_text(encoding="utf-8")
    cells = _Cells()
    cells.feed(page)
    expected = await _expected(core)
    wrong = {k: (cells.values.get(k), v) for k, v in expected.items()
             if k not in cells.values or _num(cells.values[k]) != pytest.approx(v, abs=0.051)}
    assert wrong == {}
    assert len(cells.images) == 4 and all(src.startswith("data:image/png;base64,iVBOR") for src in cells.images)
    assert re.search(r'(src|href)="(?!data:|#)', page) is None  # self-contained: nothing to fetch
    assert (charts.cjk_font() is None) == ('id="no-cjk-font"' in page)
    for raw_key in ("report.", "bot.", "ground.", "matter_type."):
        assert raw_key not in page, f"untranslated catalog key {raw_key}…"

    # The site: one page per field, the announcements, self-contained.
    files = {p.relative_to(tmp_path / "site").as_posix(): p.read_text(encoding="utf-8")
             for p in (tmp_path / "site").rglob("*.html")}
    assert {"index.html", "announcements.html"} <= set(files)
    assert len([f for f in files if f.startswith("fields/")]) == len(figures.categories)
    active_now = expected["summary.experts_active.value"]
    assert count == len(rows) and 0 < count <= active_now
    assert files["index.html"].count("<tr data-search=") == count
    removed = await _scalar(core, select(func.count()).where(Sanction.kind == "removal"))
    assert files["announcements.html"].count('class="notice removal"') == removed and notices > removed
    assert "第十六条（" in files["announcements.html"]
    # The roster outputs carry the same announcements (Art. 16: removals are published with the roster).
    assert len(notes) == notices
    assert roster_files["roster.html"].decode("utf-8").count('class="notice"') == notices
    assert _xlsx_text(roster_files["roster.xlsx"]).count("特此公告") == removed
    for text in files.values():
        assert re.search(r'(src|href)="(https?:)?//', text) is None

    # Privacy: no stored private value anywhere in any output.
    private = await _private_values(core)
    assert len(private) > 4000  # 4,000+ distinct ID numbers, phones, addresses, e-mails (+ birth dates)
    outputs = {"report.html": _without_images(page), "report.xlsx": _xlsx_text(xlsx_path.read_bytes()),
               "roster.csv": roster_files["roster.csv"].decode("utf-8-sig"),
               "roster.xlsx": _xlsx_text(roster_files["roster.xlsx"]),
               "roster.html": roster_files["roster.html"].decode("utf-8"), **files}
    leaks = {name: sorted(v for v in private if v in text)[:5] for name, text in outputs.items()}
    assert {k: v for k, v in leaks.items() if v} == {}


async def test_empty_month_renders_and_english_has_no_raw_keys(core: Core, tmp_path: Path) -> None:
    figures = await monthly.monthly_figures(core.uow(), "cli", "2030-02")
    for lang in ("zh", "en"):
        page = report_html(build_report(figures, lang, TZ)).decode("utf-8")
        assert "report." not in page and "bot." not in page
        assert report_xlsx(build_report(figures, lang, TZ))[:2] == b"PK"
    pages = site.render_site([], [], [], "en", datetime(2026, 11, 2).date())
    assert set(pages) == {"index.html", "announcements.html"}


@pytest.mark.parametrize("month", ["2026-13", "26-11", "2026/11", "", "1999-01"])
async def test_bad_month_is_refused(core: Core, month: str) -> None:
    with pytest.raises(DomainError) as exc:
        await monthly.monthly_figures(core.uow(), "cli", month)
    assert exc.value.code == "monthly.bad_month"


async def test_units_cannot_read_the_report(core: Core) -> None:
    contact = await make_unit_contact(core)
    with pytest.raises(Forbidden):
        await monthly.monthly_figures(core.uow(), contact, MONTH)
    async with core.sessions() as s:
        assert await s.scalar(select(func.count()).where(AuditEntry.action == "security.refused")) == 1


def test_cli_report_and_roster_publish(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    from bot.commands import report, roster_publish

    monkeypatch.setenv("EXPERTPANEL_DATABASE__URL", db_url)
    monkeypatch.delenv("EXPERTPANEL_CONFIG", raising=False)
    app = typer.Typer()
    roster_app = typer.Typer()
    app.add_typer(roster_app, name="roster")
    report.register(app)
    roster_publish.register_roster(roster_app)
    runner = CliRunner()
    out = runner.invoke(app, ["report", "--month", MONTH, "--out", str(tmp_path / "r")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "r" / f"report-{MONTH}.html").is_file() and (tmp_path / "r" / f"report-{MONTH}.xlsx").is_file()
    out = runner.invoke(app, ["roster", "publish", "--out", str(tmp_path / "s"), "--lang", "en"])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "s" / "index.html").is_file() and (tmp_path / "s" / "announcements.html").is_file()
    assert "eia.html" in {p.name for p in (tmp_path / "s" / "fields").iterdir()}
