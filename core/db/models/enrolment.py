"""Applications (附件1 + 附件2) and unit recommendations (Art. 8)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, BigId, UTCDateTime


class Application(Base):
    """A self-submitted, recommended or renewal application and its review."""

    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    account_id: Mapped[Optional[int]] = mapped_column(ForeignKey("accounts.id"), index=True)
    expert_id: Mapped[Optional[int]] = mapped_column(ForeignKey("experts.id"), index=True)
    recommendation_id: Mapped[Optional[int]] = mapped_column(ForeignKey("recommendations.id"))
    # Snapshot of the validated form as submitted (ApplicationForm.model_dump(mode="json")).
    form: Mapped[dict[str, Any]] = mapped_column(JSON)
    photo: Mapped[Optional[bytes]] = mapped_column(LargeBinary)
    photo_type: Mapped[Optional[str]] = mapped_column(String(40))
    commitment_accepted_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    sensitive_consent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    unit_consent: Mapped[str] = mapped_column(Text, default="")
    prescreen: Mapped[dict[str, Any]] = mapped_column(JSON)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by_account_id: Mapped[Optional[int]] = mapped_column(ForeignKey("accounts.id"))
    decided_by: Mapped[str] = mapped_column(String(64), default="")
    decided_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    decision_meeting: Mapped[str] = mapped_column(String(200), default="")
    decision_reason: Mapped[str] = mapped_column(Text, default="")

    def __repr__(self) -> str:
        return f"Application(id={self.id}, kind={self.kind!r}, status={self.status!r})"


class Recommendation(Base):
    """A using unit proposing a person for enrolment (Art. 8 ¶3); the person then applies."""

    __tablename__ = "recommendations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("using_units.id"))
    contact_id: Mapped[Optional[int]] = mapped_column(ForeignKey("contacts.id"))
    candidate_name: Mapped[str] = mapped_column(String(50))
    note: Mapped[str] = mapped_column(Text, default="")
    code: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
