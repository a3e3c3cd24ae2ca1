"""The bureau's monthly report: tables from `MonthlyFigures`, one self-contained HTML page with
charts embedded as base64 PNG, and the same tables in an XLSX workbook.

Every figure cell carries `data-k="<table>.<row>.<column>"` and its raw value in `data-v`, so a
test (or a person with the browser's inspector) can check a number against the database.
"""
from __future__ import annotations

import base64
import html
import io
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import charts
from core.enums import ExpertStatus
from core.i18n import t
from core.services.monthly import MonthlyFigures, PanelCounts

STATUSES = [s.value for s in ExpertStatus]
OUTCOMES = ("accepted", "declined_justified", "declined_unjustified", "expired", "withdrawn", "conflict",
            "cancelled", "pending")
REFUSALS = ("declined_justified", "declined_unjustified", "expired", "withdrawn")
RESPONSE_EDGES = (0, 1, 6, 24, 48, 72, 168, 336)  # hours; the last bin holds everything slower
DIMENSIONS = ("professional", "attitude", "quality")


@dataclass
class Table:
    key: str
    cols: list[str]  # column keys; the first column is the row label
    rows: list[tuple[str, list[Any]]] = field(default_factory=list)  # (row key, cells)
    note: str = ""

    def add(self, key: str, *cells: Any) -> None:
        assert len(cells) == len(self.cols), (self.key, key)
        self.rows.append((key, list(cells)))


@dataclass
class Chart:
    key: str
    png: bytes


@dataclass
class Report:
    month: str
    lang: str
    tables: list[Table]
    charts: dict[str, Chart]
    cjk_font: str | None
    generated: str


def rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 1) if values else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def invitation_base(inv: dict[str, int]) -> int:
    """Invitations with a known answer: everything but those still pending or closed by the bureau."""
    return sum(n for k, n in inv.items() if k not in ("pending", "cancelled"))


def response_bins(hours: list[float]) -> list[int]:
    counts = [0] * (len(RESPONSE_EDGES) - 1)
    for h in hours:
        i = next((j for j in range(len(counts)) if h < RESPONSE_EDGES[j + 1]), len(counts) - 1)
        counts[i] += 1
    return counts


def _field_name(f: MonthlyFigures, cid: int, lang: str) -> str:
    return next((en if lang == "en" else zh for i, _c, zh, en in f.categories if i == cid), str(cid))


