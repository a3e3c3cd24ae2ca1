"""Callback data: short prefixed strings `prefix:id:action[:arg]`, parsed strictly.

The data is only a request; every press is checked server-side against the presser.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_PATTERN = re.compile(r"^([a-z]{2,6}):(\d{1,12}):([a-z_]{1,16})(?::([A-Za-z0-9_\-]{1,24}))?$")


@dataclass(frozen=True)
class Callback:
    prefix: str
    id: int
    action: str
    arg: str | None = None

    def encode(self) -> str:
        data = f"{self.prefix}:{self.id}:{self.action}" + (f":{self.arg}" if self.arg else "")
        assert len(data.encode()) <= 64, data
        return data


def cb(prefix: str, id: int, action: str, arg: str | int | None = None) -> str:
    return Callback(prefix, id, action, None if arg is None else str(arg)).encode()


def parse(data: str | None) -> Callback | None:
    """None for anything that is not well-formed (garbage, over-long, forged shapes)."""
    if not data or len(data.encode()) > 64:
        return None
    m = _PATTERN.match(data)
    if m is None:
        return None
    return Callback(m.group(1), int(m.group(2)), m.group(3), m.group(4))


def pattern(prefix: str) -> str:
    """Regex for CallbackQueryHandler routing by prefix."""
    return rf"^{prefix}:"
