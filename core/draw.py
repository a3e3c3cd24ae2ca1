"""The pure part of a panel draw (Art. 12, 13): seed, ranking, quota filling, replacements, checks.

Nothing here does I/O or touches a global random generator: the only randomness is the seed the
caller passes in, so that anyone holding the stored record can re-derive the same result.
`docs/draw.md` is the public specification; its reference code must agree with this module
(tests/unit/test_draw_doc.py runs it against this one).
"""
from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

# The ranking's HMACs come from core/_hmac.c (one C loop over all codes, on the CPU's SHA
# extensions or in the lanes of its AVX-512 or AVX2 registers, whichever is fastest here
# (`hmac_path`): ~3-11 ms for 43,000 codes against ~26-95 ms for the hashlib loop below).
# Built at install when a C compiler is there; without it, hashlib gives the same bytes.
try:
    from core import _hmac as _native
except ImportError:  # pragma: no cover - no compiler at install time
    _native = None  # type: ignore[assignment]

# CPython's built-in SHA-256 (3.11: _sha256, 3.12+: _sha2) copies its state as a plain struct,
# cheaper than OpenSSL's EVP context copy (a malloc per copy): measured ~7 % faster per code
# here even though OpenSSL uses the CPU's SHA extensions. Same function either way (tests
# compare with hmac.new); hashlib's OpenSSL-backed one is the fallback.
try:
    from _sha256 import sha256 as _sha256
except ImportError:  # pragma: no cover
    try:
        from _sha2 import sha256 as _sha256  # type: ignore[no-redef]
    except ImportError:
        from hashlib import sha256 as _sha256  # type: ignore[assignment]

# Texts of numbers (the pool scan's, the codes hashed and stored) are parsed and written, and the
# digests' leading words sorted, by core/_numbers.c (a few ns a number), else by numpy (~17-25
# ns): same results either way.
try:
    from core import _numbers
except ImportError:  # pragma: no cover - no compiler at install time
    _numbers = None  # type: ignore[assignment]

try:  # numpy comes with matplotlib (a dependency); the ranking falls back to sorted() without it
    import numpy as _np
except ImportError:  # pragma: no cover
    _np = None  # type: ignore[assignment]

from core.audit import canonical_json
from core.errors import DomainError

__all__ = [
    "ALGORITHM",
    "MIN_SIZE",
    "RECORD_VERSION",
    "SEED_BYTES",
    "RankedPool",
    "RankingTexts",
    "Ranker",
    "SeatGroup",
    "Selection",
    "Shortfall",
    "code_of",
    "digest_record",
    "exclusions_text",
    "fields_mask",
    "hmac_path",
    "join_decimal",
    "masks_text",
    "new_seed",
    "parse_ints",
    "rank",
    "rank_key",
    "rank_order",
    "rank_pool",
    "ranking_text",
    "record_digest",
    "record_header",
    "record_payload",
    "replacement",
    "select",
    "select_ranked",
    "sha256_text",
    "split_text",
    "validate_groups",
    "verify_record",
]

# Stored with every draw; bump it whenever any byte of the ranking or a seat could change.
ALGORITHM = "hmac-sha256-rank/transversal-greedy/v1"
# Layout of the stored record (docs/draw.md § What is stored): 1 = one canonical JSON document
# hashed whole (draws made before migration 0004); 2 = the ranking, the fields and the
# exclusions stored as texts, each committed to the audit chain by its SHA-256.
RECORD_VERSION = 2
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


def _digests(seed: bytes, msgs: Sequence[bytes]) -> list[bytes]:
    """HMAC-SHA256(key=seed, msg=m) for every m, in order."""
    joined = b",".join(msgs)
    if joined and joined.count(b",") == len(msgs) - 1:  # no "," inside a message
        blob = _hmac_joined(seed, joined)
        return [blob[i:i + 32] for i in range(0, len(blob), 32)]
    return _hmac_all(_keyed(seed), msgs)


def _hmac_joined(seed: bytes, joined: bytes) -> bytes:
    """The digests of every message of `joined` (codes separated by ','; b"" holds none),
    concatenated: the form the native kernel takes and gives, without a bytes object per code."""
    if _native is not None:
        return _native.hmac_sha256(seed, joined, path=hmac_path())
    return b"".join(_hmac_all(_keyed(seed), joined.split(b","))) if joined else b""


