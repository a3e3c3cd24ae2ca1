"""Benchmark: how fast the bot answers invitation presses, against a bare python-telegram-bot echo
bot on the same sandbox in the same run.

    .venv/bin/python bench/bot.py                      # 200 experts, SQLite in a temporary directory
    .venv/bin/python bench/bot.py --experts 400
    .venv/bin/python bench/bot.py --db-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_bot --reset
    .venv/bin/python bench/bot.py --flood-limits       # Telegram's limits on: both bots capped alike

Setup (not timed): N experts, each with one pending invitation (N/5 panels of 5 seats, drawn by
`core.services.panels.request_panel`, all at the same hour so no expert is drawn twice), the
invitations delivered by the real notifier, so each expert's chat holds an invitation message
with **✅ 接受**. The echo bot gets the same N chats, each with one message carrying a button.

Measured: N simulated experts press at once, each twice — the bot: 接受 (the message becomes the
three pledges with **确认接受**), then 确认接受 (the acceptance is recorded: caller lookup,
invitation view, `responses.accept` with its audit entry and notifications, the message edited to
the outcome); the echo bot: its button, then the button of the edited message. A press counts as
answered when the sandbox has seen both its answerCallbackQuery and the edit of its message.
Rate = 2N presses / (first press → last answer). The echo bot runs before and after the bot
(its mean is the baseline, the two runs bracket drift on a shared machine).

Fairness: the same sandbox process, the same N distinct chats and 2N presses, the same cost per
press for both — answerCallbackQuery + editMessageText, counted from the sandbox's call log and
printed — both bots polling getUpdates in their own process (`--serve echo|bot` below) with
`concurrent_updates` on and the same connection pool, while this process runs the sandbox and the
simulated users. Each bot's CPU time during the measurement is printed per press. The bot runs as
`expertpanel run` does (`bot.commands.run.serve`: the real Application, handlers, error handler)
without the notifier and the scheduler (their work goes to other chats; the acceptance's outbox
rows just wait).

* Flood limits: off by default, and neither bot uses PTB's AIORateLimiter. With Telegram's 30
  messages/s both bots sit at the same ceiling (ratio ≈ 1 by construction) and the figure says
  nothing about the bot. `--flood-limits` runs that case anyway: the sandbox's default limits,
  and AIORateLimiter in both bots.
* Connection pool: both bots get `--pool` connections (default 16): the echo bot through
  ApplicationBuilder.connection_pool_size, the bot through its setting `telegram.connection_pool`
  (it ships with 32). With PTB's own default of 256, 200 presses at once open ~200 connections
  and httpcore's per-request pool bookkeeping becomes most of a bare bot's CPU (≈ 28 ms instead
  of ≈ 8 ms per press for the echo bot); `--pool 256` shows that configuration. The bot queues
  its requests in front of the pool (bot/http.py), the echo bot inside httpcore's pool, as a
  bare python-telegram-bot does.
* httpcore imports the (absent) `sniffio` package on every lock it creates, a failed import that
  scans sys.path each time; both bots record it as absent once (`--sniffio-probe` keeps the probe).

Target: bot ≥ 0.5 × echo. Prints PASS or FAIL (exit status 0 or 1).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import statistics
import cProfile
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 0.5
BOT_TOKEN = "424201:EXPERTPANEL-bench"
ECHO_TOKEN = "424202:ECHO-bench"
POLL_TIMEOUT = 10.0
PANEL_SIZE = 5
DEFAULT_POOL = 16


# --- the bots, each in its own process -----------------------------------------------------------

async def _serve_echo(base_url: str, rate_limit: bool) -> None:
    """A bare python-telegram-bot echo bot: answer the press, edit the message with a new button."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
    from telegram.ext import AIORateLimiter, Application, CallbackQueryHandler, ContextTypes

    async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.data is not None
        n = int(query.data.split(":")[1])
        await query.answer()
        await query.edit_message_text(f"echo {n}", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("press", callback_data=f"echo:{n + 1}")]]))

    builder = Application.builder().token(ECHO_TOKEN).base_url(base_url).concurrent_updates(True)
    if rate_limit:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    app = builder.build()
    app.add_handler(CallbackQueryHandler(on_press))
    stop = _stop_event()
    async with app:
        await app.start()
        await app.updater.start_polling(timeout=POLL_TIMEOUT, allowed_updates=["callback_query"])  # type: ignore[union-attr]
        print(f"READY {time.process_time():.3f}", flush=True)
        await stop.wait()
        print(f"CPU {time.process_time():.3f}", flush=True)
        await app.updater.stop()  # type: ignore[union-attr]
        await app.stop()


