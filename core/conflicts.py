"""Recognising the same organisation under different spellings (recusal, Art. 13); pure."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

__all__ = ["PartyKey", "matches", "normalize_unit_name", "party_key"]

# After NFKC, full-width （）［］｛｝ are already ASCII; the CJK brackets stay and are listed here.
_BRACKETS = str.maketrans("", "", "()[]{}【】〔〕〖〗〘〙「」『』《》〈〉<>")
# Suffix variants of the same legal form. "股份有限公司" (joint-stock) is a different legal
# form from "有限公司" (limited liability) and is kept distinct.
_SUFFIX_VARIANTS: tuple[tuple[str, str], ...] = (("有限责任公司", "有限公司"),)


def normalize_unit_name(raw: str) -> str:
    """Canonical form of an organisation name for comparison (not for display).

    NFKC, no whitespace, brackets dropped (content kept), latin lowercased,
    "有限责任公司" → "有限公司", trailing punctuation dropped.
    """
    s = "".join(unicodedata.normalize("NFKC", raw).split())
    s = s.translate(_BRACKETS).lower()
    for variant, canonical in _SUFFIX_VARIANTS:
        s = s.replace(variant, canonical)
    while s and unicodedata.category(s[-1]).startswith("P"):
        s = s[:-1]
    return s


def _normalize_uscc(raw: str | None) -> str | None:
    if raw is None:
        return None
    code = "".join(unicodedata.normalize("NFKC", raw).split()).upper()
    return code or None


@dataclass(frozen=True)
class PartyKey:
    """What identifies an organisation: its normalised name and, if known, its credit code."""

    norm: str
    uscc: str | None


def party_key(name: str, uscc: str | None) -> PartyKey:
    """Key for `name`; `uscc` is normalised (NFKC, uppercase, no spaces; blank → None).

    The credit code is expected to have been validated with core.identity.parse_uscc.
    """
    return PartyKey(norm=normalize_unit_name(name), uscc=_normalize_uscc(uscc))


def matches(a: PartyKey, b: PartyKey) -> bool:
    """Same organisation: equal credit codes when both have one, else equal non-empty names."""
    if a.uscc and b.uscc:
        return a.uscc == b.uscc
    return bool(a.norm) and a.norm == b.norm
