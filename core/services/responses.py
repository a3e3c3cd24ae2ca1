"""Invitation answers (Art. 11): accept, decline, declare a conflict, withdraw; expiry; release.

Only the invitee may answer: anyone else is refused and the attempt is audited. Every answer
is a conditional UPDATE (`WHERE status = 'pending'`), so a double tap — or fifty — changes the
state once and the others learn "already answered". Every freed seat is refilled from the
draw's stored ranking (`seating.settle`) in the same transaction.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable

from sqlalchemy import Update, bindparam, select, update
from sqlalchemy.orm import raiseload
from sqlalchemy.orm.attributes import set_committed_value

from core.conflicts import PartyKey, matches, party_key
from core.db.models import DeclaredConflict, Expert, Invitation, Panel, PanelParty, UsingUnit
from core.db.uow import UnitOfWork
from core.enums import ExpertStatus, InvitationStatus, PanelStatus
from core.errors import Conflict, DomainError, Forbidden, NotFound
from core.identity import check_text
from core.outbox import enqueue
from core.services import audit, refusal_rule
from core.services.accounts import Roles
from core.services.seating import expert_account, is_open, lock_draws, settle

NOTE_MAX = 500


@dataclass(frozen=True)
class AnswerResult:
    invitation_id: int
    status: str
    panel_id: int
    panel_status: str
    flag_id: int | None = None  # a refusal-rule flag raised by this answer


_ANSWERING = (
    select(Invitation, Panel, Expert.status).join(Panel, Panel.id == Invitation.panel_id)
    .join(Expert, Expert.id == Invitation.expert_id).where(Invitation.id == bindparam("invitation_id"))
    .options(raiseload(Panel.fields), raiseload(Panel.parties))
)


async def _answerable(
    uow: UnitOfWork, roles: Roles, invitation_id: int, attempted: str
) -> tuple[Invitation, Panel, str]:
    """The invitation, its panel (without fields and parties: `seating.with_relations` loads
    them) and the expert's status, in one query, if the caller is its invitee; otherwise audit
    the attempt and refuse."""
    await lock_draws(uow)
    row = (await uow.session.execute(_ANSWERING, {"invitation_id": invitation_id})).first()
    if row is None or roles.expert_id is None or row[0].expert_id != roles.expert_id:
        await audit.append(uow, roles.actor, "security.refused", "invitation", invitation_id, attempted=attempted,
                           why="not_found" if row is None else "not_invitee")
        await uow.commit()
        if row is None:
            raise NotFound("invitation.not_found", id=invitation_id)
        raise Forbidden("invitation.not_yours")
    inv, panel, expert_status = row
    return inv, panel, expert_status


def _closed(inv: Invitation, panel: Panel) -> Conflict:
    """Why an answer can no longer be taken, as a clear coded refusal."""
    st = inv.status
    if st == InvitationStatus.EXPIRED:
        return Conflict("invitation.expired", status=st)
    if st == InvitationStatus.CANCELLED:
        if panel.status == PanelStatus.CANCELLED:
            return Conflict("invitation.panel_cancelled", status=st)
        return Conflict("invitation.cancelled", status=st)
    if st != InvitationStatus.PENDING:
        return Conflict("invitation.already_answered", status=st)
    return Conflict("invitation.closed", status=st)


@lru_cache(maxsize=None)
def _transition_stmt(columns: tuple[str, ...], check_deadline: bool) -> Update:
    """The conditional UPDATE setting `columns`, built once per shape (building it costs more
    than running it)."""
    table = Invitation.__table__
    stmt = update(Invitation).where(Invitation.id == bindparam("_id"),
                                    Invitation.status.in_(bindparam("_from", expanding=True)))
    if check_deadline:
        stmt = stmt.where(Invitation.deadline > bindparam("_now"))
    return stmt.values({c: bindparam(f"_v_{c}", type_=table.c[c].type) for c in columns}).execution_options(
        synchronize_session=False)


async def _transition(uow: UnitOfWork, inv: Invitation, from_: Iterable[str], *,
                      deadline_after: datetime | None = None, **values: Any) -> bool:
    """Conditional UPDATE: True when this call made the change. With `deadline_after`, only
    while the invitation's deadline is later than that."""
    params = {"_id": inv.id, "_from": list(from_), **{f"_v_{k}": v for k, v in values.items()}}
    if deadline_after is not None:
        params["_now"] = deadline_after
    res = await uow.session.execute(_transition_stmt(tuple(values), deadline_after is not None), params)
    if res.rowcount == 1:  # type: ignore[attr-defined]
        for key, value in values.items():  # what we just wrote, without reading the row back
            set_committed_value(inv, key, value)
        return True
    await uow.session.refresh(inv)  # somebody else moved it: read where it stands now
    return False


