"""The notifier's choice for a live message: edit which message, send anew, drop which copies."""
from __future__ import annotations

from bot.notifier import Plan, plan_delivery
from bot.outbox_render import Rendered
from core.outbox import thread_of

CHAT = 501


def test_first_message_of_a_thread_is_sent() -> None:
    assert plan_delivery(CHAT, Rendered("live"), None) == Plan()


def test_the_threads_last_message_is_edited() -> None:
    assert plan_delivery(CHAT, Rendered("live"), 40) == Plan(edit=40)


def test_the_adapters_message_in_this_chat_is_edited() -> None:
    assert plan_delivery(CHAT, Rendered("live", edit=(CHAT, 12)), None) == Plan(edit=12, edit_forget=True)


def test_the_newest_copy_wins_and_the_older_is_stale() -> None:
    # the handler posted its status after the notifier's first notice: edit the handler's, drop ours
    assert plan_delivery(CHAT, Rendered("live", edit=(CHAT, 50)), 40) == Plan(edit=50, stale=(40,), edit_forget=True)
    # ours is newer (the handler's was stored late): edit ours, drop the handler's and forget it
    assert plan_delivery(CHAT, Rendered("live", edit=(CHAT, 30)), 40) == Plan(edit=40, stale=(30,), stale_forget=True)
    assert plan_delivery(CHAT, Rendered("live", edit=(CHAT, 40)), 40) == Plan(edit=40, edit_forget=True)


def test_an_adapters_message_in_another_chat_is_ignored() -> None:
    # e.g. the status message sits in the requesting contact's chat; this row goes to a colleague
    assert plan_delivery(CHAT, Rendered("live", edit=(999, 12)), None) == Plan()
    assert plan_delivery(CHAT, Rendered("live", edit=(999, 12)), 40) == Plan(edit=40)


def test_documents_and_long_texts_are_always_sent() -> None:
    assert plan_delivery(CHAT, Rendered("x" * 4097), 40) == Plan()
    assert plan_delivery(CHAT, Rendered("report", document=("a.csv", b"1")), 40) == Plan()
    assert plan_delivery(CHAT, Rendered(""), 40) == Plan()


def test_threads_are_per_subject() -> None:
    assert thread_of("panel_status", {"panel_id": 42, "accepted": 1}) == "panel_status:42"
    assert thread_of("panel_confirmed", {"panel_id": 42}) is None  # an event, not a live state
    assert thread_of("panel_status", {}) is None
