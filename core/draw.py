"""The pure part of a panel draw (Art. 12, 13): seed, ranking, quota filling, replacements, checks.

Nothing here does I/O or touches a global random generator: the only randomness is the seed the
caller passes in, so that anyone holding the stored record can re-derive the same result.
`docs/draw.md` is the public specification; its reference code must agree with this module
(tests/unit/test_draw_doc.py runs it against this one).
"""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from itertools import islice
from operator import eq
from typing import Any, Callable

# CPython's built-in SHA-256 (3.11: _sha256, 3.12+: _sha2) copies its state as a plain struct,
# cheaper than OpenSSL's EVP context copy: the ranking is ~8 % faster. It is the same function
# (tests compare every path with hmac.new); hashlib's OpenSSL-backed one is the fallback.
try:
    from _sha256 import sha256 as _sha256
except ImportError:  # pragma: no cover
    try:
        from _sha2 import sha256 as _sha256  # type: ignore[no-redef]
    except ImportError:
        from hashlib import sha256 as _sha256  # type: ignore[assignment]

from core.audit import canonical_json
from core.errors import DomainError

__all__ = [
    "ALGORITHM",
    "MIN_SIZE",
    "SEED_BYTES",
    "SeatGroup",
    "Selection",
    "Shortfall",
    "digest_record",
    "fields_mask",
    "new_seed",
    "rank",
    "rank_key",
    "record_payload",
    "replacement",
    "select",
    "validate_groups",
    "verify_record",
]

# Stored with every draw; bump it whenever any byte of the ranking or a seat could change.
ALGORITHM = "hmac-sha256-rank/transversal-greedy/v1"
SEED_BYTES = 32
MIN_SIZE = 3

_BLOCK = 64  # SHA-256 block size: HMAC pads (or first hashes) the key to this many bytes
_TRANS_36 = bytes(x ^ 0x36 for x in range(256))
_TRANS_5C = bytes(x ^ 0x5C for x in range(256))


def new_seed() -> bytes:
    """32 bytes from the OS CSPRNG: nobody, the bureau included, can pick or predict a draw."""
    return secrets.token_bytes(SEED_BYTES)


def fields_mask(fields: Iterable[int]) -> int:
    """The bitmask of a set of category ids (bit i set ⇔ category i), as `experts.field_mask`."""
    mask = 0
    for f in fields:
        if f < 0:
            raise ValueError(f"negative field id {f}")
        mask |= 1 << f
    return mask


# --- ranking -----------------------------------------------------------------------------------


def rank_key(seed: bytes, code: str) -> bytes:
    """HMAC-SHA256(key=seed, msg=ASCII code): the expert's place in this draw's ranking.

    A keyed hash, not a shuffle: each expert's position depends only on the seed and his own
    public code, so a third party re-derives it without any RNG implementation detail."""
    return _hmac_key_fn(seed)(code)[:32]


def _hmac_key_fn(seed: bytes) -> Callable[[str], bytes]:
    """code → HMAC-SHA256(seed, code) + code bytes, for sorting (the code breaks ties).

    RFC 2104 unrolled: H((K⊕opad) ‖ H((K⊕ipad) ‖ m)). The two keyed states are hashed once
    and `.copy()`-ed per code, which is about twice as fast as `hmac.new` per code and gives
    the same bytes (tested against `hmac.new` on random keys and messages). Appending the code
    after the fixed-length digest orders by (digest, code) at no extra sorting cost."""
    key = hashlib.sha256(seed).digest() if len(seed) > _BLOCK else seed
    key = key.ljust(_BLOCK, b"\0")
    icopy = _sha256(key.translate(_TRANS_36)).copy
    ocopy = _sha256(key.translate(_TRANS_5C)).copy

    def key_fn(code: str) -> bytes:
        msg = code.encode("ascii")
        inner = icopy()
        inner.update(msg)
        outer = ocopy()
        outer.update(inner.digest())
        return outer.digest() + msg

    return key_fn


def rank(seed: bytes, codes: Iterable[str]) -> list[str]:
    """The eligible pool in draw order: ascending HMAC-SHA256(seed, code), ties by code.

    Duplicates are dropped (an expert has one place). 50,000 codes take ~45 ms; pass them in
    id order (e.g. the pool dict) rather than as a set: memory locality makes that ~4 ms faster.
    """
    out = sorted(codes, key=_hmac_key_fn(seed))
    if any(map(eq, out, islice(out, 1, None))):  # equal codes sort next to each other
        out = list(dict.fromkeys(out))
    return out


# --- seat groups and selection -----------------------------------------------------------------