def _check_live(uow: UnitOfWork, inv: Invitation, panel: Panel, expert_status: str) -> None:
    """The panel is still open and ahead, the deadline not passed, the expert still active."""
    now = uow.clock.now()
    if not is_open(panel):
        raise _closed(inv, panel)
    if panel.starts_at <= now:
        raise Conflict("invitation.too_late", status=inv.status)
    if inv.status == InvitationStatus.PENDING and inv.deadline <= now:
        raise Conflict("invitation.deadline_passed", deadline=inv.deadline.isoformat())
    if expert_status != ExpertStatus.ACTIVE:
        raise Conflict("invitation.expert_inactive", status=expert_status)


async def _result(uow: UnitOfWork, inv: Invitation, panel: Panel, flag_id: int | None = None) -> AnswerResult:
    return AnswerResult(inv.id, inv.status, panel.id, panel.status, flag_id)


async def accept(
    uow: UnitOfWork, roles: Roles, invitation_id: int, *, unit_consent: bool, no_conflict: bool,
    confidentiality: bool,
) -> AnswerResult:
    """Accept, confirming unit consent (Art. 11(1)), no conflict with the parties (11(3)) and
    confidentiality (11(4)). The panel is confirmed when this fills its last seat."""
    missing = [k for k, v in (("unit_consent", unit_consent), ("no_conflict", no_conflict),
                              ("confidentiality", confidentiality)) if not v]
    if missing:
        raise DomainError("invitation.confirm_required", missing=missing)
    async with uow:
        inv, panel, expert_status = await _answerable(uow, roles, invitation_id, "invitation.accept")
        if inv.status != InvitationStatus.PENDING:
            raise _closed(inv, panel)
        _check_live(uow, inv, panel, expert_status)
        now = uow.clock.now()
        if not await _transition(uow, inv, [InvitationStatus.PENDING.value], deadline_after=now,
                                 status=InvitationStatus.ACCEPTED.value, responded_at=now):
            raise _closed(inv, panel)
        await audit.append(uow, roles.actor, "invitation.accept", "invitation", inv.id, panel_id=panel.id,
                           expert_id=inv.expert_id, unit_consent=True, no_conflict=True, confidentiality=True)
        await settle(uow, panel, actor=roles.actor)
        await uow.commit()
    return await _result(uow, inv, panel)


def _reason(uow: UnitOfWork, code: str) -> bool:
    """Is the configured decline reason `code` justified? Unknown codes are refused."""
    for r in uow.settings.rules.decline_reasons:
        if r.code == code:
            return r.justified
    raise DomainError("invitation.reason_unknown", value=code,
                      allowed=", ".join(r.code for r in uow.settings.rules.decline_reasons))


async def decline(uow: UnitOfWork, roles: Roles, invitation_id: int, reason_code: str, text: str = "") -> AnswerResult:
    """Decline with a configured reason (justified or not) or "other" with free text."""
    text = check_text(text or "", NOTE_MAX)
    async with uow:
        justified = _reason(uow, reason_code)
        if reason_code == "other" and not text:
            raise DomainError("invitation.reason_text_required")
        inv, panel, expert_status = await _answerable(uow, roles, invitation_id, "invitation.decline")
        if inv.status != InvitationStatus.PENDING:
            raise _closed(inv, panel)
        _check_live(uow, inv, panel, expert_status)
        now = uow.clock.now()
        if not await _transition(uow, inv, [InvitationStatus.PENDING.value], deadline_after=now,
                                 status=InvitationStatus.DECLINED.value, responded_at=now,
                                 decline_reason=reason_code, decline_text=text, justified=justified):
            raise _closed(inv, panel)
        await audit.append(uow, roles.actor, "invitation.decline", "invitation", inv.id, panel_id=panel.id,
                           expert_id=inv.expert_id, reason=reason_code, justified=justified)
        flag = None if justified else await refusal_rule.check(uow, inv.expert_id, actor=roles.actor)
        await settle(uow, panel, actor=roles.actor, freed={inv.group_index: [inv.id]})
        await uow.commit()
    return await _result(uow, inv, panel, flag)


