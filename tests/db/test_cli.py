"""The CLI end to end in subprocesses: one clear line and a non-zero exit on every error.

The commands run forked from a warm process (tests.support.forked): each is a process of its
own, without the interpreter's start; `--help` starts a real interpreter."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import engine_name
from tests.support import forked

EXE = [sys.executable, "-m", "bot"]


def _env(env_extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPERTPANEL_")}
    env.update(env_extra)
    return env


def run(args: list[str], env_extra: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS`, forked."""
    return forked.run(args, module="bot", env=_env(env_extra), cwd=cwd)


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {"EXPERTPANEL_DATABASE__URL": db_url, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def test_help_lists_commands(tmp_path: Path, env: dict[str, str]) -> None:
    """In a new interpreter, as the command starts in use."""
    out = subprocess.run(EXE + ["--help"], capture_output=True, text=True, env=_env(env), cwd=tmp_path, timeout=120)
    assert out.returncode == 0
    for cmd in ("db", "experts", "roster", "units", "contacts", "admins", "audit"):
        assert cmd in out.stdout


def test_missing_config_file_is_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    env["EXPERTPANEL_CONFIG"] = str(tmp_path / "none.toml")
    out = run(["audit", "verify"], env, tmp_path)
    assert out.returncode != 0
    assert out.stderr.strip().count("\n") == 0 and "none.toml" in out.stderr
    assert "Traceback" not in out.stderr


def test_invalid_config_value_names_key_and_value(tmp_path: Path, env: dict[str, str]) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('timezone = "Mars/Olympus"\n[rules]\nterm_years = 0\n', encoding="utf-8")
    env["EXPERTPANEL_CONFIG"] = str(cfg)
    out = run(["audit", "verify"], env, tmp_path)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "timezone" in out.stderr and "Mars/Olympus" in out.stderr and "rules.term_years" in out.stderr


def test_unreachable_database_is_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    env["EXPERTPANEL_DATABASE__URL"] = "postgresql+asyncpg://nobody@127.0.0.1:1/none"
    out = run(["audit", "verify"], env, tmp_path)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0 and ("数据库" in out.stderr or "database" in out.stderr)


def test_unit_contact_admin_audit_flow(tmp_path: Path, env: dict[str, str]) -> None:
    assert run(["units", "add", "乌鲁木齐某某环境监测有限公司"], env, tmp_path).returncode == 0
    dup = run(["units", "add", "乌鲁木齐某某环境监测有限公司"], env, tmp_path)
    assert dup.returncode != 0 and "已登记" in dup.stderr
    out = run(["contacts", "add", "--unit", "乌鲁木齐某某环境监测有限公司", "--name", "李四"], env, tmp_path)
    assert out.returncode == 0 and "/start " in out.stdout
    missing = run(["contacts", "add", "--unit", "不存在的单位"], env, tmp_path)
    assert missing.returncode != 0 and "不存在的单位" in missing.stderr
    assert run(["admins", "add", "123456"], env, tmp_path).returncode == 0
    ok = run(["audit", "verify"], env, tmp_path)
    assert ok.returncode == 0 and "审计链完整" in ok.stdout


def test_import_dry_run_and_roster_export(tmp_path: Path, env: dict[str, str]) -> None:
    from tests.db.test_import_export import sheet_row, write_xlsx

    path = write_xlsx(tmp_path / "r.xlsx", [sheet_row(i) for i in range(1, 4)])
    dry = run(["experts", "import", str(path), "--dry-run"], env, tmp_path)
    assert dry.returncode == 0, dry.stderr
    bad = write_xlsx(tmp_path / "bad.xlsx", [sheet_row(1, 联系电话="12800138000")])
    out = run(["experts", "import", str(bad)], env, tmp_path)
    assert out.returncode == 1 and "第 2 行" in out.stderr and "联系电话" in out.stderr
    assert run(["experts", "import", str(path)], env, tmp_path).returncode == 0
    html = tmp_path / "roster.html"
    assert run(["roster", "export", "--format", "html", "--out", str(html)], env, tmp_path).returncode == 0
    assert "测试专家1" in html.read_text(encoding="utf-8")
    bad_fmt = run(["roster", "export", "--format", "pdf", "--out", str(tmp_path / "x.pdf")], env, tmp_path)
    assert bad_fmt.returncode != 0 and "pdf" in bad_fmt.stderr


@pytest.mark.skipif(engine_name() != "sqlite", reason="creates its own SQLite file")
def test_db_upgrade_creates_a_fresh_database(tmp_path: Path, env: dict[str, str]) -> None:
    env["EXPERTPANEL_DATABASE__URL"] = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    before = run(["audit", "verify"], env, tmp_path)
    assert before.returncode != 0 and "db upgrade" in before.stderr
    up = run(["db", "upgrade"], env, tmp_path)
    assert up.returncode == 0, up.stderr
    assert run(["audit", "verify"], env, tmp_path).returncode == 0


def test_experts_erase_refuses_without_confirmation_and_names_the_problem(tmp_path: Path, env: dict[str, str]) -> None:
    bad = run(["experts", "erase", "X12"], env, tmp_path)
    assert bad.returncode == 2 and "E000123" in bad.stderr and "Traceback" not in bad.stderr
    unconfirmed = run(["experts", "erase", "E000001"], env, tmp_path)
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    missing = run(["experts", "erase", "E000999", "--yes"], env, tmp_path)
    assert missing.returncode != 0 and missing.stderr.strip().count("\n") == 0 and "999" in missing.stderr
