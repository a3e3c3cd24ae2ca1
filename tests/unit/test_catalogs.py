"""Message catalogs: every language has the same keys, file by file, and the same placeholders."""
from __future__ import annotations

import string
import tomllib
from pathlib import Path

import pytest

from core.i18n import LANGUAGES, _flatten, catalog

TEXTS = Path(__file__).resolve().parents[2] / "core" / "texts"


def _file_keys(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    _flatten("", tomllib.loads(path.read_text(encoding="utf-8")), out, str(path))
    return out


def _placeholders(template: str) -> set[str]:
    names = set()
    for _literal, field, _spec, _conv in string.Formatter().parse(template):
        if field is not None:
            names.add(field.split(".")[0].split("[")[0])
    return names


def _file_names() -> list[str]:
    return sorted({p.name for lang in LANGUAGES for p in (TEXTS / lang).glob("*.toml")})


def test_every_language_has_a_catalog() -> None:
    for lang in LANGUAGES:
        assert (TEXTS / lang).is_dir()
        assert catalog(lang), f"no texts for {lang}"


@pytest.mark.parametrize("name", _file_names())
def test_same_keys_in_every_language(name: str) -> None:
    keys = {}
    for lang in LANGUAGES:
        path = TEXTS / lang / name
        assert path.is_file(), f"{lang}/{name} is missing"
        keys[lang] = set(_file_keys(path))
    reference = keys[LANGUAGES[0]]
    for lang, found in keys.items():
        assert found == reference, (
            f"{name}: only in {LANGUAGES[0]}: {sorted(reference - found)}; only in {lang}: {sorted(found - reference)}"
        )


def test_whole_catalogs_have_same_keys() -> None:
    reference = set(catalog(LANGUAGES[0]))
    for lang in LANGUAGES[1:]:
        assert set(catalog(lang)) == reference


def test_placeholders_of_zh_exist_in_en() -> None:
    zh, en = catalog("zh"), catalog("en")
    missing = {
        key: sorted(_placeholders(text) - _placeholders(en.get(key, "")))
        for key, text in zh.items()
        if _placeholders(text) - _placeholders(en.get(key, ""))
    }
    assert missing == {}


def test_templates_are_well_formed() -> None:
    for lang in LANGUAGES:
        for key, text in catalog(lang).items():
            try:
                _placeholders(text)
            except ValueError as exc:  # unbalanced braces
                pytest.fail(f"{lang}: {key}: {exc}")
