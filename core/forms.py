"""The 附件1 application form as a pydantic model with coded, translatable errors.

Validate with `parse_application(data, ctx)`: it raises `ValidationFailed` listing every bad
field as (field, code, params); codes render from `error.<code>` in core/texts/<lang>/.
Field labels for prompts are catalog keys `form.label.<field>`.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from core.config import Category, RulesSettings
from core.enums import UNIT_NATURE_ZH, Gender, UnitNature
from core.errors import DomainError, ValidationFailed
from core.i18n import t
from core.identity import (
    DATE_EXAMPLE,
    YEAR_MONTH_EXAMPLE,
    EMAIL_MAX,
    NAME_MAX,
    check_text,
    normalize_text,
    parse_date,
    parse_email,
    parse_id_number,
    parse_mobile,
    parse_person_name,
    parse_uscc,
    parse_year_month,
)

__all__ = [
    "FIELD_LIMITS",
    "YEARS_MAX",
    "ApplicationForm",
    "FormContext",
    "PreviousUnit",
    "parse_application",
]

# Maximum length (characters) of each text answer, so the bot can re-ask with the limit.
FIELD_LIMITS: dict[str, int] = {
    "name": NAME_MAX,
    "ethnicity": 20,
    "education": 40,
    "work_unit": 100,
    "position": 50,
    "certificate": 200,
    "title": 50,
    "specialty": 100,
    "graduated": 200,
    "address": 200,
    "email": EMAIL_MAX,
    "work_history": 2000,
    "achievements": 2000,
    "previous_units.name": 100,
}
YEARS_MAX = 70
_OPTIONAL_TEXT = frozenset({"certificate"})
_DEFAULT_MAX_FIELDS = RulesSettings.model_fields["max_fields"].default


@dataclass(frozen=True)
class FormContext:
    """What validation needs besides the data: the bureau's fields, the limit, today, language.

    `categories` maps category code → display name (in `lang`); `lang` localises the names
    put into error parameters (allowed fields, gender values).
    """

    categories: Mapping[str, str]
    today: date
    max_fields: int = _DEFAULT_MAX_FIELDS
    lang: str = "zh"

    @classmethod
    def from_categories(
        cls, categories: Iterable[Category], *, today: date, max_fields: int = _DEFAULT_MAX_FIELDS,
        lang: str = "zh",
    ) -> FormContext:
        names = {c.code: (c.name_en if lang == "en" else c.name_zh) for c in categories}
        return cls(categories=names, today=today, max_fields=max_fields, lang=lang)

    def joiner(self) -> str:
        return "; " if self.lang == "en" else "、"

    def allowed_text(self) -> str:
        return self.joiner().join(self.categories.values())


_T = TypeVar("_T")


def _coded(fn: Callable[..., _T], *args: Any) -> _T:
    """Run a core validator, turning DomainError into a PydanticCustomError with the same code."""
    try:
        return fn(*args)
    except DomainError as exc:
        raise PydanticCustomError(exc.code, exc.code, dict(exc.params)) from None


def _fail(code: str, **params: Any) -> PydanticCustomError:
    return PydanticCustomError(code, code, params)


def _ctx(info: ValidationInfo) -> FormContext:
    ctx = info.context
    if not isinstance(ctx, FormContext):
        raise TypeError("validate with context=FormContext(...)")
    return ctx


def _text(value: Any, name: str) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _fail("value.type")
    s = _coded(check_text, value, FIELD_LIMITS[name])
    if not s and name not in _OPTIONAL_TEXT:
        raise _fail("required")
    return s


def _year_month(value: Any, today: date) -> date:
    if isinstance(value, date):
        value = value.strftime("%Y-%m")
    if not isinstance(value, str):
        raise _fail("date.format", example=YEAR_MONTH_EXAMPLE)
    return _coded(parse_year_month, value, today)


_GENDER_WORDS = {"男": Gender.MALE, "女": Gender.FEMALE, "m": Gender.MALE, "f": Gender.FEMALE,
                 "male": Gender.MALE, "female": Gender.FEMALE}
_YES = frozenset({"是", "在职", "yes", "y", "true", "1"})
_NO = frozenset({"否", "不在职", "离职", "退休", "no", "n", "false", "0"})
_UNIT_NATURE_WORDS = {**{v: k for k, v in UNIT_NATURE_ZH.items()}, **{n.value: n for n in UnitNature}}
_LIST_SPLIT = re.compile(r"[,，、;；\s]+")
_YEARS_RE = re.compile(r"(\d{1,3})\s*(?:年|years?)?", re.IGNORECASE)


def _gender_label(value: str, lang: str) -> str:
    return t(f"form.choice.gender.{value}", lang)


class PreviousUnit(BaseModel):
    """A former employer, kept for the recusal look-back (Art. 13)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    uscc: str | None = None
    left_on: date | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, v: Any) -> str:
        return _text(v, "previous_units.name")

    @field_validator("uscc", mode="before")
    @classmethod
    def _uscc(cls, v: Any) -> str | None:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        if not isinstance(v, str):
            raise _fail("uscc.format", length=0)
        return _coded(parse_uscc, v)

    @field_validator("left_on", mode="before")
    @classmethod
    def _left_on(cls, v: Any, info: ValidationInfo) -> date | None:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        today = _ctx(info).today
        if isinstance(v, date):
            day = v
        elif isinstance(v, str):
            day = _coded(parse_date, v, today)
        else:
            raise _fail("date.format", example=DATE_EXAMPLE)
        if day > today:
            raise _fail("date.future", value=day.isoformat())
        return day


