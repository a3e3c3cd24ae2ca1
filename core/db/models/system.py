"""The audit chain, the notification outbox, reminder marks and saved chat conversations."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, BigId, UTCDateTime


class AuditEntry(Base):
    """Append-only, hash-chained record of a state change (Art. 13, 17).

    `hash` = sha256(prev_hash + canonical JSON of (seq, at, actor, action, subject, details)).
    `at` and `details` are stored as the exact text that was hashed.
    """

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[Optional[str]] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Outbox(Base):
    """A notification written with the change it announces; delivered later, at least once.

    `thread` names a live message (e.g. `panel_status:42`): a later row of the same thread and
    account supersedes the earlier ones, and an adapter may edit the message it sent for the
    thread (`message_id` of the latest sent row) instead of sending another.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),
                      Index("ix_outbox_thread", "account_id", "thread"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(48))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    message_id: Mapped[Optional[int]] = mapped_column(BigInteger)
    last_error: Mapped[str] = mapped_column(Text, default="")
    dedupe_key: Mapped[Optional[str]] = mapped_column(String(120), unique=True)
    thread: Mapped[Optional[str]] = mapped_column(String(64))


class ReminderMark(Base):
    """'This reminder slot was handled': makes every reminder fire exactly once."""

    __tablename__ = "reminder_marks"
    __table_args__ = (UniqueConstraint("kind", "subject_id", "slot"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int] = mapped_column(BigInteger)
    slot: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConversationState(Base):
    """A chat flow's draft (e.g. /apply), saved after every step so a restart loses nothing."""

    __tablename__ = "conversation_states"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    flow: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
