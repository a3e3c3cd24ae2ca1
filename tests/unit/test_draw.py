"""core.draw: ranking, quota filling, replacements, record checks, and a statistical uniformity
test. Brute-force oracles (seat-expanded bipartite matching, subset enumeration) are written
independently of the module under test."""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import math
import random
import struct
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.audit import canonical_json
from core.draw import (
    ALGORITHM,
    SeatGroup,
    Selection,
    Shortfall,
    digest_record,
    fields_mask,
    new_seed,
    rank,
    rank_key,
    replacement,
    select,
    validate_groups,
    verify_record,
)
from core.errors import DomainError

FIELDS = range(1, 12)  # category ids 1..11
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def code(i: int) -> str:
    return f"E{i:06d}"


def ref_rank(seed: bytes, codes: Sequence[str]) -> list[str]:
    return sorted(set(codes), key=lambda c: (hmac.new(seed, c.encode("ascii"), hashlib.sha256).digest(), c))


# --- oracles -----------------------------------------------------------------------------------


def max_matching(experts: Sequence[str], masks: Mapping[str, int], groups: Sequence[SeatGroup]) -> int:
    """Maximum number of `experts` seatable at once: plain Kuhn over one vertex per seat."""
    seats = [g.mask for g in groups for _ in range(g.count)]
    owner: list[str | None] = [None] * len(seats)

    def augment(c: str, seen: set[int]) -> bool:
        for s, smask in enumerate(seats):
            if s in seen or not masks[c] & smask:
                continue
            seen.add(s)
            o = owner[s]
            if o is None or augment(o, seen):
                owner[s] = c
                return True
        return False

    return sum(augment(c, set()) for c in experts)


def feasible(experts: Sequence[str], masks: Mapping[str, int], groups: Sequence[SeatGroup]) -> bool:
    return max_matching(experts, masks, groups) == len(experts)


def plain_greedy(ranking: Sequence[str], masks: Mapping[str, int], groups: Sequence[SeatGroup]) -> list[tuple[str, int]]:
    """The naive walk: seat each expert in the first group with a free seat he fits."""
    free = [g.count for g in groups]
    out = []
    for c in ranking:
        for g, grp in enumerate(groups):
            if free[g] and masks[c] & grp.mask:
                free[g] -= 1
                out.append((c, g))
                break
    return out


# --- strategies --------------------------------------------------------------------------------

masks_st = st.integers(min_value=0, max_value=(1 << 12) - 1).map(lambda m: m & ~1)  # bits 1..11


@st.composite
def pools(draw: st.DrawFn, max_size: int = 30, min_size: int = 0) -> dict[str, int]:
    ids = draw(st.lists(st.integers(1, 2_000_000), min_size=min_size, max_size=max_size, unique=True))
    return {code(i): draw(masks_st) for i in ids}