class ApplicationForm(BaseModel):
    """附件1 入库申请表 (photo, commitment and unit consent are handled elsewhere).

    Fields validate in declaration order; id_number comes before gender and birth_month so
    that both can be checked against it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    id_number: str = Field(repr=False)  # never in logs or tracebacks
    gender: Gender
    birth_month: date
    ethnicity: str
    education: str
    work_unit: str
    position: str
    certificate: str = ""
    employed: bool
    unit_nature: UnitNature
    title: str
    title_obtained: date | None = None
    specialty: str
    graduated: str
    address: str
    phone: str
    email: str
    fields: list[str]
    # None only for imported rosters (the sheet has no such column); the bot always asks.
    years_in_field: int | None = None
    work_history: str
    achievements: str
    previous_units: list[PreviousUnit] = Field(default_factory=list)

    # --- identity -----------------------------------------------------------------------

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, v: Any) -> str:
        if not isinstance(v, str):
            raise _fail("name.blank") if v is None else _fail("value.type")
        return _coded(parse_person_name, v)

    @field_validator("id_number", mode="before")
    @classmethod
    def _id_number(cls, v: Any, info: ValidationInfo) -> str:
        if not isinstance(v, str):
            raise _fail("id.format", length=0)
        return _coded(parse_id_number, v, _ctx(info).today).number

    @field_validator("gender", mode="before")
    @classmethod
    def _gender(cls, v: Any, info: ValidationInfo) -> Gender:
        ctx = _ctx(info)
        gender = _GENDER_WORDS.get(normalize_text(v).lower()) if isinstance(v, str) else None
        if gender is None:
            raise _fail("choice.gender")
        number = info.data.get("id_number")
        if number:
            id_gender = parse_id_number(number, ctx.today).gender
            if id_gender != gender:
                raise _fail("id.gender_mismatch", form=_gender_label(gender, ctx.lang),
                            id=_gender_label(id_gender, ctx.lang))
        return gender

    @field_validator("birth_month", mode="before")
    @classmethod
    def _birth_month(cls, v: Any, info: ValidationInfo) -> date:
        ctx = _ctx(info)
        month = _year_month(v, ctx.today)
        number = info.data.get("id_number")
        if number:
            born = parse_id_number(number, ctx.today).birth_date
            if (born.year, born.month) != (month.year, month.month):
                raise _fail("id.birth_mismatch", form=month.strftime("%Y-%m"), id=born.strftime("%Y-%m"))
        return month

    # --- free text ----------------------------------------------------------------------

    @field_validator("ethnicity", "education", "work_unit", "position", "certificate", "title",
                     "specialty", "graduated", "address", "work_history", "achievements",
                     mode="before")
    @classmethod
    def _free_text(cls, v: Any, info: ValidationInfo) -> str:
        assert info.field_name is not None
        return _text(v, info.field_name)

    # --- choices ------------------------------------------------------------------------

    @field_validator("employed", mode="before")
    @classmethod
    def _employed(cls, v: Any) -> bool:
        if isinstance(v, bool):
            return v
        word = normalize_text(v).lower() if isinstance(v, str) else None
        if word in _YES:
            return True
        if word in _NO:
            return False
        raise _fail("choice.yes_no")

    @field_validator("unit_nature", mode="before")
    @classmethod
    def _unit_nature(cls, v: Any, info: ValidationInfo) -> UnitNature:
        nature = _UNIT_NATURE_WORDS.get(normalize_text(v)) if isinstance(v, str) else None
        if nature is None:
            ctx = _ctx(info)
            names = [t(f"form.choice.unit_nature.{n.value}", ctx.lang) for n in UnitNature]
            raise _fail("choice.unit_nature", allowed=ctx.joiner().join(names))
        return nature

    @field_validator("title_obtained", mode="before")
    @classmethod
    def _title_obtained(cls, v: Any, info: ValidationInfo) -> date | None:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        month = _year_month(v, _ctx(info).today)
        born = info.data.get("birth_month")
        if born is not None and month <= born:
            raise _fail("date.before_birth", value=month.strftime("%Y-%m"))
        return month

    # --- contact ------------------------------------------------------------------------

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, v: Any) -> str:
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str):
            raise _fail("phone.format")
        return _coded(parse_mobile, v)

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, v: Any) -> str:
        if not isinstance(v, str):
            raise _fail("email.format")
        return _coded(parse_email, v)

    # --- fields and experience ----------------------------------------------------------

    @field_validator("fields", mode="before")
    @classmethod
    def _fields(cls, v: Any, info: ValidationInfo) -> list[str]:
        ctx = _ctx(info)
        if v is None:
            v = []
        if isinstance(v, str):
            v = [p for p in _LIST_SPLIT.split(normalize_text(v)) if p]
        if not isinstance(v, (list, tuple)) or not all(isinstance(p, str) for p in v):
            raise _fail("value.type")
        by_name = {name: code for code, name in ctx.categories.items()}
        codes: list[str] = []
        for raw in v:
            item = normalize_text(raw)
            code = item if item in ctx.categories else by_name.get(item)
            if code is None:
                raise _fail("fields.unknown", value=item, allowed=ctx.allowed_text())
            if code not in codes:
                codes.append(code)
        if not codes:
            raise _fail("fields.none", allowed=ctx.allowed_text())
        if len(codes) > ctx.max_fields:
            raise _fail("fields.too_many", max=ctx.max_fields, count=len(codes),
                        allowed=ctx.allowed_text())
        return codes

    @field_validator("years_in_field", mode="before")
    @classmethod
    def _years(cls, v: Any) -> int | None:
        if v is None:
            return None
        if isinstance(v, str):
            m = _YEARS_RE.fullmatch(normalize_text(v))
            if not m:
                raise _fail("number.format")
            v = int(m.group(1))
        if isinstance(v, bool) or not isinstance(v, int):
            raise _fail("number.format")
        if not 0 <= v <= YEARS_MAX:
            raise _fail("number.range", min=0, max=YEARS_MAX, value=v)
        return v


# pydantic's own error types (missing keys, wrong container types) → our catalog codes.
_PYDANTIC_CODES: dict[str, str] = {
    "missing": "required",
    "extra_forbidden": "form.unexpected",
    "string_too_long": "text.too_long",
    "string_type": "value.type",
    "list_type": "value.type",
    "model_type": "value.type",
    "dict_type": "value.type",
    "model_attributes_type": "value.type",
    "int_parsing": "number.format",
    "int_type": "number.format",
    "bool_parsing": "choice.yes_no",
    "bool_type": "choice.yes_no",
    "date_parsing": "date.format",
    "date_from_datetime_parsing": "date.format",
    "date_type": "date.format",
    "enum": "value.invalid",
}


def _translate(err: Any) -> tuple[str, str, dict[str, Any]]:
    loc = ".".join(str(p) for p in err["loc"])
    kind: str = err["type"]
    params: dict[str, Any] = dict(err.get("ctx") or {})
    if kind == "required" or "." in kind:  # raised by our validators: already a catalog code
        return loc, kind, params
    code = _PYDANTIC_CODES.get(kind, "value.invalid")
    if code == "text.too_long":
        params = {"max": params.get("max_length"), "length": len(err.get("input") or "")}
    elif code == "date.format":
        params = {"example": DATE_EXAMPLE}
    else:
        params = {}
    return loc, code, params


def parse_application(data: Mapping[str, Any], ctx: FormContext) -> ApplicationForm:
    """Validate a filled-in 附件1; raises ValidationFailed listing every bad field."""
    try:
        return ApplicationForm.model_validate(dict(data), context=ctx)
    except ValidationError as exc:
        raise ValidationFailed([_translate(e) for e in exc.errors()]) from None
