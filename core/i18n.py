"""Message catalogs: every user-facing text, Simplified Chinese first, English second.

Catalogs are TOML files under core/texts/<lang>/*.toml; nested tables flatten to dotted keys
(`[error.id] check_digit = "…"` → "error.id.check_digit"). Values are str.format templates.
"""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
_TEXTS = Path(__file__).parent / "texts"


def _flatten(prefix: str, table: dict[str, Any], out: dict[str, str], origin: str) -> None:
    for key, value in table.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(full, value, out, origin)
        else:
            if full in out:
                raise ValueError(f"duplicate catalog key {full!r} in {origin}")
            out[full] = str(value)


@lru_cache(maxsize=None)
def catalog(lang: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted((_TEXTS / lang).glob("*.toml")):
        _flatten("", tomllib.loads(path.read_text(encoding="utf-8")), out, str(path))
    return out


def pick_language(code: str | None) -> str:
    """Map a Telegram language_code (e.g. 'en-US', 'zh-hans') to a catalog."""
    if code and code.lower().startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


class _SafeDict(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def t(key: str, lang: str | None = None, /, **params: Any) -> str:
    """Render `key` in `lang`, falling back to Chinese, then to the key itself."""
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    template = catalog(lang).get(key) or catalog(DEFAULT_LANGUAGE).get(key)
    if template is None:
        return key
    return template.format_map(_SafeDict(params))


def has(key: str, lang: str = DEFAULT_LANGUAGE) -> bool:
    return key in catalog(lang)


def error_text(code: str, lang: str | None = None, /, **params: Any) -> str:
    """Text for a DomainError code (catalog key `error.<code>`)."""
    return t(f"error.{code}", lang, **params)
