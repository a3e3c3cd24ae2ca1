"""Panel requests arriving as text (the one-message template, or the guided chat flow that
builds the same template): one parser, one validation, whichever way the unit typed it."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from core.db.models import Category
from core.db.uow import UnitOfWork
from core.panel_request import PanelRequestForm, category_lookup, parse_request_text
from core.services.accounts import Roles
from core.services.panels import RequestResult, request_context, request_panel


async def check_request_text(uow: UnitOfWork, text: str, lang: str = "zh") -> PanelRequestForm:
    """Parse and validate; raises ValidationFailed listing every bad or missing line."""
    async with uow:
        rows = (await uow.session.execute(select(Category.code, Category.name_zh, Category.name_en)
                                          .where(Category.active.is_(True)))).all()
        ctx = await request_context(uow, lang)
    return parse_request_text(text, uow.settings.tz, category_lookup((c, z, e) for c, z, e in rows), ctx)


async def submit_request_text(uow: UnitOfWork, roles: Roles, text: str, lang: str = "zh") -> RequestResult:
    """Validate again (time has passed since the summary) and request the panel."""
    form = await check_request_text(uow, text, lang)
    return await request_panel(uow, roles, form)


@dataclass(frozen=True)
class FieldName:
    """A professional field (Art. 6) as chat buttons and texts show it."""

    id: int
    code: str
    name_zh: str
    name_en: str
    active: bool

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_zh


async def field_names(uow: UnitOfWork, *, active_only: bool = True) -> list[FieldName]:
    """The fields in the bureau's order (retired ones too unless `active_only`), as plain values."""
    async with uow:
        q = select(Category.id, Category.code, Category.name_zh, Category.name_en, Category.active).order_by(Category.position)
        if active_only:
            q = q.where(Category.active.is_(True))
        return [FieldName(*row) for row in (await uow.session.execute(q)).all()]
