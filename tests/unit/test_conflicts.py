"""core.conflicts: one organisation under different spellings is one party (Art. 13 recusal)."""
from __future__ import annotations

import pytest

from core.conflicts import PartyKey, matches, normalize_unit_name, party_key

USCC_A = "91350100M000100Y43"
USCC_B = "91650100MA77XXXXX0"  # only compared, never validated here


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("新疆某某环保科技有限责任公司", "新疆某某环保科技有限公司"),
        ("新疆 某某 环保科技有限公司", "新疆某某环保科技有限公司"),
        ("乌鲁木齐（新疆）某某有限公司", "乌鲁木齐新疆某某有限公司"),
        ("乌鲁木齐【新疆】某某有限公司", "乌鲁木齐(新疆)某某有限公司"),
        ("〔新疆〕某某有限公司", "［新疆］某某有限公司"),
        ("ＡＢＣ环境工程有限公司", "abc环境工程有限公司"),
        ("某某研究院。", "某某研究院"),
        ("某某研究院，", "某某研究院"),
    ],
)
def test_same_unit_spelled_differently(a: str, b: str) -> None:
    assert normalize_unit_name(a) == normalize_unit_name(b)
    assert matches(party_key(a, None), party_key(b, None))


def test_joint_stock_company_stays_distinct() -> None:
    assert normalize_unit_name("某某股份有限公司") == "某某股份有限公司"
    assert normalize_unit_name("某某股份有限公司") != normalize_unit_name("某某有限公司")


def test_normalised_form() -> None:
    assert normalize_unit_name(" 新疆（ＡＢＣ）环保 有限责任公司 。") == "新疆abc环保有限公司"


def test_different_units_do_not_match() -> None:
    assert not matches(party_key("甲公司", None), party_key("乙公司", None))


def test_empty_names_never_match() -> None:
    assert normalize_unit_name(" 。") == ""
    assert not matches(party_key("", None), party_key("  ", None))


def test_uscc_decides_when_both_have_one() -> None:
    a = party_key("某某公司", USCC_A)
    assert matches(a, party_key("完全不同的名字", USCC_A.lower()))
    assert not matches(a, party_key("某某公司", USCC_B))


def test_name_decides_when_one_lacks_uscc() -> None:
    assert matches(party_key("某某有限责任公司", USCC_A), party_key("某某有限公司", None))
    assert not matches(party_key("某某公司", USCC_A), party_key("别的公司", None))


def test_party_key_normalises_uscc() -> None:
    assert party_key("x", " 91350100 m000100y43 ") == PartyKey(norm="x", uscc=USCC_A)
    assert party_key("x", "  ").uscc is None
    assert party_key("x", None).uscc is None
