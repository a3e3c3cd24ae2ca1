"""The admins' full export of experts, in the import format (contains private fields)."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from sqlalchemy import select

from core.db.models import Account, Category, Expert
from core.db.uow import UnitOfWork
from core.errors import DomainError
from core.services import audit
from core.services.importer import COLUMNS, export_rows


async def export_experts(uow: UnitOfWork, path: Path) -> int:
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise DomainError("import.bad_format", suffix=suffix or "(none)")
    async with uow:
        s = uow.session
        names = {c.id: c.name_zh for c in (await s.scalars(select(Category))).all()}
        experts = (await s.scalars(select(Expert).where(Expert.erased_at.is_(None)).order_by(Expert.id))).all()
        tg = dict((await s.execute(select(Account.expert_id, Account.telegram_id).where(Account.expert_id.is_not(None)))).tuples().all())
        rows = export_rows(experts, names)
        tg_col = list(COLUMNS).index("Telegram ID")
        for e, row in zip(experts, rows[1:]):
            row[tg_col] = str(tg[e.id]) if e.id in tg else ""
        await audit.append(uow, "cli", "experts.export", "roster", None, count=len(experts))
        await uow.commit()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        buf = io.StringIO()
        csv.writer(buf).writerows(rows)
        path.write_bytes(buf.getvalue().encode("utf-8-sig"))
    else:
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        for r in rows:
            ws.append(r)
        wb.save(path)
    return len(experts)
