"""The panel request form and the one-message template (CHECKLIST 18, 19): every rule, every
error named with an example, and wide inputs through hypothesis."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.config import DEFAULT_CATEGORIES
from core.enums import MatterType
from core.errors import ValidationFailed
from core.panel_request import (
    RequestContext,
    category_lookup,
    meeting_days,
    parse_panel_request,
    parse_request_template,
    parse_request_text,
)

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)
CTX = RequestContext(categories={c.code: c.name_zh for c in DEFAULT_CATEGORIES}, now=NOW)
CATS = category_lookup((c.code, c.name_zh, c.name_en) for c in DEFAULT_CATEGORIES)
USCC = "91350100M000100Y43"

TEMPLATE = f"""专家抽取申请
事项名称：某某项目环境影响报告书技术评审
事项类型：评审
时间：2026-12-03 09:30-12:00
地点：乌鲁木齐市生态环境局三楼会议室
专业领域：环境影响评价×2、环境监测与监控×1
人数：3
相关单位：某某化工有限责任公司（{USCC}）；
某某环境科技有限公司
回复期限：2026-11-20 18:00
"""


def data(**over: Any) -> dict[str, Any]:
    start = NOW + timedelta(days=10)
    d: dict[str, Any] = {
        "title": "评审会", "matter_type": "review", "location": "会议室",
        "starts_at": start, "ends_at": start + timedelta(hours=3), "response_deadline": NOW + timedelta(days=3),
        "size": 3, "fields": [{"category": "eia"}], "parties": [{"name": "某公司"}],
    }
    d.update(over)
    return d


def codes(exc: pytest.ExceptionInfo[ValidationFailed]) -> set[str]:
    return {e[1] for e in exc.value.errors}


def fields_of(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {e[0]: e[1] for e in exc.value.errors}


# --- the form --------------------------------------------------------------------------------

def test_valid_request() -> None:
    form = parse_panel_request(data(fields=[{"category": "eia", "quota": 2}, {"category": "环境监测与监控", "quota": 1}]), CTX)
    assert form.matter_type == MatterType.REVIEW and form.has_quotas
    assert [f.category for f in form.fields] == ["eia", "monitoring"]


@pytest.mark.parametrize("size, code", [(4, "panel.size_even"), (1, "panel.size_small"), (2, "panel.size_small"),
                                        (0, "panel.size_small"), (100, "panel.size_even"),
                                        (101, "panel.size_large"), ("五", "panel.size_format")])
def test_size_rules(size: Any, code: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_panel_request(data(size=size), CTX)
    assert fields_of(exc) == {"size": code}


def test_min_panel_from_config() -> None:
    ctx = RequestContext(categories=CTX.categories, now=NOW, min_panel=5)
    with pytest.raises(ValidationFailed) as exc:
        parse_panel_request(data(size=3), ctx)
    assert exc.value.errors[0][2]["min"] == 5


def test_quotas_must_sum_to_size_and_be_all_or_none() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_panel_request(data(size=5, fields=[{"category": "eia", "quota": 2}, {"category": "climate", "quota": 2}]), CTX)
    assert exc.value.errors == [("fields", "panel.quota_sum", {"size": 5, "total": 4})]
    with pytest.raises(ValidationFailed) as exc2:
        parse_panel_request(data(fields=[{"category": "eia", "quota": 3}, {"category": "climate"}]), CTX)
    assert codes(exc2) == {"panel.quota_mixed"}
    with pytest.raises(ValidationFailed) as exc3:
        parse_panel_request(data(fields=[{"category": "eia", "quota": 0}]), CTX)
    assert codes(exc3) == {"panel.quota_invalid"}


def test_fields_unknown_duplicate_none() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_panel_request(data(fields=[{"category": "astrology"}]), CTX)
    err = exc.value.errors[0]
    assert err[1] == "panel.field_unknown" and err[2]["value"] == "astrology" and "环境影响评价" in err[2]["allowed"]
    with pytest.raises(ValidationFailed) as exc2:
        parse_panel_request(data(fields=[{"category": "eia"}, {"category": "环境影响评价"}]), CTX)
    assert codes(exc2) == {"panel.field_duplicate"}
    with pytest.raises(ValidationFailed) as exc3:
        parse_panel_request(data(fields=[]), CTX)
    assert codes(exc3) == {"panel.fields_none"}


def test_times() -> None:
    past = data(starts_at=NOW - timedelta(hours=1), ends_at=NOW + timedelta(hours=1))
    with pytest.raises(ValidationFailed) as exc:
        parse_panel_request(past, CTX)
    assert "panel.time_past" in codes(exc) and exc.value.errors[0][2]["example"]
    start = NOW + timedelta(days=5)
    with pytest.raises(ValidationFailed) as exc2:
        parse_panel_request(data(starts_at=start, ends_at=start, response_deadline=start + timedelta(hours=1)), CTX)
    assert fields_of(exc2) == {"ends_at": "panel.end_before_start", "response_deadline": "panel.deadline_after_start"}
    with pytest.raises(ValidationFailed) as exc3:
        parse_panel_request(data(response_deadline=NOW - timedelta(minutes=1)), CTX)
    assert fields_of(exc3) == {"response_deadline": "panel.deadline_past"}
    with pytest.raises(ValidationFailed) as exc4:
        parse_panel_request(data(starts_at=datetime(2026, 12, 1, 9, 0)), CTX)  # naive
    assert fields_of(exc4)["starts_at"] == "panel.date_format"


def test_parties() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_panel_request(data(parties=[]), CTX)
    assert codes(exc) == {"panel.parties_none"}
    with pytest.raises(ValidationFailed) as exc2:
        parse_panel_request(data(parties=[{"name": " "}]), CTX)
    assert codes(exc2) == {"panel.party_blank"}
    with pytest.raises(ValidationFailed) as exc3:
        parse_panel_request(data(parties=[{"name": "某公司", "uscc": "91350100M000100Y44"}]), CTX)
    assert fields_of(exc3) == {"parties.0.uscc": "uscc.check"}
    form = parse_panel_request(data(parties=[{"uscc": USCC.lower()}]), CTX)
    assert form.parties[0].uscc == USCC and form.parties[0].name == ""


def test_every_error_at_once() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_panel_request(data(title="", size=4, matter_type="party", parties=[], location="x" * 201), CTX)
    assert set(fields_of(exc)) == {"title", "size", "matter_type", "parties", "location"}


def test_text_limits_and_unexpected_keys() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_panel_request(data(description="长" * 2001, colour="red"), CTX)
    assert fields_of(exc) == {"description": "text.too_long", "colour": "form.unexpected"}


# --- the template ----------------------------------------------------------------------------

def test_template_in_chinese() -> None:
    d = parse_request_template(TEMPLATE, TZ, CATS)
    assert d["starts_at"] == datetime(2026, 12, 3, 9, 30, tzinfo=TZ) and d["ends_at"] == datetime(2026, 12, 3, 12, 0, tzinfo=TZ)
    assert d["fields"] == [{"category": "eia", "quota": 2}, {"category": "monitoring", "quota": 1}]
    assert d["parties"] == [{"name": "某某化工有限责任公司", "uscc": USCC}, {"name": "某某环境科技有限公司", "uscc": None}]
    assert d["response_deadline"] == datetime(2026, 11, 20, 18, 0, tzinfo=TZ)
    form = parse_request_text(TEMPLATE, TZ, CATS, CTX)
    assert form.size == 3 and form.matter_type == MatterType.REVIEW


def test_template_in_english_with_variants() -> None:
    text = (
        "Title: Site survey of the tailings pond\nType: site survey\n"
        "Time: 2026-12-03 09:30 to 2026-12-04 17:00\nPlace: Dabancheng\n"
        "Fields: Environmental policy, law and standards x2, climate*1\nSize: 3人\n"
        "Parties: Foo Mining Co., Ltd.; " + USCC + "\nDeadline: 2026-11-20\n"
    )
    d = parse_request_template(text, TZ, CATS)
    assert d["matter_type"] == "site_survey"
    assert d["ends_at"] == datetime(2026, 12, 4, 17, 0, tzinfo=TZ)
    assert d["fields"] == [{"category": "policy_law", "quota": 2}, {"category": "climate", "quota": 1}]
    assert d["parties"] == [{"name": "Foo Mining Co., Ltd.", "uscc": None}, {"name": "", "uscc": USCC}]
    assert d["response_deadline"] == datetime(2026, 11, 20, 23, 59, tzinfo=TZ)


def test_template_full_width_and_any_of_fields() -> None:
    text = TEMPLATE.replace("：", ": ").replace("环境影响评价×2、环境监测与监控×1", "环境影响评价，环境监测与监控").replace(
        "2026-12-03 09:30-12:00", "２０２６年１２月３日 ９：３０ 至 ２０２６年１２月３日 １２：００")
    d = parse_request_template(text, TZ, CATS)
    assert d["fields"] == [{"category": "eia", "quota": None}, {"category": "monitoring", "quota": None}]
    assert d["starts_at"] == datetime(2026, 12, 3, 9, 30, tzinfo=TZ)


def test_template_names_every_bad_line_with_an_example() -> None:
    text = ("事项名称：评审\n事项类型：开会\n时间：下周三上午\n专业领域：占星术×3\n人数：四\n回复期限：明天\n")
    with pytest.raises(ValidationFailed) as exc:
        parse_request_template(text, TZ, CATS)
    got = fields_of(exc)
    assert got == {"template": "panel.template_missing", "matter_type": "panel.type_unknown",
                   "starts_at": "panel.date_format", "fields": "panel.field_unknown", "size": "panel.size_format",
                   "response_deadline": "panel.date_format"}
    params = {e[0]: e[2] for e in exc.value.errors}
    assert params["template"]["keys"] == "地点、相关单位"
    assert params["starts_at"]["example"] == "2026-12-03 09:30-12:00"
    assert params["starts_at"]["line"] == "时间"


def test_template_and_form_errors_together() -> None:
    text = TEMPLATE.replace("人数：3", "人数：4").replace("事项类型：评审", "事项类型：开会")
    with pytest.raises(ValidationFailed) as exc:
        parse_request_text(text, TZ, CATS, CTX)
    # The size is wrong, so the quota sum is not checked against it.
    assert fields_of(exc) == {"matter_type": "panel.type_unknown", "size": "panel.size_even"}


def test_template_past_time_and_deadline_after_start() -> None:
    text = TEMPLATE.replace("2026-12-03 09:30-12:00", "2026-10-03 09:30-12:00")
    with pytest.raises(ValidationFailed) as exc:
        parse_request_text(text, TZ, CATS, CTX)
    assert fields_of(exc)["starts_at"] == "panel.time_past"
    text2 = TEMPLATE.replace("2026-11-20 18:00", "2026-12-05 18:00")
    with pytest.raises(ValidationFailed) as exc2:
        parse_request_text(text2, TZ, CATS, CTX)
    assert fields_of(exc2) == {"response_deadline": "panel.deadline_after_start"}


def test_template_end_before_start() -> None:
    text = TEMPLATE.replace("2026-12-03 09:30-12:00", "2026-12-03 14:00-12:00")
    with pytest.raises(ValidationFailed) as exc:
        parse_request_text(text, TZ, CATS, CTX)
    assert fields_of(exc) == {"ends_at": "panel.end_before_start"}


def test_meeting_days_in_local_time() -> None:
    start = datetime(2026, 12, 3, 23, 0, tzinfo=timezone.utc)  # 07:00 on the 4th in Beijing time
    assert meeting_days(start, start + timedelta(hours=3), TZ) == [datetime(2026, 12, 4).date()]
    two = meeting_days(datetime(2026, 12, 3, 9, tzinfo=TZ), datetime(2026, 12, 4, 0, 0, tzinfo=TZ), TZ)
    assert two == [datetime(2026, 12, 3).date()]


# --- wide inputs -----------------------------------------------------------------------------

@given(st.text(max_size=400))
def test_template_never_crashes(text: str) -> None:
    try:
        parse_request_text(text, TZ, CATS, CTX)
    except ValidationFailed as exc:
        assert exc.errors
        for field, code, params in exc.errors:
            assert isinstance(field, str) and ("." in code or code == "required")
            assert isinstance(params, dict)


@given(st.integers(-5, 120))
def test_size_is_odd_and_at_least_three(size: int) -> None:
    try:
        form = parse_panel_request(data(size=size, fields=[{"category": "eia", "quota": size}]), CTX)
    except ValidationFailed as exc:
        assert size < 3 or size % 2 == 0 or size > 99
        assert {e[0] for e in exc.errors} <= {"size", "fields.0.quota"}
    else:
        assert form.size == size and size >= 3 and size % 2 == 1


@given(st.lists(st.integers(1, 9), min_size=1, max_size=5), st.integers(3, 31))
def test_quota_sum_rule(quotas: list[int], size: int) -> None:
    codes_ = [c.code for c in DEFAULT_CATEGORIES][: len(quotas)]
    d = data(size=size, fields=[{"category": c, "quota": q} for c, q in zip(codes_, quotas)])
    ok = size % 2 == 1 and sum(quotas) == size
    try:
        parse_panel_request(d, CTX)
    except ValidationFailed:
        assert not ok
    else:
        assert ok


@given(st.sampled_from(["×", "x", "X", "*"]), st.sampled_from(["、", "，", ",", "；", ";"]),
       st.integers(1, 9), st.integers(1, 9))
def test_fields_syntax_variants(times: str, sep: str, a: int, b: int) -> None:
    text = TEMPLATE.replace("环境影响评价×2、环境监测与监控×1", f"环境影响评价{times}{a}{sep}环境监测与监控 {times} {b}")
    d = parse_request_template(text, TZ, CATS)
    assert d["fields"] == [{"category": "eia", "quota": a}, {"category": "monitoring", "quota": b}]