async def declare_conflict(
    uow: UnitOfWork, roles: Roles, invitation_id: int, party_id: int | None, note: str
) -> AnswerResult:
    """Recusal (Art. 11(3)): never counted against the expert, remembered for future draws.

    `party_id` names one of the panel's parties; None means another relation to this matter
    (then the note is required and the record applies to this panel only)."""
    note = check_text(note or "", NOTE_MAX)
    if party_id is None and not note:
        raise DomainError("invitation.conflict_note_required")
    async with uow:
        s = uow.session
        inv, panel, expert_status = await _answerable(uow, roles, invitation_id, "invitation.conflict")
        party = None
        if party_id is not None:
            party = await s.get(PanelParty, party_id)
            if party is None or party.panel_id != panel.id:
                raise DomainError("invitation.party_unknown", id=party_id)
        if inv.status not in (InvitationStatus.PENDING, InvitationStatus.ACCEPTED):
            raise _closed(inv, panel)
        _check_live(uow, inv, panel, expert_status)
        now = uow.clock.now()
        if not await _transition(uow, inv, [InvitationStatus.PENDING.value, InvitationStatus.ACCEPTED.value],
                                 status=InvitationStatus.CONFLICT.value, responded_at=now,
                                 conflict_party_id=party_id, conflict_text=note):
            raise _closed(inv, panel)
        s.add(DeclaredConflict(expert_id=inv.expert_id, party_name=party.name if party else "",
                               party_norm=party.name_norm if party else "", uscc=party.uscc if party else None,
                               panel_id=panel.id, note=note, created_at=now))
        await s.flush()
        await audit.append(uow, roles.actor, "invitation.conflict", "invitation", inv.id, panel_id=panel.id,
                           expert_id=inv.expert_id, party_id=party_id)
        await settle(uow, panel, actor=roles.actor, freed={inv.group_index: [inv.id]})
        await uow.commit()
    return await _result(uow, inv, panel)


async def withdraw_acceptance(
    uow: UnitOfWork, roles: Roles, invitation_id: int, reason: str, text: str = ""
) -> AnswerResult:
    """Withdraw an acceptance before the meeting. `reason` is a configured decline reason
    (justified or not); anything else is taken as free text and is unjustified."""
    text = check_text(text or "", NOTE_MAX)
    async with uow:
        codes = {r.code: r.justified for r in uow.settings.rules.decline_reasons}
        if reason in codes:
            justified, code = codes[reason], reason
        else:
            justified, code, text = False, "other", check_text(reason or "", NOTE_MAX) or text
        if code == "other" and not text:
            raise DomainError("invitation.reason_text_required")
        inv, panel, expert_status = await _answerable(uow, roles, invitation_id, "invitation.withdraw")
        if inv.status != InvitationStatus.ACCEPTED:
            if inv.status == InvitationStatus.PENDING:
                raise Conflict("invitation.not_accepted", status=inv.status)
            raise _closed(inv, panel)
        _check_live(uow, inv, panel, expert_status)
        now = uow.clock.now()
        if not await _transition(uow, inv, [InvitationStatus.ACCEPTED.value], status=InvitationStatus.WITHDRAWN.value,
                                 responded_at=now, decline_reason=code, withdrawn_reason=text, justified=justified):
            raise _closed(inv, panel)
        await audit.append(uow, roles.actor, "invitation.withdraw", "invitation", inv.id, panel_id=panel.id,
                           expert_id=inv.expert_id, reason=code, justified=justified)
        flag = None if justified else await refusal_rule.check(uow, inv.expert_id, actor=roles.actor)
        await settle(uow, panel, actor=roles.actor, freed={inv.group_index: [inv.id]})
        await uow.commit()
    return await _result(uow, inv, panel, flag)


async def expire_overdue(uow: UnitOfWork, *, limit: int = 200) -> list[int]:
    """Scheduler tick: pending invitations past their deadline expire (an unjustified refusal,
    Art. 16(3)); the expert is told and a replacement is drawn. Returns the expired ids."""
    async with uow:
        s = uow.session
        await lock_draws(uow)
        now = uow.clock.now()
        invs = (await s.scalars(select(Invitation).where(
            Invitation.status == InvitationStatus.PENDING.value, Invitation.deadline <= now)
            .order_by(Invitation.deadline, Invitation.id).limit(limit))).all()
        freed: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
        done: list[int] = []
        for inv in invs:
            if not await _transition(uow, inv, [InvitationStatus.PENDING.value], status=InvitationStatus.EXPIRED.value,
                                     justified=False):
                continue
            done.append(inv.id)
            await audit.append(uow, "system", "invitation.expire", "invitation", inv.id, panel_id=inv.panel_id,
                               expert_id=inv.expert_id)
            acc = await expert_account(uow, inv.expert_id)
            if acc is not None:
                await enqueue(uow, acc, "invitation_closed", {"invitation_id": inv.id, "panel_id": inv.panel_id,
                                                              "title": await _title(uow, inv.panel_id),
                                                              "cause": "expired"})
            await refusal_rule.check(uow, inv.expert_id, actor="system")
            freed[inv.panel_id][inv.group_index].append(inv.id)
        for panel_id, groups in freed.items():
            panel = await s.get(Panel, panel_id)
            if panel is not None:
                await settle(uow, panel, actor="system", freed=dict(groups))
        await uow.commit()
    return done


