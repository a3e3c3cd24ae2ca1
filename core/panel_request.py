"""A using unit's panel request (Art. 12): the pydantic form and the one-message chat template.

Pure: `parse_panel_request(data, ctx)` validates a dict and raises `ValidationFailed` listing
every bad field as (field, code, params); `parse_request_template(text, tz, categories)` turns
the one-message template into such a dict, naming every bad line with an example of the
accepted form; `parse_request_text` does both and reports all errors of both steps at once.
Codes render from `error.<code>` (core/texts/<lang>/panels.toml).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from core.enums import MatterType
from core.errors import DomainError, ValidationFailed
from core.identity import check_text, normalize_text, parse_date, parse_uscc

__all__ = [
    "DATETIME_EXAMPLE",
    "FIELDS_EXAMPLE",
    "TEMPLATE_KEYS",
    "TIME_EXAMPLE",
    "FieldRequest",
    "PanelRequestForm",
    "Party",
    "RequestContext",
    "category_lookup",
    "meeting_days",
    "parse_panel_request",
    "parse_request_template",
    "parse_request_text",
]

TITLE_MAX = 200
DESCRIPTION_MAX = 2000
LOCATION_MAX = 200
PARTY_MAX = 100
PARTIES_MAX = 100
SIZE_MAX = 99

TIME_EXAMPLE = "2026-12-03 09:30-12:00"
DATETIME_EXAMPLE = "2026-11-30 18:00"
FIELDS_EXAMPLE = "环境影响评价×2、环境监测与监控×1"
SIZE_EXAMPLE = "5"
TYPE_EXAMPLE = "评审"
PARTIES_EXAMPLE = "某某化工有限公司（91650100MA77XXXXXX）；某某环境科技有限公司"


@dataclass(frozen=True)
class RequestContext:
    """What validation needs besides the data.

    `categories` maps each active field code to its display name (used in error messages);
    `now` is the current time (aware); `min_panel` the configured smallest panel.
    """

    categories: Mapping[str, str]
    now: datetime
    min_panel: int = 3
    lang: str = "zh"

    def allowed_text(self) -> str:
        return (", " if self.lang == "en" else "、").join(self.categories.values())


_T = TypeVar("_T")


def _fail(code: str, **params: Any) -> PydanticCustomError:
    return PydanticCustomError(code, code, params)


def _coded(fn: Callable[..., _T], *args: Any) -> _T:
    try:
        return fn(*args)
    except DomainError as exc:
        raise PydanticCustomError(exc.code, exc.code, dict(exc.params)) from None


def _ctx(info: ValidationInfo) -> RequestContext:
    if not isinstance(info.context, RequestContext):
        raise TypeError("validate with context=RequestContext(...)")
    return info.context


def _text(v: Any, max_len: int, *, required: bool) -> str:
    if v is None:
        v = ""
    if not isinstance(v, str):
        raise _fail("value.type")
    s = _coded(check_text, v, max_len)
    if required and not s:
        raise _fail("required")
    return s


def _aware(v: Any, example: str) -> datetime:
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(normalize_text(v))
        except ValueError:
            raise _fail("panel.date_format", example=example) from None
    if not isinstance(v, datetime) or v.tzinfo is None or v.utcoffset() is None:
        raise _fail("panel.date_format", example=example)
    return v


class FieldRequest(BaseModel):
    """A requested field; `quota` None means 'any of the requested fields'."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: str
    quota: int | None = None

    @field_validator("category", mode="before")
    @classmethod
    def _category(cls, v: Any, info: ValidationInfo) -> str:
        ctx = _ctx(info)
        if not isinstance(v, str):
            raise _fail("value.type")
        item = normalize_text(v)
        by_name = {name: code for code, name in ctx.categories.items()}
        code = item if item in ctx.categories else by_name.get(item)
        if code is None:
            raise _fail("panel.field_unknown", value=item, allowed=ctx.allowed_text())
        return code

    @field_validator("quota", mode="before")
    @classmethod
    def _quota(cls, v: Any) -> int | None:
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise _fail("panel.quota_invalid")
        if v < 1:
            raise _fail("panel.quota_invalid")
        return v