@dataclass(frozen=True)
class SeatGroup:
    """`count` seats for experts holding at least one of `fields` (category ids).

    A per-field quota is one group per field ({field}, n); "any of these fields" is one group
    (all fields, size)."""

    fields: frozenset[int]
    count: int

    def __post_init__(self) -> None:
        if not isinstance(self.fields, frozenset):
            object.__setattr__(self, "fields", frozenset(self.fields))
        if any(not isinstance(f, int) or f < 0 for f in self.fields):
            raise ValueError(f"field ids must be non-negative ints: {sorted(self.fields)!r}")

    @property
    def mask(self) -> int:
        return fields_mask(self.fields)

    def to_json(self) -> dict[str, Any]:
        return {"fields": sorted(self.fields), "count": self.count}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SeatGroup":
        return cls(frozenset(int(f) for f in data["fields"]), int(data["count"]))


@dataclass(frozen=True)
class Shortfall:
    """Group `group` (index) got `filled` of its `needed` seats."""

    group: int
    needed: int
    filled: int


@dataclass
class Selection:
    """The experts to invite, each with the group whose seat he takes, in rank order.

    When the pool cannot fill every seat, `short` lists the groups left with empty seats in the
    (maximum) assignment found, and `blocked` names the groups that compete for too few
    experts: together they need more seats than there are pool experts holding any of their
    fields — that is the quota that cannot be met, whichever way multi-field experts are
    seated."""

    chosen: list[tuple[str, int]]
    short: list[Shortfall] = field(default_factory=list)
    blocked: frozenset[int] = frozenset()

    @property
    def complete(self) -> bool:
        return not self.short

    @property
    def codes(self) -> list[str]:
        return [code for code, _ in self.chosen]


def select(ranking: Sequence[str], masks: Mapping[str, int], groups: Sequence[SeatGroup]) -> Selection:
    """Fill the groups with the best-ranked experts such that every quota is met if possible.

    Walk the ranking; take a candidate iff the chosen experts plus him can still all be seated,
    re-seating chosen experts between groups along an augmenting path if needed (Kuhn's DFS:
    groups in index order, a group's holders in rank order). That is the greedy algorithm on
    a transversal matroid: the result is the rank-lexicographically first feasible set, and it
    fills every seat whenever the pool allows. A plain "first free group" walk does not (an
    expert holding A and B seated in A can block the only B seat's taker).

    Candidates that cannot be seated are skipped in O(1): `reach` is the union of the fields
    of every group from which an alternating path leads to a free seat; it only changes when
    someone is seated. Failed searches change nothing, so the skip is invisible in the result.
    """
    gmasks = [g.mask for g in groups]
    need = [g.count for g in groups]
    total = sum(need)
    load = [0] * len(groups)
    assign: dict[str, int] = {}  # code → group; insertion order is rank order

    def place(code: str, mask: int, seen: set[int]) -> bool:
        for g, gmask in enumerate(gmasks):
            if g in seen or not mask & gmask:
                continue
            seen.add(g)
            if load[g] < need[g]:
                load[g] += 1
                assign[code] = g
                return True
            for holder in [c for c, h in assign.items() if h == g]:
                if place(holder, masks[holder], seen):
                    assign[code] = g  # the holder moved on; his seat is ours
                    return True
        return False

    if total == 0:
        return Selection([])
    reach = _reach(assign, masks, gmasks, need, load)
    for code, mask in zip(ranking, map(masks.__getitem__, ranking)):
        if not mask & reach:
            continue
        if not place(code, mask, set()):  # pragma: no cover - `reach` promised a path
            raise AssertionError(f"no augmenting path for {code} although one was reachable")
        if len(assign) == total:
            break
        reach = _reach(assign, masks, gmasks, need, load)

    chosen = list(assign.items())
    short = [Shortfall(g, need[g], load[g]) for g in range(len(groups)) if load[g] < need[g]]
    blocked = frozenset(_reach_groups(assign, masks, gmasks, need, load)) if short else frozenset()
    return Selection(chosen, short, blocked)


def _reach_groups(
    assign: Mapping[str, int], masks: Mapping[str, int], gmasks: Sequence[int],
    need: Sequence[int], load: Sequence[int],
) -> set[int]:
    """Groups with a free seat, or whose holder can move to such a group (transitively)."""
    groups = {g for g in range(len(gmasks)) if load[g] < need[g]}
    union = 0
    for g in groups:
        union |= gmasks[g]
    changed = bool(groups)
    while changed:
        changed = False
        for code, g in assign.items():
            if g not in groups and masks[code] & union:
                groups.add(g)
                union |= gmasks[g]
                changed = True
    return groups


def _reach(
    assign: Mapping[str, int], masks: Mapping[str, int], gmasks: Sequence[int],
    need: Sequence[int], load: Sequence[int],
) -> int:
    union = 0
    for g in _reach_groups(assign, masks, gmasks, need, load):
        union |= gmasks[g]
    return union


