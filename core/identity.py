"""Pure validators for identity and contact fields (附件1); no I/O.

Every parser normalises what a person would consider "the same" input (full-width digits,
spaces, lowercase check letters) and raises `DomainError(code, **params)` otherwise; the codes
render from the catalog keys `error.<code>` (core/texts/<lang>/validation.toml).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from core.errors import DomainError
from core.enums import Gender

__all__ = [
    "DATE_EXAMPLE",
    "EMAIL_MAX",
    "NAME_MAX",
    "YEAR_MONTH_EXAMPLE",
    "IdNumber",
    "PROVINCE_CODES",
    "USCC_ALPHABET",
    "check_text",
    "id_check_char",
    "mask_id_number",
    "normalize_text",
    "parse_date",
    "parse_email",
    "parse_id_number",
    "parse_mobile",
    "parse_person_name",
    "parse_uscc",
    "parse_year_month",
    "uscc_check_char",
]

MIN_YEAR = 1900


def normalize_text(raw: str) -> str:
    """NFKC-normalise (full-width → half-width) and strip surrounding whitespace."""
    return unicodedata.normalize("NFKC", raw).strip()


def _squeeze(raw: str) -> str:
    """NFKC and drop every whitespace character."""
    return "".join(unicodedata.normalize("NFKC", raw).split())


# --- Resident identity card number (GB 11643) ---------------------------------------------

# Province-level prefixes (GB/T 2260). Only the province is checked: county codes are retired
# and renumbered over time, but the ID numbers issued under them stay valid for life.
PROVINCE_CODES: frozenset[str] = frozenset(
    {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
     "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
     "65", "71", "81", "82"}
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_MAP = "10X98765432"
_ID_RE = re.compile(r"\d{17}[\dX]")


def mask_id_number(number: str) -> str:
    """First 6 + 8 stars + last 4 (650102********1234); under 10 characters: all stars."""
    if len(number) < 10:
        return "*" * len(number)
    return number[:6] + "*" * 8 + number[-4:]


@dataclass(frozen=True, repr=False)
class IdNumber:
    """A validated 18-character resident ID number and what it encodes."""

    number: str
    birth_date: date
    gender: str  # Gender value: "male" | "female"
    region: str  # 6-digit administrative division code at issue time

    @property
    def masked(self) -> str:
        return mask_id_number(self.number)

    def __repr__(self) -> str:
        return f"IdNumber({self.masked!r})"

    def __str__(self) -> str:
        return self.masked


def id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character over the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("first17 must be 17 ASCII digits")
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS))
    return _ID_CHECK_MAP[total % 11]


def parse_id_number(raw: str, today: date) -> IdNumber:
    """Validate an 18-character ID number (full-width digits, spaces and lowercase x allowed).

    Raises DomainError: id.legacy15, id.format(length), id.region(prefix),
    id.birth_date(value), id.check_digit(expected, got).
    """
    number = _squeeze(raw).upper()
    if len(number) == 15 and number.isascii() and number.isdigit():
        raise DomainError("id.legacy15")
    if len(number) != 18 or not _ID_RE.fullmatch(number):
        raise DomainError("id.format", length=len(number))
    if number[:2] not in PROVINCE_CODES:
        raise DomainError("id.region", prefix=number[:2])
    ymd = number[6:14]
    shown = f"{ymd[:4]}-{ymd[4:6]}-{ymd[6:]}"
    try:
        born = date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:]))
    except ValueError:
        raise DomainError("id.birth_date", value=shown) from None
    if born.year < MIN_YEAR or born > today:
        raise DomainError("id.birth_date", value=shown)
    expected = id_check_char(number[:17])
    if number[17] != expected:
        raise DomainError("id.check_digit", expected=expected, got=number[17])
    gender = Gender.MALE if int(number[16]) % 2 else Gender.FEMALE
    return IdNumber(number=number, birth_date=born, gender=gender.value, region=number[:6])


# --- Unified social credit code (GB 32100) --------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_char(first17: str) -> str:
    """GB 32100 check character over the first 17 characters (mod 31)."""
    if len(first17) != 17 or any(c not in _USCC_VALUE for c in first17):
        raise ValueError("first17 must be 17 characters of the GB 32100 alphabet")
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def parse_uscc(raw: str) -> str:
    """Validate a unified social credit code; returns it uppercase without spaces.

    Raises DomainError: uscc.format(length), uscc.check(expected, got).
    """
    code = _squeeze(raw).upper()
    if len(code) != 18 or any(c not in _USCC_VALUE for c in code):
        raise DomainError("uscc.format", length=len(code))
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        raise DomainError("uscc.check", expected=expected, got=code[17])
    return code


# --- Contact details ---------------------------------------------------------------------

_MOBILE_RE = re.compile(r"1[3-9]\d{9}")
_PHONE_SEPARATORS = str.maketrans("", "", "-()._/")


def parse_mobile(raw: str) -> str:
    """Mainland mobile number as 11 digits; "+86 138-0013-8000" → "13800138000".

    Raises DomainError: phone.format.
    """
    s = _squeeze(raw).translate(_PHONE_SEPARATORS)
    for prefix in ("+86", "0086"):
        if s.startswith(prefix):
            s = s[len(prefix):]
            break
    else:
        if len(s) == 13 and s.startswith("86"):
            s = s[2:]
    if not (s.isascii() and _MOBILE_RE.fullmatch(s)):
        raise DomainError("phone.format")
    return s


EMAIL_MAX = 254
_EMAIL_LABEL_RE = re.compile(r"[^\s@.]+")


def parse_email(raw: str) -> str:
    """An address with one "@", a non-empty local part and a dotted domain (lowercased).

    Raises DomainError: email.too_long(max, length), email.format.
    """
    s = normalize_text(raw)
    if len(s) > EMAIL_MAX:
        raise DomainError("email.too_long", max=EMAIL_MAX, length=len(s))
    if s.count("@") != 1 or any(ch.isspace() for ch in s):
        raise DomainError("email.format")
    local, domain = s.split("@")
    labels = domain.split(".")
    if not local or len(labels) < 2 or not all(_EMAIL_LABEL_RE.fullmatch(p) for p in labels):
        raise DomainError("email.format")
    return f"{local}@{domain.lower()}"


# --- Names and free text -----------------------------------------------------------------

NAME_MAX = 50
_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u200e\u200f\u2060\ufeff")
# Look-alikes of the middle dot used in transliterated names (买买提·艾力).
_MIDDLE_DOTS = str.maketrans({"\u2022": "·", "\u30fb": "·", "\uff65": "·", "\u2027": "·",
                              "\u22c5": "·", "\u2219": "·"})


def parse_person_name(raw: str) -> str:
    """A person's name: NFKC, stripped, middle-dot look-alikes unified to "·".

    Raises DomainError: name.blank, name.too_long(max, length), name.chars.
    """
    s = normalize_text(raw).translate(_MIDDLE_DOTS)
    if not s:
        raise DomainError("name.blank")
    if any(ch in _ZERO_WIDTH or unicodedata.category(ch) in ("Cc", "Cf") for ch in s):
        raise DomainError("name.chars")
    if len(s) > NAME_MAX:
        raise DomainError("name.too_long", max=NAME_MAX, length=len(s))
    return s


def check_text(raw: str, max_len: int) -> str:
    """Free text, stored as typed: stripped, CRLF → LF; no NFKC.

    Raises DomainError: text.chars (control characters other than newline and tab),
    text.too_long(max, length).
    """
    s = raw.replace("\r\n", "\n").replace("\r", "\n").strip()
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in s):
        raise DomainError("text.chars")
    if len(s) > max_len:
        raise DomainError("text.too_long", max=max_len, length=len(s))
    return s


# --- Dates ------------------------------------------------------------------------------

YEAR_MONTH_EXAMPLE = "1975-03"
DATE_EXAMPLE = "2026-12-03"
_YM_RE = re.compile(r"(\d{4})\s*[-./年]\s*(\d{1,2})\s*(?:月份?)?")
_YM_COMPACT_RE = re.compile(r"(\d{4})(\d{2})")
_DATE_RE = re.compile(r"(\d{4})\s*[-./年]\s*(\d{1,2})\s*[-./月]\s*(\d{1,2})\s*[日号]?")
_DATE_COMPACT_RE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DATE_NO_YEAR_RE = re.compile(r"(\d{1,2})\s*[-./月]\s*(\d{1,2})\s*[日号]?")


def parse_year_month(raw: str, today: date) -> date:
    """Year and month as the first of the month: "1975-03", "1975.3", "1975年3月", "197503",
    "1975/03" → date(1975, 3, 1). A trailing day ("1975-03-15") is accepted and dropped.

    Raises DomainError: date.format(example), date.future(value), date.too_old(value).
    """
    s = normalize_text(raw)
    if m := _YM_RE.fullmatch(s) or _YM_COMPACT_RE.fullmatch(s):
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise DomainError("date.format", example=YEAR_MONTH_EXAMPLE)
    elif _DATE_RE.fullmatch(s):
        full = parse_date(s)
        year, month = full.year, full.month
    else:
        raise DomainError("date.format", example=YEAR_MONTH_EXAMPLE)
    value = date(year, month, 1)
    shown = f"{year:04d}-{month:02d}"
    if year < MIN_YEAR:
        raise DomainError("date.too_old", value=shown, min=MIN_YEAR)
    if value > today.replace(day=1):
        raise DomainError("date.future", value=shown)
    return value


def parse_date(raw: str, today: date | None = None) -> date:
    """A calendar date: "2026-12-03", "2026/12/3", "2026.12.3", "2026年12月3日", "20261203".

    With `today`, a date without a year ("12月3日", "12-3") means that day in today's year.
    Raises DomainError: date.format(example), date.invalid(value) for e.g. 2026-02-30.
    """
    s = normalize_text(raw)
    m = _DATE_RE.fullmatch(s) or _DATE_COMPACT_RE.fullmatch(s)
    if m:
        year, month, day = (int(g) for g in m.groups())
    elif today is not None and (m := _DATE_NO_YEAR_RE.fullmatch(s)):
        year, month, day = today.year, int(m.group(1)), int(m.group(2))
    else:
        raise DomainError("date.format", example=DATE_EXAMPLE)
    try:
        value = date(year, month, day)
    except ValueError:
        if 1 <= month <= 12 and 1 <= day <= 31:
            raise DomainError("date.invalid", value=s) from None
        raise DomainError("date.format", example=DATE_EXAMPLE) from None
    if year < MIN_YEAR:
        raise DomainError("date.too_old", value=value.isoformat(), min=MIN_YEAR)
    return value