class Party(BaseModel):
    """An organisation involved in the matter: a name, a credit code, or both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    uscc: str | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, v: Any) -> str:
        return normalize_text(_text(v, PARTY_MAX, required=False))

    @field_validator("uscc", mode="before")
    @classmethod
    def _uscc(cls, v: Any) -> str | None:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        if not isinstance(v, str):
            raise _fail("uscc.format", length=0)
        return _coded(parse_uscc, v)


class PanelRequestForm(BaseModel):
    """The validated request. Fields validate in declaration order, so each cross-field rule
    sees the fields it depends on (when those were valid) and every error is reported at once.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    matter_type: MatterType
    description: str = ""
    location: str
    starts_at: datetime
    ends_at: datetime
    response_deadline: datetime
    size: int
    fields: list[FieldRequest]
    parties: list[Party]

    @field_validator("title", mode="before")
    @classmethod
    def _title(cls, v: Any) -> str:
        return _text(v, TITLE_MAX, required=True)

    @field_validator("description", mode="before")
    @classmethod
    def _description(cls, v: Any) -> str:
        return _text(v, DESCRIPTION_MAX, required=False)

    @field_validator("location", mode="before")
    @classmethod
    def _location(cls, v: Any) -> str:
        return _text(v, LOCATION_MAX, required=True)

    @field_validator("matter_type", mode="before")
    @classmethod
    def _matter_type(cls, v: Any) -> MatterType:
        found = _MATTER_WORDS.get(_key(v)) if isinstance(v, str) else None
        if found is None:
            raise _fail("panel.type_unknown", value=str(v), example=TYPE_EXAMPLE)
        return found

    @field_validator("starts_at", mode="before")
    @classmethod
    def _starts_at(cls, v: Any, info: ValidationInfo) -> datetime:
        value = _aware(v, TIME_EXAMPLE)
        if value <= _ctx(info).now:
            raise _fail("panel.time_past", example=TIME_EXAMPLE)
        return value

    @field_validator("ends_at", mode="before")
    @classmethod
    def _ends_at(cls, v: Any, info: ValidationInfo) -> datetime:
        value = _aware(v, TIME_EXAMPLE)
        start = info.data.get("starts_at")
        if start is not None and value <= start:
            raise _fail("panel.end_before_start", example=TIME_EXAMPLE)
        return value

    @field_validator("response_deadline", mode="before")
    @classmethod
    def _deadline(cls, v: Any, info: ValidationInfo) -> datetime:
        value = _aware(v, DATETIME_EXAMPLE)
        if value <= _ctx(info).now:
            raise _fail("panel.deadline_past", example=DATETIME_EXAMPLE)
        start = info.data.get("starts_at")
        if start is not None and value >= start:
            raise _fail("panel.deadline_after_start", example=DATETIME_EXAMPLE)
        return value

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, v: Any, info: ValidationInfo) -> int:
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v.strip())
        if isinstance(v, bool) or not isinstance(v, int):
            raise _fail("panel.size_format", example=SIZE_EXAMPLE)
        low = max(3, _ctx(info).min_panel)
        if v < low:
            raise _fail("panel.size_small", min=low, value=v)
        if v % 2 == 0:
            raise _fail("panel.size_even", value=v)
        if v > SIZE_MAX:
            raise _fail("panel.size_large", max=SIZE_MAX, value=v)
        return v

    @field_validator("fields", mode="after")
    @classmethod
    def _fields(cls, v: list[FieldRequest], info: ValidationInfo) -> list[FieldRequest]:
        ctx = _ctx(info)
        if not v:
            raise _fail("panel.fields_none", allowed=ctx.allowed_text())
        seen: set[str] = set()
        for f in v:
            if f.category in seen:
                raise _fail("panel.field_duplicate", value=ctx.categories.get(f.category, f.category))
            seen.add(f.category)
        with_quota = [f.quota for f in v if f.quota is not None]
        if with_quota and len(with_quota) != len(v):
            raise _fail("panel.quota_mixed", example=FIELDS_EXAMPLE)
        size = info.data.get("size")
        if with_quota and size is not None and sum(with_quota) != size:
            raise _fail("panel.quota_sum", size=size, total=sum(with_quota))
        return v

    @field_validator("parties", mode="after")
    @classmethod
    def _parties(cls, v: list[Party]) -> list[Party]:
        if not v:
            raise _fail("panel.parties_none", example=PARTIES_EXAMPLE)
        if len(v) > PARTIES_MAX:
            raise _fail("panel.parties_many", max=PARTIES_MAX, count=len(v))
        for p in v:
            if not p.name and not p.uscc:
                raise _fail("panel.party_blank", example=PARTIES_EXAMPLE)
        return v

    @property
    def has_quotas(self) -> bool:
        return any(f.quota is not None for f in self.fields)


