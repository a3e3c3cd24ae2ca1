"""core.identity: ID numbers, credit codes, phones, emails, names, free text, dates.

CHECKLIST "Identity and form fields" 1-7, 10-13, 16, 17 (validation part).
"""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import DomainError
from core.identity import (
    PROVINCE_CODES,
    USCC_ALPHABET,
    IdNumber,
    check_text,
    id_check_char,
    mask_id_number,
    normalize_text,
    parse_date,
    parse_email,
    parse_id_number,
    parse_mobile,
    parse_person_name,
    parse_uscc,
    parse_year_month,
    uscc_check_char,
)

TODAY = date(2026, 11, 2)
VALID_ID = "11010519491231002X"  # the GB 11643 worked example: female, born 1949-12-31
VALID_USCC = "91350100M000100Y43"


def code_of(fn, *args) -> tuple[str, dict]:
    with pytest.raises(DomainError) as info:
        fn(*args)
    return info.value.code, info.value.params


def with_check(first17: str) -> str:
    return first17 + id_check_char(first17)


def test_normalize_text_nfkc_and_strip() -> None:
    assert normalize_text("  ＡＢＣ１２３\u3000") == "ABC123"


# --- ID numbers ----------------------------------------------------------------------------

def test_known_valid_id() -> None:
    parsed = parse_id_number(VALID_ID, TODAY)
    assert parsed.number == VALID_ID
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.gender == "female"
    assert parsed.region == "110105"


def test_check_char_known_values() -> None:
    assert id_check_char("11010519491231002") == "X"
    assert id_check_char("11010119900307123") == "3"
    with pytest.raises(ValueError):
        id_check_char("1234")


def test_lowercase_x_is_normalised() -> None:  # checklist 1
    assert parse_id_number(VALID_ID.lower(), TODAY).number == VALID_ID


def test_full_width_digits_and_spaces_accepted() -> None:  # checklist 3
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in VALID_ID)  # １１０１…Ｘ
    assert parse_id_number(full_width, TODAY).number == VALID_ID
    assert parse_id_number(" 110105 19491231 002x ", TODAY).number == VALID_ID


def test_full_width_digits_still_validated() -> None:  # checklist 3
    bad = "".join(chr(ord(c) + 0xFEE0) for c in "110105194912310021")
    assert code_of(parse_id_number, bad, TODAY)[0] == "id.check_digit"


@pytest.mark.parametrize(
    ("raw", "length"),
    [(VALID_ID[:17], 17), (VALID_ID + "1", 19), ("1101051949A231002X", 18), ("X10105194912310021", 18),
     ("", 0), ("11010519491231002-", 18)],
)
def test_wrong_length_or_letters_inside(raw: str, length: int) -> None:  # checklist 2
    code, params = code_of(parse_id_number, raw, TODAY)
    assert code == "id.format"
    assert params == {"length": length}


def test_wrong_check_digit() -> None:  # checklist 4
    code, params = code_of(parse_id_number, "110105194912310021", TODAY)
    assert code == "id.check_digit"
    assert params == {"expected": "X", "got": "1"}


@pytest.mark.parametrize(
    ("birth", "shown"),
    [("19990230", "1999-02-30"), ("19991301", "1999-13-01"), ("20270101", "2027-01-01"),
     ("20261103", "2026-11-03"), ("18991231", "1899-12-31")],
)
def test_impossible_future_or_too_old_birth_date(birth: str, shown: str) -> None:  # checklist 5
    number = with_check("110105" + birth + "002")
    code, params = code_of(parse_id_number, number, TODAY)
    assert code == "id.birth_date"
    assert params == {"value": shown}


def test_birth_today_and_1900_accepted() -> None:
    assert parse_id_number(with_check("11010520261102001"), TODAY).birth_date == TODAY
    assert parse_id_number(with_check("11010519000101001"), TODAY).birth_date == date(1900, 1, 1)


def test_legacy_15_digit_rejected() -> None:  # checklist 6
    assert code_of(parse_id_number, "110105491231002", TODAY) == ("id.legacy15", {})


def test_unknown_province_rejected() -> None:  # checklist 7
    code, params = code_of(parse_id_number, with_check("99010519491231002"), TODAY)
    assert (code, params) == ("id.region", {"prefix": "99"})


def test_retired_county_code_under_real_province_accepted() -> None:  # checklist 7
    # 652101 was 吐鲁番市 before the 2015 reorganisation; 650199 has never been assigned.
    for region in ("652101", "650199"):
        number = with_check(region + "19750315123")
        parsed = parse_id_number(number, TODAY)
        assert parsed.region == region
        assert parsed.gender == "male"


def test_gender_from_17th_digit() -> None:
    assert parse_id_number(with_check("65010219800101001"), TODAY).gender == "male"
    assert parse_id_number(with_check("65010219800101002"), TODAY).gender == "female"


