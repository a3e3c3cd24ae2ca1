"""core.allocator: with glibc told to keep freed memory, allocating and freeing a few megabytes
again and again stops costing page faults (a draw's ~1,000 a run before)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core import allocator

_ROOT = Path(__file__).resolve().parents[2]
# Page faults of one round of 40 blocks of 100 kB allocated, touched and freed, after a round
# to warm up: the pattern of a draw's buffers.
_PROBE = """
import resource, sys
sys.path.insert(0, {root!r})
if {keep}:
    from core.allocator import keep_freed_memory
    assert keep_freed_memory()
def cycle():
    blocks = [bytearray(100_000) for _ in range(40)]
    for b in blocks:
        b[::4096] = bytes(len(range(0, len(b), 4096)))
cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    cycle()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def _faults(keep: bool) -> float:
    out = subprocess.run([sys.executable, "-c", _PROBE.format(root=str(_ROOT), keep=keep)], capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip())


@pytest.mark.skipif(allocator.glibc() is None, reason="the C library is not glibc")
def test_freed_memory_is_kept() -> None:
    kept, given_back = _faults(True), _faults(False)
    assert kept * 5 < given_back, (kept, given_back)
    assert allocator.keep_freed_memory() is True  # applied once, and says so again


def test_not_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoGlibc:
        def __init__(self, _: object) -> None:
            pass

    monkeypatch.setattr(allocator.ctypes, "CDLL", NoGlibc)
    monkeypatch.setattr(allocator, "_applied", None)  # as in a new process
    assert allocator.glibc() is None
    assert allocator.keep_freed_memory() is False
