"""Art. 7(3) eligibility pre-screen: a pure function that shows the reviewer why.

(a) a senior professional title (副高级 or above, or equivalent) and ≥ 5 years in the field, or
(b) a listed professional qualification and ≥ 5 years → "meets";
(c) otherwise a doctorate or post-doc → "discretion" (the committee may relax the conditions);
otherwise → "not_met". The decision stays human; reasons render from `eligibility.<code>`.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DISCRETION",
    "MEETS",
    "MIN_YEARS",
    "NOT_MET",
    "QUALIFICATIONS",
    "Prescreen",
    "Qualification",
    "Reason",
    "find_qualifications",
    "is_senior_title",
    "prescreen",
]

MEETS = "meets"
DISCRETION = "discretion"
NOT_MET = "not_met"
MIN_YEARS = 5


@dataclass(frozen=True)
class Qualification:
    """A professional qualification named by Art. 7(3) (or accepted as equivalent)."""

    name: str
    aliases: tuple[str, ...]
    equivalent: bool  # True: not named in Art. 7, accepted as "等" (equivalent)


QUALIFICATIONS: tuple[Qualification, ...] = (
    Qualification("环境影响评价工程师", ("环境影响评价工程师", "环评工程师"), equivalent=False),
    Qualification("注册环保工程师", ("注册环保工程师",), equivalent=False),
    Qualification("注册核安全工程师", ("注册核安全工程师",), equivalent=False),
    Qualification("注册化工工程师", ("注册化工工程师",), equivalent=True),
    Qualification("注册安全工程师", ("注册安全工程师",), equivalent=True),
)

# Senior (副高级 and above) title markers. Junior forms are excluded by lookbehind/lookahead:
# 助理研究员 / 助理教授 are not senior; 高级工 and 高级技师 are skill grades, not titles.
_SENIOR_RE = re.compile(
    r"正高|副高"
    r"|高级(?!工(?!程)|技师|技工)"
    r"|(?<!助理)教授"
    r"|(?<!助理)研究员"
    r"|主任(?:医|药|护|技)师"
    r"|编审|研究馆员"
    r"|senior|professor|research\s*fellow",
    re.IGNORECASE,
)
_POSTDOC_RE = re.compile(r"博士后|post-?doc", re.IGNORECASE)
_DOCTORATE_RE = re.compile(r"博士|ph\.?\s?d|doctor(?:ate|al)?\b", re.IGNORECASE)
_NOT_A_DEGREE_RE = re.compile(r"在读|肄业|未毕业|candidate", re.IGNORECASE)


@dataclass(frozen=True)
class Reason:
    """One ground found or missing; renders from catalog key `eligibility.<code>`."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.code, tuple(sorted(self.params.items()))))


@dataclass(frozen=True)
class Prescreen:
    outcome: str  # "meets" | "discretion" | "not_met"
    reasons: tuple[Reason, ...]


def _norm(s: str) -> str:
    return "".join(unicodedata.normalize("NFKC", s).split())


def is_senior_title(title: str) -> bool:
    """True for 副高级 or above (高级工程师, 教授, 副研究员, 主任医师 …); 工程师 alone is not."""
    return bool(_SENIOR_RE.search(_norm(title)))


def find_qualifications(certificate: str) -> tuple[Qualification, ...]:
    """The listed qualifications mentioned in `certificate`, in QUALIFICATIONS order."""
    text = _norm(certificate)
    return tuple(q for q in QUALIFICATIONS if any(a in text for a in q.aliases))


def _has_doctorate(education: str) -> bool:
    text = _POSTDOC_RE.sub("", _norm(education))
    return bool(_DOCTORATE_RE.search(text)) and not _NOT_A_DEGREE_RE.search(text)


def prescreen(
    *,
    title: str,
    certificate: str,
    years_in_field: int | None,
    education: str,
    work_history: str = "",
) -> Prescreen:
    """Pre-screen an application against Art. 7(3); every ground found or missing is listed."""
    reasons: list[Reason] = []
    title_shown = unicodedata.normalize("NFKC", title).strip()

    senior = is_senior_title(title)
    if senior:
        reasons.append(Reason("senior_title", {"title": title_shown}))
    elif title_shown:
        reasons.append(Reason("title_not_senior", {"title": title_shown}))
    else:
        reasons.append(Reason("no_title"))

    quals = find_qualifications(certificate)
    for q in quals:
        code = "qualification_equivalent" if q.equivalent else "qualification"
        reasons.append(Reason(code, {"qualification": q.name}))
    if not quals:
        reasons.append(Reason("no_qualification"))

    if years_in_field is None:
        enough_years = False
        reasons.append(Reason("years_unknown", {"min": MIN_YEARS}))
    elif years_in_field >= MIN_YEARS:
        enough_years = True
        reasons.append(Reason("years_ok", {"years": years_in_field, "min": MIN_YEARS}))
    else:
        enough_years = False
        reasons.append(Reason("years_short", {"years": years_in_field, "min": MIN_YEARS}))

    doctorate = _has_doctorate(education)
    postdoc = bool(_POSTDOC_RE.search(_norm(education)) or _POSTDOC_RE.search(_norm(work_history)))
    if doctorate:
        reasons.append(Reason("doctorate"))
    if postdoc:
        reasons.append(Reason("postdoc"))

    if (senior or quals) and enough_years:
        outcome = MEETS
    elif doctorate or postdoc:
        outcome = DISCRETION
    else:
        outcome = NOT_MET
        if not (senior or quals):
            reasons.append(Reason("no_grounds"))
    return Prescreen(outcome=outcome, reasons=tuple(reasons))
