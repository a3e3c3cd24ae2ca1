"""Inline keyboards built from (label, callback data) pairs; labels come from the catalogs."""
from __future__ import annotations

from typing import Iterable, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.render import tr

Button = tuple[str, str]  # (label, callback data)
CHECK = "✅ "


def rows(*lines: Sequence[Button]) -> InlineKeyboardMarkup:
    """One keyboard row per argument."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data) for label, data in line]
                                 for line in lines if line])


def grid(buttons: Iterable[Button], per_row: int = 2, *, footer: Sequence[Button] = ()) -> InlineKeyboardMarkup:
    """Buttons `per_row` to a row, then an optional footer row (e.g. Done / Cancel)."""
    items = list(buttons)
    lines = [items[i:i + per_row] for i in range(0, len(items), per_row)]
    if footer:
        lines.append(list(footer))
    return rows(*lines)


def checked(label: str, on: bool) -> str:
    """A multi-select label: '✅ 环境科学' when chosen."""
    return CHECK + label if on else label


def confirm(lang: str, yes_data: str, no_data: str, *, yes_key: str = "bot.common.confirm",
            no_key: str = "bot.common.cancel") -> InlineKeyboardMarkup:
    """A two-button confirm / cancel row."""
    return rows([(tr(lang, yes_key), yes_data), (tr(lang, no_key), no_data)])


def single(label: str, data: str) -> InlineKeyboardMarkup:
    return rows([(label, data)])
