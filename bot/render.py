"""Rendering helpers: catalog texts, HTML escaping of user text, times in the bureau's zone, splitting."""
from __future__ import annotations

import html
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.errors import DomainError, ValidationFailed
from core.i18n import error_text, t

TELEGRAM_LIMIT = 4096


def esc(value: Any) -> str:
    """Escape user-supplied text for HTML parse mode (CHECKLIST 16)."""
    return html.escape(str(value), quote=False)


def tr(lang: str | None, key: str, /, **params: Any) -> str:
    """Catalog text with every parameter HTML-escaped (catalog templates may hold markup)."""
    return t(key, lang, **{k: esc(v) if isinstance(v, str) else v for k, v in params.items()})


def fmt_dt(when: datetime | str | None, tz: ZoneInfo) -> str:
    if when is None:
        return "-"
    if isinstance(when, str):
        when = datetime.fromisoformat(when.replace("Z", "+00:00"))
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def error_message(exc: DomainError, lang: str | None) -> str:
    """One user-facing message for a coded error; validation errors list every field."""
    if isinstance(exc, ValidationFailed):
        lines = [t("error.validation.failed", lang, count=len(exc.errors))]
        for fname, code, params in exc.errors:
            label = t(f"form.label.{fname.split('.')[0]}", lang)
            lines.append(f"• {esc(label)}：{esc(error_text(code, lang, **params))}")
        return "\n".join(lines)
    return esc(error_text(exc.code, lang, **exc.params))


def split_message(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split at line breaks so no part exceeds Telegram's limit (CHECKLIST 17)."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current:
        parts.append(current)
    return parts
