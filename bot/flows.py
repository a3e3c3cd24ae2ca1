"""Multi-step chat flows (a small step machine over core.services.drafts).

A handler module owns some flows and registers, once at import time, what to do with the
next plain message (text, photo or document) while its flow is active:

    flows.register("apply", on_apply_message)

`bot/handlers/fallback.py` holds the ONE MessageHandler for non-command messages: it loads the
caller's active draft and hands the message to the owner (`dispatch`); with no active flow it
answers with a hint. So no other module needs a catch-all text handler (in one handler group
the first match wins, and a catch-all would steal the others' answers).

Steps and collected answers live in the database, never in process memory: a restart loses
nothing. `lock(account_id)` serialises one person's updates (concurrent_updates is on, and
people double-tap), so read-modify-write of a draft is safe within this process.
"""
from __future__ import annotations

import asyncio
import weakref
from typing import Any, Awaitable, Callable

from telegram import Message, Update

from bot.context import BotContext
from core.services import drafts
from core.services.accounts import Roles
from core.services.drafts import Draft

FlowHandler = Callable[[Update, BotContext, Roles, Draft], Awaitable[None]]
_FLOWS: dict[str, FlowHandler] = {}
_LOCKS: "weakref.WeakValueDictionary[int, asyncio.Lock]" = weakref.WeakValueDictionary()


def register(flow: str, on_message: FlowHandler) -> None:
    """Route the next plain message of a person whose active flow is `flow` to `on_message`."""
    _FLOWS[flow] = on_message


def registered(flow: str) -> bool:
    return flow in _FLOWS


def lock(account_id: int) -> asyncio.Lock:
    """The per-person lock; hold it while reading and writing that person's draft."""
    found = _LOCKS.get(account_id)
    if found is None:
        found = asyncio.Lock()
        _LOCKS[account_id] = found
    return found


def kind_of(message: Message) -> str:
    """'text', 'photo', 'document' or 'other' (stickers, voice, locations …)."""
    if message.text is not None:
        return "text"
    if message.photo:
        return "photo"
    if message.document is not None:
        return "document"
    return "other"


async def active(context: BotContext, roles: Roles) -> Draft | None:
    return await drafts.active(context.core.uow(), roles.account_id)


async def get(context: BotContext, roles: Roles, flow: str) -> Draft | None:
    return await drafts.get(context.core.uow(), roles.account_id, flow)


async def save(context: BotContext, roles: Roles, flow: str, step: str, data: dict[str, Any], *,
               activate: bool = True) -> None:
    await drafts.save(context.core.uow(), roles.account_id, flow, step, data, activate=activate)


async def clear(context: BotContext, roles: Roles, flow: str) -> None:
    await drafts.clear(context.core.uow(), roles.account_id, flow)


async def deactivate(context: BotContext, roles: Roles) -> None:
    await drafts.deactivate(context.core.uow(), roles.account_id)


async def dispatch(update: Update, context: BotContext, roles: Roles) -> bool:
    """Give the message to the caller's active flow; False when no registered flow is active."""
    async with lock(roles.account_id):
        draft = await active(context, roles)
        if draft is None:
            return False
        handler = _FLOWS.get(draft.flow)
        if handler is None:
            return False
        await handler(update, context, roles, draft)
        return True
