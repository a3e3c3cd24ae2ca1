"""Evaluations (Art. 14), commendations, sanctions (Art. 15, 16), flags and announcements."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, BigId, UTCDateTime


class Evaluation(Base):
    __tablename__ = "evaluations"
    __table_args__ = (UniqueConstraint("panel_id", "expert_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    panel_id: Mapped[int] = mapped_column(ForeignKey("panels.id"), index=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"), index=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id"), unique=True)
    professional: Mapped[Optional[int]] = mapped_column(Integer)  # 业务水平 1-5
    attitude: Mapped[Optional[int]] = mapped_column(Integer)      # 工作态度 1-5
    quality: Mapped[Optional[int]] = mapped_column(Integer)       # 质量规范 1-5
    attendance: Mapped[Optional[str]] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    rated_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)


class Commendation(Base):
    __tablename__ = "commendations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"), index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Sanction(Base):
    """约谈提醒 / 警告 with an Art. 15 ground, or a removal with an Art. 16 ground."""

    __tablename__ = "sanctions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    ground: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    flag_id: Mapped[Optional[int]] = mapped_column(ForeignKey("flags.id"))
    decided_by: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Flag(Base):
    """Something the system noticed for the bureau to decide, with its evidence."""

    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    expert_id: Mapped[Optional[int]] = mapped_column(ForeignKey("experts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16), index=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    closed_by: Mapped[str] = mapped_column(String(64), default="")
    decision: Mapped[str] = mapped_column(Text, default="")


class Announcement(Base):
    """A public notice (公告), e.g. of a removal under Art. 16."""

    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    expert_id: Mapped[Optional[int]] = mapped_column(ForeignKey("experts.id"))
    # Public fields only: name, work unit, ground, date.
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
