"""Public roster outputs (Art. 9): CSV, XLSX and a self-contained HTML page. Public fields only."""
from __future__ import annotations

import csv
import html
import io
from datetime import date
from pathlib import Path
from typing import Sequence

from core.i18n import t
from core.services.discipline import AnnouncementView
from core.services.roster import RosterRow

FORMATS = ("csv", "xlsx", "html")


def _header(lang: str) -> list[str]:
    return [t("roster.col.code", lang), t("roster.col.name", lang), t("roster.col.unit", lang),
            t("roster.col.title", lang), t("roster.col.fields", lang), t("roster.col.term_end", lang)]


def _cells(r: RosterRow, lang: str) -> list[str]:
    fields = r.fields_en if lang == "en" else r.fields_zh
    return [r.code, r.name, r.work_unit, r.title, ("; " if lang == "en" else "、").join(fields), r.term_end]


def announcement_text(a: AnnouncementView, lang: str) -> str:
    """The notice as published (公告, Art. 16): name, work unit, ground, date — plain text."""
    if a.kind == "removal":
        return t("site.removal", lang, name=a.name, unit=a.work_unit, date=a.date,
                 ground=t(f"ground.art16.{a.ground}", lang))
    return t("site.commendation", lang, name=a.name, unit=a.work_unit, date=a.date)


def roster_csv(rows: Sequence[RosterRow], lang: str = "zh") -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(_header(lang))
    for r in rows:
        w.writerow(_cells(r, lang))
    return buf.getvalue().encode("utf-8-sig")  # BOM: Excel opens UTF-8 Chinese correctly


def roster_xlsx(rows: Sequence[RosterRow], lang: str = "zh", notices: Sequence[AnnouncementView] = ()) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = t("roster.sheet", lang)[:31]
    ws.append(_header(lang))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in rows:
        ws.append(_cells(r, lang))
    for col, width in zip("ABCDEF", (10, 12, 36, 18, 40, 12)):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"
    if notices:
        notes = wb.create_sheet(t("site.announcements", lang)[:31])
        notes.append([t("roster.col.date", lang), t("site.announcements", lang)])
        for cell in notes[1]:
            cell.font = Font(bold=True)
        for a in notices:
            notes.append([a.date, announcement_text(a, lang)])
        notes.column_dimensions["A"].width, notes.column_dimensions["B"].width = 12, 100
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


PAGE_CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;margin:2rem;color:#222}
h1{font-size:1.5rem}table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:.4rem .6rem;text-align:left}
th{background:#f0f4f0}tr:nth-child(even){background:#fafafa}input{padding:.4rem;width:20rem;margin:.5rem 0}
.meta{color:#666;font-size:.9rem}h2{font-size:1.2rem;margin-top:2rem}.notice{border-left:3px solid #b33;padding-left:.6rem}
"""
SEARCH_JS = """
document.getElementById('q').addEventListener('input',function(e){var q=e.target.value.trim().toLowerCase();
document.querySelectorAll('tbody tr').forEach(function(tr){tr.style.display=tr.textContent.toLowerCase().indexOf(q)>=0?'':'none';});});
"""


def roster_html(rows: Sequence[RosterRow], lang: str = "zh", published: date | None = None,
                notices: Sequence[AnnouncementView] = ()) -> bytes:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in _header(lang))
    body = "\n".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in _cells(r, lang)) + "</tr>" for r in rows)
    title = t("roster.title", lang)
    meta = t("roster.meta", lang, count=len(rows), date=(published or date.today()).isoformat())
    notes = "".join(f'<p class="notice" id="a-{a.id}">{esc(announcement_text(a, lang))}</p>' for a in notices)
    notes_section = f'<h2>{esc(t("site.announcements", lang))}</h2>{notes}' if notices else ""
    page = f"""<!DOCTYPE html>
<html lang="{'en' if lang == 'en' else 'zh-CN'}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>{esc(title)}</title>
<style>{PAGE_CSS}</style></head><body>
<h1>{esc(title)}</h1><p class="meta">{esc(meta)}</p>
<input id="q" type="search" placeholder="{esc(t('roster.search', lang))}" aria-label="{esc(t('roster.search', lang))}">
<table><thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table>{notes_section}<script>{SEARCH_JS}</script></body></html>
"""
    return page.encode("utf-8")


def write_roster(rows: Sequence[RosterRow], fmt: str, out: Path, lang: str = "zh", published: date | None = None,
                 notices: Sequence[AnnouncementView] = ()) -> None:
    """Write one format. CSV holds the single roster table; XLSX and HTML also carry the announcements."""
    if fmt == "csv":
        data = roster_csv(rows, lang)
    elif fmt == "xlsx":
        data = roster_xlsx(rows, lang, notices)
    elif fmt == "html":
        data = roster_html(rows, lang, published, notices)
    else:
        from core.errors import DomainError

        raise DomainError("roster.format", value=fmt, allowed="/".join(FORMATS))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
