"""Using units, contacts, chat accounts, roles and one-time binding codes."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, select

from core.conflicts import normalize_unit_name
from core.db.models import Account, BindingCode, Contact, Expert, UsingUnit
from core.db.uow import UnitOfWork
from core.errors import Conflict, DomainError, NotFound
from core.identity import normalize_text, parse_uscc
from core.services import audit

ROLES = ("expert", "contact", "admin", "supervisor")
CODE_TTL = timedelta(days=14)


@dataclass(frozen=True)
class Roles:
    """What an account may do; computed from the account row, passed to every service."""

    account_id: int
    expert_id: int | None
    contact_id: int | None
    unit_id: int | None
    is_admin: bool
    is_supervisor: bool
    language: str | None

    @property
    def actor(self) -> str:
        return f"account:{self.account_id}"


# Every update starts with this lookup: Roles' fields in order, and the unreachable mark, in one
# row. Built once (as the other per-update statements): building a SELECT costs more than running it.
_ROLES_BY_TELEGRAM_ID = (
    select(Account.id, Account.expert_id, Account.contact_id, Contact.unit_id, Account.is_admin,
           Account.is_supervisor, Account.language, Account.unreachable_at)
    .outerjoin(Contact, Contact.id == Account.contact_id).where(Account.telegram_id == bindparam("telegram_id"))
)


async def roles_of(uow: UnitOfWork, account: Account) -> Roles:
    unit_id = None
    if account.contact_id is not None:
        unit_id = await uow.session.scalar(select(Contact.unit_id).where(Contact.id == account.contact_id))
    return Roles(account.id, account.expert_id, account.contact_id, unit_id, account.is_admin,
                 account.is_supervisor, account.language)


async def ensure_account(uow: UnitOfWork, telegram_id: int, display_name: str = "", language: str | None = None) -> Account:
    """Find or create the account for a chat user (caller commits)."""
    acc = await uow.session.scalar(select(Account).where(Account.telegram_id == telegram_id))
    if acc is None:
        acc = Account(telegram_id=telegram_id, display_name=display_name[:100], language=language,
                      created_at=uow.clock.now())
        uow.session.add(acc)
        await uow.session.flush()
    return acc


async def touch_account(uow: UnitOfWork, telegram_id: int, display_name: str = "", language: str | None = None) -> Roles:
    """Find or create the account and return its roles, in one short transaction.

    A person who writes to the bot can be reached again: an unreachable mark (set when a send
    got 403) is cleared here, so their notifications flow again and the digest stops listing them.
    The usual case (a known, reachable account) is a read-only lookup: no write lock per update."""
    async with uow.read_only() as reader:
        known = (await reader.session.execute(_ROLES_BY_TELEGRAM_ID, {"telegram_id": telegram_id})).first()
        if known is not None and known.unreachable_at is None:
            return Roles(*known[:-1])
    async with uow:
        acc = await ensure_account(uow, telegram_id, display_name, language)
        if acc.unreachable_at is not None:
            acc.unreachable_at = None
            await audit.append(uow, "system", "account.reachable", "account", acc.id)
        roles = await roles_of(uow, acc)
        await uow.commit()
    return roles


async def set_language(uow: UnitOfWork, account_id: int, language: str) -> None:
    if language not in ("zh", "en"):
        raise DomainError("language.unknown", value=language)
    async with uow:
        acc = await uow.session.get(Account, account_id)
        if acc is None:
            raise NotFound("account.not_found")
        acc.language = language
        await uow.commit()


async def add_unit(uow: UnitOfWork, name: str, uscc: str | None, actor: str) -> UsingUnit:
    name = normalize_text(name)
    if not name or len(name) > 100:
        raise DomainError("unit.name_invalid", max=100)
    code = parse_uscc(uscc) if uscc else None
    async with uow:
        s = uow.session
        if await s.scalar(select(UsingUnit.id).where(UsingUnit.name == name)):
            raise Conflict("unit.exists", name=name)
        if code and await s.scalar(select(UsingUnit.id).where(UsingUnit.uscc == code)):
            raise Conflict("unit.uscc_exists", uscc=code)
        unit = UsingUnit(name=name, name_norm=normalize_unit_name(name), uscc=code, created_at=uow.clock.now())
        s.add(unit)
        await s.flush()
        await audit.append(uow, actor, "unit.add", "unit", unit.id)
        await uow.commit()
    return unit


async def find_unit(uow: UnitOfWork, name: str) -> UsingUnit:
    async with uow:
        unit = await uow.session.scalar(select(UsingUnit).where(UsingUnit.name == normalize_text(name)))
    if unit is None:
        raise NotFound("unit.not_found", name=name)
    return unit


def _new_code() -> str:
    return secrets.token_urlsafe(12)


async def _issue_code(uow: UnitOfWork, role: str, *, expert_id: int | None = None, contact_id: int | None = None) -> str:
    now = uow.clock.now()
    code = _new_code()
    uow.session.add(BindingCode(code=code, role=role, expert_id=expert_id, contact_id=contact_id,
                                created_at=now, expires_at=now + CODE_TTL))
    await uow.session.flush()
    return code


@dataclass(frozen=True)
class ContactAdded:
    contact_id: int
    account_id: int | None
    code: str | None


async def add_contact(
    uow: UnitOfWork, unit_name: str, actor: str, *, name: str = "", phone: str = "", telegram_id: int | None = None
) -> ContactAdded:
    """Register a unit's contact; without a Telegram id a one-time binding code is issued."""
    async with uow:
        s = uow.session
        unit = await s.scalar(select(UsingUnit).where(UsingUnit.name == normalize_text(unit_name)))
        if unit is None:
            raise NotFound("unit.not_found", name=unit_name)
        contact = Contact(unit_id=unit.id, name=normalize_text(name)[:50], phone=phone, active=True,
                          created_at=uow.clock.now())
        s.add(contact)
        await s.flush()
        account_id = code = None
        if telegram_id is not None:
            acc = await ensure_account(uow, telegram_id)
            if acc.contact_id is not None:
                raise Conflict("account.already_contact")
            acc.contact_id = contact.id
            account_id = acc.id
        else:
            code = await _issue_code(uow, "contact", contact_id=contact.id)
        await audit.append(uow, actor, "contact.add", "contact", contact.id, unit_id=unit.id, account_id=account_id)
        await uow.commit()
    return ContactAdded(contact.id, account_id, code)


