"""Fault injection for the Bot API stand-in.

Rules match a Bot API method name ("*" = any method) and optionally one chat id:

    faults.block(42)                       # 403 "Forbidden: bot was blocked by the user" for chat 42
    faults.fail("sendMessage", count=2)    # the next 2 sendMessage calls answer 502 "Bad Gateway"
    faults.fail("*", status=500)           # the next call of any method answers 500
    faults.delay("getUpdates", 2.0)        # every getUpdates waits 2 s before being handled
    faults.drop("sendMessage", hold=30)    # the next sendMessage is performed, but its answer
                                           # is held 30 s (past the client's read timeout)
    faults.clear()                         # remove every rule (blocks too); clear("delay") etc.

A failing call is not performed. Rules with a count are used up one call at a time; a count of
None means "until cleared".
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

STATUS_DESCRIPTIONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

KINDS = ("fail", "delay", "drop")

_ids = itertools.count(1)


@dataclass
class FaultRule:
    kind: str  # "fail" | "delay" | "drop"
    method: str = "*"
    chat_id: int | None = None
    count: int | None = 1  # remaining uses; None = unlimited
    status: int = 502
    description: str = ""
    seconds: float = 0.0  # delay: wait before handling; drop: how long the answer is held
    id: int = 0

    def matches(self, method: str, chat_id: int | None) -> bool:
        if self.method not in ("*", method):
            return False
        return self.chat_id is None or self.chat_id == chat_id

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultRules:
    def __init__(self) -> None:
        self.blocked: set[int] = set()
        self.rules: list[FaultRule] = []
        self.injected: dict[str, int] = {"blocked": 0, "fail": 0, "delay": 0, "drop": 0}

    # --- blocking -------------------------------------------------------------------------
    def block(self, chat_id: int) -> None:
        self.blocked.add(int(chat_id))

    def unblock(self, chat_id: int) -> None:
        self.blocked.discard(int(chat_id))

    def is_blocked(self, chat_id: int | None) -> bool:
        return chat_id is not None and chat_id in self.blocked

    # --- rules ------------------------------------------------------------------------------
    def _add(self, rule: FaultRule) -> FaultRule:
        if rule.kind not in KINDS:
            raise ValueError(f"unknown fault kind {rule.kind!r}")
        if rule.count is not None and rule.count < 1:
            raise ValueError("count must be ≥ 1 or None")
        rule.id = next(_ids)
        self.rules.append(rule)
        return rule

    def fail(
        self, method: str = "*", *, count: int | None = 1, status: int = 502,
        description: str | None = None, chat_id: int | None = None,
    ) -> FaultRule:
        """The next `count` matching calls answer `status` (5xx by default 502 "Bad Gateway")."""
        if not 400 <= int(status) <= 599:
            raise ValueError("status must be an HTTP error status")
        desc = description or STATUS_DESCRIPTIONS.get(int(status), "Internal Server Error")
        return self._add(FaultRule("fail", method, chat_id, count, int(status), desc))

    def delay(
        self, method: str = "*", seconds: float = 1.0, *, count: int | None = None, chat_id: int | None = None
    ) -> FaultRule:
        """Matching calls wait `seconds` before being handled (slow answers)."""
        return self._add(FaultRule("delay", method, chat_id, count, seconds=float(seconds)))

    def drop(
        self, method: str = "*", *, count: int | None = 1, hold: float = 30.0, chat_id: int | None = None
    ) -> FaultRule:
        """Matching calls are performed, but their answer is held `hold` seconds."""
        return self._add(FaultRule("drop", method, chat_id, count, seconds=float(hold)))

    def remove(self, rule_id: int) -> bool:
        before = len(self.rules)
        self.rules = [r for r in self.rules if r.id != rule_id]
        return len(self.rules) != before

    def clear(self, kind: str | None = None) -> None:
        """Remove rules of one kind ("fail", "delay", "drop", "blocked") or everything."""
        if kind in (None, "blocked"):
            self.blocked.clear()
        if kind != "blocked":
            self.rules = [r for r in self.rules if kind is not None and r.kind != kind]

    def _take(self, kind: str, method: str, chat_id: int | None) -> FaultRule | None:
        for rule in self.rules:
            if rule.kind == kind and rule.matches(method, chat_id):
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self.rules.remove(rule)
                self.injected[kind] += 1
                return rule
        return None

    def take_delay(self, method: str, chat_id: int | None) -> float:
        rule = self._take("delay", method, chat_id)
        return rule.seconds if rule else 0.0

    def take_failure(self, method: str, chat_id: int | None) -> FaultRule | None:
        return self._take("fail", method, chat_id)

    def take_drop(self, method: str, chat_id: int | None) -> float | None:
        rule = self._take("drop", method, chat_id)
        return rule.seconds if rule else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "blocked": sorted(self.blocked),
            "rules": [r.to_dict() for r in self.rules],
            "injected": dict(self.injected),
        }