async def _title(uow: UnitOfWork, panel_id: int) -> str:
    return await uow.session.scalar(select(Panel.title).where(Panel.id == panel_id)) or ""


async def _release(uow: UnitOfWork, invs: Iterable[Invitation], *, cause: str, actor: str) -> list[int]:
    s = uow.session
    freed: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    done: list[int] = []
    for inv in invs:
        if not await _transition(uow, inv, [InvitationStatus.PENDING.value, InvitationStatus.ACCEPTED.value],
                                 status=InvitationStatus.CANCELLED.value):
            continue
        done.append(inv.id)
        await audit.append(uow, actor, "invitation.cancel", "invitation", inv.id, panel_id=inv.panel_id,
                           expert_id=inv.expert_id, cause=cause)
        acc = await expert_account(uow, inv.expert_id)
        if acc is not None:
            await enqueue(uow, acc, "invitation_closed", {"invitation_id": inv.id, "panel_id": inv.panel_id,
                                                          "title": await _title(uow, inv.panel_id),
                                                          "cause": cause})
        freed[inv.panel_id][inv.group_index].append(inv.id)
    for panel_id, groups in freed.items():
        panel = await s.get(Panel, panel_id)
        if panel is not None:
            await settle(uow, panel, actor=actor, freed=dict(groups))
    return done


async def _seat_holding(uow: UnitOfWork, expert_id: int) -> list[tuple[Invitation, Panel]]:
    """The expert's pending/accepted invitations on open panels that have not started yet."""
    now = uow.clock.now()
    rows = await uow.session.execute(
        select(Invitation, Panel).join(Panel, Panel.id == Invitation.panel_id).where(
            Invitation.expert_id == expert_id,
            Invitation.status.in_([InvitationStatus.PENDING.value, InvitationStatus.ACCEPTED.value]),
            Panel.status.in_([PanelStatus.SUBMITTED.value, PanelStatus.INVITING.value, PanelStatus.SHORT.value,
                              PanelStatus.CONFIRMED.value]),
            Panel.starts_at > now).order_by(Invitation.id))
    return [(i, p) for i, p in rows.all()]


async def release_expert(uow: UnitOfWork, expert_id: int, *, cause: str, actor: str) -> list[int]:
    """In the CALLER's transaction (no commit): free every seat the expert holds on panels not
    yet held — withdrawal (Art. 10(1)) or removal (Art. 16) — and draw replacements."""
    await lock_draws(uow)
    return await _release(uow, [i for i, _ in await _seat_holding(uow, expert_id)], cause=cause, actor=actor)


async def release_for_party(uow: UnitOfWork, expert_id: int, key: PartyKey, *, cause: str, actor: str) -> list[int]:
    """In the caller's transaction: free the expert's seats on panels where `key` is a party or
    the requesting unit (a newly recorded exclusion applies at once)."""
    await lock_draws(uow)
    s = uow.session
    hit: list[Invitation] = []
    for inv, panel in await _seat_holding(uow, expert_id):
        unit = await s.get(UsingUnit, panel.unit_id)
        keys = [party_key(p.name, p.uscc) for p in panel.parties]
        if unit is not None:
            keys.append(party_key(unit.name, unit.uscc))
        if any(matches(key, k) for k in keys):
            hit.append(inv)
    return await _release(uow, hit, cause=cause, actor=actor)


async def record_no_show(uow: UnitOfWork, invitation_id: int, actor: str) -> int | None:
    """In the CALLER's transaction: the expert accepted but did not attend (an unjustified
    refusal, Art. 16(3)). Marks the accepted invitation (decline_reason "no_show") and runs the
    rule; returns the id of a flag it raised. Idempotent."""
    s = uow.session
    inv = await s.get(Invitation, invitation_id)
    if inv is None:
        raise NotFound("invitation.not_found", id=invitation_id)
    if inv.status != InvitationStatus.ACCEPTED:
        raise Conflict("invitation.not_accepted", status=inv.status)
    panel = await s.get(Panel, inv.panel_id)
    assert panel is not None
    if panel.starts_at > uow.clock.now():
        raise Conflict("invitation.not_held_yet")
    if inv.decline_reason == refusal_rule.NO_SHOW:
        return None
    inv.decline_reason, inv.justified = refusal_rule.NO_SHOW, False
    await s.flush()
    await audit.append(uow, actor, "invitation.no_show", "invitation", inv.id, panel_id=panel.id,
                       expert_id=inv.expert_id)
    return await refusal_rule.check(uow, inv.expert_id, actor=actor)
