"""Who did it: the actor string recorded in audit entries and decisions (internal ids only)."""
from __future__ import annotations

SYSTEM = "system"
CLI = "cli"


def account(account_id: int) -> str:
    return f"account:{account_id}"
