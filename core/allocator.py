"""How the C allocator gives freed memory back to the system: later, for the draws' sake (glibc)."""
from __future__ import annotations

import ctypes

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2

# Free memory at the top of a heap that is kept rather than given back to the system, and the
# margin by which a heap grows (and is kept when it shrinks).
TRIM_THRESHOLD = 64 << 20
TOP_PAD = 16 << 20

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Have glibc keep up to TRIM_THRESHOLD of freed heap memory instead of giving it back at once.

    A draw at 100,000 experts allocates and frees a few megabytes (the scan's rows, the
    ranking's arrays and texts, the record). By default glibc gives the free top of the heap
    back to the system after each draw (its trim threshold is 128 KiB at first), and the next
    draw takes every page back through a page fault: ~900-1,300 a draw, ~2.3 ms of a ~30 ms
    draw on PostgreSQL on a 2-CPU VM (median of 8 paired runs of 150 draws; 20 faults a draw
    with this). The process's peak memory is what it was (103 MB in bench/draw.py); what
    changes is that its resident memory does not shrink again by the few megabytes a draw used.

    Once per process (build_core calls it); False where the C library is not glibc."""
    global _applied
    if _applied is None:
        libc = glibc()
        _applied = libc is not None and all(
            libc.mallopt(ctypes.c_int(param), ctypes.c_int(value))
            for param, value in ((_M_TRIM_THRESHOLD, TRIM_THRESHOLD), (_M_TOP_PAD, TOP_PAD)))
    return _applied


def glibc() -> ctypes.CDLL | None:
    """The process's C library if it is glibc (not musl, macOS's or Windows's: allocators of
    their own)."""
    try:
        libc = ctypes.CDLL(None)
    except (OSError, TypeError):  # TypeError: Windows has no CDLL(None)
        return None
    return libc if hasattr(libc, "gnu_get_libc_version") else None