@st.composite
def odd_sizes(draw: st.DrawFn, max_size: int = 9) -> int:
    return draw(st.integers(1, (max_size - 1) // 2)) * 2 + 1


@st.composite
def quota_groups(draw: st.DrawFn, max_size: int = 9) -> list[SeatGroup]:
    """Per-field quotas summing to an odd size ≥ 3, or one any-of group, or general groups."""
    size = draw(odd_sizes(max_size))
    kind = draw(st.sampled_from(["per_field", "any_of", "overlapping"]))
    if kind == "any_of":
        fields = draw(st.sets(st.sampled_from(FIELDS), min_size=1, max_size=5))
        return [SeatGroup(frozenset(fields), size)]
    k = draw(st.integers(1, min(size, 4)))
    cuts = sorted(draw(st.sets(st.integers(1, size - 1), min_size=k - 1, max_size=k - 1)))
    counts = [b - a for a, b in zip([0, *cuts], [*cuts, size])]
    if kind == "per_field":
        fields = draw(st.lists(st.sampled_from(FIELDS), min_size=k, max_size=k, unique=True))
        return [SeatGroup(frozenset({f}), n) for f, n in zip(fields, counts)]
    return [
        SeatGroup(frozenset(draw(st.sets(st.sampled_from(FIELDS), min_size=1, max_size=3))), n) for n in counts
    ]


seeds = st.binary(min_size=32, max_size=32)


def check_valid(sel: Selection, pool: Mapping[str, int], groups: Sequence[SeatGroup], ranking: Sequence[str]) -> None:
    codes = [c for c, _ in sel.chosen]
    assert len(codes) == len(set(codes)), "an expert chosen twice"
    assert set(codes) <= set(pool)
    pos = {c: i for i, c in enumerate(ranking)}
    assert [pos[c] for c in codes] == sorted(pos[c] for c in codes), "chosen not in rank order"
    load = Counter(g for _, g in sel.chosen)
    for c, g in sel.chosen:
        assert pool[c] & groups[g].mask, f"{c} holds no field of group {g}"
    for g, grp in enumerate(groups):
        assert load[g] <= grp.count
    short = {s.group: s for s in sel.short}
    for g, grp in enumerate(groups):
        if g in short:
            assert short[g] == Shortfall(g, grp.count, load[g]) and load[g] < grp.count
        else:
            assert load[g] == grp.count
    assert sel.complete == (not sel.short)
    if sel.complete:
        assert len(codes) == sum(g.count for g in groups)


# --- ranking -----------------------------------------------------------------------------------


@given(st.binary(min_size=0, max_size=130), st.text(alphabet="E0123456789ABCxyz-_", max_size=40))
@settings(max_examples=300, deadline=None)
def test_rank_key_is_hmac_sha256(key: bytes, c: str) -> None:
    assert rank_key(key, c) == hmac.new(key, c.encode("ascii"), hashlib.sha256).digest()


@given(seeds, pools(max_size=60))
@PROPS
def test_rank_matches_reference_and_is_a_permutation(seed: bytes, pool: dict[str, int]) -> None:
    r = rank(seed, pool)
    assert r == ref_rank(seed, list(pool))
    assert sorted(r) == sorted(pool)
    # Input order and duplicates do not matter.
    shuffled = list(pool) * 2
    random.Random(seed).shuffle(shuffled)
    assert rank(seed, shuffled) == r
    assert rank(seed, set(pool)) == r


def test_rank_key_uses_raw_seed_bytes_and_ascii_code() -> None:
    seed = bytes(range(32))
    assert rank_key(seed, "E000003").hex() == "06931d57778868e4af6694db3c068d5045217a8acae224925c31b0abc6d9e80d"
    assert rank(seed, [code(i) for i in range(1, 9)]) == [
        "E000003", "E000002", "E000001", "E000005", "E000006", "E000004", "E000008", "E000007",
    ]
    with pytest.raises(UnicodeEncodeError):
        rank_key(seed, "E00０001")


def test_new_seed_is_32_fresh_bytes() -> None:
    a, b = new_seed(), new_seed()
    assert len(a) == len(b) == 32 and a != b


def test_different_seeds_give_different_rankings() -> None:
    pool = [code(i) for i in range(1, 51)]
    rankings = {tuple(rank(hashlib.sha256(b"s%d" % i).digest(), pool)) for i in range(200)}
    assert len(rankings) == 200
    panels = {tuple(rank(hashlib.sha256(b"s%d" % i).digest(), pool)[:5]) for i in range(200)}
    assert len(panels) > 190  # 5 of 50: collisions are rare


def test_removing_an_expert_keeps_the_others_order() -> None:
    seed = new_seed()
    pool = [code(i) for i in range(1, 200)]
    r = rank(seed, pool)
    gone = r[17]
    assert rank(seed, [c for c in pool if c != gone]) == [c for c in r if c != gone]


# --- selection: properties -----------------------------------------------------------------------


@given(seeds, pools(), quota_groups())
@PROPS
def test_selection_respects_quotas_and_is_reproducible(seed: bytes, pool: dict[str, int], groups: list[SeatGroup]) -> None:
    size = sum(g.count for g in groups)
    validate_groups(size, groups)
    ranking = rank(seed, pool)
    sel = select(ranking, pool, groups)
    check_valid(sel, pool, groups, ranking)
    # Complete exactly when the pool allows it; otherwise the shortfall is the deficiency.
    best = max_matching(list(pool), pool, groups)
    assert len(sel.chosen) == min(best, size)
    assert sel.complete == (best >= size)
    if not sel.complete:
        assert sum(s.needed - s.filled for s in sel.short) == size - best
    # Same seed, same pool → same result (whatever order the pool comes in).
    again = select(rank(seed, reversed(list(pool))), dict(reversed(list(pool.items()))), groups)
    assert again == sel


@given(seeds, pools(max_size=10), quota_groups(max_size=7))
@PROPS
def test_selection_is_rank_lexicographically_best(seed: bytes, pool: dict[str, int], groups: list[SeatGroup]) -> None:
    """Brute force over every set of experts that could fill as many seats: ours is at least as
    well ranked position by position (Gale-optimality of the matroid greedy), so in particular
    no feasible selection is rank-lexicographically better."""
    ranking = rank(seed, pool)
    sel = select(ranking, pool, groups)
    mine = sorted(ranking.index(c) for c, _ in sel.chosen)
    k = len(mine)
    assert k == min(max_matching(ranking, pool, groups), sum(g.count for g in groups))
    for other in itertools.combinations(range(len(ranking)), k):
        if feasible([ranking[i] for i in other], pool, groups):
            assert all(m <= o for m, o in zip(mine, other)), (mine, other)


@given(seeds, pools(max_size=12), quota_groups(max_size=7))
@PROPS
def test_blocked_groups_name_the_quota_that_cannot_be_met(
    seed: bytes, pool: dict[str, int], groups: list[SeatGroup]
) -> None:
    sel = select(rank(seed, pool), pool, groups)
    if sel.complete:
        assert sel.blocked == frozenset()
        return
    assert {s.group for s in sel.short} <= sel.blocked
    union = fields_mask(f for g in sel.blocked for f in groups[g].fields)
    holders = sum(1 for m in pool.values() if m & union)
    deficit = sum(groups[g].count for g in sel.blocked) - holders
    assert deficit == sum(s.needed - s.filled for s in sel.short) > 0
    # The blocked groups alone cannot be filled from the pool (Hall's condition fails).
    sub = [groups[g] for g in sorted(sel.blocked)]
    assert max_matching(list(pool), pool, sub) < sum(g.count for g in sub)


# --- selection: examples -----------------------------------------------------------------------


WATER, AIR, SOIL = 1, 2, 3


def test_plain_greedy_fails_where_ours_succeeds() -> None:
    """An expert holding water and air ranked first; the only other candidate holds water only.
    Quotas water 1, air 1: the naive walk seats the first in water and leaves air empty."""
    ranking = ["E000001", "E000002"]
    masks = {"E000001": fields_mask({WATER, AIR}), "E000002": fields_mask({WATER})}
    groups = [SeatGroup(frozenset({WATER}), 1), SeatGroup(frozenset({AIR}), 1)]
    assert plain_greedy(ranking, masks, groups) == [("E000001", 0)]  # air left empty
    sel = select(ranking, masks, groups)
    assert sel.complete
    assert sel.chosen == [("E000001", 1), ("E000002", 0)]


def test_worked_example_from_docs() -> None:
    seed = bytes(range(32))
    fields = {1: {1}, 2: {1}, 3: {1, 2}, 4: {3}, 5: {3}, 6: {1, 3}, 7: {3}, 8: {1}}
    masks = {code(i): fields_mask(f) for i, f in fields.items()}
    ranking = rank(seed, masks)
    groups = [SeatGroup(frozenset({1}), 1), SeatGroup(frozenset({2}), 1), SeatGroup(frozenset({3}), 1)]
    assert select(ranking, masks, groups) == Selection([("E000003", 1), ("E000002", 0), ("E000005", 2)])
    assert len(plain_greedy(ranking, masks, groups)) == 2
    short = select(ranking, masks, [SeatGroup(frozenset({1}), 1), SeatGroup(frozenset({2}), 2)])
    assert short.chosen == [("E000003", 1), ("E000002", 0)]
    assert short.short == [Shortfall(1, 2, 1)] and short.blocked == {1} and not short.complete


def test_overlap_blocks_two_quotas_together() -> None:
    """Quotas water 1, air 1, one expert holding both: either could be short; both are blocked."""
    masks = {"E000001": fields_mask({WATER, AIR}), "E000002": fields_mask({SOIL})}
    groups = [SeatGroup(frozenset({WATER}), 1), SeatGroup(frozenset({AIR}), 1), SeatGroup(frozenset({SOIL}), 1)]
    sel = select(list(masks), masks, groups)
    assert len(sel.short) == 1 and sel.short[0].group in (0, 1)
    assert sel.blocked == {0, 1}


def test_stops_once_full_and_ignores_later_experts() -> None:
    masks = {code(i): fields_mask({WATER}) for i in range(1, 6)}
    masks["E000009"] = 0  # would never be looked up past the panel's last seat
    sel = select([*masks], masks, [SeatGroup(frozenset({WATER}), 3)])
    assert sel.codes == ["E000001", "E000002", "E000003"]


def test_empty_pool_and_no_seats() -> None:
    groups = [SeatGroup(frozenset({WATER}), 3)]
    sel = select([], {}, groups)
    assert sel.chosen == [] and sel.short == [Shortfall(0, 3, 0)] and sel.blocked == {0}
    assert select(["E000001"], {"E000001": 2}, []) == Selection([])


def test_validate_groups() -> None:
    w = frozenset({WATER})
    validate_groups(3, [SeatGroup(w, 3)])
    validate_groups(5, [SeatGroup(w, 2), SeatGroup(frozenset({AIR}), 3)])
    cases = [
        (4, [SeatGroup(w, 4)], "panel.size_even", {"size": 4}),
        (1, [SeatGroup(w, 1)], "panel.size_small", {"min": 3}),
        (5, [SeatGroup(w, 2), SeatGroup(frozenset({AIR}), 2)], "panel.quota_sum", {"size": 5, "total": 4}),
        (3, [SeatGroup(w, 3), SeatGroup(frozenset({AIR}), 0)], "panel.quota_invalid", {}),
        (3, [SeatGroup(frozenset(), 3)], "panel.fields_none", {}),
        (3, [], "panel.fields_none", {}),
    ]
    for size, groups, code_, params in cases:
        with pytest.raises(DomainError) as exc:
            validate_groups(size, groups)
        assert exc.value.code == code_
        assert params.items() <= exc.value.params.items()
    with pytest.raises(ValueError):
        SeatGroup(frozenset({-1}), 1)


def test_seat_group_json_round_trip() -> None:
    g = SeatGroup(frozenset({7, 3}), 2)
    assert g.to_json() == {"fields": [3, 7], "count": 2}
    assert SeatGroup.from_json(g.to_json()) == g
    assert g.mask == (1 << 3) | (1 << 7)


# --- replacements ------------------------------------------------------------------------------


def test_replacement_takes_the_next_eligible_uninvited_holder_of_the_field() -> None:
    masks = {
        "E000001": fields_mask({WATER}),
        "E000002": fields_mask({AIR}),
        "E000003": fields_mask({WATER, AIR}),
        "E000004": fields_mask({WATER}),
        "E000005": fields_mask({WATER}),
    }
    ranking = list(masks)
    water = SeatGroup(frozenset({WATER}), 2)
    everyone = set(masks)
    assert replacement(ranking, masks, water, {"E000001"}, everyone) == "E000003"
    # Invited in any state (even declined) is never asked again; eligibility is today's.
    assert replacement(ranking, masks, water, {"E000001", "E000003"}, everyone) == "E000004"
    assert replacement(ranking, masks, water, {"E000001"}, everyone - {"E000003", "E000004"}) == "E000005"
    assert replacement(ranking, masks, water, everyone - {"E000002"}, everyone) is None
    assert replacement(ranking, masks, SeatGroup(frozenset({SOIL}), 1), set(), everyone) is None
    # An expert who joined the pool after the draw is not in its ranking.
    assert replacement(ranking, masks, water, everyone - {"E000002"}, everyone | {"E000099"}) is None


@given(seeds, pools(max_size=30), st.sets(st.sampled_from(FIELDS), min_size=1, max_size=3), st.data())
@PROPS
def test_replacement_property(seed: bytes, pool: dict[str, int], fields: set[int], data: st.DataObject) -> None:
    ranking = rank(seed, pool)
    invited = data.draw(st.sets(st.sampled_from(ranking))) if ranking else set()
    eligible = data.draw(st.sets(st.sampled_from(ranking))) if ranking else set()
    group = SeatGroup(frozenset(fields), 1)
    got = replacement(ranking, pool, group, invited, eligible)
    ok = [c for c in ranking if pool[c] & group.mask and c not in invited and c in eligible]
    assert got == (ok[0] if ok else None)


@given(seeds, pools(min_size=5, max_size=30), quota_groups())
@PROPS
def test_replacements_never_reinvite_and_respect_the_group(
    seed: bytes, pool: dict[str, int], groups: list[SeatGroup]
) -> None:
    """Simulate a run of refusals: each freed seat goes to a new expert of that group."""
    ranking = rank(seed, pool)
    sel = select(ranking, pool, groups)
    invited = {c for c, _ in sel.chosen}
    seats = list(sel.chosen)
    rng = random.Random(seed)
    for _ in range(10):
        if not seats:
            break
        c, g = seats.pop(rng.randrange(len(seats)))
        eligible = {x for x in pool if rng.random() < 0.8}
        new = replacement(ranking, pool, groups[g], invited, eligible)
        if new is None:
            continue
        assert new not in invited and new in eligible and pool[new] & groups[g].mask
        invited.add(new)
        seats.append((new, g))
    assert len({c for c, _ in seats}) == len(seats)


# --- the stored record -------------------------------------------------------------------------


def _record(seed: bytes | None = None) -> tuple[str, list[str], dict[str, int], list[SeatGroup], list[tuple[str, int]]]:
    seed = seed or hashlib.sha256(b"record").digest()
    rng = random.Random(7)
    masks = {code(i): fields_mask(rng.sample(range(1, 6), rng.randint(1, 2))) for i in range(1, 41)}
    groups = [SeatGroup(frozenset({1}), 2), SeatGroup(frozenset({2, 3}), 2), SeatGroup(frozenset({4}), 1)]
    ranking = rank(seed, masks)
    return seed.hex(), ranking, masks, groups, select(ranking, masks, groups).chosen


def test_verify_record_accepts_an_untouched_record() -> None:
    seed_hex, ranking, masks, groups, chosen = _record()
    assert verify_record(seed_hex, ALGORITHM, ranking, masks, groups, chosen) == []
    # As read back from JSON: lists, not tuples.
    assert verify_record(seed_hex, ALGORITHM, ranking, masks, groups, [list(x) for x in chosen]) == []


def test_verify_record_detects_tampering() -> None:
    seed_hex, ranking, masks, groups, chosen = _record()

    def problems(**kw: object) -> list[str]:
        args = dict(seed_hex=seed_hex, algorithm=ALGORITHM, ranking=ranking, masks=masks, groups=groups, selection=chosen)
        args.update(kw)
        return verify_record(**args)  # type: ignore[arg-type]

    swapped = list(ranking)
    swapped[3], swapped[11] = swapped[11], swapped[3]
    assert any(p.startswith("ranking: position 4") for p in problems(ranking=swapped))

    other_seed = bytearray.fromhex(seed_hex)
    other_seed[0] ^= 1
    out = problems(seed_hex=other_seed.hex())
    assert out and out[0].startswith("ranking:")

    altered = list(chosen)
    altered[0] = (altered[0][0], (altered[0][1] + 1) % len(groups))
    assert [p.split(":")[0] for p in problems(selection=altered)] == ["selection"]
    outsider = [c for c in ranking if c not in {x for x, _ in chosen}][-1]
    altered = [*chosen[:-1], (outsider, chosen[-1][1])]
    assert [p.split(":")[0] for p in problems(selection=altered)] == ["selection"]
    assert problems(selection=chosen[:-1])

    assert [p.split(":")[0] for p in problems(ranking=[*ranking, ranking[0]])] == ["ranking", "ranking"]
    assert problems(ranking=ranking[:-1]) == []  # a smaller pool is a valid record on its own …
    assert problems(ranking=[c for c in ranking if c != chosen[0][0]])  # … but not without a chosen one
    assert problems(algorithm="shuffle/v0")[0].startswith("algorithm:")
    assert problems(seed_hex="zz")[0].startswith("seed:")
    assert problems(seed_hex="00" * 16)[0].startswith("seed:")
    assert problems(masks={c: m for c, m in masks.items() if c != ranking[5]})[0].startswith("masks:")


def test_digest_is_canonical_and_sensitive() -> None:
    seed_hex, ranking, masks, groups, chosen = _record()
    exclusions = [["E000099", "conflict_current_unit", "party:0"], ["E000098", "booked", "panel:12"]]
    d = digest_record(seed_hex, ALGORITHM, ranking, exclusions, groups, chosen, masks)
    assert len(d) == 64
    # Same content, different container types and dict order → same digest.
    assert d == digest_record(
        seed_hex, ALGORITHM, tuple(ranking), [tuple(e) for e in exclusions], groups,
        [list(x) for x in chosen], dict(reversed(list(masks.items()))),
    )
    changed = [
        digest_record(seed_hex, ALGORITHM, ranking, exclusions[:1], groups, chosen, masks),
        digest_record(seed_hex, ALGORITHM, ranking[::-1], exclusions, groups, chosen, masks),
        digest_record(seed_hex, ALGORITHM, ranking, exclusions, groups[::-1], chosen, masks),
        digest_record(seed_hex, ALGORITHM, ranking, exclusions, groups, chosen[:-1], masks),
        digest_record("00" * 32, ALGORITHM, ranking, exclusions, groups, chosen, masks),
        digest_record(seed_hex, ALGORITHM, ranking, exclusions, groups, chosen, {**masks, ranking[0]: 1 << 9}),
        digest_record(seed_hex, ALGORITHM, ranking, exclusions, groups, chosen),
    ]
    assert d not in changed and len(set(changed)) == len(changed)


# --- uniformity --------------------------------------------------------------------------------

# Upper 0.999 quantile of the chi-square distribution with 19 degrees of freedom, from the
# standard tables (e.g. NIST/SEMATECH e-Handbook, Table 1.3.6.7.4): 43.820.
# test_critical_value_is_right recomputes it.
CHI2_19_999 = 43.820


def chi2_cdf(x: float, k: int) -> float:
    """P(X ≤ x) for X ~ χ²(k): the regularised lower incomplete gamma P(k/2, x/2), by its series."""
    s, z = k / 2, x / 2
    term = total = 1 / s
    n = 0
    while term > 1e-17 * total:
        n += 1
        term *= z / (s + n)
        total += term
    return math.exp(s * math.log(z) - z - math.lgamma(s)) * total


def test_critical_value_is_right() -> None:
    assert abs(chi2_cdf(CHI2_19_999, 19) - 0.999) < 2e-6
    assert abs(chi2_cdf(30.144, 19) - 0.95) < 2e-5  # the table's 0.95 value, as a sanity check


N_EXPERTS, PANEL, DRAWS = 20, 3, 4000


def chi2_of_draws(ranker) -> float:  # type: ignore[no-untyped-def]
    pool = {code(i): fields_mask({WATER, AIR}) for i in range(1, N_EXPERTS + 1)}
    groups = [SeatGroup(frozenset({WATER, AIR}), PANEL)]
    counts = Counter({c: 0 for c in pool})
    for i in range(DRAWS):
        seed = hashlib.sha256(b"seed" + i.to_bytes(4, "big")).digest()
        counts.update(select(ranker(seed, pool), pool, groups).codes)
    expected = DRAWS * PANEL / N_EXPERTS  # 600
    assert sum(counts.values()) == DRAWS * PANEL
    return sum((n - expected) ** 2 / expected for n in counts.values())


def test_selection_counts_are_uniform() -> None:
    """4000 deterministic seeds, 20 experts, 3 seats: every expert should be picked ~600 times.
    (Three distinct experts per draw make the counts slightly less spread than a multinomial's,
    so the χ²(19) bound errs on the lenient side for a fair draw, not for a biased one.)"""
    stat = chi2_of_draws(rank)
    assert stat < CHI2_19_999, stat


def test_uniformity_test_catches_a_biased_ranking() -> None:
    """A plausible bug — ranking by the digest's top four bits only, ties by code — favours low
    codes; the same test must reject it (statistic ≈ 217), so the test above is not vacuous."""

    def top_bits_rank(seed: bytes, codes: Mapping[str, int]) -> list[str]:
        return sorted(codes, key=lambda c: (rank_key(seed, c)[0] >> 4, c))

    assert chi2_of_draws(top_bits_rank) > CHI2_19_999


# --- the fast paths of a real draw -------------------------------------------------------------

import numpy as np  # noqa: E402

from core import draw as drawlib  # noqa: E402


@contextmanager
def numpy_only() -> Iterator[None]:
    """Texts of numbers written and parsed by numpy, as without core/_numbers.c."""
    saved = drawlib._numbers
    drawlib._numbers = None  # type: ignore[assignment]
    try:
        yield
    finally:
        drawlib._numbers = saved


TEXT_PATHS = [nullcontext, numpy_only]  # core._numbers where built, and numpy


@given(st.lists(st.integers(0, 10**13), max_size=60, unique=True), st.integers(1, 8), st.binary(max_size=2))
@settings(max_examples=200, deadline=None)
def test_join_decimal_matches_formatting(values: list[int], width: int, prefix: bytes) -> None:
    prefix = prefix.replace(b",", b"x").replace(b"\0", b"y")
    want = b",".join(b"%s%0*d" % (prefix, width, v) for v in values)
    for path in TEXT_PATHS:
        with path():
            assert drawlib.join_decimal(np.array(values, dtype=np.int64), prefix, width) == want
    assert drawlib.join_decimal(values, prefix, width) == want


@given(st.lists(st.integers(0, 70_000), max_size=400), st.integers(1, 8), st.binary(max_size=2))
@settings(max_examples=200, deadline=None)
def test_join_decimal_of_few_small_values_matches_formatting(values: list[int], width: int, prefix: bytes) -> None:
    """Field masks: a handful of small values repeated."""
    prefix = prefix.replace(b",", b"x").replace(b"\0", b"y")
    few = [values[i % 7] for i in range(len(values))] if values else []
    for vals in (few, values):
        want = b",".join(b"%s%0*d" % (prefix, width, v) for v in vals)
        for path in TEXT_PATHS:
            with path():
                assert drawlib.join_decimal(np.array(vals, dtype=np.int64), prefix, width) == want


@pytest.mark.parametrize("path", TEXT_PATHS)
def test_join_decimal_codes_are_expert_codes(path: Any) -> None:
    ids = [1, 99_999, 100_000, 999_999, 1_000_000, 12_345_678]
    with path():
        assert drawlib.join_decimal(np.array(ids), b"E", 6).decode().split(",") == [code(i) for i in ids]
        assert drawlib.parse_ints(",".join(map(str, ids))).tolist() == ids
        assert list(drawlib.parse_ints("")) == []
    assert [drawlib.code_of(i) for i in ids] == [code(i) for i in ids]


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=60))
@settings(max_examples=200, deadline=None)
def test_parse_ints_reads_what_was_written(values: list[int]) -> None:
    for path in TEXT_PATHS:
        with path():
            assert drawlib.parse_ints(",".join(map(str, values))).tolist() == values
    # PostgreSQL's scan sends 64-bit big-endian ints (int8send): with numpy and without.
    sent = struct.pack(f">{len(values)}q", *values)
    assert drawlib.parse_ints(sent).tolist() == values
    with patch.object(drawlib, "_np", None):
        assert drawlib.parse_ints(sent) == values


