"""Experts, their fields, terms and past employers; using units, contacts and chat accounts."""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db.base import Base, BigId, UTCDateTime


class Category(Base):
    """A professional field (Art. 6). `id` doubles as the bit in Expert.field_mask (1..62)."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(String(400), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class FieldMask(Base):
    """Every value `experts.field_mask` has ever taken, kept by triggers on `experts` (migration
    0005): a draw's scan reads the experts of the masks that share a requested field through
    ix_experts_mask_scan instead of testing every expert (core/services/pool.py). Values no
    expert holds any more stay: they match nobody."""

    __tablename__ = "field_masks"

    mask: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class Expert(Base):
    """An enrolled expert with every 附件1 field. Private fields never leave admin views."""

    __tablename__ = "experts"
    __table_args__ = (
        Index("ix_experts_status_term", "status", "term_end"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    gender: Mapped[str] = mapped_column(String(8))
    birth_month: Mapped[date] = mapped_column(Date)
    ethnicity: Mapped[str] = mapped_column(String(20), default="")
    education: Mapped[str] = mapped_column(String(40), default="")
    id_number: Mapped[Optional[str]] = mapped_column(String(18), unique=True)
    work_unit: Mapped[str] = mapped_column(String(100))
    work_unit_norm: Mapped[str] = mapped_column(String(100))
    work_unit_uscc: Mapped[Optional[str]] = mapped_column(String(18), index=True)
    position: Mapped[str] = mapped_column(String(50), default="")
    certificate: Mapped[str] = mapped_column(String(200), default="")
    employed: Mapped[bool] = mapped_column(Boolean, default=True)
    unit_nature: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(50), default="")
    title_obtained: Mapped[Optional[date]] = mapped_column(Date)
    specialty: Mapped[str] = mapped_column(String(100), default="")
    graduated: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    years_in_field: Mapped[Optional[int]] = mapped_column(Integer)
    work_history: Mapped[str] = mapped_column(Text, default="")
    achievements: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))
    term_start: Mapped[Optional[date]] = mapped_column(Date)
    term_end: Mapped[Optional[date]] = mapped_column(Date)
    # Bit i set <=> the expert holds category id i. Lets a draw scan one table.
    field_mask: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    erased_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    categories: Mapped[list["ExpertCategory"]] = relationship(
        back_populates="expert", cascade="all, delete-orphan", lazy="selectin"
    )
    terms: Mapped[list["Term"]] = relationship(
        back_populates="expert", cascade="all, delete-orphan", order_by="Term.starts_on"
    )

    @property
    def code(self) -> str:
        """The public code used in rosters and in the draw's HMAC ranking."""
        return expert_code(self.id)

    def __repr__(self) -> str:  # never shows private fields
        return f"Expert(id={self.id}, status={self.status!r})"


def expert_code(expert_id: int) -> str:
    return f"E{expert_id:06d}"


def parse_expert_code(code: str) -> int:
    if len(code) < 2 or code[0] not in "Ee" or not code[1:].isdigit():
        raise ValueError(code)
    return int(code[1:])


class ExpertCategory(Base):
    __tablename__ = "expert_categories"

    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), primary_key=True, index=True)

    expert: Mapped[Expert] = relationship(back_populates="categories")


class ExpertPhoto(Base):
    """The 附件1 photo, kept apart from the expert row (sensitive, large)."""

    __tablename__ = "expert_photos"

    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(40))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Term(Base):
    """One 3-year term (Art. 9); the history is kept."""

    __tablename__ = "terms"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    application_id: Mapped[Optional[int]] = mapped_column(ForeignKey("applications.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    expert: Mapped[Expert] = relationship(back_populates="terms")


class PreviousUnit(Base):
    """A past employer, for the conflict look-back (Art. 11(3), 13)."""

    __tablename__ = "previous_units"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    name_norm: Mapped[str] = mapped_column(String(100), index=True)
    uscc: Mapped[Optional[str]] = mapped_column(String(18), index=True)
    left_on: Mapped[Optional[date]] = mapped_column(Date)


class Unavailability(Base):
    """A day the expert marked as unavailable."""

    __tablename__ = "unavailability"

    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True, index=True)


class UsingUnit(Base):
    __tablename__ = "using_units"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    name_norm: Mapped[str] = mapped_column(String(100), index=True)
    uscc: Mapped[Optional[str]] = mapped_column(String(18), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("using_units.id"), index=True)
    name: Mapped[str] = mapped_column(String(50), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    unit: Mapped[UsingUnit] = relationship(lazy="joined")


class Account(Base):
    """A chat identity. One person may hold several roles (an admin who is also an expert)."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    language: Mapped[Optional[str]] = mapped_column(String(8))
    expert_id: Mapped[Optional[int]] = mapped_column(ForeignKey("experts.id"), unique=True)
    contact_id: Mapped[Optional[int]] = mapped_column(ForeignKey("contacts.id"), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_supervisor: Mapped[bool] = mapped_column(Boolean, default=False)
    unreachable_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"Account(id={self.id})"


class BindingCode(Base):
    """A one-time code that binds a Telegram account to a role (`/start CODE`)."""

    __tablename__ = "binding_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # expert | contact | admin | supervisor
    expert_id: Mapped[Optional[int]] = mapped_column(ForeignKey("experts.id"))
    contact_id: Mapped[Optional[int]] = mapped_column(ForeignKey("contacts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    used_by_account_id: Mapped[Optional[int]] = mapped_column(ForeignKey("accounts.id"))
