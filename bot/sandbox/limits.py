"""Telegram-like flood limits: token buckets per chat and overall.

Telegram lets a bot send about one message per second to a chat (short bursts are tolerated)
and about 30 messages per second overall; above that it answers 429 with `retry_after`.
`FloodLimiter.check(chat_id)` models that: both buckets must have a token, and a token is taken
from both only when both have one. It returns None (allowed) or the whole seconds to wait.

    limiter = FloodLimiter(per_chat_rate=1.0, per_chat_burst=3, global_rate=30.0, global_burst=30)
    limiter.check(42)            # None → send; an int N → answer 429 "retry after N"
    limiter.configure(enabled=False)

`clock` is any monotonic-seconds function, so tests can drive time by hand.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

# Methods that Telegram counts against the message limits (edits count per chat too).
LIMITED_METHODS = frozenset({
    "sendMessage", "sendDocument", "sendPhoto", "sendMediaGroup", "sendAudio", "sendVideo",
    "sendVoice", "sendAnimation", "sendSticker", "sendLocation", "sendContact", "sendPoll",
    "copyMessage", "forwardMessage",
    "editMessageText", "editMessageReplyMarkup", "editMessageCaption", "editMessageMedia",
})


@dataclass
class TokenBucket:
    capacity: float
    rate: float  # tokens per second
    tokens: float = field(default=-1.0)
    stamp: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = max(self.stamp, now)

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 when one is available now)."""
        self._refill(now)
        if self.tokens >= 1.0:
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1.0


class FloodLimiter:
    def __init__(
        self,
        *,
        enabled: bool = True,
        per_chat_rate: float = 1.0,
        per_chat_burst: int = 3,
        global_rate: float = 30.0,
        global_burst: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.enabled = enabled
        self.per_chat_rate = per_chat_rate
        self.per_chat_burst = per_chat_burst
        self.global_rate = global_rate
        self.global_burst = global_burst
        self.reset()

    def reset(self) -> None:
        """Forget all buckets (everyone starts full)."""
        now = self.clock()
        self._global = TokenBucket(self.global_burst, self.global_rate, stamp=now)
        self._chats: dict[int, TokenBucket] = {}

    def configure(self, **settings: Any) -> None:
        """Change any of enabled/per_chat_rate/per_chat_burst/global_rate/global_burst; resets buckets."""
        for key, value in settings.items():
            if key not in ("enabled", "per_chat_rate", "per_chat_burst", "global_rate", "global_burst"):
                raise ValueError(f"unknown flood setting {key!r}")
            if value is None:
                continue
            if key == "enabled":
                value = bool(value)
            elif key.endswith("burst"):
                value = int(value)
                if value < 1:
                    raise ValueError(f"{key} must be ≥ 1")
            else:
                value = float(value)
                if value <= 0:
                    raise ValueError(f"{key} must be > 0")
            setattr(self, key, value)
        self.reset()

    def settings(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "per_chat_rate": self.per_chat_rate,
            "per_chat_burst": self.per_chat_burst,
            "global_rate": self.global_rate,
            "global_burst": self.global_burst,
        }

    def check(self, chat_id: int | None) -> tuple[int, str] | None:
        """None when a message may go out now (a token is taken); else (retry_after, scope).

        scope is "chat" or "global": which limit was hit.
        """
        if not self.enabled:
            return None
        now = self.clock()
        chat_bucket = None
        chat_wait = 0.0
        if chat_id is not None:
            chat_bucket = self._chats.get(chat_id)
            if chat_bucket is None:
                chat_bucket = self._chats[chat_id] = TokenBucket(self.per_chat_burst, self.per_chat_rate, stamp=now)
            chat_wait = chat_bucket.wait_time(now)
        global_wait = self._global.wait_time(now)
        if chat_wait <= 0 and global_wait <= 0:
            self._global.take(now)
            if chat_bucket is not None:
                chat_bucket.take(now)
            return None
        scope = "chat" if chat_wait >= global_wait else "global"
        return max(1, math.ceil(max(chat_wait, global_wait))), scope