_path: str | None = None


def hmac_path() -> str | None:
    """The native kernel's path the ranking uses (None: no native kernel): the fastest of this
    CPU's, timed once per process. Which one that is depends on the CPU, not on the kind: on a
    Sapphire Rapids Xeon 16 AVX-512 lanes hashed 21,500 codes in 1.35 ms against 1.96 with
    the SHA extensions, which win where the vector units are narrower or slower."""
    global _path
    if _path is None and _native is not None:
        codes = b",".join(b"E%06d" % i for i in range(1, 2049))  # ~0.1-0.2 ms a path

        def timed(path: str) -> float:
            t = time.perf_counter()
            _native.hmac_sha256(b"\x5a" * SEED_BYTES, codes, path=path)
            return time.perf_counter() - t

        # The portable path is there for any CPU: never the fastest when another is.
        _path = fastest([p for p in _native.PATHS if p != "portable"] or _native.PATHS, timed)
    return _path


def fastest(options: Sequence[str], timed: Callable[[str], float], rounds: int = 3) -> str:
    """The option with the smallest of `rounds` timings (`timed(option)`, taken in turn so that
    a slow moment of the machine hits them alike)."""
    if len(options) == 1:
        return options[0]
    best = dict.fromkeys(options, float("inf"))
    for _ in range(rounds):
        for o in options:
            best[o] = min(best[o], timed(o))
    return min(options, key=best.__getitem__)


def _keyed(seed: bytes) -> tuple[Any, Any]:
    """RFC 2104 unrolled: H((K⊕opad) ‖ H((K⊕ipad) ‖ m)). The two keyed states are hashed once
    and `.copy()`-ed per message: two SHA-256 compressions per code instead of four, and no
    per-call key set-up (`hmac.digest` sets the key up again on every call under OpenSSL 3)."""
    key = hashlib.sha256(seed).digest() if len(seed) > _BLOCK else seed
    key = key.ljust(_BLOCK, b"\0")
    return _sha256(key.translate(_TRANS_36)).copy, _sha256(key.translate(_TRANS_5C)).copy


def _hmac_all(keyed: tuple[Any, Any], msgs: Iterable[bytes]) -> list[bytes]:
    icopy, ocopy = keyed
    out: list[bytes] = []
    append = out.append
    for m in msgs:
        inner = icopy()
        inner.update(m)
        outer = ocopy()
        outer.update(inner.digest())
        append(outer.digest())
    return out


def rank_key(seed: bytes, code: str) -> bytes:
    """HMAC-SHA256(key=seed, msg=ASCII code): the expert's place in this draw's ranking.

    A keyed hash, not a shuffle: each expert's position depends only on the seed and his own
    public code, so a third party re-derives it without any RNG implementation detail."""
    return _digests(seed, [code.encode("ascii")])[0]


def rank_order(seed: bytes, msgs: Sequence[bytes]) -> list[int]:
    """The indices of `msgs` (distinct ASCII public codes) in draw order: ascending
    HMAC-SHA256(seed, msg), equal digests (a SHA-256 collision: never seen) by the message."""
    order = _order_of([b"".join(_digests(seed, msgs))], lambda: msgs)
    return order if isinstance(order, list) else order.tolist()


