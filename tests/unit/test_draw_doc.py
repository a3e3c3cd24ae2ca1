"""docs/draw.md is the public specification: its reference code, run as printed, must give the
same ranking and selection as core.draw, and its worked example must be true."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core.draw import ALGORITHM, SeatGroup, fields_mask, rank, rank_key, select

DOC = Path(__file__).resolve().parents[2] / "docs" / "draw.md"


def reference_source() -> str:
    """The first ```python block after the "Reference implementation" heading, verbatim."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Reference implementation"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block in the reference section"
    return match.group(1)


def reference() -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(reference_source(), str(DOC), "exec"), namespace)  # noqa: S102 - our own document
    return namespace


REF = reference()


def test_reference_is_short_and_stdlib_only() -> None:
    lines = [ln for ln in reference_source().splitlines() if ln.strip()]
    assert len(lines) <= 25
    imports = {m for ln in lines for m in re.findall(r"^(?:import|from) ([\w, ]+)", ln)}
    assert imports <= {"hashlib, hmac", "hashlib", "hmac"}


codes_st = st.lists(st.integers(1, 3_000_000), max_size=40, unique=True).map(lambda ids: [f"E{i:06d}" for i in ids])
group_st = st.lists(
    st.tuples(st.sets(st.integers(1, 11), min_size=1, max_size=3), st.integers(1, 4)), min_size=1, max_size=4
)


@given(st.binary(min_size=32, max_size=32), codes_st, st.data(), group_st)
@settings(max_examples=200, deadline=None)
def test_reference_matches_core(seed: bytes, codes: list[str], data: st.DataObject, raw_groups: list[tuple[set[int], int]]) -> None:
    masks = {c: data.draw(st.integers(0, (1 << 12) - 1), label=c) & ~1 for c in codes}
    ranking = rank(seed, codes)
    assert REF["rank"](seed, codes) == ranking
    groups = [SeatGroup(frozenset(f), n) for f, n in raw_groups]
    ref_groups = [(fields_mask(f), n) for f, n in raw_groups]
    assert REF["select"](ranking, masks, ref_groups) == select(ranking, masks, groups).chosen


def test_worked_example_is_true() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert f"**`{ALGORITHM}`**" in text
    seed = bytes(range(32))
    assert seed.hex() in text
    rows = re.findall(r"^\| (E\d{6}) \| `([0-9a-f]{64})` \| ([\d, ]+) \|$", text, re.M)
    assert len(rows) == 8
    codes = [c for c, _, _ in rows]
    assert rank(seed, codes) == codes, "the table is not in ranked order"
    for c, digest, _ in rows:
        assert rank_key(seed, c).hex() == digest
    masks = {c: fields_mask(int(f) for f in fields.split(",")) for c, _, fields in rows}
    three = [SeatGroup(frozenset({1}), 1), SeatGroup(frozenset({2}), 1), SeatGroup(frozenset({3}), 1)]
    assert '`[("E000003", 1), ("E000002", 0), ("E000005", 2)]`' in text
    assert select(codes, masks, three).chosen == [("E000003", 1), ("E000002", 0), ("E000005", 2)]
    short = select(codes, masks, [SeatGroup(frozenset({1}), 1), SeatGroup(frozenset({2}), 2)])
    assert '`[("E000003", 1), ("E000002", 0)]`, group 1 short (needed 2, filled 1), blocked groups {1}' in text
    assert short.chosen == [("E000003", 1), ("E000002", 0)]
    assert [(s.group, s.needed, s.filled) for s in short.short] == [(1, 2, 1)] and short.blocked == {1}


def test_message_bytes_in_doc() -> None:
    assert "`45 30 30 30 31 32 33`" in DOC.read_text(encoding="utf-8")
    assert "E000123".encode("ascii").hex(" ") == "45 30 30 30 31 32 33"


def verify_source() -> str:
    """The first ```python block after "## What is stored", verbatim."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## What is stored"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block in the storage section"
    return match.group(1)


def test_verification_reference_is_short_and_stdlib_only() -> None:
    lines = [ln for ln in verify_source().splitlines() if ln.strip()]
    assert len(lines) <= 20
    imports = {m for ln in lines for m in re.findall(r"^(?:import|from) ([\w, ]+)", ln)}
    assert imports <= {"hashlib, json", "hashlib", "json"}
