"""Pure chain logic: hashing is canonical and any change to any field breaks verification."""
from __future__ import annotations

from dataclasses import replace

from hypothesis import given, strategies as st

from core.audit import GENESIS, EntryFields, canonical_json, entry_hash, verify_chain


def _chain(n: int) -> list[EntryFields]:
    out, prev = [], GENESIS
    for i in range(1, n + 1):
        e = EntryFields(i, f"2026-01-01T00:00:{i:02d}.000000Z", "cli", "a", "t", str(i), canonical_json({"i": i}), prev)
        e = replace(e, hash=entry_hash(e))
        out.append(e)
        prev = e.hash
    return out


def test_canonical_json_is_order_independent() -> None:
    assert canonical_json({"b": 1, "a": "中"}) == canonical_json({"a": "中", "b": 1}) == '{"a":"中","b":1}'


@given(st.integers(1, 8), st.data())
def test_any_field_change_breaks_the_chain(n: int, data: st.DataObject) -> None:
    chain = _chain(n)
    assert verify_chain(chain).ok
    i = data.draw(st.integers(0, n - 1))
    field = data.draw(st.sampled_from(["at", "actor", "action", "subject_type", "subject_id", "details"]))
    tampered = list(chain)
    tampered[i] = replace(chain[i], **{field: getattr(chain[i], field) + "x"})
    res = verify_chain(tampered)
    assert not res.ok and res.bad_seq == i + 1


def test_missing_head_is_truncation() -> None:
    chain = _chain(5)
    assert verify_chain(chain[:3], expected_head=chain[4].hash).problem == "truncated"
    assert verify_chain(chain, expected_head=chain[2].hash).ok