def _order_of(blobs: Sequence[bytes], msgs: Callable[[], Sequence[bytes]], sorted_pieces: Sequence[Any] = ()) -> Any:
    """`rank_order` from the digests (`blobs`: pieces of concatenated digests), as a numpy
    index array when numpy is there.

    The digests are ordered by their first 8 bytes read as big-endian integers, each with its
    index packed into the low bits (`b` of them), in one sort of machine words: cheaper than
    an argsort (~1.4 ms against ~2.4 for 43,000) and far cheaper than 43,000 byte-string
    comparisons. Each piece is sorted on its own (`_sorted_piece`; `sorted_pieces` if the
    caller did it already, while waiting for the next piece), then the sorted pieces are
    merged: a stable sort of a few sorted runs is a merge (~0.07 ms for 43,000). Should two
    digests ever agree on the top 64 - b bits, the full (digest, message) comparison decides,
    as it does without numpy; only then are the messages (`msgs()`) needed."""
    n = sum(len(blob) for blob in blobs) // 32
    if _np is not None and 1 < n < 1 << 32:
        b = (n - 1).bit_length()
        low = _np.uint64((1 << b) - 1)
        runs, offset = [], 0
        for packed, count, bits in (sorted_pieces or [_sorted_piece(blob) for blob in blobs]):
            if bits != b or offset:  # the piece's index → the pool's: still sorted, but for ties on
                # the pool's top 64 - b bits, which the full sort below puts right
                shift, index = _np.uint64(bits), packed & _np.uint64((1 << bits) - 1)
                packed = ((packed >> shift) << shift) & ~low | (index + _np.uint64(offset))
            runs.append(packed)
            offset += count
        packed = runs[0] if len(runs) == 1 else _np.sort(_np.concatenate(runs), kind="stable")
        top = packed >> _np.uint64(b)
        if not bool((top[1:] == top[:-1]).any()):
            return (packed & low).astype(_np.intp)
    blob = b"".join(blobs)
    keys = [blob[32 * i:32 * i + 32] + m for i, m in enumerate(msgs())]  # (digest, msg) order
    return sorted(range(n), key=keys.__getitem__)


def _sorted_piece(blob: bytes) -> tuple[Any, int, int]:
    """One piece's digests as sorted machine words, each its first 8 bytes (big-endian) with its
    index in the piece packed into the low bits: (words, count, index bits). numpy only."""
    n = len(blob) // 32
    bits = max(0, n - 1).bit_length()
    head = _np.frombuffer(blob, dtype=">u8")[::4].astype(_np.uint64)
    words = (head & ~_np.uint64((1 << bits) - 1)) | _np.arange(n, dtype=_np.uint64)
    _SORTS[word_sort()](words)
    return words, n, bits


# Two ways to sort machine words in place, both without the GIL: core/_numbers.c's radix sort
# and numpy's own. Which is faster depends on the CPU (and on numpy's build): the radix sort
# was ~4x numpy's for 20,000 words on the machine it was written for; numpy's (x86-simd-sort,
# on AVX-512) ~3.5x the radix sort's on a Sapphire Rapids Xeon (0.17 against 0.59 ms for
# 21,500 words).
_SORTS: dict[str, Callable[[Any], None]] = {"numpy": lambda words: words.sort()}
if _numbers is not None:
    _SORTS["radix"] = _numbers.sort_words
_sort: str | None = None


def word_sort() -> str:
    """The faster of `_SORTS` here, timed once per process on 16,384 scattered words."""
    global _sort
    if _sort is None:
        # Scattered words (multiplied by the golden ratio's 64-bit fraction, mod 2**64).
        sample = _np.arange(1, 16_385, dtype=_np.uint64) * _np.uint64(0x9E3779B97F4A7C15)

        def timed(name: str) -> float:
            words = sample.copy()
            t = time.perf_counter()
            _SORTS[name](words)
            return time.perf_counter() - t

        _sort = fastest(list(_SORTS), timed)
    return _sort


def rank(seed: bytes, codes: Iterable[str]) -> list[str]:
    """The eligible pool in draw order: ascending HMAC-SHA256(seed, code), ties by code.

    Duplicates are dropped (an expert has one place)."""
    uniq = list(dict.fromkeys(codes))
    order = rank_order(seed, [c.encode("ascii") for c in uniq])
    return [uniq[i] for i in order]


def code_of(expert_id: int) -> str:
    """An expert's public code: 'E' and his id, zero-padded to at least six digits."""
    return f"E{expert_id:06d}"


