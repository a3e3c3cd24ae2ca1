"""`expertpanel sandbox` piece by piece: the demo seed, the personas, the playground's clock and
routes, and the real process (Ctrl-C shuts it down cleanly; a restart keeps data, clock, chats)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.sandbox import SandboxServer
from bot.sandbox.playground import ClockStore, Playground
from core import demo, demo_data
from core.bootstrap import Core, build_core
from core.clock import OffsetClock
from core.config import Settings
from core.db.models import Category, Evaluation, Expert, ExpertCategory, Flag, Outbox, Panel, PreviousUnit, UsingUnit
from core.enums import OutboxStatus, PanelStatus
from core.identity import parse_id_number, parse_uscc
from core.i18n import t
from tests.support.sandbox_process import ROOT, SandboxProcess, free_port


async def count(core: Core, what: Any, *where: Any) -> int:
    async with core.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(what).where(*where)) or 0)


async def test_seed_fills_an_empty_database_once(core: Core) -> None:
    assert await demo.seed(core) is True
    assert await count(core, Expert) == demo_data.EXPERT_COUNT
    assert await count(core, UsingUnit) == 4
    assert await count(core, PreviousUnit) > 5
    assert await demo.seed(core) is False  # a second start reopens, never duplicates
    assert await count(core, Expert) == demo_data.EXPERT_COUNT

    today = core.clock.now().astimezone(core.settings.tz).date()
    async with core.uow() as uow:
        s = uow.session
        experts = (await s.scalars(select(Expert))).all()
        for e in experts:  # well-formed (fictional) ID numbers that agree with gender and birth month
            parsed = parse_id_number(e.id_number or "", today)
            assert parsed.gender == e.gender and parsed.birth_date.replace(day=1) == e.birth_month.replace(day=1)
        for unit in (await s.scalars(select(UsingUnit))).all():
            assert unit.uscc and parse_uscc(unit.uscc) == unit.uscc
        fields = set((await s.scalars(select(Category.code).join(ExpertCategory))).all())
        assert fields == {c.code for c in core.settings.categories}  # all eleven fields are covered
        ends = sorted(e.term_end for e in experts if e.term_end)
        assert timedelta(days=20) < ends[0] - today < timedelta(days=60)  # one expert near term end
        statuses = (await s.scalars(select(Panel.status))).all()
        assert len(statuses) == len(demo.HISTORY) and set(statuses) == {PanelStatus.EVALUATED.value}
        assert await s.scalar(select(func.count()).select_from(Evaluation).where(Evaluation.completed_at.is_not(None))) >= 15
        flags = (await s.scalars(select(Flag))).all()
        assert [(f.kind, f.expert_id) for f in flags] == [("refusal_rule", experts[demo_data.FLAGGED - 1].id)]
        pending = await s.scalar(select(func.count()).select_from(Outbox).where(Outbox.status == OutboxStatus.PENDING))
        assert pending == 0  # the history's notifications are never sent at start


async def test_a_first_start_killed_mid_seed_is_started_over(tmp_path: Path) -> None:
    """Seeding takes a few seconds of separate transactions; a kill -9 in between must not leave a
    half-made demo that every later start would reopen as it is."""
    from bot.commands.sandbox import prepare
    from core.db.migrate import upgrade

    settings = Settings(database={"url": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"})  # type: ignore[arg-type]
    await upgrade(settings.database.url)
    half = build_core(settings)
    await demo.roster.sync_categories(half.uow(), half.settings.categories)
    await demo._people(half, half.clock.now().astimezone(half.settings.tz).date())  # killed before the history
    assert await demo.seed_state(half) == "partial"
    await half.close()

    said: list[str] = []
    core, _clock, _store = await prepare(settings, say=said.append)
    try:
        assert said[0] == t("sandbox.partial", "zh", path=str(tmp_path / "demo.db"))
        assert said[-1].startswith(t("sandbox.seeded", "zh", path=str(tmp_path / "demo.db"), experts=0, units=0,
                                     panels=0).split("：")[0])
        assert await demo.seed_state(core) == "seeded"
        assert await count(core, Expert) == demo_data.EXPERT_COUNT
        assert await count(core, Panel) == len(demo.HISTORY)
    finally:
        await core.close()
    said.clear()
    core, _clock, _store = await prepare(settings, say=said.append)
    await core.close()
    assert said == [t("sandbox.reopened", "zh", path=str(tmp_path / "demo.db"))]


async def test_personas_list_everyone_with_their_roles(core: Core) -> None:
    await demo.seed(core)
    people = await demo.personas(core)
    assert [p.roles for p in people[:2]] == [("admin",), ("supervisor",)]
    contacts = [p for p in people if "contact" in p.roles]
    assert [p.telegram_id for p in contacts] == [demo_data.CONTACT_TG_BASE + i for i in range(1, 5)]
    assert all(p.unit for p in contacts) and {p.language for p in contacts} == {"zh", "en"}
    experts = [p for p in people if "expert" in p.roles]
    assert len(experts) == demo_data.EXPERT_COUNT and all(p.unit and p.title and p.term_end for p in experts)
    newcomer = people[-1]
    assert newcomer.roles == () and newcomer.telegram_id == demo_data.NEW_USER_TG_BASE + 1
    assert newcomer.known is False and all(p.known for p in people[:-1])


@pytest.fixture
async def playground(settings: Settings) -> AsyncIterator[tuple[Playground, list[str]]]:
    clock = OffsetClock()
    live = build_core(settings, clock=clock)
    await demo.seed(live)
    server = SandboxServer()
    ticks: list[str] = []

    async def tick() -> dict[str, Any]:
        ticks.append(live.clock.now().isoformat())
        return {"counts": {"term_notices": 1}, "errors": {}}

    pg = Playground(live, clock, server, tick=tick)
    pg.mount()
    await server.start()
    try:
        yield pg, ticks
    finally:
        await server.stop()
        await live.close()


async def get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as resp:
        body = await resp.json()
        assert body["ok"], body
        return body["result"]


async def post(http: aiohttp.ClientSession, url: str, data: dict[str, Any]) -> tuple[int, Any]:
    async with http.post(url, json=data) as resp:
        return resp.status, await resp.json()


async def test_routes_personas_menu_and_page(playground: tuple[Playground, list[str]]) -> None:
    pg, _ = playground
    base = pg.server.url
    async with aiohttp.ClientSession() as http:
        people = await get(http, f"{base}/sandbox/personas")
        assert len(people) == 2 + 4 + demo_data.EXPERT_COUNT + 1
        assert all(p["telegram_id"] in pg.server.users for p in people)  # each has a chat now
        newcomer = pg.server.users.get(people[-1]["telegram_id"])
        assert pg.server.world.chats[newcomer.id].started is False  # the bot may not write first
        assert await get(http, f"{base}/sandbox/menu/{demo_data.ADMIN_TG}") == []
        info = await get(http, f"{base}/sandbox/info")
        assert info["timezone"] == "Asia/Shanghai" and info["playground"] is True
        for path, needle in (("/", "app.js"), ("/static/app.js", "I18N"), ("/static/style.css", ".bubble")):
            async with http.get(base + path) as resp:
                assert resp.status == 200 and needle in await resp.text()


async def test_menu_follows_telegram_scope_order(playground: tuple[Playground, list[str]]) -> None:
    pg, _ = playground
    await pg.personas()
    api = pg.server.api.commands
    key = lambda scope, lang: (json.dumps(scope, sort_keys=True), lang)  # noqa: E731
    api[key({"type": "default"}, "")] = [{"command": "start", "description": "开始"}]
    api[key({"type": "default"}, "en")] = [{"command": "start", "description": "Start"}]
    english_contact = demo_data.CONTACT_TG_BASE + 4
    assert pg.menu(english_contact) == [{"command": "start", "description": "Start"}]
    assert pg.menu(demo_data.ADMIN_TG) == [{"command": "start", "description": "开始"}]
    api[key({"type": "chat", "chat_id": demo_data.ADMIN_TG}, "")] = [{"command": "review", "description": "审核"}]
    assert pg.menu(demo_data.ADMIN_TG) == [{"command": "review", "description": "审核"}]


async def test_clock_moves_forward_only_and_ticks(playground: tuple[Playground, list[str]]) -> None:
    pg, ticks = playground
    base = pg.server.url
    async with aiohttp.ClientSession() as http:
        before = await get(http, f"{base}/sandbox/clock")
        status, body = await post(http, f"{base}/sandbox/clock", {"advance_days": 1})
        assert status == 200 and body["result"]["tick"]["counts"] == {"term_notices": 1}
        assert 86_390 < body["result"]["clock"]["offset_seconds"] - before["offset_seconds"] < 86_410
        status, body = await post(http, f"{base}/sandbox/clock", {"advance_hours": 2})
        assert status == 200 and len(ticks) == 2
        later = pg.clock.now() + timedelta(days=3)
        local = later.astimezone(pg.core.settings.tz)
        status, body = await post(http, f"{base}/sandbox/clock", {"to_date": f"{local:%Y-%m-%d}"})
        assert status == 200 and body["result"]["clock"]["local"].endswith("09:00")
        for bad in ({"to_date": "2020-01-01"}, {"to_date": "tomorrow"}, {"advance_hours": -1}, {}):
            status, body = await post(http, f"{base}/sandbox/clock", bad)
            assert status == 400 and body["ok"] is False, bad
        assert len(ticks) == 3


def test_clock_store_keeps_the_offset(tmp_path: Path) -> None:
    store = ClockStore(tmp_path / "demo.db.clock.json")
    assert store.load() == timedelta()
    clock = OffsetClock(timedelta(days=2, hours=3))
    store.save(clock)
    assert store.load() == timedelta(days=2, hours=3)
    (tmp_path / "demo.db.clock.json").write_text("not json")
    assert store.load() == timedelta()


def _json(url: str, data: dict[str, Any] | None = None) -> Any:
    req = urllib.request.Request(url, data=json.dumps(data).encode() if data is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:  # 127.0.0.1 only
        body = json.loads(resp.read())
    assert body["ok"], body
    return body["result"]


def test_the_command_starts_stops_cleanly_and_keeps_data(tmp_path: Path) -> None:
    sandbox = SandboxProcess(tmp_path)
    seconds = sandbox.start()
    try:
        assert seconds < 60, sandbox.output()
        people = _json(f"{sandbox.url}/sandbox/personas")
        assert sum("expert" in p["roles"] for p in people) == demo_data.EXPERT_COUNT
        contact = demo_data.CONTACT_TG_BASE + 1
        cursor = _json(f"{sandbox.url}/sandbox/state")["cursor"]
        _json(f"{sandbox.url}/sandbox/users/{contact}/text", {"text": "/start"})
        reply = _json(f"{sandbox.url}/sandbox/chats/{contact}/wait?after={cursor}&timeout=20")
        assert reply["message"] is not None, sandbox.output()
        moved = _json(f"{sandbox.url}/sandbox/clock", {"advance_days": 1})["clock"]["offset_seconds"]
    finally:
        code = sandbox.stop()
    first = sandbox.output()
    assert code == 0, first
    assert "Traceback" not in first, first
    assert _said(first, "sandbox.seeded"), first

    sandbox.start()
    try:
        again = _json(f"{sandbox.url}/sandbox/personas")
        assert [p["telegram_id"] for p in again] == [p["telegram_id"] for p in people]
        assert _json(f"{sandbox.url}/sandbox/clock")["offset_seconds"] >= moved - 5
        kept = _json(f"{sandbox.url}/sandbox/chats/{contact}/messages")
        assert [m["text"] for m in kept[:1]] == ["/start"]  # the chats came back too
    finally:
        code = sandbox.stop()
    assert code == 0 and "Traceback" not in sandbox.output(), sandbox.output()
    second = sandbox.output()
    assert _said(second, "sandbox.reopened") and not _said(second, "sandbox.seeded"), second  # not reseeded


def _said(output: str, key: str) -> bool:
    """Whether the sandbox printed the line `key` (in either language; its parameters vary)."""
    heads = {t(key, lang, path="\0", experts=0, units=0, panels=0).split("\0")[0] for lang in ("zh", "en")}
    return any(line.startswith(head) for line in output.splitlines() for head in heads)


def _run_sh(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    """The README's command, `./run.sh --port N`, in its own process group (as a terminal runs it),
    with a config file that puts the demo database under tmp_path (and no token: the sandbox)."""
    config = tmp_path / "config.toml"
    config.write_text(f'[sandbox]\ndatabase_url = "sqlite+aiosqlite:///{tmp_path / "demo.db"}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPERTPANEL_")}
    env.update({"EXPERTPANEL_CONFIG": str(config), "PYTHONUNBUFFERED": "1"})
    return subprocess.Popen([str(ROOT / "run.sh"), "--port", str(port)], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _ctrl_c(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """What a terminal's Ctrl-C does: SIGINT to the foreground process group; then the exit code and output."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError(f"no exit within 60 s of Ctrl-C:\n{out}") from None
    return proc.returncode, out