# pydantic's own error types → catalog codes.
_PYDANTIC_CODES = {
    "missing": "required",
    "extra_forbidden": "form.unexpected",
    "list_type": "value.type",
    "model_type": "value.type",
    "dict_type": "value.type",
    "model_attributes_type": "value.type",
    "string_type": "value.type",
}


def _translate(err: Any) -> tuple[str, str, dict[str, Any]]:
    loc = ".".join(str(p) for p in err["loc"])
    kind: str = err["type"]
    if kind == "required" or "." in kind:
        return loc, kind, dict(err.get("ctx") or {})
    return loc, _PYDANTIC_CODES.get(kind, "value.invalid"), {}


def parse_panel_request(data: Mapping[str, Any], ctx: RequestContext) -> PanelRequestForm:
    """Validate a request; raises ValidationFailed listing every bad field."""
    try:
        return PanelRequestForm.model_validate(dict(data), context=ctx)
    except ValidationError as exc:
        raise ValidationFailed([_translate(e) for e in exc.errors()]) from None


# --- The one-message template ---------------------------------------------------------------

def _key(raw: Any) -> str:
    return " ".join(normalize_text(str(raw)).lower().split())


_MATTER_WORDS: dict[str, MatterType] = {
    "评审": MatterType.REVIEW, "咨询": MatterType.CONSULTATION, "培训": MatterType.TRAINING,
    "现场踏勘": MatterType.SITE_SURVEY, "踏勘": MatterType.SITE_SURVEY,
    "review": MatterType.REVIEW, "consultation": MatterType.CONSULTATION,
    "training": MatterType.TRAINING, "site survey": MatterType.SITE_SURVEY,
    **{m.value: m for m in MatterType},
}

# Template key (as typed, normalised) → form field.
TEMPLATE_KEYS: dict[str, str] = {
    "事项名称": "title", "title": "title",
    "事项类型": "matter_type", "type": "matter_type",
    "事项说明": "description", "说明": "description", "description": "description",
    "时间": "time", "time": "time",
    "地点": "location", "place": "location",
    "专业领域": "fields", "fields": "fields",
    "人数": "size", "size": "size",
    "相关单位": "parties", "parties": "parties",
    "回复期限": "response_deadline", "deadline": "response_deadline",
}
REQUIRED_KEYS = ("title", "matter_type", "time", "location", "fields", "size", "parties", "response_deadline")
# The Chinese label of each template key, for "missing" errors.
KEY_LABELS = {"title": "事项名称", "matter_type": "事项类型", "time": "时间", "location": "地点",
              "fields": "专业领域", "size": "人数", "parties": "相关单位", "response_deadline": "回复期限",
              "description": "事项说明"}
_MULTILINE = frozenset({"parties", "description"})

_LINE_RE = re.compile(r"^\s*([^:：\d]{1,16}?)\s*[:：]\s*(.*)$")
_DATE = r"\d{4}\s*[-./年]\s*\d{1,2}\s*[-./月]\s*\d{1,2}\s*[日号]?"
_CLOCK = r"\d{1,2}\s*[:时]\s*\d{2}\s*分?"
_RANGE_SEP = r"(?:至|到|~|-|—|–|－|to)"
_TIME_RE = re.compile(
    rf"^(?P<d1>{_DATE})\s*(?:T|\s)?\s*(?P<t1>{_CLOCK})\s*{_RANGE_SEP}\s*(?:(?P<d2>{_DATE})\s*(?:T|\s)?\s*)?(?P<t2>{_CLOCK})$",
    re.IGNORECASE,
)
_DATETIME_RE = re.compile(rf"^(?P<d>{_DATE})\s*(?:T|\s)?\s*(?P<t>{_CLOCK})?$")
_FIELD_ITEM_RE = re.compile(r"^(?P<name>.+?)\s*(?:[×xX*]\s*(?P<count>\d+)\s*[人名位]?)?$")
_FIELD_SPLIT = re.compile(r"[、，,；;]")
_PARTY_SPLIT = re.compile(r"[；;\n]")
_PARTY_USCC_RE = re.compile(r"^(?P<name>.*?)\s*[(（]\s*(?P<uscc>[0-9A-Za-z]{18})\s*[)）]\s*$")
_BARE_USCC_RE = re.compile(r"^[0-9A-Za-z]{18}$")
_SIZE_RE = re.compile(r"^(\d{1,3})\s*(?:人|名|位)?$")