def _tables(f: MonthlyFigures, lang: str) -> list[Table]:
    tr = lambda key, **kw: t(key, lang, **kw)  # noqa: E731
    inv = f.invitations
    base = invitation_base(inv)
    total: PanelCounts = f.panels_total
    evaluations = sum(f.attendance.values())
    removals = sum(1 for s in f.sanctions if s["kind"] == "removal")

    summary = Table("summary", ["item", "value"])
    for key, value in (
        ("experts_active", f.experts_by_status.get(ExpertStatus.ACTIVE.value, 0)),
        ("experts_total", sum(f.experts_by_status.values())),
        ("terms_ending", len(f.terms_ending)),
        ("panels_requested", total.requested), ("panels_confirmed", total.confirmed),
        ("panels_short", total.short), ("panels_cancelled", total.cancelled),
        ("invitations", sum(inv.values())),
        ("acceptance_rate", rate(inv.get("accepted", 0), base)),
        ("refusal_rate", rate(sum(inv.get(k, 0) for k in REFUSALS), base)),
        ("fill_hours_mean", _mean(f.fill_hours)), ("evaluations", evaluations),
        ("sanctions", len(f.sanctions) - removals), ("removals", removals),
        ("commendations", len(f.commendations)), ("directed", len(f.directed)),
    ):
        summary.add(key, tr(f"report.item.{key}"), value)

    fields = Table("experts_by_field", ["field", *STATUSES, "total"], note=tr("report.note.snapshot"))
    for cid, code, _zh, _en in f.categories:
        counts = [f.experts_by_field_status.get((cid, st), 0) for st in STATUSES]
        fields.add(code, _field_name(f, cid, lang), *counts, sum(counts))
    fields.add("_experts", tr("report.row.distinct_experts"),
               *[f.experts_by_status.get(st, 0) for st in STATUSES], sum(f.experts_by_status.values()))

    terms = Table("terms_ending", ["code", "name", "unit", "term_end"], note=tr("report.note.terms"))
    for code, name, unit, end in f.terms_ending:
        terms.add(code, code, name, unit, end.isoformat())

    by_unit = Table("panels_by_unit", ["unit", "requested", "confirmed", "short", "cancelled"])
    for unit, c in f.panels_by_unit.items():
        by_unit.add(unit, unit, c.requested, c.confirmed, c.short, c.cancelled)
    by_unit.add("_total", tr("report.row.total"), total.requested, total.confirmed, total.short, total.cancelled)
    by_type = Table("panels_by_type", ["matter_type", "requested", "confirmed", "short", "cancelled"])
    for mtype, c in f.panels_by_type.items():
        by_type.add(mtype, tr(f"matter_type.{mtype}"), c.requested, c.confirmed, c.short, c.cancelled)

    invitations = Table("invitations", ["outcome", "count", "share"], note=tr("report.note.rates"))
    for key in OUTCOMES:
        n = inv.get(key, 0)
        invitations.add(key, tr(f"report.outcome.{key}"), n,
                        rate(n, base) if key not in ("pending", "cancelled") else None)

    fill = Table("fill_time", ["item", "value"])
    fill.add("panels", tr("report.item.fill_panels"), len(f.fill_hours))
    fill.add("mean", tr("report.item.fill_mean"), _mean(f.fill_hours))
    fill.add("median", tr("report.item.fill_median"), _median(f.fill_hours))
    fill.add("max", tr("report.item.fill_max"), max(f.fill_hours) if f.fill_hours else None)

    responses = Table("response_time", ["bin", "count"])
    for i, n in enumerate(response_bins(f.response_hours)):
        responses.add(str(i), _bin_label(i, lang), n)

    scores = Table("evaluation_scores", ["dimension", "s1", "s2", "s3", "s4", "s5", "count", "mean"])
    for dim in DIMENSIONS:
        c = f.scores[dim]
        n = sum(c.values())
        mean = round(sum(k * v for k, v in c.items()) / n, 2) if n else None
        scores.add(dim, tr(f"report.dimension.{dim}"), *[c.get(s, 0) for s in range(1, 6)], n, mean)
    attendance = Table("evaluation_attendance", ["attendance", "count", "share"])
    for key in ("present", "late", "absent"):
        attendance.add(key, tr(f"bot.evaluation.attendance.{key}"), f.attendance.get(key, 0),
                       rate(f.attendance.get(key, 0), evaluations))

    decisions = Table("discipline", ["date", "code", "name", "kind", "ground"])
    for i, s in enumerate(f.sanctions):
        art = "art16" if s["kind"] == "removal" else "art15"
        decisions.add(str(i), s["date"], s["code"], s["name"], tr(f"bot.discipline.kind.{s['kind']}"),
                      tr(f"ground.{art}.{s['ground']}"))
    flags = Table("flags", ["item", "value"])
    for kind in sorted(f.flags_raised):
        flags.add(f"raised_{kind}", tr("report.item.flags_raised", kind=tr(f"report.flag_kind.{kind}")),
                  f.flags_raised[kind])
    flags.add("closed", tr("report.item.flags_closed"), f.flags_closed)
    flags.add("open", tr("report.item.flags_open"), f.flags_open)
    praise = Table("commendations", ["date", "code", "name"])
    for i, c in enumerate(f.commendations):
        praise.add(str(i), c["date"], c["code"], c["name"])

    directed = Table("directed", ["date", "panel", "unit", "seats", "status", "named"])
    for d in f.directed:
        directed.add(str(d["id"]), d["date"], f"#{d['panel_id']}", d["unit"], d["seats"],
                     tr(f"report.directed_status.{d['status']}"), d["named"])

    trend = Table("panels_per_month", ["month", "requested", "confirmed"])
    for month, req, conf in f.trend:
        trend.add(month, month, req, conf)
    return [summary, fields, terms, by_unit, by_type, invitations, fill, responses, scores, attendance,
            decisions, flags, praise, directed, trend]


