"""core.forms: the 附件1 application form with coded, translatable errors.

CHECKLIST "Identity and form fields" 9, 14, 16, 17 and the field checks of 1-7, 11-13.
"""
from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from core.config import DEFAULT_CATEGORIES
from core.enums import Gender, UnitNature
from core.errors import ValidationFailed
from core.forms import FIELD_LIMITS, ApplicationForm, FormContext, parse_application
from core.i18n import catalog, error_text

TODAY = date(2026, 11, 2)
CTX = FormContext.from_categories(DEFAULT_CATEGORIES, today=TODAY)
CTX_EN = FormContext.from_categories(DEFAULT_CATEGORIES, today=TODAY, lang="en")
ID_FEMALE_1949 = "11010519491231002X"


def valid() -> dict[str, Any]:
    return {
        "name": "买买提·艾力",
        "gender": "女",
        "birth_month": "1949年12月",
        "ethnicity": "维吾尔族",
        "education": "研究生/博士",
        "id_number": ID_FEMALE_1949.lower(),
        "work_unit": "新疆维吾尔自治区环境保护科学研究院",
        "position": "总工程师",
        "certificate": "",
        "employed": "是",
        "unit_nature": "科研院所",
        "title": "正高级工程师",
        "title_obtained": "2001.6",
        "specialty": "大气污染防治",
        "graduated": "清华大学 环境工程",
        "address": "乌鲁木齐市天山区某路1号",
        "phone": "+86 138-0013-8000",
        "email": "maimaiti@example.cn",
        "fields": ["env_science", "环境影响评价"],
        "years_in_field": "30年",
        "work_history": "1975-2026 从事大气污染防治研究",
        "achievements": "主持国家级课题 3 项",
        "previous_units": [{"name": "某某环保科技有限公司", "uscc": "91350100 m000100y43", "left_on": "2020/1/5"}],
    }


def errors_of(data: dict[str, Any], ctx: FormContext = CTX) -> dict[str, tuple[str, dict[str, Any]]]:
    with pytest.raises(ValidationFailed) as info:
        parse_application(data, ctx)
    exc = info.value
    assert exc.code == "validation.failed"
    assert exc.params == {"count": len(exc.errors)}
    return {field: (code, params) for field, code, params in exc.errors}


def test_valid_form_is_normalised() -> None:
    form = parse_application(valid(), CTX)
    assert form.name == "买买提·艾力"
    assert form.gender is Gender.FEMALE
    assert form.birth_month == date(1949, 12, 1)
    assert form.id_number == ID_FEMALE_1949
    assert form.employed is True
    assert form.unit_nature is UnitNature.RESEARCH
    assert form.title_obtained == date(2001, 6, 1)
    assert form.phone == "13800138000"
    assert form.fields == ["env_science", "eia"]
    assert form.years_in_field == 30
    assert form.previous_units[0].uscc == "91350100M000100Y43"
    assert form.previous_units[0].left_on == date(2020, 1, 5)


def test_repr_does_not_leak_id_number() -> None:
    form = parse_application(valid(), CTX)
    assert ID_FEMALE_1949 not in repr(form)


def test_english_codes_and_typed_values_accepted() -> None:
    data = valid() | {"gender": "female", "employed": False, "unit_nature": "research", "years_in_field": 7,
                      "birth_month": date(1949, 12, 31), "title_obtained": None, "previous_units": []}
    form = parse_application(data, CTX)
    assert form.employed is False
    assert form.birth_month == date(1949, 12, 1)
    assert form.title_obtained is None


def test_birth_month_mismatch_shows_both_values() -> None:  # checklist 9
    errs = errors_of(valid() | {"birth_month": "1950-01"})
    assert errs == {"birth_month": ("id.birth_mismatch", {"form": "1950-01", "id": "1949-12"})}
    text = error_text("id.birth_mismatch", "zh", **errs["birth_month"][1])
    assert "1950-01" in text and "1949-12" in text


def test_gender_mismatch_shows_both_values_in_users_language() -> None:  # checklist 9
    errs = errors_of(valid() | {"gender": "男"})
    assert errs == {"gender": ("id.gender_mismatch", {"form": "男", "id": "女"})}
    errs_en = errors_of(valid() | {"gender": "male"}, CTX_EN)
    assert errs_en["gender"] == ("id.gender_mismatch", {"form": "Male", "id": "Female"})


def test_bad_id_skips_cross_checks_but_reports_id() -> None:
    errs = errors_of(valid() | {"id_number": "110105194912310021", "gender": "男"})
    assert errs == {"id_number": ("id.check_digit", {"expected": "X", "got": "1"})}


@pytest.mark.parametrize(
    ("raw", "code"),
    [("110105491231002", "id.legacy15"), ("11010519491231002", "id.format"),
     ("990105194912310028", "id.region"), ("110105199902300020", "id.birth_date")],
)
def test_id_errors_surface_with_their_codes(raw: str, code: str) -> None:  # checklist 2, 5, 6, 7
    assert errors_of(valid() | {"id_number": raw})["id_number"][0] == code


def test_four_fields_rejected_listing_allowed() -> None:  # checklist 14
    data = valid() | {"fields": ["env_science", "eia", "climate", "rural"]}
    code, params = errors_of(data)["fields"]
    assert code == "fields.too_many"
    assert params["max"] == 3 and params["count"] == 4
    assert all(c.name_zh in params["allowed"] for c in DEFAULT_CATEGORIES)
    assert "环境科学" in error_text(code, "zh", **params)