class _LineError(Exception):
    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code, self.params = code, params


def _clock(raw: str) -> time:
    digits = re.findall(r"\d+", raw)
    hour, minute = int(digits[0]), int(digits[1])
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError(raw)
    return time(hour, minute)


def _local(day: str, clock: str, tz: tzinfo) -> datetime:
    try:
        return datetime.combine(parse_date(day), _clock(clock), tzinfo=tz)
    except (DomainError, ValueError):
        raise _LineError("panel.date_format", example=TIME_EXAMPLE) from None


def _parse_time(value: str, tz: tzinfo) -> tuple[datetime, datetime]:
    m = _TIME_RE.match(normalize_text(value))
    if not m:
        raise _LineError("panel.date_format", example=TIME_EXAMPLE)
    start = _local(m["d1"], m["t1"], tz)
    end = _local(m["d2"] or m["d1"], m["t2"], tz)
    return start, end


def _parse_deadline(value: str, tz: tzinfo) -> datetime:
    """A date and time; a date alone means the end of that day (23:59)."""
    m = _DATETIME_RE.match(normalize_text(value))
    if not m:
        raise _LineError("panel.date_format", example=DATETIME_EXAMPLE)
    try:
        if m["t"] is None:
            return datetime.combine(parse_date(m["d"]), time(23, 59), tzinfo=tz)
        return datetime.combine(parse_date(m["d"]), _clock(m["t"]), tzinfo=tz)
    except (DomainError, ValueError):
        raise _LineError("panel.date_format", example=DATETIME_EXAMPLE) from None


def _parse_size(value: str) -> int:
    m = _SIZE_RE.match(normalize_text(value))
    if not m:
        raise _LineError("panel.size_format", example=SIZE_EXAMPLE)
    return int(m.group(1))


def _parse_type(value: str) -> str:
    found = _MATTER_WORDS.get(_key(value))
    if found is None:
        raise _LineError("panel.type_unknown", value=value.strip(), example=TYPE_EXAMPLE)
    return found.value


def _parse_fields(value: str, categories: Mapping[str, str]) -> list[dict[str, Any]]:
    """"环境影响评价×2、环境监测与监控×1" (quotas) or "环境影响评价、环境监测与监控" (any of)."""
    lookup = {_key(k): v for k, v in categories.items()}
    allowed = "、".join(dict.fromkeys(k for k in categories if not k.isascii()))
    pieces = [p.strip() for p in _FIELD_SPLIT.split(normalize_text(value))]
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(pieces):
        if not pieces[i]:
            i += 1
            continue
        # English names may contain commas ("Environmental policy, law and standards"):
        # join following pieces while that makes a known name.
        j, item = i, pieces[i]
        for k in range(i + 1, len(pieces)):
            candidate = ", ".join(pieces[i:k + 1])
            m = _FIELD_ITEM_RE.match(candidate)
            if m and _key(m["name"]) in lookup:
                j, item = k, candidate
        m = _FIELD_ITEM_RE.match(item)
        assert m is not None
        code = lookup.get(_key(m["name"]))
        if code is None:
            raise _LineError("panel.field_unknown", value=m["name"], allowed=allowed)
        out.append({"category": code, "quota": int(m["count"]) if m["count"] else None})
        i = j + 1
    if not out:
        raise _LineError("panel.fields_none", allowed=allowed, example=FIELDS_EXAMPLE)
    return out


