"""`expertpanel sandbox` and `expertpanel start`: the whole system on one machine, no Telegram.

`sandbox` migrates (and on first start seeds, `core.demo`) the SQLite demo database, starts the
Bot API stand-in with the playground page, runs the real bot against it (`bot.commands.run.serve`:
polling, command menus, scheduler, notifier), all on an `OffsetClock` the page can move forward,
prints the page's address and runs until Ctrl-C / SIGTERM. The data, the clock offset and the
chats stay on disk for the next start; `--reset` starts over.

`start` is what ./run.sh calls: `run` when a token is configured, `sandbox` otherwise.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import typer
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from core.bootstrap import Core, build_core
from core.clock import OffsetClock
from core.config import Settings, load_settings
from core.i18n import t

if TYPE_CHECKING:  # imported when a sandbox starts: `expertpanel --help` and the other commands need none of it
    from bot.sandbox.playground import ClockStore, Playground
    from bot.sandbox.server import SandboxServer

log = logging.getLogger(__name__)

# Any token works with the stand-in; the digits become the bot's user id.
SANDBOX_TOKEN = "7000000001:sandbox-local-token"
EXIT_OK, EXIT_FAILED = 0, 2


@dataclass
class SandboxRun:
    """A running sandbox, for tests that drive it in-process."""

    core: Core
    server: SandboxServer
    clock: OffsetClock
    playground: Playground

    @property
    def url(self) -> str:
        return self.server.url


def sandbox_settings(settings: Settings) -> Settings:
    """The same settings, pointed at the demo database and the stand-in's token."""
    tg = settings.telegram.model_copy(update={"token": SecretStr(SANDBOX_TOKEN), "webhook_url": None})
    db = settings.database.model_copy(update={"url": settings.sandbox.database_url})
    return settings.model_copy(update={"telegram": tg, "database": db})


def state_paths(url: str) -> tuple[Path | None, Path, Path]:
    """(the SQLite file or None, the clock file, the chats file) for a demo database URL."""
    database = make_url(url).database if url.startswith("sqlite") else None
    db_path = Path(database) if database and database != ":memory:" else None
    base = db_path if db_path is not None else Path("expertpanel-sandbox")
    return db_path, base.with_name(base.name + ".clock.json"), base.with_name(base.name + ".chats.pickle")


