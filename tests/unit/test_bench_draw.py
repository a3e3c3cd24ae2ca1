"""bench/draw.py's helpers: its percentile is the nearest rank, so that its p99 of 100 runs is
the 99th value (it was the largest: a rounding of 99.5 to even); its CPU meter counts this
process's time, and the machine's where /proc/stat tells it."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("bench_draw", Path(__file__).resolve().parents[2] / "bench" / "draw.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("bench_draw", bench)  # its dataclasses look their module up
_spec.loader.exec_module(bench)


def test_nearest_rank() -> None:
    for n, p99, p50 in ((1, 1, 1), (40, 40, 20), (50, 50, 25), (100, 99, 50), (101, 100, 51), (200, 198, 100),
                        (300, 297, 150)):
        values = list(range(n, 0, -1))  # any order
        assert (bench.pct(values, 99), bench.pct(values, 50)) == (p99, p50), n


def test_cpu_meter() -> None:
    meter = bench.CpuMeter()
    for _ in range(3):
        with meter:
            sum(i * i for i in range(300_000))
    process, machine = meter.per_run()
    assert meter.runs == 3 and process > 1  # ms: the loop takes ~10-30
    if Path("/proc/stat").exists():
        assert machine is not None and machine >= 0
    else:
        assert machine is None
