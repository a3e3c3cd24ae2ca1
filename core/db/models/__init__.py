"""All tables; importing this package registers every model on Base.metadata."""
from core.db.base import Base
from core.db.models.people import (
    Account,
    BindingCode,
    Category,
    Contact,
    Expert,
    ExpertCategory,
    ExpertPhoto,
    FieldMask,
    PreviousUnit,
    Term,
    Unavailability,
    UsingUnit,
)
from core.db.models.enrolment import Application, Recommendation
from core.db.models.panels import (
    DeclaredConflict,
    DirectedExpert,
    DirectedSelection,
    Draw,
    Invitation,
    Panel,
    PanelField,
    PanelParty,
    RecordedExclusion,
)
from core.db.models.oversight import Announcement, Commendation, Evaluation, Flag, Sanction
from core.db.models.system import AuditEntry, ConversationState, Outbox, ReminderMark
from core.db.models import indexes as _indexes  # noqa: F401,E402 - registers the indexes of migrations 0002-0006

__all__ = [
    "Base", "Account", "BindingCode", "Category", "Contact", "Expert", "ExpertCategory",
    "ExpertPhoto", "FieldMask", "PreviousUnit", "Term", "Unavailability", "UsingUnit", "Application",
    "Recommendation", "DeclaredConflict", "DirectedExpert", "DirectedSelection", "Draw",
    "Invitation", "Panel", "PanelField", "PanelParty", "RecordedExclusion", "Announcement",
    "Commendation", "Evaluation", "Flag", "Sanction", "AuditEntry", "ConversationState",
    "Outbox", "ReminderMark",
]