def join_decimal(values: Sequence[int], prefix: bytes = b"", width: int = 1) -> bytes:
    """b",".join(prefix + decimal(v) zero-padded to `width`) for non-negative ints `values`.

    A numpy array goes to core._numbers (one C loop: 43,000 codes in ~0.4 ms) or, without it,
    is vectorised: every number is written into a fixed-width row of digits, the unused leading
    positions are blanked to NUL and removed at the end (~1.5 ms; a Python loop takes ~10)."""
    if _np is None or not isinstance(values, _np.ndarray):
        return b",".join([b"%s%0*d" % (prefix, width, int(v)) for v in values])
    n = len(values)
    if n == 0:
        return b""
    if _numbers is not None and 1 <= width <= 20:
        return _numbers.format_ints(_np.ascontiguousarray(values, dtype=_np.int64), prefix, width)
    v = values.astype(_np.uint64)
    top = int(v.max())
    digits = max(width, len(str(top)))
    p = len(prefix)
    out = _np.zeros((n, p + digits + 1), dtype=_np.uint8)
    if p:
        out[:, :p] = _np.frombuffer(prefix, dtype=_np.uint8)
    x = v.copy()
    for k in range(p + digits - 1, p - 1, -1):
        out[:, k] = x % 10 + 48
        x //= 10
    if digits > width:
        length = _np.full(n, width, dtype=_np.int64)  # how many digits each number needs
        for k in range(width, digits):
            length += v >= _np.uint64(10**k)
        for j in range(digits - width):
            out[length < digits - j, p + j] = 0
    out[:, -1] = 44  # ","
    return out.tobytes().replace(b"\0", b"")[:-1]


def parse_ints(text: str | bytes) -> Sequence[int]:
    """The ints of a text joined by ',' ('' → empty), or of bytes holding big-endian 64-bit
    ints (PostgreSQL's `int8send`): a numpy array when numpy is there."""
    if isinstance(text, bytes):
        if len(text) % 8:
            raise ValueError(f"{len(text)} bytes are no whole number of 64-bit ints")
        if _np is not None:
            return _np.frombuffer(text, dtype=">i8").astype(_np.int64)
        return [int.from_bytes(text[i:i + 8], "big", signed=True) for i in range(0, len(text), 8)]
    if _np is not None and _numbers is not None:
        return _np.frombuffer(_numbers.parse_ints(text), dtype=_np.int64)
    if _np is not None:
        return _np.fromstring(text, dtype=_np.int64, sep=",") if text else _np.zeros(0, dtype=_np.int64)
    return [int(x) for x in text.split(",")] if text else []


@dataclass(frozen=True)
class RankedPool:
    """A pool in draw order: expert ids and field masks, and the two stored texts with their
    SHA-256s, which `Ranker.result` has the hashing thread write meanwhile (`texts`)."""

    ids: Sequence[int]
    masks: Sequence[int]
    texts: Future[RankingTexts]

    @property
    def ranking_text(self) -> str:
        """Public codes in ranked order, joined by ","."""
        return self.texts.result().ranking

    @property
    def masks_text(self) -> str:
        """Their field masks, same order, joined by ","."""
        return self.texts.result().masks

    def __len__(self) -> int:
        return len(self.ids)

    def pairs(self) -> Iterator[tuple[str, int]]:
        """(code, mask) in rank order, made as they are read (the selection reads only the top:
        converting all 43,000 array entries to Python ints would cost more than it does)."""
        step = 64
        for i in range(0, len(self.ids), step):
            ids, masks = self.ids[i:i + step], self.masks[i:i + step]
            if _np is not None and isinstance(ids, _np.ndarray):
                ids, masks = ids.tolist(), _np.asarray(masks).tolist()
            yield from zip(map(code_of, ids), map(int, masks))
            step = min(step * 4, 4096)


@dataclass(frozen=True)
class RankingTexts:
    """The ranking's two stored texts and the SHA-256 (hex) of each."""

    ranking: str
    masks: str
    ranking_sha256: str
    masks_sha256: str

    @classmethod
    def of(cls, ranking: bytes, masks: bytes) -> "RankingTexts":
        """From the texts' ASCII bytes (hashed as they are: what `sha256_text` hashes)."""
        return cls(ranking.decode("ascii"), masks.decode("ascii"), hashlib.sha256(ranking).hexdigest(),
                   hashlib.sha256(masks).hexdigest())


def _done(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(value)
    return future


def _hash_piece(seed: bytes, joined: bytes) -> tuple[bytes, Any]:
    """A piece's digests, concatenated, and (with numpy) their `_sorted_piece`."""
    blob = _hmac_joined(seed, joined)
    return blob, _sorted_piece(blob) if _np is not None else None


_hashing_pool: ThreadPoolExecutor | None = None


def _hashing() -> ThreadPoolExecutor:
    """The one worker thread that hashes for every draw in this process, in turn (the pieces'
    codes, the record's texts)."""
    global _hashing_pool
    if _hashing_pool is None:
        _hashing_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="draw-hash")
    return _hashing_pool


