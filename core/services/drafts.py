"""Chat drafts: what a multi-step conversation has collected so far, saved after every step.

One `conversation_states` row per account holds every unfinished flow of that person
(`data = {flow: {"step": ..., "data": {...}}}`) and names the *active* one (`flow`, `step`):
the flow that receives the next free-text answer. Starting a short flow (e.g. the reason for
declining an invitation) does not lose a long one (the /apply form); when the short one ends,
nothing is active until the person resumes the other (/apply). Each call is one transaction.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.db.models import ConversationState
from core.db.uow import UnitOfWork

NAME_MAX = 32


@dataclass(frozen=True)
class Draft:
    flow: str
    step: str
    data: dict[str, Any] = field(default_factory=dict)


def _flows(row: ConversationState | None) -> dict[str, Any]:
    return dict(row.data or {}) if row is not None else {}


def _draft(flow: str, entry: Any) -> Draft | None:
    if not isinstance(entry, dict):
        return None
    return Draft(flow, str(entry.get("step", "")), dict(entry.get("data") or {}))


async def active(uow: UnitOfWork, account_id: int) -> Draft | None:
    """The flow waiting for this person's next answer, or None."""
    async with uow:
        row = await uow.session.get(ConversationState, account_id)
        if row is None or not row.flow:
            return None
        return _draft(row.flow, _flows(row).get(row.flow))


async def get(uow: UnitOfWork, account_id: int, flow: str) -> Draft | None:
    """The saved draft of `flow` (active or not), or None."""
    async with uow:
        row = await uow.session.get(ConversationState, account_id)
        return _draft(flow, _flows(row).get(flow))


async def save(uow: UnitOfWork, account_id: int, flow: str, step: str, data: dict[str, Any], *,
               activate: bool = True) -> None:
    """Store `flow` at `step` with `data` (JSON-serialisable); by default it becomes the active flow."""
    if not flow or len(flow) > NAME_MAX or len(step) > NAME_MAX:
        raise ValueError("flow and step names must be 1..32 characters")
    async with uow:
        s = uow.session
        row = await s.get(ConversationState, account_id, with_for_update=True)
        flows = _flows(row)
        flows[flow] = {"step": step, "data": data}
        now = uow.clock.now()
        if row is None:
            row = ConversationState(account_id=account_id, flow=flow if activate else "",
                                    step=step if activate else "", data=flows, updated_at=now)
            s.add(row)
        else:
            row.data = flows  # a new dict: JSON columns do not track in-place changes
            if activate or row.flow == flow:
                row.flow, row.step = flow, step
            row.updated_at = now
        await uow.commit()


async def clear(uow: UnitOfWork, account_id: int, flow: str) -> None:
    """Forget `flow`; when it was the active one, no flow is active afterwards."""
    async with uow:
        s = uow.session
        row = await s.get(ConversationState, account_id, with_for_update=True)
        if row is None:
            return
        flows = _flows(row)
        flows.pop(flow, None)
        if row.flow == flow:
            row.flow, row.step = "", ""
        if not flows:
            await s.delete(row)
        else:
            row.data = flows
            row.updated_at = uow.clock.now()
        await uow.commit()


async def deactivate(uow: UnitOfWork, account_id: int) -> None:
    """Keep every draft but let free text go nowhere (e.g. after /cancel of a short flow)."""
    async with uow:
        row = await uow.session.get(ConversationState, account_id, with_for_update=True)
        if row is not None and row.flow:
            row.flow, row.step = "", ""
            row.updated_at = uow.clock.now()
            await uow.commit()
