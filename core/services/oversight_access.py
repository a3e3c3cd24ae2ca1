"""Who may decide and who may look, for the oversight services (evaluation, discipline, reports).

A caller is either a chat user's `Roles` (checked here) or a trusted actor string from the CLI or
the scheduler (`"cli"`, `"system"`), which the adapters only build for operators.
"""
from __future__ import annotations

from typing import Union

from core.db.uow import UnitOfWork
from core.errors import Forbidden
from core.services import audit
from core.services.accounts import Roles

Who = Union[Roles, str]


async def _refuse(uow: UnitOfWork, roles: Roles, what: str) -> Forbidden:
    await audit.append(uow, roles.actor, "security.refused", "account", roles.account_id, attempted=what)
    await uow.commit()
    return Forbidden("oversight.admin_only")


async def admin_actor(uow: UnitOfWork, who: Who, what: str) -> str:
    """The actor string of an admin (or trusted operator); otherwise audit and refuse.

    Must be called inside `async with uow` (the refusal is committed on its own)."""
    if isinstance(who, str):
        return who
    if not who.is_admin:
        raise await _refuse(uow, who, what)
    return who.actor


async def viewer_actor(uow: UnitOfWork, who: Who, what: str) -> str:
    """Admins and supervisors (read-only, Art. 13) may look at oversight data."""
    if isinstance(who, str):
        return who
    if not (who.is_admin or who.is_supervisor):
        raise await _refuse(uow, who, what)
    return who.actor