def _parse_parties(value: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for raw in _PARTY_SPLIT.split(value):
        item = normalize_text(raw).strip("，,、 ")
        if not item:
            continue
        if _BARE_USCC_RE.match(item) and any(c.isdigit() for c in item):
            out.append({"name": "", "uscc": item})
        elif m := _PARTY_USCC_RE.match(item):
            out.append({"name": m["name"], "uscc": m["uscc"]})
        else:
            out.append({"name": item, "uscc": None})
    if not out:
        raise _LineError("panel.parties_none", example=PARTIES_EXAMPLE)
    return out


def _scan(text: str) -> tuple[dict[str, str], list[tuple[str, str, dict[str, Any]]]]:
    """Split the message into key → raw value; continuation lines belong to the key above."""
    values: dict[str, list[str]] = {}
    errors: list[tuple[str, str, dict[str, Any]]] = []
    current: str | None = None
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line.strip():
            continue
        m = _LINE_RE.match(line)
        field = TEMPLATE_KEYS.get(_key(m.group(1))) if m else None
        if m and field is not None:
            if field in values:
                errors.append((field, "panel.template_duplicate", {"key": m.group(1).strip()}))
            values[field] = [m.group(2)]
            current = field
        elif current in _MULTILINE:
            values[current].append(line)
        elif current is not None:
            errors.append((current, "panel.template_line", {"line": line.strip()[:60]}))
    return {k: "\n".join(v).strip() for k, v in values.items()}, errors


def _template(text: str, tz: tzinfo, categories: Mapping[str, str]) -> tuple[dict[str, Any], list[tuple[str, str, dict[str, Any]]]]:
    raw, errors = _scan(text)
    missing = [k for k in REQUIRED_KEYS if not raw.get(k)]
    if missing:
        errors.append(("template", "panel.template_missing",
                       {"keys": "、".join(KEY_LABELS[k] for k in missing), "fields": missing}))
    data: dict[str, Any] = {}
    parsers: dict[str, Callable[[str], Any]] = {
        "title": lambda v: v, "location": lambda v: v, "description": lambda v: v,
        "matter_type": _parse_type, "size": _parse_size,
        "fields": lambda v: _parse_fields(v, categories), "parties": _parse_parties,
        "response_deadline": lambda v: _parse_deadline(v, tz),
    }
    for key, value in raw.items():
        if not value:
            continue
        try:
            if key == "time":
                data["starts_at"], data["ends_at"] = _parse_time(value, tz)
            else:
                data[key] = parsers[key](value)
        except _LineError as exc:
            field = "starts_at" if key == "time" else key
            errors.append((field, exc.code, {**exc.params, "line": KEY_LABELS[key]}))
    return data, errors


def parse_request_template(text: str, tz: tzinfo, categories: Mapping[str, str]) -> dict[str, Any]:
    """Parse the one-message template into the dict `parse_panel_request` takes.

    `categories` maps every accepted spelling (name_zh, name_en, code) to the field code.
    Raises ValidationFailed naming every bad or missing line.
    """
    data, errors = _template(text, tz, categories)
    if errors:
        raise ValidationFailed(errors)
    return data


def parse_request_text(
    text: str, tz: tzinfo, categories: Mapping[str, str], ctx: RequestContext
) -> PanelRequestForm:
    """Template + validation in one step, reporting the errors of both at once."""
    data, errors = _template(text, tz, categories)
    try:
        form = parse_panel_request(data, ctx)
    except ValidationFailed as exc:
        # Drop the second-step errors of lines the template step already complained about.
        bad = {e[0].split(".")[0] for e in errors}
        missing = set(next((e[2]["fields"] for e in errors if e[1] == "panel.template_missing"), []))
        if "starts_at" in bad or "time" in missing:
            bad |= {"starts_at", "ends_at"}
        bad |= missing
        extra = [e for e in exc.errors if e[0].split(".")[0] not in bad]
        raise ValidationFailed(errors + extra) from None
    if errors:
        raise ValidationFailed(errors)
    return form


def category_lookup(rows: Iterable[tuple[str, str, str]]) -> dict[str, str]:
    """{spelling: code} from (code, name_zh, name_en) rows, for `parse_request_template`."""
    out: dict[str, str] = {}
    for code, zh, en in rows:
        out[zh] = code
        out[en] = code
        out[code] = code
    return out


def meeting_days(starts_at: datetime, ends_at: datetime, tz: tzinfo) -> list[date]:
    """Every local calendar day the meeting touches (an end at exactly 00:00 adds no day)."""
    first = starts_at.astimezone(tz).date()
    last = (ends_at - timedelta(microseconds=1)).astimezone(tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
