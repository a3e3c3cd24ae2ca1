"""core._hmac, the draw's native HMAC-SHA256 kernel, against Python's hmac module.

Every path this machine can run is checked (the CPU's SHA extensions, the AVX-512 and AVX2
lanes where it has them, and the portable C every machine has), on the edges of SHA-256 padding,
of HMAC key handling and of the vector paths' batches. Skipped only where the extension was not
built; CI sets EXPERTPANEL_REQUIRE_NATIVE so that a failed build fails there instead."""
from __future__ import annotations

import hashlib
import hmac
import os
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

try:
    from core import _hmac
except ImportError:  # pragma: no cover - depends on the install
    if os.environ.get("EXPERTPANEL_REQUIRE_NATIVE"):
        raise
    pytest.skip("core._hmac was not built (no C compiler at install)", allow_module_level=True)

PATHS = _hmac.PATHS


def want(key: bytes, msgs: list[bytes]) -> bytes:
    return b"".join(hmac.new(key, m, hashlib.sha256).digest() for m in msgs)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("klen", [0, 1, 31, 32, 33, 63, 64, 65, 128, 1000])
def test_key_lengths_and_padding_edges(path: str, klen: int) -> None:
    """Keys up to a block are padded, longer ones hashed first; messages of 55/56 and 119/120
    bytes are where SHA-256 padding needs one more block."""
    key = bytes(range(256))[:klen] * (1 + klen // 256)
    msgs = [b"a" * n for n in (1, 7, 54, 55, 56, 57, 63, 64, 65, 119, 120, 128, 300)]
    assert _hmac.hmac_sha256(key, b",".join(msgs), path=path) == want(key, msgs)


@pytest.mark.parametrize("path", PATHS)
@given(key=st.binary(max_size=100), msgs=st.lists(st.binary(min_size=1, max_size=150), min_size=1, max_size=40))
@settings(max_examples=150, deadline=None)
def test_matches_hmac_module(path: str, key: bytes, msgs: list[bytes]) -> None:
    msgs = [m.replace(b",", b".") for m in msgs]
    assert _hmac.hmac_sha256(key, b",".join(msgs), path=path) == want(key, msgs)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("lengths", [
    [7], [7, 7], [7, 7, 7], [55, 55], [55, 56], [56, 55], [55, 56, 55], [0, 0, 0, 0], [0, 55],
    [7, 120, 7, 7, 120], [120, 7], [7, 7, 120],
    [7] * 8, [7] * 9, [7] * 15, [7] * 16, [7] * 17, [7] * 33, [7] * 7 + [56] + [7] * 9,
    list(range(56)), [55] * 16 + [0], [56] * 3 + [1] * 16,
])
def test_short_messages_in_batches_and_alone(path: str, lengths: list[int]) -> None:
    """Short messages (≤ 55 bytes) are hashed in batches (2 with SHA-NI, 8 with AVX2, 16 with
    AVX-512), longer ones one by one in between; the last batch is short unless the count of
    short messages is a multiple of the batch. Each digest lands in its message's place."""
    key = b"k" * 32
    msgs = [bytes([65 + i % 26]) * n for i, n in enumerate(lengths)]
    assert _hmac.hmac_sha256(key, b",".join(msgs), path=path) == want(key, msgs)


def test_separator_and_empty_messages() -> None:
    key = b"k" * 32
    assert _hmac.hmac_sha256(key, b"") == b""  # an empty buffer holds no message
    # Between separators, empty messages are messages.
    assert _hmac.hmac_sha256(key, b",x,") == want(key, [b"", b"x", b""])
    assert _hmac.hmac_sha256(key, b"a;b,c", sep=ord(";")) == want(key, [b"a", b"b,c"])
    assert _hmac.hmac_sha256(bytearray(key), memoryview(b"E000001")) == want(key, [b"E000001"])
    with pytest.raises(ValueError):
        _hmac.hmac_sha256(key, b"x", sep=256)
    with pytest.raises(TypeError):
        _hmac.hmac_sha256(key, "E000001")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not one of this CPU's"):
        _hmac.hmac_sha256(key, b"x", path="sse9")


def test_draw_sized_input_and_other_threads() -> None:
    """43,000 codes, as a draw at 100,000 experts hashes; the kernel runs without the GIL, so
    calls from several threads at once must not disturb each other."""
    key = os.urandom(32)
    codes = b",".join(b"E%06d" % i for i in range(43_000))
    expected = want(key, codes.split(b","))
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(_hmac.hmac_sha256(key, codes))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4
    for path in PATHS:
        assert _hmac.hmac_sha256(key, codes, path=path) == expected, path


def test_lists_the_paths_this_cpu_has() -> None:
    """The default is the first path; the CPU's SHA extensions or vector lanes are listed wherever
    /proc/cpuinfo lists them (an x86 Linux machine; elsewhere only the order is checked)."""
    flags = set(open("/proc/cpuinfo").read().split()) if os.path.exists("/proc/cpuinfo") else set()
    wanted = [name for name, have in (("sha-ni", {"sha_ni", "sse4_1"} <= flags), ("avx512", "avx512f" in flags),
                                      ("avx2", "avx2" in flags)) if have]
    if wanted:
        assert list(PATHS[:len(wanted)]) == wanted
    assert PATHS[-1] == "portable"
    assert len(set(PATHS)) == len(PATHS)
    assert set(PATHS) <= {"sha-ni", "avx512", "avx2", "portable"}


def test_the_draw_hashes_on_the_fastest_path_it_timed() -> None:
    """core.draw times the accelerated paths once and ranks with the fastest (the portable one
    only where it is the only one)."""
    from core import draw as drawlib

    chosen = drawlib.hmac_path()
    assert chosen in PATHS and (chosen != "portable" or PATHS == ("portable",))
    assert drawlib.hmac_path() == chosen  # timed once per process
    key = os.urandom(32)
    assert drawlib._hmac_joined(key, b"E000001,E000002") == want(key, [b"E000001", b"E000002"])
    speed = {"sha-ni": 3.0, "avx512": 2.0, "avx2": 4.0}
    calls: list[str] = []

    def timed(path: str) -> float:
        calls.append(path)
        return speed[path] + (5.0 if len(calls) == 1 else 0.0)  # a slow moment on the first try

    assert drawlib.fastest(("sha-ni", "avx512", "avx2"), timed) == "avx512"
    assert calls == ["sha-ni", "avx512", "avx2"] * 3  # in turn
    speed["sha-ni"] = 1.0
    assert drawlib.fastest(("sha-ni", "avx512"), timed) == "sha-ni"
    calls.clear()
    assert drawlib.fastest(("portable",), timed) == "portable" and calls == []  # alone: not timed