def _venv_current() -> bool:
    """Whether scripts/venv.sh would leave .venv as it is (else ./run.sh would install first)."""
    stamp = ROOT / ".venv" / ".expertpanel-installed"
    sources = [ROOT / "pyproject.toml", ROOT / "setup.py", *(ROOT / "core").glob("_*.[ch]")]
    return stamp.is_file() and all(path.stat().st_mtime <= stamp.stat().st_mtime for path in sources)


@pytest.mark.skipif(not _venv_current(), reason="needs the venv ./run.sh would use, installed and current (./test.sh makes it)")
def test_run_sh_ctrl_c_is_quiet_at_any_moment_and_a_restart_reopens(tmp_path: Path) -> None:
    port = free_port()
    # Ctrl-C while Python is still importing, or the database is being created and seeded: a quiet exit.
    for delay in (0.3, 1.0, 2.5):
        proc = _run_sh(tmp_path, port)
        time.sleep(delay)
        code, out = _ctrl_c(proc)
        # 130 (the CLI's exit), or death by SIGINT after a clean finalisation, which a shell also
        # reports as 130: under `python -m`, CPython ends that way when the Ctrl-C interrupted a
        # string exec (dataclasses, namedtuple and pydantic build code with them while importing)
        # even though the KeyboardInterrupt was caught (`run_eval_code_obj` sets
        # `_Py_UnhandledKeyboardInterrupt`, which `Py_RunMain` checks after the SystemExit).
        assert code in (0, 130, -signal.SIGINT) and "Traceback" not in out, f"Ctrl-C after {delay} s: exit {code}\n{out}"
    # Ctrl-C once the page is up: a clean stop (exit 0), and the next start reopens the same data.
    for run in (1, 2):
        proc = _run_sh(tmp_path, port)
        began = time.monotonic()
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() - began > 60:
                code, out = _ctrl_c(proc) if proc.poll() is None else (proc.returncode, proc.communicate()[0])
                raise AssertionError(f"run {run}: the page did not come up (exit {code}):\n{out}")
            time.sleep(0.1)
        code, out = _ctrl_c(proc)
        assert code == 0 and "Traceback" not in out and _said(out, "sandbox.stopped"), out
        if run == 2:
            assert _said(out, "sandbox.reopened") and not _said(out, "sandbox.seeded"), out