def _bin_label(i: int, lang: str) -> str:
    lo, hi = RESPONSE_EDGES[i], RESPONSE_EDGES[i + 1]
    if i == len(RESPONSE_EDGES) - 2:
        return t("report.bin.over", lang, lo=lo)
    return t("report.bin.range", lang, lo=lo, hi=hi)


def _charts(f: MonthlyFigures, lang: str) -> dict[str, Chart]:
    tr = lambda key, **kw: t(key, lang, **kw)  # noqa: E731
    active = [(_field_name(f, cid, lang), f.experts_by_field_status.get((cid, ExpertStatus.ACTIVE.value), 0))
              for cid, *_ in f.categories]
    out = {
        "fields": charts.hbar([a for a, _ in active], [b for _, b in active], tr("report.chart.fields"),
                              tr("report.chart.experts")),
        "trend": charts.grouped_bars([m for m, _, _ in f.trend],
                                     [(tr("report.col.requested"), [r for _, r, _ in f.trend]),
                                      (tr("report.col.confirmed"), [c for _, _, c in f.trend])],
                                     tr("report.chart.trend"), tr("report.chart.panels"), rotate=True),
        "responses": charts.grouped_bars([_bin_label(i, lang) for i in range(len(RESPONSE_EDGES) - 1)],
                                         [(tr("report.chart.invitations"), response_bins(f.response_hours))],
                                         tr("report.chart.responses"), tr("report.chart.invitations")),
        "scores": charts.grouped_bars(["1", "2", "3", "4", "5"],
                                      [(tr(f"report.dimension.{d}"), [f.scores[d].get(s, 0) for s in range(1, 6)])
                                       for d in DIMENSIONS],
                                      tr("report.chart.scores"), tr("report.chart.evaluations")),
    }
    return {k: Chart(k, v) for k, v in out.items()}


def build_report(f: MonthlyFigures, lang: str, tz: Any) -> Report:
    tables = _tables(f, lang)
    return Report(f.month, lang, tables, _charts(f, lang), charts.cjk_font(),
                  f.generated_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"))


# --- output ----------------------------------------------------------------------------------

CSS = """
body{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei","Microsoft YaHei","PingFang SC",sans-serif;margin:2rem auto;
max-width:64rem;padding:0 1rem;color:#222;line-height:1.5}h1{font-size:1.6rem;margin-bottom:.2rem}
h2{font-size:1.2rem;border-bottom:2px solid #2e7d32;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.92rem}th,td{border:1px solid #d0d7d0;
padding:.3rem .5rem;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#eef5ee}
tr:nth-child(even) td{background:#fafcfa}.meta,.note{color:#666;font-size:.88rem}.warn{background:#fff4e5;
border-left:4px solid #ef6c00;padding:.5rem .8rem}img{max-width:100%;height:auto;display:block;margin:.5rem 0}
nav a{margin-right:.8rem}
"""

SECTIONS: list[tuple[str, list[str], list[str]]] = [  # (section, tables, charts)
    ("summary", ["summary"], []),
    ("experts", ["experts_by_field", "terms_ending"], ["fields"]),
    ("panels", ["panels_by_unit", "panels_by_type", "panels_per_month"], ["trend"]),
    ("invitations", ["invitations", "fill_time", "response_time"], ["responses"]),
    ("evaluations", ["evaluation_scores", "evaluation_attendance", "commendations"], ["scores"]),
    ("discipline", ["discipline", "flags"], []),
    ("directed", ["directed"], []),
]


def _fmt(value: Any, col: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}" if col == "mean" else f"{value:.1f}"
    return str(value)


def _cell(table: Table, row: str, col: str, value: Any) -> str:
    esc = html.escape
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    shown = _fmt(value, col)
    if numeric and (col == "share" or (table.key == "summary" and row.endswith("_rate"))):
        shown += "%"
    attrs = f' class="n" data-k="{esc(f"{table.key}.{row}.{col}")}" data-v="{esc(repr(value))}"' if numeric or value is None else ""
    return f"<td{attrs}>{esc(shown)}</td>"


def _table_html(table: Table, lang: str) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(t(f'report.col.{c}', lang))}</th>" for c in table.cols)
    if not table.rows:
        body = f'<tr><td colspan="{len(table.cols)}">{esc(t("report.empty", lang))}</td></tr>'
    else:
        body = "\n".join(
            "<tr>" + f"<td>{esc(str(cells[0]))}</td>" + "".join(
                _cell(table, key, c, v) for c, v in zip(table.cols[1:], cells[1:])) + "</tr>"
            for key, cells in table.rows)
    note = f'<p class="note">{esc(table.note)}</p>' if table.note else ""
    return (f'<h3>{esc(t(f"report.table.{table.key}", lang))}</h3>{note}'
            f'<table id="t-{table.key}"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>')