def test_parse_ints_refuses_a_partial_int() -> None:
    with pytest.raises(ValueError):
        drawlib.parse_ints(b"\0" * 12)


@pytest.mark.parametrize("use_native", [True, False])
@pytest.mark.parametrize("use_numpy", [True, False])
@given(seeds, pools(max_size=60))
@settings(max_examples=80, deadline=None)
def test_rank_pool_is_rank(use_numpy: bool, use_native: bool, seed: bytes, pool: dict[str, int]) -> None:
    """The draw's fast path gives the reference ranking and the stored texts, with or without
    numpy, with the native HMAC kernel (core/_hmac.c) or hashlib."""
    if use_native and drawlib._native is None:
        pytest.skip("core._hmac was not built (no C compiler at install)")
    ids = [int(c[1:]) for c in pool]
    masks = [pool[c] for c in pool]
    saved = drawlib._np, drawlib._native
    try:
        if not use_numpy:
            drawlib._np = None  # type: ignore[assignment]
        if not use_native:
            drawlib._native = None  # type: ignore[assignment]
        args = (np.array(ids, dtype=np.int64), np.array(masks, dtype=np.int64)) if use_numpy else (ids, masks)
        ranked = drawlib.rank_pool(seed, *args)
        assert drawlib.rank(seed, list(pool)) == ref_rank(seed, list(pool))
    finally:
        drawlib._np, drawlib._native = saved
    ranking = ref_rank(seed, list(pool))
    assert ranked.ranking_text == drawlib.ranking_text(ranking)
    assert ranked.masks_text == drawlib.masks_text(pool[c] for c in ranking)
    assert list(ranked.pairs()) == [(c, pool[c]) for c in ranking]
    assert len(ranked) == len(pool)


