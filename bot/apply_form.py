"""The /apply form (附件1) as chat steps: order, kinds, one-answer validation and the summary.

Each answer is validated alone by running the core's own form validation over the answers so
far plus this one and keeping only this field's errors (cross-checks against the ID number
included). Answers are stored as typed; the whole form is validated again for the summary and
by `enrolment.submit_application`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.enums import UnitNature
from core.errors import ValidationFailed
from core.forms import ApplicationForm, FormContext, parse_application
from core.identity import mask_id_number, normalize_text

TEXT, CHOICE, FIELDS, PHOTO, UNITS = "text", "choice", "fields", "photo", "units"


@dataclass(frozen=True)
class Step:
    name: str
    kind: str = TEXT
    optional: bool = False
    choices: tuple[str, ...] = ()


STEPS: tuple[Step, ...] = (
    Step("name"),
    Step("id_number"),
    Step("gender", CHOICE, choices=("male", "female")),
    Step("birth_month"),
    Step("ethnicity"),
    Step("education"),
    Step("work_unit"),
    Step("position"),
    Step("employed", CHOICE, choices=("yes", "no")),
    Step("unit_nature", CHOICE, choices=tuple(n.value for n in UnitNature)),
    Step("title"),
    Step("title_obtained", optional=True),
    Step("certificate", optional=True),
    Step("specialty"),
    Step("graduated"),
    Step("years_in_field"),
    Step("fields", FIELDS),
    Step("work_history"),
    Step("achievements"),
    Step("previous_units", UNITS, optional=True),
    Step("address"),
    Step("phone"),
    Step("email"),
    Step("photo", PHOTO),
)
BY_NAME = {s.name: s for s in STEPS}
INDEX = {s.name: i for i, s in enumerate(STEPS)}
# After the form: the summary, the PIPL consent, the 承诺书, the unit's consent, then submit.
SUMMARY, CONSENT, COMMITMENT, UNIT_CONSENT = "summary", "consent", "commitment", "unit_consent"
SKIPPED: dict[str, Any] = {"title_obtained": None, "certificate": "", "previous_units": []}
SUMMARY_CUT = 300
_UNIT_SPLIT = re.compile(r"\s*[;；|｜]\s*")
_USCC_LIKE = re.compile(r"[0-9A-Za-z]{18}")


def form_answers(answers: dict[str, Any]) -> dict[str, Any]:
    """The answers that are form fields (the photo is not part of ApplicationForm)."""
    return {k: v for k, v in answers.items() if k in ApplicationForm.model_fields}


def check_answer(ctx: FormContext, answers: dict[str, Any], field: str, value: Any) -> None:
    """Raise ValidationFailed with this field's errors only (others may still be unanswered)."""
    try:
        parse_application({**form_answers(answers), field: value}, ctx)
    except ValidationFailed as exc:
        mine = [e for e in exc.errors if e[0].split(".")[0] == field]
        if mine:
            raise ValidationFailed(mine) from None


def check_all(ctx: FormContext, answers: dict[str, Any]) -> ApplicationForm:
    return parse_application(form_answers(answers), ctx)


def first_bad_step(exc: ValidationFailed) -> str | None:
    names = {e[0].split(".")[0] for e in exc.errors}
    return next((s.name for s in STEPS if s.name in names), None)


def parse_units(text: str) -> list[dict[str, Any]]:
    """One former employer per line: 'name; credit code; left on' (code and date optional)."""
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        parts = [p for p in _UNIT_SPLIT.split(line.strip()) if p]
        if not parts:
            continue
        unit: dict[str, Any] = {"name": parts[0], "uscc": None, "left_on": None}
        for part in parts[1:]:
            if _USCC_LIKE.fullmatch(part.replace(" ", "")):
                unit["uscc"] = part
            else:
                unit["left_on"] = part
        out.append(unit)
    return out


_LIST_SPLIT = re.compile(r"[,，、;；\s]+")


def field_codes(ctx: FormContext, value: Any) -> list[str]:
    """Typed field names (or codes) → category codes, as the form's validator reads them."""
    items = value if isinstance(value, list) else [p for p in _LIST_SPLIT.split(str(value)) if p]
    by_name = {name: code for code, name in ctx.categories.items()}
    out: list[str] = []
    for item in items:
        item = normalize_text(item)
        code = item if item in ctx.categories else by_name.get(item)
        if code and code not in out:
            out.append(code)
    return out


def next_step(name: str) -> str:
    i = INDEX[name] + 1
    return STEPS[i].name if i < len(STEPS) else SUMMARY


def shown(value: str, cut: int = SUMMARY_CUT) -> str:
    return value if len(value) <= cut else value[:cut] + "…"


def summary_values(form: ApplicationForm, categories: dict[str, str], choice_label: Any) -> list[tuple[str, str]]:
    """(field, display value) in step order; the ID number masked (CHECKLIST 37).

    `choice_label(step, value)` names a choice in the reader's language."""
    out: list[tuple[str, str]] = []
    for step in STEPS:
        if step.name == "photo":
            continue
        v = getattr(form, step.name)
        if step.name == "id_number":
            text = mask_id_number(v)
        elif step.name == "gender":
            text = choice_label("gender", str(v))
        elif step.name == "employed":
            text = choice_label("employed", "yes" if v else "no")
        elif step.name == "unit_nature":
            text = choice_label("unit_nature", str(v))
        elif step.name in ("birth_month", "title_obtained"):
            text = v.strftime("%Y-%m") if v else "-"
        elif step.name == "fields":
            text = "、".join(categories.get(c, c) for c in v)
        elif step.name == "previous_units":
            text = "；".join(" ".join(x for x in (u.name, u.uscc or "", u.left_on.isoformat() if u.left_on else "") if x)
                            for u in v) or "-"
        else:
            text = "-" if v in (None, "") else str(v)
        out.append((step.name, shown(text)))
    return out
