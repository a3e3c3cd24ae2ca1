"""Panel requests, parties, field quotas, draws, invitations, recusal records, directed selection."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db.base import Base, BigId, UTCDateTime


class Panel(Base):
    """One matter's request for a panel of experts (Art. 12)."""

    __tablename__ = "panels"
    __table_args__ = (Index("ix_panels_time", "starts_at", "ends_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("using_units.id"), index=True)
    contact_id: Mapped[Optional[int]] = mapped_column(ForeignKey("contacts.id"))
    title: Mapped[str] = mapped_column(String(200))
    matter_type: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    size: Mapped[int] = mapped_column(Integer)
    response_deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    completed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    short_detail: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    # Where the unit's live status message is, so it can be edited in place.
    status_chat_id: Mapped[Optional[int]] = mapped_column(BigInteger)
    status_message_id: Mapped[Optional[int]] = mapped_column(BigInteger)

    parties: Mapped[list["PanelParty"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="PanelParty.id"
    )
    fields: Mapped[list["PanelField"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="PanelField.position"
    )


class PanelParty(Base):
    """An organisation involved in the matter (相关单位)."""

    __tablename__ = "panel_parties"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    panel_id: Mapped[int] = mapped_column(ForeignKey("panels.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    name_norm: Mapped[str] = mapped_column(String(100), default="")
    uscc: Mapped[Optional[str]] = mapped_column(String(18))


class PanelField(Base):
    """A requested field; `quota` None means the panel takes 'any of these fields'."""

    __tablename__ = "panel_fields"

    panel_id: Mapped[int] = mapped_column(ForeignKey("panels.id", ondelete="CASCADE"), primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), primary_key=True)
    quota: Mapped[Optional[int]] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Draw(Base):
    """One random draw: seed, algorithm, the pool (ranked) and every exclusion with its reason.

    Layout of `record_version` 2 (docs/draw.md § What is stored): `ranking`, `masks` and
    `exclusions` are plain texts whose SHA-256 the audit chain holds (action draw.record), with
    `digest` over the header. Version 1 (before migration 0004): `ranking` is `CODE:MASK`
    joined by ',', `masks` unused, `digest` over the whole record as canonical JSON."""

    __tablename__ = "draws"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    panel_id: Mapped[int] = mapped_column(ForeignKey("panels.id"), index=True)
    seed: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(64))
    record_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Eligible pool in ranked order, public codes joined by ','.
    ranking: Mapped[str] = mapped_column(Text)
    # Each ranked expert's field bitmask at draw time (decimal, same order), joined by ',':
    # verification must not depend on profiles edited later.
    masks: Mapped[str] = mapped_column(Text, default="")
    # Canonical JSON of [[public_code, reason, detail], ...], sorted by code, for every in-scope
    # expert left out of the pool.
    exclusions: Mapped[str] = mapped_column(Text)
    # The seat groups: [{"fields": [category ids], "count": n}, ...] (core.draw.SeatGroup.to_json)
    groups: Mapped[list[Any]] = mapped_column(JSON)
    # Initial selection: [[public_code, group_index], ...] in rank order.
    selection: Mapped[list[Any]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))


class Invitation(Base):
    """One expert asked to sit on one panel (Art. 11)."""

    __tablename__ = "invitations"
    __table_args__ = (
        UniqueConstraint("panel_id", "expert_id"),
        Index("ix_invitations_expert_status", "expert_id", "status"),
        Index("ix_invitations_status_deadline", "status", "deadline"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    panel_id: Mapped[int] = mapped_column(ForeignKey("panels.id"), index=True)
    draw_id: Mapped[Optional[int]] = mapped_column(ForeignKey("draws.id"))
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"))
    group_index: Mapped[int] = mapped_column(Integer, default=0)
    rank: Mapped[Optional[int]] = mapped_column(Integer)
    replacement_of: Mapped[Optional[int]] = mapped_column(ForeignKey("invitations.id"))
    status: Mapped[str] = mapped_column(String(16))
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    responded_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    decline_reason: Mapped[Optional[str]] = mapped_column(String(32))
    decline_text: Mapped[str] = mapped_column(Text, default="")
    justified: Mapped[Optional[bool]] = mapped_column(Boolean)
    conflict_party_id: Mapped[Optional[int]] = mapped_column(ForeignKey("panel_parties.id"))
    conflict_text: Mapped[str] = mapped_column(Text, default="")
    withdrawn_reason: Mapped[str] = mapped_column(Text, default="")
    nudged_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)


class DeclaredConflict(Base):
    """A conflict the expert declared; remembered for every future draw involving the party."""

    __tablename__ = "declared_conflicts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    party_name: Mapped[str] = mapped_column(String(100), default="")
    party_norm: Mapped[str] = mapped_column(String(100), default="", index=True)
    uscc: Mapped[Optional[str]] = mapped_column(String(18), index=True)
    panel_id: Mapped[Optional[int]] = mapped_column(ForeignKey("panels.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RecordedExclusion(Base):
    """An exclusion an admin recorded between an expert and an organisation."""

    __tablename__ = "recorded_exclusions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    party_name: Mapped[str] = mapped_column(String(100), default="")
    party_norm: Mapped[str] = mapped_column(String(100), default="", index=True)
    uscc: Mapped[Optional[str]] = mapped_column(String(18), index=True)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class DirectedSelection(Base):
    """A unit's written application to choose experts outside the roster (Art. 12 ¶2)."""

    __tablename__ = "directed_selections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    panel_id: Mapped[int] = mapped_column(ForeignKey("panels.id"), index=True)
    contact_id: Mapped[Optional[int]] = mapped_column(ForeignKey("contacts.id"))
    reason: Mapped[str] = mapped_column(Text)
    seats: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str] = mapped_column(String(64), default="")
    decided_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    decision_note: Mapped[str] = mapped_column(Text, default="")


class DirectedExpert(Base):
    """A named person from outside the roster, serving under an approved directed selection."""

    __tablename__ = "directed_experts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    directed_id: Mapped[int] = mapped_column(ForeignKey("directed_selections.id"), index=True)
    panel_id: Mapped[int] = mapped_column(ForeignKey("panels.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    unit: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(50), default="")
    contact: Mapped[str] = mapped_column(String(100), default="")
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