def test_unknown_field_rejected_listing_allowed() -> None:  # checklist 14
    code, params = errors_of(valid() | {"fields": ["env_science", "astrology"]}, CTX_EN)["fields"]
    assert code == "fields.unknown"
    assert params["value"] == "astrology"
    assert "Climate change" in params["allowed"]


def test_no_fields_rejected() -> None:
    assert errors_of(valid() | {"fields": []})["fields"][0] == "fields.none"


def test_duplicate_fields_collapse_and_string_is_split() -> None:
    form = parse_application(valid() | {"fields": "eia，eia、climate"}, CTX)
    assert form.fields == ["eia", "climate"]


def test_max_fields_comes_from_context() -> None:
    ctx = FormContext.from_categories(DEFAULT_CATEGORIES, today=TODAY, max_fields=1)
    assert errors_of(valid(), ctx)["fields"][0] == "fields.too_many"


def test_every_bad_field_is_listed() -> None:
    data = valid() | {"name": "", "phone": "12800138000", "email": "no-at-sign", "employed": "maybe",
                      "unit_nature": "外星机构", "years_in_field": 80, "title_obtained": "2030-01",
                      "ethnicity": "族" * 21, "extra": "x"}
    del data["address"]
    errs = errors_of(data)
    assert {f: c for f, (c, _) in errs.items()} == {
        "name": "name.blank",
        "phone": "phone.format",
        "email": "email.format",
        "employed": "choice.yes_no",
        "unit_nature": "choice.unit_nature",
        "years_in_field": "number.range",
        "title_obtained": "date.future",
        "ethnicity": "text.too_long",
        "address": "required",
        "extra": "form.unexpected",
    }
    assert errs["ethnicity"][1] == {"max": 20, "length": 21}
    assert errs["years_in_field"][1] == {"min": 0, "max": 70, "value": 80}
    assert "国有企业" in errs["unit_nature"][1]["allowed"]


def test_over_long_answer_reports_limit() -> None:  # checklist 17
    errs = errors_of(valid() | {"work_history": "经" * 5000})
    assert errs["work_history"] == ("text.too_long", {"max": FIELD_LIMITS["work_history"], "length": 5000})
    assert "2000" in error_text("text.too_long", "zh", **errs["work_history"][1])


def test_html_and_sql_stored_as_typed() -> None:  # checklist 16
    typed = "<script>alert(1)</script> & \"q\" 'x'; DROP TABLE experts; --"
    form = parse_application(valid() | {"achievements": typed, "work_unit": "A&B <公司>"}, CTX)
    assert form.achievements == typed
    assert form.work_unit == "A&B <公司>"


def test_blank_required_text_and_optional_certificate() -> None:
    errs = errors_of(valid() | {"specialty": "   "})
    assert errs == {"specialty": ("required", {})}
    assert parse_application(valid() | {"certificate": "  "}, CTX).certificate == ""


def test_title_obtained_before_birth() -> None:
    errs = errors_of(valid() | {"title_obtained": "1940-01"})
    assert errs["title_obtained"] == ("date.before_birth", {"value": "1940-01"})


def test_bad_year_month_format() -> None:
    assert errors_of(valid() | {"birth_month": "last spring"})["birth_month"] == (
        "date.format", {"example": "1975-03"})


def test_previous_unit_errors_are_located() -> None:
    data = valid() | {"previous_units": [
        {"name": "甲公司", "uscc": "91350100M000100Y40", "left_on": "2030-01-01"},
        {"name": "", "left_on": "2020-02-30"},
    ]}
    errs = errors_of(data)
    assert errs["previous_units.0.uscc"] == ("uscc.check", {"expected": "3", "got": "0"})
    assert errs["previous_units.0.left_on"] == ("date.future", {"value": "2030-01-01"})
    assert errs["previous_units.1.name"] == ("required", {})
    assert errs["previous_units.1.left_on"] == ("date.invalid", {"value": "2020-02-30"})


def test_wrong_types_do_not_crash() -> None:
    data = valid() | {"name": 5, "fields": 7, "years_in_field": "many", "previous_units": "x", "email": None}
    errs = errors_of(data)
    assert errs["name"][0] == "value.type"
    assert errs["fields"][0] == "value.type"
    assert errs["years_in_field"][0] == "number.format"
    assert errs["previous_units"][0] == "value.type"
    assert errs["email"][0] == "email.format"


def test_every_error_code_renders_in_both_languages() -> None:
    data = valid() | {"name": "", "phone": "1", "email": "x", "employed": "?", "unit_nature": "?",
                      "years_in_field": "?", "fields": ["nope"], "gender": "?", "extra": 1,
                      "previous_units": [{"name": "a", "uscc": "IIII", "left_on": "soon"}]}
    del data["address"]
    with pytest.raises(ValidationFailed) as info:
        parse_application(data, CTX)
    for lang in ("zh", "en"):
        texts = catalog(lang)
        assert "error.validation.failed" in texts
        for _field, code, params in info.value.errors:
            assert f"error.{code}" in texts, code
            texts[f"error.{code}"].format(**params)  # every placeholder is supplied


def test_every_form_field_has_a_label() -> None:
    for lang in ("zh", "en"):
        texts = catalog(lang)
        for name in ApplicationForm.model_fields:
            assert f"form.label.{name}" in texts
    assert catalog("zh")["form.label.birth_month"] == "出生年月"


def test_context_is_required() -> None:
    with pytest.raises(TypeError):
        ApplicationForm.model_validate(valid())
