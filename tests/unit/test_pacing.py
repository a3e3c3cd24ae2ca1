"""The notifier's pacer on a fake clock: overall spacing, per-chat bursts, 429 blocks."""
from __future__ import annotations

import asyncio

from bot.pacing import Pacer


class Time:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def _pacer(t: Time, **kw: float) -> Pacer:
    return Pacer(kw.get("global_rate", 29.0), kw.get("chat_rate", 1.0), int(kw.get("burst", 2)), clock=t, sleep=t.sleep)


def test_overall_slots_are_evenly_spaced() -> None:
    t = Time()
    p = _pacer(t, global_rate=10.0)
    stamps = []

    async def go() -> None:
        for chat in range(30):
            await p.acquire(chat)
            stamps.append(t.now)

    asyncio.run(go())
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert all(abs(g - 0.1) < 1e-9 for g in gaps)


def test_one_chat_gets_its_burst_then_one_per_second() -> None:
    t = Time()
    p = _pacer(t, burst=2)
    stamps = []

    async def go() -> None:
        for _ in range(6):
            await p.acquire(7)
            stamps.append(t.now - 100.0)

    asyncio.run(go())
    assert stamps[1] - stamps[0] < 0.1  # the burst
    assert abs(stamps[2] - stamps[0] - 1.0) < 1e-6  # then the bucket's 1/s
    assert all(abs((b - a) - 1.0) < 1e-6 for a, b in zip(stamps[2:], stamps[3:]))


def test_a_429_blocks_that_chat_only_unless_several_chats_are_flooded() -> None:
    t = Time()
    p = _pacer(t)
    assert not p.flooded(1, 5.0)
    assert p.chat_wait(1) == 5.0 and p.chat_wait(2) == 0.0
    assert not p.flooded(2, 5.0)
    assert p.flooded(3, 5.0)  # three chats within a second: the global limit

    async def go() -> float:
        start = t.now
        await p.acquire(4)
        return t.now - start

    assert abs(asyncio.run(go()) - 5.0) < 1e-6
