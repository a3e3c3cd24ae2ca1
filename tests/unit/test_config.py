"""Settings: defaults, TOML file, environment overrides and one clear error for bad values."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.config import load_settings
from core.errors import DomainError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for k in list(os.environ):
        if k.startswith("EXPERTPANEL_"):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    s = load_settings()
    assert s.database.url == "sqlite+aiosqlite:///expertpanel.db"
    assert s.timezone == "Asia/Shanghai" and s.rules.term_years == 3 and len(s.categories) == 11
    assert s.telegram.token is None


def test_example_file_loads_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPERTPANEL_CONFIG", str(ROOT / "config.example.toml"))
    s = load_settings()
    assert s.rules.refusal_limit == 3 and [r.code for r in s.rules.decline_reasons][0] == "schedule"


def test_env_overrides_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[telegram]\nbase_url = "http://127.0.0.1:1/bot"\n', encoding="utf-8")
    monkeypatch.setenv("EXPERTPANEL_TELEGRAM__TOKEN", "123:secret")
    monkeypatch.setenv("EXPERTPANEL_DATABASE__URL", "postgresql+asyncpg://u@127.0.0.1/db")
    s = load_settings()
    assert s.telegram.base_url == "http://127.0.0.1:1/bot"
    assert s.telegram.token is not None and s.telegram.token.get_secret_value() == "123:secret"
    assert "123:secret" not in repr(s)
    assert s.database.url.startswith("postgresql")


@pytest.mark.parametrize("body, key", [
    ('timezone = "Nowhere/City"', "timezone"),
    ("[rules]\nterm_years = 0", "rules.term_years"),
    ('[database]\nurl = "mysql://x"', "database.url"),
    ("[delivery]\nglobal_per_second = 100", "delivery.global_per_second"),
    ("unknown_key = 1", "unknown_key"),
])
def test_bad_values_name_key_and_value(tmp_path: Path, body: str, key: str) -> None:
    (tmp_path / "config.toml").write_text(body + "\n", encoding="utf-8")
    with pytest.raises(DomainError) as exc:
        load_settings()
    assert exc.value.code == "config.invalid" and key in exc.value.params["details"]


def test_unparseable_toml(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[telegram\n", encoding="utf-8")
    with pytest.raises(DomainError) as exc:
        load_settings()
    assert exc.value.code == "config.unreadable"


def test_token_value_never_echoed(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[telegram]\ntoken = 12\nadmins = \"x\"\n", encoding="utf-8")
    with pytest.raises(DomainError) as exc:
        load_settings()
    assert "telegram.admins" in exc.value.params["details"]
