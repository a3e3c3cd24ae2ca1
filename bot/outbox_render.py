"""Turning an outbox row into a Telegram message: text from the catalogs, buttons per kind.

Handler modules register renderers for kinds that need buttons or fresh data
(`@renderer("invitation")`); every other kind renders `notify.<kind>` with its params.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from telegram import InlineKeyboardMarkup

from bot.render import tr
from core.bootstrap import Core


@dataclass(frozen=True)
class Rendered:
    """One outbox row as a Telegram message.

    `edit` is a message the adapter already shows this content in, as (chat id, message id) —
    e.g. the panel status message posted right after /request. The notifier edits the newest of
    it and the message it last sent for the row's thread (core.outbox threads) instead of sending
    a new one; `forget` is called when that message turns out to be gone or superseded.
    """

    text: str
    reply_markup: InlineKeyboardMarkup | None = None
    document: tuple[str, bytes] | None = None  # (file name, content), sent with `text` as caption
    skip: bool = False  # the message became obsolete (e.g. the invitation was already answered)
    edit: tuple[int, int] | None = None
    forget: Callable[[], Awaitable[Any]] | None = field(default=None, compare=False)


Renderer = Callable[[Core, dict[str, Any], str], Awaitable[Rendered]]
RENDERERS: dict[str, Renderer] = {}


def renderer(kind: str) -> Callable[[Renderer], Renderer]:
    def register(fn: Renderer) -> Renderer:
        RENDERERS[kind] = fn
        return fn

    return register


async def render(core: Core, kind: str, params: dict[str, Any], lang: str) -> Rendered:
    fn = RENDERERS.get(kind)
    if fn is not None:
        return await fn(core, params, lang)
    return Rendered(tr(lang, f"notify.{kind}", **params))
