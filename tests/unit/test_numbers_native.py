"""core._numbers, the draw's native loops over numbers, against Python's own formatting and
parsing and numpy's sort.

Skipped only where the extension was not built; CI sets EXPERTPANEL_REQUIRE_NATIVE so that a
failed build fails there instead. (tests/unit/test_draw.py runs core.draw's callers on both
this module and the numpy fallback.)"""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

try:
    from core import _numbers
except ImportError:  # pragma: no cover - depends on the install
    if os.environ.get("EXPERTPANEL_REQUIRE_NATIVE"):
        raise
    pytest.skip("core._numbers was not built (no C compiler at install)", allow_module_level=True)

INT64 = st.integers(-(2**63), 2**63 - 1)


def parsed(text: str | bytes, sep: int = 44) -> list[int]:
    return np.frombuffer(_numbers.parse_ints(text, sep), dtype=np.int64).tolist()


@given(st.lists(INT64, max_size=50), st.sampled_from([",", ";", "\n"]))
@settings(max_examples=300, deadline=None)
def test_parse_reads_any_int64_list(values: list[int], sep: str) -> None:
    text = sep.join(map(str, values))
    assert parsed(text, ord(sep)) == values
    assert parsed(text.encode(), ord(sep)) == values


@pytest.mark.parametrize("text", [",", "1,", ",1", "1,,2", "a", "1a", "1 ", " 1", "+1", "-", "--1", "1.5", "１",
                                  "9223372036854775808", "-9223372036854775809", "99999999999999999999"])
def test_parse_refuses_what_is_not_an_int64_list(text: str) -> None:
    with pytest.raises(ValueError):
        _numbers.parse_ints(text)


def test_parse_limits_and_arguments() -> None:
    assert parsed("9223372036854775807,-9223372036854775808,0,-0,007") == [2**63 - 1, -(2**63), 0, 0, 7]
    assert parsed("") == [] and parsed(b"") == []
    with pytest.raises(TypeError):
        _numbers.parse_ints(12)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        _numbers.parse_ints("1", 256)
    out = _numbers.parse_ints("1,2")
    np.frombuffer(out, dtype=np.int64)[0] = 5  # a fresh, writable buffer
    assert parsed("1,2") == [1, 2]


@given(st.lists(st.integers(0, 2**63 - 1), max_size=50), st.binary(max_size=3), st.integers(1, 20))
@settings(max_examples=300, deadline=None)
def test_format_writes_prefixed_zero_padded_decimals(values: list[int], prefix: bytes, width: int) -> None:
    want = b",".join(b"%s%0*d" % (prefix, width, v) for v in values)
    assert _numbers.format_ints(np.array(values, dtype=np.int64), prefix, width) == want


def test_format_of_large_arrays_on_several_threads_at_once() -> None:
    """From 1,024 values on, the formatting runs without the GIL: threads formatting at once
    each get their own text, and a negative value is still refused, by its index."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(3)
    arrays = [rng.integers(0, 2**63 - 1, n, dtype=np.int64) >> rng.integers(0, 63, n) for n in (1_023, 1_024, 50_000)]
    arrays += [np.arange(1, 5_001, dtype=np.int64)] * 4
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda a: _numbers.format_ints(a, b"E", 6), arrays))
    assert got == [b",".join(b"E%06d" % v for v in a.tolist()) for a in arrays]
    bad = np.arange(5_000, dtype=np.int64)
    bad[4_321] = -7
    with pytest.raises(ValueError, match="negative value -7 at 4321"):
        _numbers.format_ints(bad)


def test_format_refuses_bad_values_and_arguments() -> None:
    assert _numbers.format_ints(np.array([7, 8], dtype=np.int64)) == b"7,8"
    assert _numbers.format_ints(np.array([7, 8], dtype=np.int64), sep=ord(";")) == b"7;8"
    assert _numbers.format_ints(np.zeros(0, dtype=np.int64), b"E", 6) == b""
    with pytest.raises(ValueError, match="negative"):
        _numbers.format_ints(np.array([1, -1], dtype=np.int64))
    with pytest.raises((ValueError, BufferError)):
        _numbers.format_ints(np.array([1, 2, 3], dtype=np.int64)[::2])  # not contiguous
    for other in (b"12345678", np.array([1, 2], dtype=np.int32), np.array([1], dtype=np.uint64),
                  np.array([1], dtype=np.float64), np.array([1], dtype=">i8")):
        with pytest.raises(ValueError, match="int64"):
            _numbers.format_ints(other)
    for width in (0, 21):
        with pytest.raises(ValueError):
            _numbers.format_ints(np.array([1], dtype=np.int64), b"", width)


@given(st.lists(st.integers(0, 2**64 - 1), max_size=300)
       | st.lists(st.sampled_from([0, 1, 2**63, 2**64 - 1]), max_size=50))
@settings(max_examples=300, deadline=None)
def test_sort_words_sorts_any_uint64(values: list[int]) -> None:
    words = np.array(values, dtype=np.uint64)
    _numbers.sort_words(words)
    assert words.tolist() == sorted(values)


def test_sort_words_on_digest_like_words() -> None:
    """What a draw sorts: random leading words with each one's index packed into the low bits."""
    rng = np.random.default_rng(7)
    words = (rng.integers(0, 2**63, 50_000, dtype=np.uint64) << np.uint64(1)) & ~np.uint64(0xFFFF)
    words |= np.arange(50_000, dtype=np.uint64)
    want = np.sort(words)
    _numbers.sort_words(words)
    assert (words == want).all()


def test_sort_words_refuses_what_it_cannot_sort_in_place() -> None:
    with pytest.raises(ValueError, match="uint64"):
        _numbers.sort_words(np.array([3, 1], dtype=np.int64))
    with pytest.raises((ValueError, BufferError, TypeError)):
        _numbers.sort_words(np.frombuffer(np.array([3, 1], dtype=np.uint64).tobytes(), dtype=np.uint64))  # read-only
    with pytest.raises((ValueError, BufferError)):
        _numbers.sort_words(np.array([3, 2, 1, 0], dtype=np.uint64)[::2])  # not contiguous
    with pytest.raises((ValueError, BufferError, TypeError)):
        _numbers.sort_words(b"12345678")