def report_html(report: Report) -> bytes:
    esc, lang = html.escape, report.lang
    tables = {tb.key: tb for tb in report.tables}
    title = t("report.title", lang, month=report.month)
    parts = [f"<h1>{esc(title)}</h1>",
             f'<p class="meta">{esc(t("report.meta", lang, generated=report.generated))}</p>']
    if report.cjk_font is None:
        parts.append(f'<p class="warn" id="no-cjk-font">{esc(t("report.no_cjk_font", lang))}</p>')
    parts.append("<nav>" + "".join(f'<a href="#s-{s}">{esc(t(f"report.section.{s}", lang))}</a>'
                                   for s, _, _ in SECTIONS) + "</nav>")
    for section, keys, chart_keys in SECTIONS:
        parts.append(f'<section id="s-{section}"><h2>{esc(t(f"report.section.{section}", lang))}</h2>')
        for ck in chart_keys:
            data = base64.b64encode(report.charts[ck].png).decode("ascii")
            parts.append(f'<img id="c-{ck}" alt="{esc(t(f"report.chart.alt.{ck}", lang))}" '
                         f'src="data:image/png;base64,{data}">')
        parts.extend(_table_html(tables[k], lang) for k in keys)
        parts.append("</section>")
    page = (f'<!DOCTYPE html>\n<html lang="{"en" if lang == "en" else "zh-CN"}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{esc(title)}</title>'
            f"<style>{CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
    return page.encode("utf-8")


def report_xlsx(report: Report) -> bytes:
    """The same tables, one sheet each (numbers stay numbers)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    lang = report.lang
    wb = Workbook()
    wb.remove(wb.active)
    for table in report.tables:
        name = t(f"report.sheet.{table.key}", lang)
        for bad in "[]:*?/\\":
            name = name.replace(bad, " ")
        ws = wb.create_sheet(name[:31])
        ws.append([t(f"report.table.{table.key}", lang) + f" — {report.month}"])
        ws["A1"].font = Font(bold=True, size=12)
        if table.note:
            ws.append([table.note])
        ws.append([t(f"report.col.{c}", lang) for c in table.cols])
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
        for _key, cells in table.rows:
            ws.append(cells)
        ws.column_dimensions["A"].width = 28
        for col in "BCDEFGHI":
            ws.column_dimensions[col].width = 14
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write_report(report: Report, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    html_path, xlsx_path = out / f"report-{report.month}.html", out / f"report-{report.month}.xlsx"
    html_path.write_bytes(report_html(report))
    xlsx_path.write_bytes(report_xlsx(report))
    return html_path, xlsx_path