def test_rank_pool_with_codes_of_several_widths() -> None:
    """Ids from 1,000,000 up have longer codes: the ranking text is then formatted again, not
    permuted as fixed-width rows, and is still the reference ranking."""
    ids = [5, 999_999, 1_000_000, 12_345_678, 42, 1_000_001, 77]
    seed = bytes(range(32))
    ranked = drawlib.rank_pool(seed, np.array(ids, dtype=np.int64), np.array([1] * len(ids), dtype=np.int64))
    assert ranked.ranking_text == drawlib.ranking_text(ref_rank(seed, [code(i) for i in ids]))


def test_ranking_ties_on_the_first_eight_bytes_fall_back_to_full_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Equal 64-bit prefixes (never seen in practice) are ordered by the full digest, then code."""
    same = b"\x01" * 8
    fake = {b"E000001": same + b"\x09" * 24, b"E000002": same + b"\x03" * 24, b"E000003": b"\x00" * 32,
            b"E000004": same + b"\x03" * 24}
    monkeypatch.setattr(drawlib, "_digests", lambda seed, msgs: [fake[m] for m in msgs])
    msgs = list(fake)
    assert [msgs[i] for i in drawlib.rank_order(b"s", msgs)] == [b"E000003", b"E000002", b"E000004", b"E000001"]


@pytest.mark.parametrize("path", ["radix", "numpy", "python"])
@given(seeds, pools(max_size=80), st.lists(st.integers(0, 80), max_size=4))
@settings(max_examples=120, deadline=None)
def test_a_pool_ranked_in_pieces_is_ranked_as_one(path: str, seed: bytes, pool: dict[str, int],
                                                  cuts: list[int]) -> None:
    """Pieces of any sizes (empty, one code, sizes needing fewer index bits than the pool):
    each sorted as it is added (core._numbers' radix sort, or numpy's: `word_sort` picks the
    faster), then merged, they give the reference ranking; and so does the pure-Python path."""
    if path == "radix" and "radix" not in drawlib._SORTS:
        pytest.skip("core._numbers was not built (no C compiler at install)")
    ids = [int(c[1:]) for c in pool]
    masks = [pool[c] for c in pool]
    bounds = [0, *sorted(min(c, len(ids)) for c in cuts), len(ids)]
    saved = drawlib._np, drawlib._numbers, drawlib.word_sort()
    try:
        if path != "python":
            drawlib._sort = path
        if path == "numpy":
            drawlib._numbers = None  # type: ignore[assignment]
        if path == "python":
            drawlib._np = None  # type: ignore[assignment]
        arr = list if path == "python" else (lambda v: np.array(v, dtype=np.int64))
        ranker = drawlib.Ranker(seed)
        for lo, hi in zip(bounds, bounds[1:]):
            ranker.add(arr(ids[lo:hi]))
        ranked = ranker.result(arr(ids), arr(masks))
    finally:
        drawlib._np, drawlib._numbers, drawlib._sort = saved
    ranking = ref_rank(seed, list(pool))
    assert ranked.ranking_text == drawlib.ranking_text(ranking)
    assert list(ranked.pairs()) == [(c, pool[c]) for c in ranking]


def test_words_are_sorted_the_faster_way_timed_once() -> None:
    """`word_sort` names one of the in-place sorts, the same each time; both sort alike."""
    chosen = drawlib.word_sort()
    assert chosen in drawlib._SORTS and drawlib.word_sort() == chosen
    words = np.arange(1, 5_001, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    for sort in drawlib._SORTS.values():
        copy = words.copy()
        sort(copy)
        assert (copy == np.sort(words)).all()


def test_ties_on_the_first_eight_bytes_across_pieces_fall_back_to_full_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two pieces, each sorted on its own, whose codes share a 64-bit prefix with the other's."""
    same = b"\x01" * 8
    fake = {b"E000001": same + b"\x09" * 24, b"E000002": same + b"\x03" * 24, b"E000003": b"\x00" * 32,
            b"E000004": same + b"\x05" * 24, b"E000005": b"\xff" * 32}
    monkeypatch.setattr(drawlib, "_hmac_joined", lambda seed, joined: b"".join(fake[m] for m in joined.split(b",")))
    ranker = drawlib.Ranker(b"s")
    ranker.add(np.array([1, 3], dtype=np.int64))
    ranker.add(np.array([2, 4, 5], dtype=np.int64))
    ranked = ranker.result(np.array([1, 3, 2, 4, 5], dtype=np.int64), np.ones(5, dtype=np.int64))
    assert ranked.ranking_text == "E000003,E000002,E000004,E000001,E000005"


