"""Every notification the core writes has words in every language, and so has every reason a seat is taken back.

The outbox stores a kind and its params; the bot renders them later. A kind without a renderer or a
`notify.<kind>` text, or a cause code shown raw, would reach a person as a key — caught here by reading
the core's own source for what it enqueues.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import bot.app  # noqa: F401  (imports every handler module, registering their renderers)
from bot.handlers.invitations import render_invitation_closed
from bot.outbox_render import RENDERERS
from core.i18n import LANGUAGES, has

CORE = Path(__file__).resolve().parents[2] / "core"
SOURCE = "\n".join(p.read_text(encoding="utf-8") for p in CORE.rglob("*.py"))
_CALLS = r'(?:(?:enqueue|notify_admins|notify_unit|_tell_expert)\(\s*uow,|Message\()\s*(?:[\w.\[\]]+,\s*)?"([a-z_]+)"'
_CHOSEN = r'\bkind = "([a-z_]+)"(?: if .+ else "([a-z_]+)")?'
KINDS = sorted({k for k in re.findall(_CALLS, SOURCE)} | {k for pair in re.findall(_CHOSEN, SOURCE) for k in pair if k})
CAUSES = sorted(set(re.findall(r'cause="([a-z_]+)"', SOURCE)) | {"expired"})


def test_the_scan_finds_the_kinds_we_know() -> None:
    assert {"invitation", "invitation_closed", "panel_confirmed", "flag_raised"} <= set(KINDS)
    assert {"removed", "withdrawn", "term_expired", "excluded"} <= set(CAUSES)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders(kind: str) -> None:
    if kind in RENDERERS:
        return
    for lang in LANGUAGES:
        assert has(f"notify.{kind}", lang), f"outbox kind {kind!r} has no renderer and no notify.{kind} in {lang}"


@pytest.mark.parametrize("cause", CAUSES)
def test_every_release_cause_has_words(cause: str) -> None:
    for lang in LANGUAGES:
        assert has(f"invitation.cause.{cause}", lang), f"invitation.cause.{cause} missing in {lang}"


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_closed_invitation_names_the_cause_in_words(lang: str) -> None:
    params = {"invitation_id": 7, "panel_id": 3, "title": "评审 <A&B>", "cause": "term_expired"}
    out = await render_invitation_closed(None, params, lang)  # type: ignore[arg-type]
    assert "term_expired" not in out.text
    assert ("任期已届满" if lang == "zh" else "term has ended") in out.text
    assert "&lt;A&amp;B&gt;" in out.text
    unknown = await render_invitation_closed(None, {**params, "cause": "cosmic_rays"}, lang)  # type: ignore[arg-type]
    assert "cosmic_rays" not in unknown.text