def test_masking_and_repr_hide_the_number() -> None:
    parsed = parse_id_number(VALID_ID, TODAY)
    assert mask_id_number(VALID_ID) == "110105********002X"
    assert str(parsed) == "110105********002X"
    assert VALID_ID not in repr(parsed)
    assert "110105********002X" in repr(parsed)
    assert "1949" not in repr(parsed)
    assert mask_id_number("123456789") == "*********"
    assert mask_id_number("") == ""


@st.composite
def valid_ids(draw: st.DrawFn) -> tuple[str, date, int]:
    province = draw(st.sampled_from(sorted(PROVINCE_CODES)))
    county = draw(st.text("0123456789", min_size=4, max_size=4))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
    seq = draw(st.integers(0, 999))
    first17 = f"{province}{county}{born:%Y%m%d}{seq:03d}"
    return first17 + id_check_char(first17), born, seq


@settings(max_examples=300)
@given(valid_ids())
def test_generated_ids_round_trip(case: tuple[str, date, int]) -> None:
    number, born, seq = case
    parsed = parse_id_number(number, TODAY)
    assert parsed.number == number
    assert parsed.birth_date == born
    assert parsed.gender == ("male" if seq % 2 else "female")
    assert parse_id_number(parsed.number.lower(), TODAY) == parsed
    assert isinstance(parsed, IdNumber)


@settings(max_examples=300)
@given(valid_ids(), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_any_single_substitution_fails(case: tuple[str, date, int], pos: int, char: str) -> None:
    number = case[0]
    if number[pos] == char:
        char = "0" if char != "0" else "1"
    mutated = number[:pos] + char + number[pos + 1:]
    with pytest.raises(DomainError) as info:
        parse_id_number(mutated, TODAY)
    assert info.value.code.startswith("id.")


@settings(max_examples=300)
@given(valid_ids(), st.integers(0, 16))
def test_any_adjacent_transposition_fails(case: tuple[str, date, int], pos: int) -> None:
    number = case[0]
    if number[pos] == number[pos + 1]:
        return  # swapping equal characters changes nothing
    mutated = number[:pos] + number[pos + 1] + number[pos] + number[pos + 2:]
    with pytest.raises(DomainError):
        parse_id_number(mutated, TODAY)


# --- Unified social credit codes -----------------------------------------------------------

def test_known_uscc_and_normalisation() -> None:  # checklist 10
    assert uscc_check_char(VALID_USCC[:17]) == VALID_USCC[17]
    assert parse_uscc(VALID_USCC) == VALID_USCC
    assert parse_uscc(" 91350100 m000100y43 ") == VALID_USCC
    assert parse_uscc("".join(chr(ord(c) + 0xFEE0) for c in VALID_USCC)) == VALID_USCC


@pytest.mark.parametrize("letter", "IOSVZ")
def test_uscc_forbidden_letters(letter: str) -> None:  # checklist 10
    code = VALID_USCC[:8] + letter + VALID_USCC[9:]
    assert code_of(parse_uscc, code) == ("uscc.format", {"length": 18})


def test_uscc_wrong_length() -> None:
    assert code_of(parse_uscc, VALID_USCC[:17]) == ("uscc.format", {"length": 17})


def test_uscc_bad_check_char() -> None:  # checklist 10
    code, params = code_of(parse_uscc, VALID_USCC[:17] + "0")
    assert code == "uscc.check"
    assert params == {"expected": "3", "got": "0"}


def test_uscc_letters_in_first_two_positions_accepted() -> None:  # checklist 10
    for head in ("Y1", "A1", "N2", "G1"):
        first17 = head + VALID_USCC[2:17]
        code = first17 + uscc_check_char(first17)
        assert parse_uscc(code.lower()) == code


_USCC_BODY = st.text(USCC_ALPHABET, min_size=17, max_size=17)


@settings(max_examples=300)
@given(_USCC_BODY)
def test_generated_uscc_round_trip(first17: str) -> None:
    code = first17 + uscc_check_char(first17)
    assert parse_uscc(code) == code
    assert parse_uscc(code.lower()) == code


@settings(max_examples=300)
@given(_USCC_BODY, st.integers(0, 17), st.sampled_from(USCC_ALPHABET + "IOSVZ"))
def test_uscc_any_single_substitution_fails(first17: str, pos: int, char: str) -> None:
    code = first17 + uscc_check_char(first17)
    if code[pos] == char:
        return
    mutated = code[:pos] + char + code[pos + 1:]
    with pytest.raises(DomainError) as info:
        parse_uscc(mutated)
    assert info.value.code in ("uscc.format", "uscc.check")


# --- Mobile and email ----------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw",
    ["+86 138-0013-8000", "13800138000", "0086 13800138000", "8613800138000", "(+86)138 0013 8000",
     "１３８００１３８０００", "+86-138-0013-8000"],
)
def test_mobile_normalised(raw: str) -> None:  # checklist 11
    assert parse_mobile(raw) == "13800138000"


@pytest.mark.parametrize(
    "raw", ["12800138000", "1380013800", "138001380001", "", "0991-1234567", "abc", "+1 13800138000",
            "+86 1380013800x", "11800138000"],
)
def test_mobile_rejected(raw: str) -> None:  # checklist 11
    assert code_of(parse_mobile, raw) == ("phone.format", {})


