"""bot/http.py: requests wait in order for one of the pool's connections before reaching httpcore,
at most `connection_pool_size` at a time, and a wait longer than the pool timeout is TimedOut."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from telegram.error import TimedOut
from telegram.request import HTTPXRequest

from bot.http import QueuedHTTPXRequest


class _Probe:
    """Stands in for httpx (set on the class as a bound method: it receives the call's arguments)."""

    def __init__(self) -> None:
        self.in_flight = self.most = 0
        self.order: list[str] = []
        self.release = asyncio.Event()

    async def do_request(self, url: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        self.order.append(url)
        await self.release.wait()
        self.in_flight -= 1
        return 200, b"{}"


async def test_at_most_the_pool_size_reaches_the_connection_pool_in_arrival_order(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = _Probe()
    monkeypatch.setattr(HTTPXRequest, "do_request", probe.do_request)
    request = QueuedHTTPXRequest(connection_pool_size=3, pool_timeout=5)
    calls = [asyncio.create_task(request.do_request(f"u{i}", "POST")) for i in range(20)]
    await asyncio.sleep(0.05)
    assert probe.in_flight == 3 and probe.order == ["u0", "u1", "u2"]
    probe.release.set()
    assert await asyncio.gather(*calls) == [(200, b"{}")] * 20
    assert probe.most == 3 and probe.order == [f"u{i}" for i in range(20)]


async def test_waiting_longer_than_the_pool_timeout_is_a_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = _Probe()
    monkeypatch.setattr(HTTPXRequest, "do_request", probe.do_request)
    request = QueuedHTTPXRequest(connection_pool_size=1, pool_timeout=0.1)
    first = asyncio.create_task(request.do_request("busy", "POST"))
    await asyncio.sleep(0.01)
    with pytest.raises(TimedOut):
        await request.do_request("waits", "POST")
    probe.release.set()
    assert await first == (200, b"{}")
    assert await request.do_request("after", "POST") == (200, b"{}")  # the slot came back