def reset_files(url: str) -> list[Path]:
    """Delete the SQLite demo database and its side files; returns what was deleted."""
    db_path, clock_file, chats_file = state_paths(url)
    removed = []
    candidates = [clock_file, chats_file]
    if db_path is not None:
        candidates += [db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")]
    for path in candidates:
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed


async def prepare(settings: Settings, *, say: Callable[[str], None]) -> tuple[Core, OffsetClock, ClockStore]:
    """Migrate, open and (on first start) seed the demo database on its persisted clock."""
    from bot.sandbox.playground import ClockStore
    from core import demo
    from core.db.migrate import upgrade

    url = settings.database.url
    _, clock_file, _ = state_paths(url)
    lang = settings.default_language
    await upgrade(url)
    store = ClockStore(clock_file)
    clock = OffsetClock(store.load())
    core = build_core(settings, clock=clock)
    if await demo.seed_state(core) == "partial" and reset_files(url):  # a first start was killed mid-seed
        await core.close()
        say(t("sandbox.partial", lang, path=url.split("///")[-1]))
        await upgrade(url)
        store = ClockStore(clock_file)
        clock = OffsetClock(store.load())
        core = build_core(settings, clock=clock)
    if await demo.seed(core):
        say(t("sandbox.seeded", lang, path=url.split("///")[-1], **await demo.summary(core)))
    else:
        say(t("sandbox.reopened", lang, path=url.split("///")[-1]))
    return core, clock, store


async def tick_now(core: Core) -> dict[str, object]:
    """One scheduler pass right away (after the clock moved): what it did, by rule."""
    from core.scheduling.ticks import run_tick

    report = await run_tick(core)
    return {"counts": {k: v for k, v in report.counts.items() if v}, "errors": report.errors}


async def run_sandbox(
    settings: Settings, *, stop: asyncio.Event, host: str | None = None, port: int | None = None,
    say: Callable[[str], None] = typer.echo, complain: Callable[[str], None] = lambda m: typer.echo(m, err=True),
    started: Callable[[SandboxRun], None] | None = None,
    began: float | None = None,
) -> int:
    """The sandbox until `stop` is set; returns the exit code (messages already said)."""
    from bot.commands.run import serve
    from bot.sandbox.playground import Playground
    from bot.sandbox.server import SandboxServer
    from bot.sandbox.snapshot import ChatStore

    began = time.monotonic() if began is None else began
    settings = sandbox_settings(settings)
    lang = settings.default_language
    host = host or settings.sandbox.host
    port = settings.sandbox.port if port is None else port
    try:
        core, clock, store = await prepare(settings, say=say)
    except Exception as exc:  # a locked or corrupt file, a full disk: one line, no traceback
        log.debug("demo database failed", exc_info=True)
        complain(t("sandbox.db_failed", lang, path=settings.database.url, reason=str(exc).splitlines()[0][:200]))
        return EXIT_FAILED
    _, _, chats_file = state_paths(settings.database.url)
    server = SandboxServer(token=SANDBOX_TOKEN, wall_clock=lambda: clock.now().timestamp())
    chats = ChatStore(chats_file)
    chats.load(server)
    playground = Playground(core, clock, server, tick=lambda: tick_now(core), store=store)
    playground.mount()
    try:
        try:
            await server.start(host, port)
        except OSError as exc:
            complain(t("sandbox.port_busy", lang, host=host, port=port, reason=exc.strerror or exc))
            return EXIT_FAILED
        await playground.personas()  # every account gets its simulated user and chat
        say(t("sandbox.clock", lang, **playground.clock_state()))
        ready = asyncio.Event()
        bot = asyncio.create_task(serve(core, stop=stop, base_url=server.base_url,
                                        base_file_url=server.base_file_url, poll_timeout=10.0, ready=ready))
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({bot, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if ready.is_set():
            say(t("sandbox.ready", lang, url=server.url + "/", seconds=f"{time.monotonic() - began:.1f}"))
            if started is not None:
                started(SandboxRun(core, server, clock, playground))
        outcome = await bot
        if outcome.code != EXIT_OK:
            complain(t("sandbox.bot_failed", lang, reason=outcome.message))
            return EXIT_FAILED
        say(t("sandbox.stopped", lang, path=settings.database.url.split("///")[-1]))
        return EXIT_OK
    finally:
        chats.save(server)
        await server.stop()
        await core.close()


def _install_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


def main(port: int | None, reset: bool, verbose: bool) -> int:
    """Run the sandbox in a fresh event loop (the CLI's entry)."""
    began = time.monotonic()
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = load_settings()
    lang = settings.default_language
    typer.echo(t("sandbox.starting", lang))
    if reset:
        for path in reset_files(settings.sandbox.database_url):
            typer.echo(t("sandbox.reset", lang, path=path))

    async def go() -> int:
        stop = asyncio.Event()
        _install_signals(stop)
        return await run_sandbox(settings, stop=stop, port=port, began=began)

    try:
        return asyncio.run(go())
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were installed
        return 130


def register(app: typer.Typer) -> None:
    """Add `sandbox` and `start` to the CLI."""

    @app.command("sandbox")
    def sandbox(
        port: Optional[int] = typer.Option(None, "--port", help="Port of the page and the Bot API stand-in (default: the sandbox.port setting, 8080)."),
        reset: bool = typer.Option(False, "--reset", help="Delete the demo database and start from fresh demo data."),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what the bot and the scheduler do."),
    ) -> None:
        """The whole system locally, without Telegram: demo data, the bot, the scheduler and a chat page."""
        code = main(port, reset, verbose)
        if code:
            raise SystemExit(code)  # the reason was printed already; click's Exit would be swallowed

    @app.command("start")
    def start(
        port: Optional[int] = typer.Option(None, "--port", help="Sandbox only: the page's port."),
        reset: bool = typer.Option(False, "--reset", help="Sandbox only: start from fresh demo data."),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more."),
    ) -> None:
        """The main job: `run` when a Telegram token is configured, otherwise `sandbox`."""
        if load_settings().telegram.token is not None:
            for info in app.registered_commands:
                if info.name == "run" and info.callback is not None:
                    info.callback(verbose=verbose)
                    return
        code = main(port, reset, verbose)
        if code:
            raise SystemExit(code)
