"""The audit chain's pure part: canonical JSON, entry hashing and chain verification."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import Enum
from typing import Any, Iterable

GENESIS = "0" * 64


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"not JSON-serialisable in an audit entry: {type(obj).__name__}")


def canonical_json(obj: Any) -> str:
    """One text for one value: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_default)


def format_at(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class EntryFields:
    seq: int
    at: str
    actor: str
    action: str
    subject_type: str
    subject_id: str | None
    details: str  # canonical JSON text
    prev_hash: str
    hash: str = ""


def entry_hash(e: EntryFields) -> str:
    body = canonical_json(
        {
            "seq": e.seq,
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "subject": [e.subject_type, e.subject_id],
            "details": e.details,
        }
    )
    return hashlib.sha256((e.prev_hash + body).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    head: str
    bad_seq: int | None = None
    problem: str | None = None  # message-catalog key suffix: altered | gap | link | truncated | head_unknown


def verify_chain(entries: Iterable[EntryFields], expected_head: str | None = None) -> VerifyResult:
    """Walk the chain in seq order; name the first entry that does not fit.

    With `expected_head` (a hash published earlier), the chain must contain that hash,
    so a truncated tail is caught.
    """
    prev = GENESIS
    expected_seq = 1
    count = 0
    seen_head = expected_head is None
    for e in entries:
        if e.seq != expected_seq:
            return VerifyResult(False, count, prev, bad_seq=expected_seq if e.seq > expected_seq else e.seq, problem="gap")
        if e.prev_hash != prev:
            return VerifyResult(False, count, prev, bad_seq=e.seq, problem="link")
        if entry_hash(e) != e.hash:
            return VerifyResult(False, count, prev, bad_seq=e.seq, problem="altered")
        prev = e.hash
        count += 1
        expected_seq += 1
        if expected_head is not None and e.hash == expected_head:
            seen_head = True
    if not seen_head:
        return VerifyResult(False, count, prev, bad_seq=expected_seq, problem="truncated")
    return VerifyResult(True, count, prev)