def replacement(
    ranking: Sequence[str],
    masks: Mapping[str, int],
    group: SeatGroup,
    invited: AbstractSet[str],
    eligible_now: AbstractSet[str],
) -> str | None:
    """Who takes a seat that freed up in `group`: the first-ranked expert holding one of its
    fields who was never invited to this panel and is eligible now (conflicts, bookings and
    availability re-checked today, not at draw time). Invited experts are not re-seated
    between groups: each was asked for a specific group. None when the ranking is exhausted."""
    gmask = group.mask
    for code in ranking:
        if masks.get(code, 0) & gmask and code not in invited and code in eligible_now:
            return code
    return None


def validate_groups(size: int, groups: Sequence[SeatGroup]) -> None:
    """Art. 12: an odd panel of at least three, and the groups' seats add up to it."""
    if size < MIN_SIZE:
        raise DomainError("panel.size_small", min=MIN_SIZE, value=size, size=size)
    if size % 2 == 0:
        raise DomainError("panel.size_even", value=size, size=size)
    if not groups or any(not g.fields for g in groups):
        raise DomainError("panel.fields_none")
    if any(g.count < 1 for g in groups):
        raise DomainError("panel.quota_invalid")
    total = sum(g.count for g in groups)
    if total != size:
        raise DomainError("panel.quota_sum", size=size, total=total)


# --- the stored record -------------------------------------------------------------------------


def record_payload(
    seed_hex: str,
    algorithm: str,
    ranking: Sequence[str],
    exclusions: Sequence[Sequence[str]],
    groups: Sequence[SeatGroup],
    selection: Sequence[Sequence[Any]],
    masks: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The record as plain JSON values (what `digest_record` hashes)."""
    payload: dict[str, Any] = {
        "seed": seed_hex,
        "algorithm": algorithm,
        "ranking": list(ranking),
        "exclusions": [list(e) for e in exclusions],
        "groups": [g.to_json() for g in groups],
        "selection": [[str(code), int(g)] for code, g in selection],
    }
    if masks is not None:
        payload["masks"] = {code: int(m) for code, m in masks.items()}
    return payload


def digest_record(
    seed_hex: str,
    algorithm: str,
    ranking: Sequence[str],
    exclusions: Sequence[Sequence[str]],
    groups: Sequence[SeatGroup],
    selection: Sequence[Sequence[Any]],
    masks: Mapping[str, int] | None = None,
) -> str:
    """sha256 hex of the record's canonical JSON (core.audit.canonical_json).

    Written into the audit chain, it ties the stored draw to the chain: editing any stored
    byte afterwards (a swapped code, a dropped exclusion) no longer matches."""
    payload = record_payload(seed_hex, algorithm, ranking, exclusions, groups, selection, masks)
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def verify_record(
    seed_hex: str,
    algorithm: str,
    ranking: Sequence[str],
    masks: Mapping[str, int],
    groups: Sequence[SeatGroup],
    selection: Sequence[Sequence[Any]],
) -> list[str]:
    """Re-derive the ranking and the selection from the stored record; [] when they agree.

    Each problem is "<part>: <what>", part one of algorithm, seed, ranking, masks, selection."""
    if algorithm != ALGORITHM:
        return [f"algorithm: unknown {algorithm!r}; this version verifies {ALGORITHM!r}"]
    problems: list[str] = []
    try:
        seed = bytes.fromhex(seed_hex)
    except ValueError:
        return [f"seed: not hexadecimal: {seed_hex!r}"]
    if len(seed) != SEED_BYTES:
        problems.append(f"seed: {len(seed)} bytes, expected {SEED_BYTES}")
    stored = list(ranking)
    if len(set(stored)) != len(stored):
        problems.append(f"ranking: {len(stored) - len(set(stored))} duplicate code(s)")
    expected = rank(seed, stored)
    if expected != stored:
        pos = next(
            (i for i, (a, b) in enumerate(zip(stored, expected)) if a != b), min(len(stored), len(expected))
        )
        got = stored[pos] if pos < len(stored) else "(end)"
        want = expected[pos] if pos < len(expected) else "(end)"
        problems.append(f"ranking: position {pos + 1} holds {got}, the seed ranks {want} there")
    missing = [c for c in expected if c not in masks]
    if missing:
        problems.append(f"masks: no fields recorded for {len(missing)} code(s), e.g. {missing[0]}")
        return problems
    want_sel = select(expected, masks, groups).chosen
    got_sel = [(str(c), int(g)) for c, g in selection]
    if got_sel != want_sel:
        pos = next(
            (i for i, (a, b) in enumerate(zip(got_sel, want_sel)) if a != b), min(len(got_sel), len(want_sel))
        )
        got = "%s→group %d" % got_sel[pos] if pos < len(got_sel) else "(end)"
        want = "%s→group %d" % want_sel[pos] if pos < len(want_sel) else "(end)"
        problems.append(f"selection: seat {pos + 1} holds {got}, the algorithm gives {want}")
    return problems
