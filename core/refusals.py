"""The Art. 16(3) rule — "一年内连续三次邀请无故不能正常提供服务" — as a pure function.

Reading chosen (and why): the rule speaks of consecutive *invitations*, so the expert's
invitations are taken in order of their outcome and

- an unjustified refusal (decline without an accepted reason, no answer by the deadline, an
  unjustified withdrawal after accepting, a no-show) **counts**;
- a served invitation (accepted and not a no-show) or a justified decline **breaks** the streak:
  the expert did answer that invitation properly;
- a recusal (declared conflict) and an invitation closed by the bureau (panel cancelled,
  expert released) are **skipped**: they neither count nor break — a recusal is a duty
  (Art. 11(3)), never held against the expert, and a cancellation is nobody's answer.

The rule fires when the current streak holds at least `limit` counted outcomes and the last
`limit` of them fall within `window_days` (first to last): evaluated after every unjustified
event, so the newest refusal is always part of the evidence. The decision to remove stays human: the caller raises a flag.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = ["BREAKING", "COUNTED", "Outcome", "OutcomeKind", "Verdict", "evaluate"]


class OutcomeKind(StrEnum):
    ACCEPTED_SERVED = "accepted_served"
    DECLINED_JUSTIFIED = "declined_justified"
    DECLINED_UNJUSTIFIED = "declined_unjustified"
    NO_ANSWER = "no_answer"
    WITHDRAWN_UNJUSTIFIED = "withdrawn_unjustified"
    NO_SHOW = "no_show"
    CONFLICT = "conflict"
    CLOSED = "closed"  # cancelled by the bureau/unit or expert released: not an answer


COUNTED = frozenset({
    OutcomeKind.DECLINED_UNJUSTIFIED, OutcomeKind.NO_ANSWER,
    OutcomeKind.WITHDRAWN_UNJUSTIFIED, OutcomeKind.NO_SHOW,
})
BREAKING = frozenset({OutcomeKind.ACCEPTED_SERVED, OutcomeKind.DECLINED_JUSTIFIED})


@dataclass(frozen=True)
class Outcome:
    """How one invitation ended, and when (the answer, the deadline, or the no-show)."""

    invitation_id: int
    when: datetime
    kind: OutcomeKind


@dataclass(frozen=True)
class Verdict:
    fired: bool
    streak: tuple[Outcome, ...]  # the outcomes that make the rule fire (empty when it does not)

    @property
    def invitation_ids(self) -> tuple[int, ...]:
        return tuple(o.invitation_id for o in self.streak)


def evaluate(outcomes: Iterable[Outcome], *, limit: int, window_days: int) -> Verdict:
    """Does the expert's current streak of unjustified refusals reach `limit` within the window?"""
    if limit < 1:
        raise ValueError("limit must be >= 1")
    ordered = sorted(outcomes, key=lambda o: (o.when, o.invitation_id))
    run: list[Outcome] = []
    for o in ordered:
        if o.kind in BREAKING:
            run = []
        elif o.kind in COUNTED:
            run.append(o)
    if len(run) < limit:
        return Verdict(False, ())
    last = run[-limit:]
    if last[-1].when - last[0].when > timedelta(days=window_days):
        return Verdict(False, ())
    return Verdict(True, tuple(last))