class Ranker:
    """Ranks a pool handed in piece by piece, so that hashing one piece of the pool can overlap
    reading the next one from the database. `add` the pool's ids in order, then `result`.

    Each piece is hashed and its digests sorted on a worker thread (the native kernels let go
    of the GIL), so `add` returns at once and the caller works on meanwhile (the pool's
    exclusions); `result` waits for the pieces."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._joined: list[bytes] = []  # each piece's codes, joined by ","
        self._hashed: list[Future[tuple[bytes, Any]]] = []  # each piece's `_hash_piece`
        self._count = 0

    def add(self, ids: Sequence[int]) -> None:
        if not len(ids):
            return
        joined = join_decimal(ids, b"E", 6)
        self._joined.append(joined)
        self._hashed.append(_hashing().submit(_hash_piece, self._seed, joined))
        self._count += len(ids)

    def _ranked_codes(self, order: Any) -> bytes:
        """The codes in `order`, joined by ",": while every code has seven characters (ids below
        1,000,000) a permutation of fixed-width rows of the hashed text, otherwise one by one."""
        if _np is not None and isinstance(order, _np.ndarray):
            text = b",".join(self._joined) + b","
            if len(text) == 8 * len(order):  # a row is one machine word
                return _np.frombuffer(text, dtype=_np.uint64)[order].tobytes()[:-1]
            order = order.tolist()
        msgs = self._msgs()
        return b",".join([msgs[i] for i in order])

    def _texts(self, order: Any, masks: Any) -> RankingTexts:
        """The stored texts of the pool in `order` with the field masks `masks` (in that order).
        On the hashing thread: numpy's permutation, core/_numbers.c's formatting of a large
        array and hashlib let go of the GIL, so most of it runs beside the caller's thread."""
        return RankingTexts.of(self._ranked_codes(order), join_decimal(masks))

    def _msgs(self) -> list[bytes]:
        return b",".join(self._joined).split(b",") if self._joined else []

    def result(self, ids: Sequence[int], masks: Sequence[int]) -> RankedPool:
        """The pool in draw order; `ids` must be what was added, in the same order."""
        if len(ids) != self._count:
            raise ValueError(f"{self._count} codes hashed for a pool of {len(ids)}")
        hashed = [f.result() for f in self._hashed]
        order = _order_of([blob for blob, _ in hashed], self._msgs,
                          [words for _, words in hashed] if _np is not None else ())
        if _np is not None and isinstance(ids, _np.ndarray):
            idx = _np.asarray(order, dtype=_np.intp)
            r_ids, r_masks = ids[idx], _np.asarray(masks)[idx]
            return RankedPool(r_ids, r_masks, _hashing().submit(self._texts, idx, r_masks))
        r_ids = [ids[i] for i in order]
        r_masks = [masks[i] for i in order]
        return RankedPool(r_ids, r_masks, _done(self._texts(order, r_masks)))


def rank_pool(seed: bytes, ids: Sequence[int], masks: Sequence[int]) -> RankedPool:
    """Rank a pool given as parallel sequences of distinct expert ids and field masks.

    The same ranking as `rank(seed, codes)`: the codes are formatted once (vectorised), hashed,
    ordered; ids and masks are permuted along and written back as the two stored texts."""
    ranker = Ranker(seed)
    ranker.add(ids)
    return ranker.result(ids, masks)


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
    seated. `ranks` gives each chosen expert's 1-based place in the ranking."""

    chosen: list[tuple[str, int]]
    short: list[Shortfall] = field(default_factory=list)
    blocked: frozenset[int] = frozenset()
    ranks: dict[str, int] = field(default_factory=dict, compare=False)

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
    expert holding A and B seated in A can block the only B seat's taker)."""
    return select_ranked(((c, masks[c]) for c in ranking), groups)


