"""The connection to the Bot API: requests queue in front of the connection pool, not inside it.

httpcore's pool re-examines every queued request against every connection each time a request
is added or a connection freed, so n requests waiting for a connection cost O(n²): with 200
buttons pressed at once that scan was the bot's largest single cost (bench/bot.py). Here a
request first takes one of the pool's slots — a semaphore, woken in order at O(1) — and only
then reaches httpcore, which therefore always has a free connection. Waiting for a slot is
bounded by the pool timeout, as waiting inside httpcore was.
"""
from __future__ import annotations

import asyncio
from typing import Any

from telegram.error import TimedOut
from telegram.request import HTTPXRequest


class QueuedHTTPXRequest(HTTPXRequest):
    """`connection_pool_size` connections to the Bot API, with the bot's timeouts (seconds)."""

    def __init__(self, connection_pool_size: int, *, connect_timeout: float = 10.0, read_timeout: float = 15.0,
                 write_timeout: float = 15.0, pool_timeout: float = 10.0) -> None:
        super().__init__(connection_pool_size=connection_pool_size, connect_timeout=connect_timeout,
                         read_timeout=read_timeout, write_timeout=write_timeout, pool_timeout=pool_timeout)
        self._slots = asyncio.Semaphore(connection_pool_size)
        self._slot_timeout = pool_timeout

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        try:
            await asyncio.wait_for(self._slots.acquire(), self._slot_timeout)
        except asyncio.TimeoutError as exc:
            raise TimedOut("Pool timeout: all connections in the pool are occupied.") from exc
        try:
            return await super().do_request(*args, **kwargs)
        finally:
            self._slots.release()