async def _serve_bot(base_url: str, db_url: str, rate_limit: bool, pool: int) -> None:
    """The expertpanel bot as `expertpanel run` runs it (without the notifier and scheduler)."""
    from bot.commands.run import serve
    from core.bootstrap import build_core
    from core.config import Settings

    core = build_core(Settings(database={"url": db_url},  # type: ignore[arg-type]
                               telegram={"token": BOT_TOKEN, "connection_pool": pool}))
    stop, ready = _stop_event(), asyncio.Event()
    task = asyncio.create_task(serve(core, stop=stop, base_url=base_url, base_file_url=base_url.replace("/bot", "/file/bot"),
                                     rate_limit=rate_limit, poll_timeout=POLL_TIMEOUT, background=False, ready=ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait([waiter, task], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        print(f"FAILED {task.result()}", flush=True)
        return
    profile_to = os.environ.get("BENCH_PROFILE")  # a file: cProfile the bot from READY to stop
    profiler = cProfile.Profile() if profile_to else None
    print(f"READY {time.process_time():.3f}", flush=True)
    if profiler is not None:
        profiler.enable()
    await stop.wait()
    print(f"CPU {time.process_time():.3f}", flush=True)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile_to)
    outcome = await task
    await core.close()
    if outcome.code:
        print(f"FAILED {outcome}", flush=True)


def _no_sniffio_probe() -> None:
    """httpcore looks for `sniffio` on every lock it creates; it is not installed here, so each
    look is a failed import scanning sys.path (about a fifth of a bare bot's CPU). Recording it as absent
    once gives the same answer ("asyncio") at once. Applied to both bots alike."""
    if "sniffio" not in sys.modules:
        try:
            import sniffio  # noqa: F401
        except ImportError:
            sys.modules["sniffio"] = None  # type: ignore[assignment]


def _same_pool(size: int) -> None:
    """Every Application built in this process gets `size` connections to the Bot API."""
    from telegram.ext import ApplicationBuilder

    build = ApplicationBuilder.build

    def build_with_pool(self: ApplicationBuilder) -> object:  # type: ignore[type-arg]
        self.connection_pool_size(size)
        return build(self)

    ApplicationBuilder.build = build_with_pool  # type: ignore[method-assign,assignment]


def _stop_event() -> asyncio.Event:
    """Set on SIGTERM/SIGINT; SIGUSR1 prints the CPU time used so far (the measurement's start)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, lambda: print(f"MARK {time.process_time():.3f}", flush=True))
    return stop


class Child:
    """`bench/bot.py --serve …` as a child process; ready when it prints READY. `cpu` is the CPU
    time it used from READY to the stop signal (the measurement, not the imports and start-up)."""

    def __init__(self, *args: str) -> None:
        self.args = [sys.executable, str(Path(__file__).resolve()), *args]
        self.proc: subprocess.Popen[str] | None = None
        self.cpu = float("nan")

    async def start(self, timeout: float = 60.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EXPERTPANEL_")}
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(self.args, cwd=tempfile.gettempdir(), env=env, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), timeout)
        if not line.startswith("READY"):
            raise RuntimeError(f"the bot did not start: {line.strip() or self.proc.wait()}")

    def mark(self) -> None:
        """The measurement starts now (CPU time is counted from here)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGUSR1)

    async def stop(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = await asyncio.to_thread(self.proc.communicate, None, 20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return
        marks = {k: float(v) for k, v in (line.split()[:2] for line in out.splitlines() if line[:4] in ("MARK", "CPU "))}
        self.cpu = marks.get("CPU", float("nan")) - marks.get("MARK", float("nan"))


# --- the simulated users -------------------------------------------------------------------------

@dataclass
class Press:
    chat: int
    message_id: int
    seq: int  # sandbox event sequence number at the press
    started: float
    answered: bool = False
    edited: dict[str, Any] | None = None
    done: asyncio.Future[dict[str, Any]] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Users:
    """Presses buttons through the sandbox's control interface and watches its event log (one
    collector for all users) for the answer and the edit of each press."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.by_query: dict[str, Press] = {}
        self.by_chat: dict[int, Press] = {}
        self.latencies: list[float] = []

    async def press(self, chat: int, message_id: int, data: str) -> dict[str, Any]:
        press = Press(chat, message_id, self.server.world.seq, time.perf_counter())
        self.by_chat[chat] = press
        qid = await self.server.user_press(chat, message_id, data)
        self.by_query[qid] = press
        view = await press.done
        self.latencies.append(time.perf_counter() - press.started)
        return view

    async def collect(self) -> None:
        seen = self.server.world.seq
        world = self.server.world
        while True:
            for event in world.events_after(seen, kinds=("callback_answer", "edit")):
                seen = event.seq
                d = event.to_dict()
                if d["kind"] == "callback_answer":
                    press = self.by_query.get(str(d.get("query_id")))
                    if press is not None:
                        press.answered = True
                        self._check(press)
                else:
                    press = self.by_chat.get(d["chat_id"])
                    if press is not None and d["seq"] > press.seq and d["message_id"] == press.message_id:
                        press.edited = d["message"]
                        self._check(press)
            await world.event_signal.wait(1.0)

    @staticmethod
    def _check(press: Press) -> None:
        if press.answered and press.edited is not None and not press.done.done():
            press.done.set_result(press.edited)


def _button(view: dict[str, Any], pick: Callable[[str], bool]) -> str:
    for row in view.get("buttons") or []:
        for b in row:
            if pick(b.get("callback_data", "")):
                return str(b["callback_data"])
    raise RuntimeError(f"no such button in {view.get('buttons')}")


@dataclass
class Result:
    name: str
    presses: int
    seconds: float
    p50: float
    p95: float
    calls: dict[str, int]
    errors: dict[str, Any]
    cpu: float  # CPU seconds the bot's process used during the measurement

    @property
    def rate(self) -> float:
        return self.presses / self.seconds if self.seconds else 0.0

    def per_press(self) -> str:
        keys = ("answerCallbackQuery", "editMessageText", "sendMessage")
        parts = [f"{self.calls.get(k, 0) / self.presses:.2f} {k}" for k in keys if self.calls.get(k)]
        other = {k: v for k, v in self.calls.items() if k not in keys and k != "getUpdates"}
        if other:
            parts.append("other: " + ", ".join(f"{k} {v}" for k, v in sorted(other.items())))
        return " + ".join(parts)


async def _measure(server: Any, name: str, child: Child, flows: list[tuple[int, int, str, Callable[[str], bool]]]) -> Result:
    """Start the bot, let every user press twice (all users at once), stop the bot."""
    await child.start()
    await _settle(server)
    child.mark()
    await asyncio.sleep(0.1)
    users = Users(server)
    collector = asyncio.create_task(users.collect())
    server.reset_stats()

    async def user(chat: int, message_id: int, first: str, second: Callable[[str], bool]) -> None:
        view = await users.press(chat, message_id, first)
        await users.press(chat, message_id, _button(view, second))

    began = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*(user(*f) for f in flows)), timeout=120 + 2 * len(flows))
    finally:
        elapsed = time.perf_counter() - began
        stats = server.stats()
        collector.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collector
        await child.stop()
    lat = sorted(users.latencies)
    return Result(name, len(lat), elapsed, statistics.median(lat), lat[int(0.95 * (len(lat) - 1))],
                  stats["calls"], {"errors": stats["errors"], "429": stats["flood_429"]["total"]}, child.cpu)


async def _settle(server: Any, quiet: float = 0.5) -> None:
    """Wait until the bot's start-up calls (command menus for every account …) are over."""
    last, since = -1, time.monotonic()
    while time.monotonic() - since < quiet:
        calls = sum(v for k, v in server.stats()["calls"].items() if k != "getUpdates")
        if calls != last:
            last, since = calls, time.monotonic()
        await asyncio.sleep(0.05)


# --- setup -----------------------------------------------------------------------------------------

async def _setup_bot(core: Any, server: Any, n: int, base: int) -> list[tuple[int, int, int]]:
    """N experts with one pending invitation each, delivered: [(chat, message id, invitation id)]."""
    from sqlalchemy import func, select

    from bot.notifier import Notifier, make_bot
    from core.conflicts import normalize_unit_name
    from core.db.models import Account, Category, Contact, Expert, ExpertCategory, Outbox, UsingUnit
    from core.enums import OutboxStatus
    from core.panel_request import RequestContext, parse_panel_request
    from core.services import panels
    from core.services.accounts import Roles

    now = core.clock.now()
    today = now.date()
    async with core.sessions() as s:
        if await s.scalar(select(func.count()).select_from(Expert)):
            raise SystemExit("bench/bot.py needs an empty database (it has experts): use a fresh one or --reset")
        eia = await s.scalar(select(Category.id).where(Category.code == "eia"))
        for i in range(n):
            e = Expert(name=f"压测专家{i}", gender="male", birth_month=date(1970, 1, 1), work_unit=f"压测研究院{i}",
                       work_unit_norm=normalize_unit_name(f"压测研究院{i}"), unit_nature="research", title="高级工程师",
                       phone="13800138000", status="active", term_start=today - timedelta(days=30),
                       term_end=today + timedelta(days=730), field_mask=1 << eia, created_at=now, updated_at=now)
            s.add(e)
            await s.flush()
            s.add(ExpertCategory(expert_id=e.id, category_id=eia))
            s.add(Account(telegram_id=base + i, display_name=f"bench{i}", expert_id=e.id, language="zh", created_at=now))
            server.users.create(base + i, f"专家{i}", language_code="zh")
        unit = UsingUnit(name="压测使用单位", name_norm=normalize_unit_name("压测使用单位"), created_at=now)
        s.add(unit)
        await s.flush()
        contact = Contact(unit_id=unit.id, name="联系人", phone="13900139000", active=True, created_at=now)
        s.add(contact)
        await s.flush()
        acc = Account(telegram_id=base + n, display_name="contact", contact_id=contact.id, created_at=now)
        s.add(acc)
        await s.commit()
        roles = Roles(acc.id, None, contact.id, unit.id, False, False, None)
    server.users.create(base + n, "联系人", language_code="zh")
    start = (now + timedelta(days=20)).replace(hour=1, minute=30, second=0, microsecond=0)
    ctx = RequestContext(categories={c.code: c.name_zh for c in core.settings.categories}, now=now)
    for p in range(n // PANEL_SIZE):  # one hour for all: an expert with a pending invitation is booked
        form = parse_panel_request({
            "title": f"压测项目{p}环境影响报告书技术评审", "matter_type": "review", "location": "局三楼会议室",
            "starts_at": start, "ends_at": start + timedelta(hours=3), "response_deadline": now + timedelta(days=10),
            "size": PANEL_SIZE, "fields": [{"category": "eia", "quota": None}],
            "parties": [{"name": "压测化工有限公司", "uscc": None}]}, ctx)
        await panels.request_panel(core.uow(), roles, form)
    bot = make_bot(core, base_url=server.base_url, base_file_url=server.base_file_url)
    await bot.initialize()
    notifier = Notifier(core, bot, poll_interval=0.05, chat_burst=100)
    await notifier.start()
    try:
        while True:
            async with core.sessions() as s:
                left = await s.scalar(select(func.count()).select_from(Outbox).where(
                    Outbox.status == OutboxStatus.PENDING.value))
            if not left:
                break
            await asyncio.sleep(0.1)
    finally:
        await notifier.stop()
        await bot.shutdown()
    async with core.sessions() as s:
        rows = (await s.execute(select(Account.telegram_id, Outbox.message_id, Outbox.params).join(
            Outbox, Outbox.account_id == Account.id).where(Outbox.kind == "invitation",
                                                          Outbox.status == OutboxStatus.SENT.value))).all()
    out = [(int(tg), int(mid), int(params["invitation_id"])) for tg, mid, params in rows]
    if len(out) != n // PANEL_SIZE * PANEL_SIZE:
        raise SystemExit(f"setup: {len(out)} invitations delivered, expected {n}")
    return out


async def _setup_echo(server: Any, chats: list[int]) -> list[tuple[int, int]]:
    """One message with a button in each chat, sent with the echo bot's token."""
    from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

    bot = Bot(ECHO_TOKEN, base_url=server.base_url)
    out = []
    async with bot:
        for chat in chats:
            msg = await bot.send_message(chat, "echo 0", reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("press", callback_data="echo:1")]]))
            out.append((chat, msg.message_id))
    return out


async def _reset_pg(url: str) -> None:
    from sqlalchemy import text

    from core.db.session import create_engine

    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


# --- the run ---------------------------------------------------------------------------------------

async def run(args: argparse.Namespace) -> bool:
    from bot.sandbox import SandboxServer
    from core.bootstrap import build_core
    from core.config import Settings
    from core.db.migrate import upgrade
    from core.services import roster

    n = args.experts // PANEL_SIZE * PANEL_SIZE
    tmp = None
    db_url = args.db_url
    if db_url is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-bot-")
        db_url = f"sqlite+aiosqlite:///{tmp.name}/bench.db"
    elif args.reset and db_url.startswith("postgresql"):
        await _reset_pg(db_url)
    await upgrade(db_url)
    server = SandboxServer()  # any token: the bot and the echo bot share it
    await server.start()
    core = build_core(Settings(database={"url": db_url}, telegram={"token": BOT_TOKEN}))  # type: ignore[arg-type]
    results: list[Result] = []
    try:
        await roster.sync_categories(core.uow(), core.settings.categories)
        server.limits.configure(enabled=False)  # setup at full speed
        t0 = time.perf_counter()
        invitations = await _setup_bot(core, server, n, random.randrange(10**8, 9 * 10**8))
        echo_msgs = await _setup_echo(server, [tg for tg, _, _ in invitations])
        print(f"setup: {n} experts with a delivered invitation ({n // PANEL_SIZE} panels of {PANEL_SIZE}), "
              f"{len(echo_msgs)} echo messages, in {time.perf_counter() - t0:.1f} s; database: {db_url.split('://')[0]}")
        server.limits.configure(enabled=args.flood_limits)
        limits = (f"sandbox flood limits ON {server.limits.settings()}, AIORateLimiter in both bots" if args.flood_limits
                  else "sandbox flood limits OFF, no client-side rate limiter in either bot")
        pool = f"{args.pool} connections"
        print(f"measuring: {n} users pressing at once, 2 presses each ({2 * n} presses per bot); {limits}; "
              f"both bots: concurrent_updates, {pool} to the Bot API")
        rl = ((["--rate-limit"] if args.flood_limits else []) + (["--sniffio-probe"] if args.sniffio_probe else [])
              + (["--pool", str(args.pool)] if args.pool else []))
        echo = Child("--serve", "echo", "--base-url", server.base_url, *rl)
        ep = Child("--serve", "bot", "--base-url", server.base_url, "--db-url", db_url, *rl)
        echo_flows = [(chat, mid, "echo:1", lambda d: d.startswith("echo:")) for chat, mid in echo_msgs]
        bot_flows = [(tg, mid, f"inv:{inv}:acc", lambda d: d.endswith(":acc_ok")) for tg, mid, inv in invitations]
        results.append(await _measure(server, "echo (before)", echo, echo_flows))
        results.append(await _measure(server, "expertpanel bot", ep, bot_flows))
        echo_flows = [(chat, mid, "echo:3", lambda d: d.startswith("echo:")) for chat, mid in echo_msgs]
        results.append(await _measure(server, "echo (after)", echo, echo_flows))
        accepted = await _accepted(core)
    finally:
        await core.close()
        await server.stop()
        if tmp is not None:
            tmp.cleanup()

    for r in results:
        print(f"{r.name:>16}: {r.presses} presses in {r.seconds:.2f} s = {r.rate:7.1f} presses/s; "
              f"latency p50 {r.p50 * 1000:.0f} ms, p95 {r.p95 * 1000:.0f} ms; "
              f"bot process CPU {r.cpu * 1000 / r.presses:.1f} ms per press")
        print(f"{'':>16}  API calls per press: {r.per_press()}; errors {r.errors['errors'] or 'none'}, "
              f"429s {r.errors['429']}")
    echo_rate = statistics.mean([results[0].rate, results[2].rate])
    ratio = results[1].rate / echo_rate
    ok = ratio >= TARGET_RATIO and accepted == n
    print(f"acceptances recorded: {accepted}/{n}")
    print(f"bot {results[1].rate:.1f} presses/s vs echo {echo_rate:.1f} presses/s (mean of before/after): "
          f"ratio {ratio:.2f} (target ≥ {TARGET_RATIO})")
    print("PASS" if ok else "FAIL")
    return ok


async def _accepted(core: Any) -> int:
    from sqlalchemy import func, select

    from core.db.models import Invitation

    async with core.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(Invitation).where(Invitation.status == "accepted")) or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experts", type=int, default=200, help="simulated experts (rounded down to a multiple of 5)")
    parser.add_argument("--db-url", default=None, help="database (default: a temporary SQLite file)")
    parser.add_argument("--reset", action="store_true",
                        help="PostgreSQL: drop and recreate the public schema first (its data is lost); "
                             "without it the database must hold no experts")
    parser.add_argument("--flood-limits", action="store_true",
                        help="keep the sandbox's Telegram flood limits on and use AIORateLimiter in both bots")
    parser.add_argument("--pool", type=int, default=DEFAULT_POOL, metavar="N",
                        help=f"both bots use N connections to the Bot API (default {DEFAULT_POOL}; "
                             "PTB's own default, which the bot ships with, is 256)")
    parser.add_argument("--sniffio-probe", action="store_true",
                        help="leave httpcore's per-lock import of the missing sniffio package in place (both bots)")
    parser.add_argument("--serve", choices=("echo", "bot"), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--rate-limit", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # PTB's deprecation notes about RetryAfter's type
    if args.serve and not args.sniffio_probe:
        _no_sniffio_probe()
    if args.serve == "echo" and args.pool:
        _same_pool(args.pool)  # the bot sets its pool from its settings (telegram.connection_pool)
    if args.serve == "echo":
        asyncio.run(_serve_echo(args.base_url, args.rate_limit))
    elif args.serve == "bot":
        asyncio.run(_serve_bot(args.base_url, args.db_url, args.rate_limit, args.pool or DEFAULT_POOL))
    else:
        sys.exit(0 if asyncio.run(run(args)) else 1)


if __name__ == "__main__":
    main()
