"""The public roster site (Art. 9, 16): static, self-contained pages a web server can host as is.

- `index.html`: every expert on the roster, searchable by name, field and work unit;
- `fields/<code>.html`: one page per professional field;
- `announcements.html`: the bureau's notices (公告): removals with their Art. 16 ground, commendations.
Inline CSS and JS only, relative links, no external resources. Public fields only (code, name,
work unit, title, fields, term end): the rows come from `roster.public_roster`, which never reads
anything private.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Sequence

from sqlalchemy import select

from core.db.models import Category
from core.db.uow import UnitOfWork
from core.i18n import t
from core.services.discipline import AnnouncementView, published
from core.roster_export import announcement_text
from core.services.roster import RosterRow, public_roster

CSS = """
body{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei","Microsoft YaHei","PingFang SC",sans-serif;margin:0;color:#222}
header{background:#2e7d32;color:#fff;padding:1rem 2rem}header a{color:#fff;margin-right:1rem}h1{font-size:1.4rem;margin:.2rem 0}
main{padding:1rem 2rem;max-width:72rem}table{border-collapse:collapse;width:100%}th,td{border:1px solid #d0d7d0;
padding:.35rem .6rem;text-align:left}th{background:#eef5ee}tr:nth-child(even) td{background:#fafcfa}
.meta{color:#666;font-size:.9rem}.tools{margin:.6rem 0;display:flex;gap:.6rem;flex-wrap:wrap}
input,select{padding:.4rem;font-size:1rem}input{min-width:18rem}ul.fields{columns:2;padding-left:1.2rem}
.notice{border-left:4px solid #c62828;padding:.4rem .8rem;margin:.6rem 0;background:#fdf3f3}
.notice.commendation{border-color:#2e7d32;background:#f1f8f1}footer{color:#888;font-size:.85rem;padding:1rem 2rem}
"""
SEARCH_JS = """
(function(){var q=document.getElementById('q'),f=document.getElementById('f'),n=document.getElementById('n');
function run(){var s=q.value.trim().toLowerCase(),fv=f?f.value:'',c=0;
document.querySelectorAll('#roster tbody tr').forEach(function(tr){
var ok=(!s||tr.getAttribute('data-search').indexOf(s)>=0)&&(!fv||(' '+tr.getAttribute('data-fields')+' ').indexOf(' '+fv+' ')>=0);
tr.style.display=ok?'':'none';if(ok)c++;});if(n)n.textContent=c;}
q.addEventListener('input',run);if(f)f.addEventListener('change',run);run();})();
"""


@dataclass(frozen=True)
class FieldInfo:
    code: str
    name_zh: str
    name_en: str


def _esc(value: object) -> str:
    return html.escape(str(value))


def _page(title: str, body: str, lang: str, depth: int = 0, script: str = "") -> bytes:
    up = "../" * depth
    nav = (f'<a href="{up}index.html">{_esc(t("site.nav.roster", lang))}</a>'
           f'<a href="{up}announcements.html">{_esc(t("site.nav.announcements", lang))}</a>')
    js = f"<script>{script}</script>" if script else ""
    return (f'<!DOCTYPE html>\n<html lang="{"en" if lang == "en" else "zh-CN"}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{_esc(title)}</title>'
            f'<style>{CSS}</style></head><body><header><div>{_esc(t("site.bureau", lang))}</div>'
            f"<h1>{_esc(title)}</h1><nav>{nav}</nav></header><main>{body}</main>"
            f'<footer>{_esc(t("site.footer", lang))}</footer>{js}</body></html>\n').encode("utf-8")


def _field_names(row: RosterRow, lang: str) -> tuple[str, ...]:
    return row.fields_en if lang == "en" else row.fields_zh


def _codes(row: RosterRow, by_name: dict[str, str]) -> list[str]:
    return [by_name[n] for n in row.fields_zh if n in by_name]


def _table(rows: Sequence[RosterRow], lang: str, by_name: dict[str, str], depth: int) -> str:
    up = "../" * depth
    head = "".join(f"<th>{_esc(t(f'roster.col.{c}', lang))}</th>"
                   for c in ("code", "name", "unit", "title", "fields", "term_end"))
    lines = []
    for r in rows:
        names, codes = _field_names(r, lang), _codes(r, by_name)
        links = "、".join(f'<a href="{up}fields/{c}.html">{_esc(n)}</a>' for c, n in zip(codes, names))
        search = " ".join((r.name, r.work_unit, r.title, *r.fields_zh, *r.fields_en)).lower()
        lines.append(f'<tr data-search="{_esc(search)}" data-fields="{_esc(" ".join(codes))}">'
                     f"<td>{_esc(r.code)}</td><td>{_esc(r.name)}</td><td>{_esc(r.work_unit)}</td>"
                     f"<td>{_esc(r.title)}</td><td>{links}</td><td>{_esc(r.term_end)}</td></tr>")
    return f'<table id="roster"><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(lines) + "\n</tbody></table>"


def _tools(fields: Sequence[FieldInfo], lang: str, total: int, with_field: bool) -> str:
    opts = "".join(f'<option value="{_esc(f.code)}">{_esc(f.name_en if lang == "en" else f.name_zh)}</option>'
                   for f in fields)
    select = (f'<select id="f" aria-label="{_esc(t("site.field_filter", lang))}"><option value="">'
              f'{_esc(t("site.all_fields", lang))}</option>{opts}</select>') if with_field else ""
    label = _esc(t("site.search", lang))
    shown = t("site.shown", lang, shown='<span id="n">' + str(total) + "</span>", total=total)
    return (f'<div class="tools"><input id="q" type="search" placeholder="{label}" aria-label="{label}">'
            f'{select}<span class="meta">{shown}</span></div>')


def _announcement(a: AnnouncementView, lang: str) -> str:
    return f'<div class="notice {_esc(a.kind)}" id="a-{a.id}"><p>{_esc(announcement_text(a, lang))}</p></div>'


def render_site(rows: Sequence[RosterRow], fields: Sequence[FieldInfo], notices: Sequence[AnnouncementView],
                lang: str, published: date) -> dict[str, bytes]:
    """Every page of the site, by relative path."""
    by_name = {f.name_zh: f.code for f in fields}
    meta = f'<p class="meta">{_esc(t("roster.meta", lang, count=len(rows), date=published.isoformat()))}</p>'
    field_list = "".join(
        f'<li><a href="fields/{_esc(f.code)}.html">{_esc(f.name_en if lang == "en" else f.name_zh)}</a> '
        f'({sum(1 for r in rows if f.code in _codes(r, by_name))})</li>' for f in fields)
    index = (meta + f'<h2>{_esc(t("site.by_field", lang))}</h2><ul class="fields">{field_list}</ul>'
             + _tools(fields, lang, len(rows), True) + _table(rows, lang, by_name, 0))
    pages = {"index.html": _page(t("roster.title", lang), index, lang, 0, SEARCH_JS)}
    for f in fields:
        mine = [r for r in rows if f.code in _codes(r, by_name)]
        name = f.name_en if lang == "en" else f.name_zh
        body = (f'<p class="meta">{_esc(t("site.field_meta", lang, count=len(mine), date=published.isoformat()))}</p>'
                + _tools(fields, lang, len(mine), False) + _table(mine, lang, by_name, 1))
        pages[f"fields/{f.code}.html"] = _page(t("site.field_title", lang, field=name), body, lang, 1, SEARCH_JS)
    notes = "".join(_announcement(a, lang) for a in notices) or f'<p>{_esc(t("site.no_announcements", lang))}</p>'
    pages["announcements.html"] = _page(t("site.announcements", lang), notes, lang, 0)
    return pages


def write_site(pages: dict[str, bytes], out: Path) -> list[Path]:
    written = []
    for rel, data in pages.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    return written


async def publish(uow: UnitOfWork, out: Path, lang: str = "zh") -> tuple[int, int]:
    """Write the whole site to `out`; returns (experts listed, announcements)."""
    rows = await public_roster(uow)
    async with uow:
        fields = [FieldInfo(c.code, c.name_zh, c.name_en) for c in (await uow.session.scalars(
            select(Category).where(Category.active.is_(True)).order_by(Category.position, Category.id))).all()]
    notices = await published(uow)
    write_site(render_site(rows, fields, notices, lang, uow.today()), out)
    return len(rows), len(notices)