async def grant_role(uow: UnitOfWork, telegram_id: int, role: str, actor: str) -> int:
    """Make a Telegram user an admin or supervisor (idempotent); returns the account id."""
    if role not in ("admin", "supervisor"):
        raise DomainError("role.unknown", value=role)
    async with uow:
        acc = await ensure_account(uow, telegram_id)
        before = acc.is_admin if role == "admin" else acc.is_supervisor
        if role == "admin":
            acc.is_admin = True
        else:
            acc.is_supervisor = True
        if not before:
            await audit.append(uow, actor, f"role.grant.{role}", "account", acc.id)
        await uow.commit()
        return acc.id


async def issue_code(uow: UnitOfWork, role: str, actor: str, *, expert_id: int | None = None, contact_id: int | None = None) -> str:
    if role not in ROLES:
        raise DomainError("role.unknown", value=role)
    async with uow:
        if role == "expert" and (expert_id is None or await uow.session.get(Expert, expert_id) is None):
            raise NotFound("expert.not_found", id=expert_id)
        code = await _issue_code(uow, role, expert_id=expert_id, contact_id=contact_id)
        await audit.append(uow, actor, "code.issue", "code", None, role=role, expert_id=expert_id, contact_id=contact_id)
        await uow.commit()
    return code


async def redeem_code(uow: UnitOfWork, telegram_id: int, code: str, display_name: str = "", language: str | None = None) -> tuple[str, Roles]:
    """Bind the account to what the code was issued for; a code works once, before it expires."""
    async with uow:
        s = uow.session
        row = await s.scalar(select(BindingCode).where(BindingCode.code == code.strip()))
        now = uow.clock.now()
        if row is None:
            raise NotFound("code.invalid")
        if row.used_at is not None:
            raise Conflict("code.used")
        if row.expires_at < now:
            raise Conflict("code.expired")
        acc = await ensure_account(uow, telegram_id, display_name, language)
        if row.role == "expert":
            other = await s.scalar(select(Account).where(Account.expert_id == row.expert_id, Account.id != acc.id))
            if other is not None:
                other.expert_id = None  # the expert moved to a new Telegram account
            acc.expert_id = row.expert_id
        elif row.role == "contact":
            if acc.contact_id is not None and acc.contact_id != row.contact_id:
                raise Conflict("account.already_contact")
            acc.contact_id = row.contact_id
        elif row.role == "admin":
            acc.is_admin = True
        elif row.role == "supervisor":
            acc.is_supervisor = True
        row.used_at = now
        row.used_by_account_id = acc.id
        await audit.append(uow, f"account:{acc.id}", "code.redeem", "account", acc.id, role=row.role)
        roles = await roles_of(uow, acc)
        await uow.commit()
    return row.role, roles