def test_email_accepted_and_domain_lowercased() -> None:
    assert parse_email("  Zhang.San+x@Example.COM.cn ") == "Zhang.San+x@example.com.cn"


@pytest.mark.parametrize(
    "raw", ["zhangsan.example.com", "a@@b.cn", "a@b@c.cn", "@b.cn", "a@cn", "a@.cn", "a@b.", "a@b..cn",
            "zhang san@b.cn", "a@b .cn", ""],
)
def test_email_rejected(raw: str) -> None:  # checklist 12
    assert code_of(parse_email, raw)[0] == "email.format"


def test_email_over_254_rejected() -> None:  # checklist 12
    raw = "a" * 250 + "@b.cn"
    assert code_of(parse_email, raw) == ("email.too_long", {"max": 254, "length": 255})
    ok = "a" * 249 + "@b.cn"
    assert parse_email(ok) == ok


# --- Names ---------------------------------------------------------------------------------

def test_middle_dot_names_accepted_and_unified() -> None:  # checklist 13
    assert parse_person_name("买买提·艾力") == "买买提·艾力"
    for dot in ("\u2022", "\u30fb", "\uff65"):
        assert parse_person_name(f"买买提{dot}艾力") == "买买提·艾力"
    assert parse_person_name("  张三  ") == "张三"


@pytest.mark.parametrize("raw", ["", "   ", "\u3000"])
def test_blank_name(raw: str) -> None:  # checklist 13
    assert code_of(parse_person_name, raw) == ("name.blank", {})


def test_name_over_50() -> None:  # checklist 13
    assert parse_person_name("张" * 50) == "张" * 50
    assert code_of(parse_person_name, "张" * 51) == ("name.too_long", {"max": 50, "length": 51})


@pytest.mark.parametrize("bad", ["\u200b", "\u200d", "\u200f", "\u2060", "\ufeff", "\x00", "\x1b", "\n", "\u202e"])
def test_name_control_and_zero_width(bad: str) -> None:  # checklist 13
    assert code_of(parse_person_name, f"张{bad}三")[0] == "name.chars"


# --- Free text -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw",
    ["<b>bold</b> & \"quotes\" 'single'", "'; DROP TABLE experts; --", "a < b && c > d",
     "Robert'); DELETE FROM x;--", "{count} {0} %s"],
)
def test_text_stored_as_typed(raw: str) -> None:  # checklist 16
    assert check_text(raw, 200) == raw


def test_text_keeps_newlines_and_tabs_and_no_nfkc() -> None:
    assert check_text("第一行\r\n第二行\t１２３", 100) == "第一行\n第二行\t１２３"


@pytest.mark.parametrize("bad", ["\x00", "\x07", "\x1b", "\x7f", "\x85"])
def test_text_control_chars_rejected(bad: str) -> None:
    assert code_of(check_text, f"abc{bad}def", 100) == ("text.chars", {})


def test_text_over_limit() -> None:  # checklist 17
    assert check_text("字" * 2000, 2000) == "字" * 2000
    assert code_of(check_text, "字" * 5000, 2000) == ("text.too_long", {"max": 2000, "length": 5000})


# --- Dates ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw", ["1975-03", "1975.3", "1975年3月", "197503", "1975/03", "１９７５年０３月", " 1975 - 3 ", "1975-03-15"],
)
def test_year_month_formats(raw: str) -> None:
    assert parse_year_month(raw, TODAY) == date(1975, 3, 1)


def test_year_month_errors() -> None:
    assert parse_year_month("2026-11", TODAY) == date(2026, 11, 1)
    assert code_of(parse_year_month, "2026-12", TODAY) == ("date.future", {"value": "2026-12"})
    assert code_of(parse_year_month, "1899-12", TODAY) == ("date.too_old", {"value": "1899-12", "min": 1900})
    for raw in ("1975-13", "1975", "March 1975", "", "75-03", "1975-00"):
        assert code_of(parse_year_month, raw, TODAY) == ("date.format", {"example": "1975-03"})


@pytest.mark.parametrize("raw", ["2026-12-03", "2026/12/3", "2026.12.3", "2026年12月3日", "20261203", "２０２６－１２－０３"])
def test_date_formats(raw: str) -> None:
    assert parse_date(raw) == date(2026, 12, 3)


def test_date_errors() -> None:
    for raw in ("2026-13-01", "tomorrow", "", "2026-12", "12/03/2026"):
        assert code_of(parse_date, raw) == ("date.format", {"example": "2026-12-03"})
    assert code_of(parse_date, "2026-02-30") == ("date.invalid", {"value": "2026-02-30"})
    assert code_of(parse_date, "1899-12-31")[0] == "date.too_old"


def test_date_without_year_uses_today() -> None:
    assert parse_date("12月3日", TODAY) == date(2026, 12, 3)
    assert code_of(parse_date, "12月3日")[0] == "date.format"
