"""Domain vocabularies (GLOSSARY.md names); stored as their string values."""
from __future__ import annotations

from enum import StrEnum


class ExpertStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    REMOVED = "removed"


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"


class UnitNature(StrEnum):
    """单位性质 on 附件1, in form order."""

    STATE_OWNED = "state_owned"        # 国有企业
    PRIVATE = "private"                # 民营企业
    RESEARCH = "research"              # 科研院所
    UNIVERSITY = "university"          # 大专院校
    ASSOCIATION = "association"        # 行业协会
    GOVERNMENT = "government"          # 政府机构
    FOREIGN_OWNED = "foreign_owned"    # 外商独资企业
    JOINT_VENTURE = "joint_venture"    # 中外合资、中外合作或外方控股企业
    OTHER = "other"                    # 其他


UNIT_NATURE_ZH: dict[UnitNature, str] = {
    UnitNature.STATE_OWNED: "国有企业",
    UnitNature.PRIVATE: "民营企业",
    UnitNature.RESEARCH: "科研院所",
    UnitNature.UNIVERSITY: "大专院校",
    UnitNature.ASSOCIATION: "行业协会",
    UnitNature.GOVERNMENT: "政府机构",
    UnitNature.FOREIGN_OWNED: "外商独资企业",
    UnitNature.JOINT_VENTURE: "中外合资、中外合作或外方控股企业",
    UnitNature.OTHER: "其他",
}


class ApplicationKind(StrEnum):
    SELF = "self"
    RECOMMENDED = "recommended"
    RENEWAL = "renewal"


class ApplicationStatus(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class TermKind(StrEnum):
    INITIAL = "initial"
    RENEWAL = "renewal"
    IMPORTED = "imported"


class MatterType(StrEnum):
    REVIEW = "review"              # 评审
    CONSULTATION = "consultation"  # 咨询
    TRAINING = "training"          # 培训
    SITE_SURVEY = "site_survey"    # 现场踏勘


class PanelStatus(StrEnum):
    SUBMITTED = "submitted"
    INVITING = "inviting"
    SHORT = "short"
    CONFIRMED = "confirmed"
    COMPLETED = "completed"
    EVALUATED = "evaluated"
    CANCELLED = "cancelled"


OPEN_PANEL_STATUSES = (PanelStatus.SUBMITTED, PanelStatus.INVITING, PanelStatus.SHORT, PanelStatus.CONFIRMED)


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CONFLICT = "conflict"       # recusal declared: never counted against the expert
    EXPIRED = "expired"         # no answer by the deadline: unjustified refusal
    WITHDRAWN = "withdrawn"     # accepted, then withdrew
    CANCELLED = "cancelled"     # the panel was cancelled or the expert removed


# Invitations that hold a seat / book the expert's time.
SEAT_HOLDING = (InvitationStatus.PENDING, InvitationStatus.ACCEPTED)


class Attendance(StrEnum):
    PRESENT = "present"
    ABSENT = "absent"
    LATE = "late"


class SanctionKind(StrEnum):
    INTERVIEW_REMINDER = "interview_reminder"  # 约谈提醒
    WARNING = "warning"                        # 警告
    REMOVAL = "removal"                        # 取消资格、移出专家库


class FlagKind(StrEnum):
    REFUSAL_RULE = "refusal_rule"              # Art. 16(3)
    UNDECLARED_CONFLICT = "undeclared_conflict"
    POOR_EVALUATIONS = "poor_evaluations"
    REPORT = "report"                          # an expert's report, Art. 10(4)


class FlagStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class DirectedStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"      # permanently failed (dead letter), listable and retryable
    SKIPPED = "skipped"    # recipient unreachable or obsolete


class ExclusionReason(StrEnum):
    """Why an in-scope expert is not in a draw's pool (Art. 13 recusal and availability)."""

    NOT_ACTIVE = "not_active"
    TERM = "term"
    UNAVAILABLE = "unavailable"
    BOOKED = "booked"
    ALREADY_INVITED = "already_invited"
    CONFLICT_CURRENT_UNIT = "conflict_current_unit"
    CONFLICT_PREVIOUS_UNIT = "conflict_previous_unit"
    CONFLICT_DECLARED = "conflict_declared"
    CONFLICT_RECORDED = "conflict_recorded"