def test_select_ranked_reads_only_what_it_needs_and_reports_ranks() -> None:
    seen: list[str] = []

    def walk():  # type: ignore[no-untyped-def]
        for i in range(1, 1000):
            seen.append(code(i))
            yield code(i), fields_mask({1} if i % 2 else {2})

    sel = drawlib.select_ranked(walk(), [SeatGroup(frozenset({1}), 2), SeatGroup(frozenset({2}), 1)])
    assert sel.chosen == [("E000001", 0), ("E000002", 1), ("E000003", 0)]
    assert sel.ranks == {"E000001": 1, "E000002": 2, "E000003": 3} and len(seen) == 3


def test_record_header_digest_covers_every_part() -> None:
    seed_hex, ranking, masks, groups, chosen = _record()
    texts = (drawlib.ranking_text(ranking), drawlib.masks_text(masks[c] for c in ranking),
             drawlib.exclusions_text([("E000099", "term", "")]))
    shas = [drawlib.sha256_text(t) for t in texts]
    header = drawlib.record_header(seed_hex, ALGORITHM, groups, chosen, *shas)
    assert header["ranking_sha256"] == hashlib.sha256(texts[0].encode()).hexdigest()
    d = drawlib.record_digest(header)
    assert d == hashlib.sha256(
        __import__("json").dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    variants = [
        drawlib.record_header("00" * 32, ALGORITHM, groups, chosen, *shas),
        drawlib.record_header(seed_hex, "x", groups, chosen, *shas),
        drawlib.record_header(seed_hex, ALGORITHM, groups[::-1], chosen, *shas),
        drawlib.record_header(seed_hex, ALGORITHM, groups, chosen[:-1], *shas),
        drawlib.record_header(seed_hex, ALGORITHM, groups, chosen, shas[1], shas[0], shas[2]),
        drawlib.record_header(seed_hex, ALGORITHM, groups, chosen, shas[0], shas[1], shas[0]),
    ]
    assert len({d, *(drawlib.record_digest(v) for v in variants)}) == 1 + len(variants)


@given(st.lists(st.tuples(st.text(max_size=6), st.sampled_from(["term", "booked", 'a"b', "c\\d", "e\nf", "甲"]),
                          st.text(max_size=6)), max_size=30))
@settings(max_examples=200, deadline=None)
def test_exclusions_text_is_the_canonical_json_of_the_sorted_rows(rows: list[tuple[str, str, str]]) -> None:
    """Written directly when no text needs escaping, by json otherwise: the same text."""
    assert drawlib.exclusions_text(rows) == canonical_json(sorted(rows))
    assert json.loads(drawlib.exclusions_text(rows)) == [list(r) for r in sorted(rows)]


def test_exclusions_text_is_canonical_and_sorted() -> None:
    rows = [("E000010", "term", ""), ("E000002", "booked", "panel:7")]
    assert drawlib.exclusions_text(rows) == '[["E000002","booked","panel:7"],["E000010","term",""]]'
    assert drawlib.exclusions_text([]) == "[]"
    assert drawlib.exclusions_text([list(r) for r in rows]) == drawlib.exclusions_text(rows)
    with pytest.raises(ValueError):
        drawlib.exclusions_text([("E000010", "term")])


# --- which party an organisation matches (pool details) ----------------------------------------

_names = st.sampled_from(["", "甲公司", "乙公司", "丙研究院"])
_usccs = st.sampled_from([None, "91350100M000100Y43", "91650100MA77XXXXX0"])


@given(st.lists(st.tuples(_names, _usccs), max_size=6), st.one_of(st.none(), st.tuples(_names, _usccs)),
       _names, _usccs)
@settings(max_examples=300, deadline=None)
def test_pool_query_which_is_the_first_matching_party(parties, unit, norm, uscc) -> None:  # type: ignore[no-untyped-def]
    """The pool names the first party (the requesting unit last) that core.conflicts.matches."""
    from datetime import date, datetime, timezone

    from core.conflicts import PartyKey, matches
    from core.services.pool import PoolQuery

    now = datetime(2026, 11, 2, tzinfo=timezone.utc)
    q = PoolQuery(field_mask=2, starts_at=now, ends_at=now, days=(date(2026, 11, 2),),
                  parties=tuple(PartyKey(n, u) for n, u in parties),
                  unit=PartyKey(*unit) if unit is not None else None, lookback_from=date(2020, 1, 1))
    want = next((i for i, (_, k) in enumerate(q.keys) if matches(PartyKey(norm, uscc), k)), None)
    assert q.which(norm, uscc) == want


def test_the_ranking_texts_are_hashed_as_stored_texts_are() -> None:
    """The hashing thread hashes the texts' bytes: the same SHA-256 as `sha256_text` of the
    stored texts, which is what verification recomputes."""
    texts = drawlib.RankingTexts.of(b"E000002,E000001", b"")
    assert (texts.ranking, texts.masks) == ("E000002,E000001", "")
    assert texts.ranking_sha256 == drawlib.sha256_text("E000002,E000001")
    assert texts.masks_sha256 == drawlib.sha256_text("") == hashlib.sha256(b"").hexdigest()
    ranked = drawlib.rank_pool(bytes(32), np.array([1, 2, 3], dtype=np.int64), np.array([4, 5, 6], dtype=np.int64))
    done = ranked.texts.result()
    assert done.ranking == ranked.ranking_text and done.masks == ranked.masks_text
    assert (done.ranking_sha256, done.masks_sha256) == (drawlib.sha256_text(ranked.ranking_text),
                                                        drawlib.sha256_text(ranked.masks_text))
    with pytest.raises(UnicodeDecodeError):  # the texts are ASCII: anything else is refused, not hashed
        drawlib.RankingTexts.of("专家".encode(), b"")
