"""core.eligibility: the Art. 7(3) pre-screen, one test per branch."""
from __future__ import annotations

import pytest

from core.eligibility import (
    DISCRETION,
    MEETS,
    NOT_MET,
    QUALIFICATIONS,
    Prescreen,
    find_qualifications,
    is_senior_title,
    prescreen,
)
from core.i18n import catalog


def codes(result: Prescreen) -> list[str]:
    return [r.code for r in result.reasons]


def run(title: str = "", certificate: str = "", years: int | None = 10, education: str = "本科",
        work_history: str = "") -> Prescreen:
    return prescreen(title=title, certificate=certificate, years_in_field=years, education=education,
                     work_history=work_history)


@pytest.mark.parametrize(
    "title",
    ["正高级工程师", "副高级", "高级工程师", "教授级高级工程师", "研究员级高级工程师", "教授", "副教授", "研究员",
     "副研究员", "高级经济师", "高级农艺师", "主任医师", "副主任医师", "高级实验师", "高级讲师", "高级职称",
     "副高级工程师", "编审", "Senior Engineer", "Associate Professor"],
)
def test_senior_titles(title: str) -> None:
    assert is_senior_title(title)


@pytest.mark.parametrize(
    "title", ["工程师", "助理工程师", "助理研究员", "讲师", "主治医师", "技术员", "中级", "高级工", "高级技师",
              "助理教授", "", "无"],
)
def test_not_senior_titles(title: str) -> None:
    assert not is_senior_title(title)


def test_a_senior_title_and_five_years_meets() -> None:
    result = run(title="高级工程师", years=5)
    assert result.outcome == MEETS
    assert codes(result) == ["senior_title", "no_qualification", "years_ok"]
    assert result.reasons[0].params == {"title": "高级工程师"}
    assert result.reasons[2].params == {"years": 5, "min": 5}


def test_b_qualification_and_five_years_meets() -> None:
    result = run(title="工程师", certificate="环境影响评价工程师职业资格证书 HP00012345", years=8)
    assert result.outcome == MEETS
    assert codes(result) == ["title_not_senior", "qualification", "years_ok"]
    assert result.reasons[1].params == {"qualification": "环境影响评价工程师"}


@pytest.mark.parametrize(
    ("certificate", "name", "code"),
    [("环评工程师", "环境影响评价工程师", "qualification"),
     ("注册环保工程师 第123号", "注册环保工程师", "qualification"),
     ("注册 核安全 工程师", "注册核安全工程师", "qualification"),
     ("注册化工工程师", "注册化工工程师", "qualification_equivalent"),
     ("注册安全工程师", "注册安全工程师", "qualification_equivalent")],
)
def test_each_listed_qualification(certificate: str, name: str, code: str) -> None:
    assert [q.name for q in find_qualifications(certificate)] == [name]
    result = run(certificate=certificate, years=6)
    assert result.outcome == MEETS
    assert any(r.code == code and r.params == {"qualification": name} for r in result.reasons)


def test_qualification_list_is_a_constant() -> None:
    names = {q.name for q in QUALIFICATIONS}
    assert {"环境影响评价工程师", "注册环保工程师", "注册核安全工程师"} <= names


def test_senior_title_but_short_years_not_met() -> None:
    result = run(title="教授", years=4)
    assert result.outcome == NOT_MET
    assert "years_short" in codes(result)
    assert "no_grounds" not in codes(result)
    assert result.reasons[-1].params == {"years": 4, "min": 5}


def test_qualification_but_short_years_not_met() -> None:
    result = run(certificate="注册环保工程师", years=2)
    assert result.outcome == NOT_MET
    assert codes(result) == ["no_title", "qualification", "years_short"]


def test_unknown_years_not_met() -> None:
    result = run(title="研究员", years=None)
    assert result.outcome == NOT_MET
    assert "years_unknown" in codes(result)


def test_c_doctorate_needs_discretion() -> None:
    result = run(title="讲师", years=2, education="博士研究生/工学博士")
    assert result.outcome == DISCRETION
    assert codes(result) == ["title_not_senior", "no_qualification", "years_short", "doctorate"]


def test_c_postdoc_in_work_history_needs_discretion() -> None:
    result = run(years=3, education="硕士", work_history="2015-2017 清华大学环境学院博士后")
    assert result.outcome == DISCRETION
    assert "postdoc" in codes(result)
    assert "doctorate" not in codes(result)


def test_c_postdoc_in_education() -> None:
    result = run(years=1, education="博士后")
    assert result.outcome == DISCRETION
    assert "postdoc" in codes(result)
    assert "doctorate" not in codes(result)  # only 博士后 was written


def test_doctorate_and_postdoc_both_listed() -> None:
    result = run(years=1, education="博士，博士后")
    assert {"doctorate", "postdoc"} <= set(codes(result))


def test_doctoral_candidate_is_not_a_doctorate() -> None:
    result = run(years=1, education="博士在读")
    assert result.outcome == NOT_MET
    assert "doctorate" not in codes(result)


def test_meets_takes_precedence_over_discretion_and_lists_all_grounds() -> None:
    result = run(title="正高级工程师", certificate="注册环保工程师", years=12, education="博士")
    assert result.outcome == MEETS
    assert codes(result) == ["senior_title", "qualification", "years_ok", "doctorate"]


def test_nothing_not_met_with_no_grounds() -> None:
    result = run(title="工程师", years=20, education="本科")
    assert result.outcome == NOT_MET
    assert codes(result) == ["title_not_senior", "no_qualification", "years_ok", "no_grounds"]


def test_every_reason_and_outcome_has_catalog_text() -> None:
    samples = [
        run(title="高级工程师", years=5), run(title="工程师", certificate="注册安全工程师", years=1),
        run(years=None, education="博士后"), run(certificate="环评工程师", years=10, education="博士"),
        run(title="", years=3),
    ]
    for lang in ("zh", "en"):
        texts = catalog(lang)
        for result in samples:
            assert f"eligibility.outcome.{result.outcome}" in texts
            for reason in result.reasons:
                key = f"eligibility.{reason.code}"
                assert key in texts
                texts[key].format(**reason.params)  # every placeholder is supplied