def select_ranked(ranked: Iterable[tuple[str, int]], groups: Sequence[SeatGroup]) -> Selection:
    """`select` over (code, fields mask) pairs in rank order, read only as far as needed: a
    draw hands in a lazy iterator and never builds the mask of an expert it does not reach.

    Candidates that cannot be seated are skipped in O(1): `reach` is the union of the fields
    of every group from which an alternating path leads to a free seat; it only changes when
    someone is seated. Failed searches change nothing, so the skip is invisible in the result.
    """
    gmasks = [g.mask for g in groups]
    need = [g.count for g in groups]
    total = sum(need)
    load = [0] * len(groups)
    assign: dict[str, int] = {}  # code → group; insertion order is rank order
    masks: dict[str, int] = {}  # the seated experts' fields
    ranks: dict[str, int] = {}

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
    for pos, (code, mask) in enumerate(ranked, 1):
        if not mask & reach or code in assign:
            continue
        if not place(code, mask, set()):  # pragma: no cover - `reach` promised a path
            raise AssertionError(f"no augmenting path for {code} although one was reachable")
        masks[code] = mask
        ranks[code] = pos
        if len(assign) == total:
            break
        reach = _reach(assign, masks, gmasks, need, load)

    chosen = list(assign.items())
    short = [Shortfall(g, need[g], load[g]) for g in range(len(groups)) if load[g] < need[g]]
    blocked = frozenset(_reach_groups(assign, masks, gmasks, need, load)) if short else frozenset()
    return Selection(chosen, short, blocked, ranks)


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
#
# Record version 2 (docs/draw.md § What is stored). The three long parts are plain texts:
#   ranking     the pool's public codes in ranked order, joined by ","
#   masks       each ranked expert's field bitmask at draw time (decimal), same order, ","
#   exclusions  canonical JSON of [[code, reason, detail], ...], sorted by code
# The audit chain holds the SHA-256 of each text and the record's digest: SHA-256 of the
# canonical JSON of `record_header` (seed, algorithm, groups, selection and those three hashes).


def sha256_text(text: str) -> str:
    """SHA-256 (hex) of a stored text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def ranking_text(codes: Iterable[str]) -> str:
    return ",".join(codes)


def masks_text(masks: Iterable[int]) -> str:
    return ",".join(str(int(m)) for m in masks)


def exclusions_text(exclusions: Iterable[Sequence[str]]) -> str:
    """The (code, reason, detail) triples, sorted, as canonical JSON (tuples and lists of
    texts write alike: no copy of 4,000 rows into lists first)."""
    rows = sorted(exclusions)
    if not rows:
        return "[]"
    if set(map(len, rows)) != {3}:
        raise ValueError("an exclusion is (code, reason, detail)")
    try:
        text = '[["' + '"],["'.join(['","'.join(r) for r in rows]) + '"]]'
    except TypeError:  # not all texts
        return canonical_json(rows)
    if _np is not None and text.isascii() and text.count('"') == 6 * len(rows) and "\\" not in text \
            and _np.frombuffer(text.encode("ascii"), dtype=_np.uint8).min() >= 0x20:
        return text  # nothing to escape: what json.dumps writes, ~4x faster for 4,000 rows
    return canonical_json(rows)


def split_text(text: str | None) -> list[str]:
    return text.split(",") if text else []


def record_header(
    seed_hex: str,
    algorithm: str,
    groups: Sequence[SeatGroup],
    selection: Sequence[Sequence[Any]],
    ranking_sha256: str,
    masks_sha256: str,
    exclusions_sha256: str,
) -> dict[str, Any]:
    """What the digest of a version-2 record covers, as plain JSON values: the seed, the
    algorithm, the groups and the selection as they are, the three texts by their SHA-256."""
    return {
        "algorithm": algorithm,
        "seed": seed_hex,
        "groups": [g.to_json() for g in groups],
        "selection": [[str(code), int(g)] for code, g in selection],
        "ranking_sha256": ranking_sha256,
        "masks_sha256": masks_sha256,
        "exclusions_sha256": exclusions_sha256,
    }


def record_digest(header: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a version-2 record header's canonical JSON (core.audit.canonical_json)."""
    return sha256_text(canonical_json(dict(header)))


# Record version 1: the whole record as one canonical JSON document (draws before 0004).


def record_payload(
    seed_hex: str,
    algorithm: str,
    ranking: Sequence[str],
    exclusions: Sequence[Sequence[str]],
    groups: Sequence[SeatGroup],
    selection: Sequence[Sequence[Any]],
    masks: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """A version-1 record as plain JSON values (what `digest_record` hashes)."""
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
    """sha256 hex of a version-1 record's canonical JSON (core.audit.canonical_json).

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
