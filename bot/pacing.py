"""Send pacing for the notifier: evenly spaced slots overall, a token bucket per chat, and
blocks after a 429 (per chat; everyone when several chats are flooded at once)."""
from __future__ import annotations

import asyncio
import time
import warnings
from collections import deque
from datetime import timedelta
from typing import Any, Awaitable, Callable

from telegram.error import RetryAfter

CHAT_BURST = 2          # Telegram tolerates short bursts in a chat; stay under the sandbox's 3
GLOBAL_429_CHATS = 3    # this many chats flooded within a second means the global limit was hit


def retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns about the attribute's future type
        warnings.simplefilter("ignore")
        value: Any = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Pacer:
    """Send slots: evenly spaced overall, a token bucket per chat, blocks after a 429."""

    def __init__(self, global_rate: float, chat_rate: float, chat_burst: int = CHAT_BURST,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.interval = 1.0 / global_rate
        self.chat_rate = chat_rate
        self.chat_burst = float(chat_burst)
        self.clock, self.sleep = clock, sleep
        self._next_global = 0.0
        self._chats: dict[int, tuple[float, float]] = {}  # chat → (tokens, stamp)
        self._blocked: dict[int, float] = {}
        self._floods: deque[tuple[float, int]] = deque()

    def _tokens(self, chat_id: int, now: float) -> float:
        tokens, stamp = self._chats.get(chat_id, (self.chat_burst, now))
        return min(self.chat_burst, tokens + max(0.0, now - stamp) * self.chat_rate)

    def chat_wait(self, chat_id: int) -> float:
        now = self.clock()
        wait = max(0.0, self._blocked.get(chat_id, 0.0) - now)
        tokens = self._tokens(chat_id, now)
        if tokens < 1.0:
            wait = max(wait, (1.0 - tokens) / self.chat_rate)
        return wait

    async def acquire(self, chat_id: int) -> None:
        """Wait until a message may go to `chat_id` now (one task per chat at a time)."""
        while (wait := self.chat_wait(chat_id)) > 0:
            await self.sleep(wait)
        now = self.clock()
        slot = max(now, self._next_global)
        self._next_global = slot + self.interval
        if slot > now:
            await self.sleep(slot - now)
        now = self.clock()
        self._chats[chat_id] = (self._tokens(chat_id, now) - 1.0, now)
        if len(self._chats) > 50_000:  # forget idle chats (full buckets)
            self._chats = {c: v for c, v in self._chats.items() if self._tokens(c, now) < self.chat_burst}

    def pause_all(self, seconds: float) -> None:
        """No message to anyone for `seconds` (Telegram looks down, or a global 429)."""
        self._next_global = max(self._next_global, self.clock() + seconds)

    def flooded(self, chat_id: int, seconds: float) -> bool:
        """Record a 429 for `chat_id`; returns True when it looks global (everyone then waits)."""
        now = self.clock()
        self._blocked[chat_id] = max(self._blocked.get(chat_id, 0.0), now + seconds)
        self._floods.append((now, chat_id))
        while self._floods and self._floods[0][0] < now - 1.0:
            self._floods.popleft()
        if len({c for _, c in self._floods}) >= GLOBAL_429_CHATS:
            self.pause_all(seconds)
            return True
        return False
