"""Benchmark: outbox fan-out through the sandbox Bot API, which enforces Telegram's flood limits.

    .venv/bin/python bench/fanout.py                       # SQLite in a temporary directory
    .venv/bin/python bench/fanout.py --db-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_fanout

1. Fan-out: 1,000 notifications to 1,000 chats. Prints the achieved rate (from the notifier's
   start to the last delivery, and first-to-last delivery), the 429s the sandbox answered and
   the items lost (queued but never delivered). Target: ≥ 27 msg/s (90 % of 30/s), zero lost.
2. Burst: 20 notifications to one chat. All delivered in order, none lost, pace ≈ 1 s apart.

The sandbox runs in this process with its default limits (30 msg/s overall with a burst of 30,
1 msg/s per chat with a burst of 3, 429 + retry_after above them); the notifier is the real
one (`bot.notifier.Notifier`, `[delivery]` defaults). A PostgreSQL database is migrated and
gets fresh accounts with random Telegram ids; its other rows are left alone.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.notifier import Notifier, make_bot  # noqa: E402
from bot.sandbox import SandboxServer  # noqa: E402
from core.bootstrap import Core, build_core  # noqa: E402
from core.config import Settings  # noqa: E402
from core.db.migrate import upgrade  # noqa: E402
from core.db.models import Account  # noqa: E402
from core.outbox import enqueue  # noqa: E402

TOKEN = "777:FANOUT-bench"
TARGET_RATE = 27.0
MARK = re.compile(r"FANOUT-(\d+)")


async def _accounts(core: Core, server: SandboxServer, telegram_ids: list[int]) -> list[int]:
    async with core.sessions() as s:
        accs = []
        for tg in telegram_ids:
            server.users.create(tg, f"U{tg}", language_code="zh")
            acc = Account(telegram_id=tg, display_name=f"bench{tg}", created_at=core.clock.now())
            s.add(acc)
            accs.append(acc)
        await s.commit()
        return [a.id for a in accs]


async def _queue(core: Core, items: list[tuple[int, int]]) -> None:
    uow = core.uow()
    async with uow:
        for account_id, n in items:
            await enqueue(uow, account_id, "regulation_expiry",
                          {"days": n, "lapses_on": f"FANOUT-{n:06d}", "effective": "bench"})
        await uow.commit()


def _deliveries(server: SandboxServer, chats: set[int]) -> list[tuple[float, int, int]]:
    """(time, chat, number) of every bot message in `chats` carrying a bench marker."""
    out = []
    for e in server.events(kinds=["bot_message"]):
        if e["chat_id"] in chats:
            m = MARK.search(e["message"]["text"] or "")
            if m:
                out.append((e["time"], e["chat_id"], int(m.group(1))))
    return out


async def _drain(notifier: Notifier, server: SandboxServer, chats: set[int], expected: int, timeout: float) -> float:
    """Wait until `expected` markers arrived in `chats` (or timeout); returns the elapsed seconds."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if len(_deliveries(server, chats)) >= expected and not notifier._in_flight:
            break
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def run(db_url: str | None, chats: int, burst: int) -> bool:
    tmp = None
    if db_url is None:
        tmp = tempfile.TemporaryDirectory(prefix="fanout-")
        db_url = f"sqlite+aiosqlite:///{tmp.name}/fanout.db"
    await upgrade(db_url)
    server = SandboxServer(token=TOKEN)  # keeps the last 100,000 events: plenty for the timings
    await server.start()
    settings = Settings(database={"url": db_url},  # type: ignore[arg-type]
                        telegram={"token": TOKEN, "base_url": server.base_url, "base_file_url": server.base_file_url})
    core = build_core(settings)
    base = random.randrange(10**8, 9 * 10**8)
    ok = True
    try:
        fan_ids = [base + i for i in range(chats)]
        burst_id = base + chats + 1
        accounts = await _accounts(core, server, fan_ids + [burst_id])
        await _queue(core, [(acc, i) for i, acc in enumerate(accounts[:chats])])
        bot = make_bot(core)
        await bot.initialize()
        notifier = Notifier(core, bot)
        ds = settings.delivery
        print(f"database: {db_url.split('://')[0]}; pace: {ds.global_per_second:g} msg/s overall, "
              f"{ds.per_chat_per_second:g}/s per chat; sandbox limits: {server.limits.settings()}")

        # 1. fan-out
        server.reset_stats()
        started_wall = time.time()
        await notifier.start()
        elapsed = await _drain(notifier, server, set(fan_ids), chats, timeout=chats / 10 + 30)
        got = _deliveries(server, set(fan_ids))
        numbers = [n for _, _, n in got]
        lost = chats - len(set(numbers))
        dups = len(numbers) - len(set(numbers))
        floods = server.stats()["flood_429"]["total"]
        times = sorted(t for t, _, _ in got)
        overall = len(set(numbers)) / (times[-1] - started_wall) if times else 0.0
        steady = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
        fan_ok = overall >= TARGET_RATE and lost == 0
        ok &= fan_ok
        print(f"fan-out: {chats} notifications to {chats} chats in {elapsed:.1f} s")
        print(f"  achieved rate: {overall:.1f} msg/s from start ({steady:.1f} msg/s first-to-last delivery)")
        print(f"  429s received: {floods} (notifier saw {notifier.stats.flood_429}); lost: {lost}; duplicates: {dups}")
        print(f"  {'PASS' if fan_ok else 'FAIL'}: target ≥ {TARGET_RATE:g} msg/s and zero lost")

        # 2. burst to one chat
        server.reset_stats()
        await _queue(core, [(accounts[-1], 10_000 + k) for k in range(burst)])
        notifier.wake()
        await _drain(notifier, server, {burst_id}, burst, timeout=burst * 3 + 10)
        got = _deliveries(server, {burst_id})
        numbers = [n - 10_000 for _, _, n in got]
        lost = burst - len(set(numbers))
        gaps = [b - a for a, b in zip([t for t, _, _ in got], [t for t, _, _ in got][1:])]
        pace = (got[-1][0] - got[0][0]) / (len(got) - 1) if len(got) > 1 else float("nan")
        floods = server.stats()["flood_429"]["total"]
        in_order = numbers == sorted(numbers)
        burst_ok = lost == 0 and in_order and 0.8 <= pace <= 1.3 and floods == 0
        ok &= burst_ok
        print(f"burst: {burst} notifications to one chat: delivered {len(set(numbers))}, lost {lost}, "
              f"in order: {in_order}, 429s: {floods}")
        print(f"  pace: {pace:.2f} s per message (min gap {min(gaps):.2f} s, max gap {max(gaps):.2f} s)")
        print(f"  {'PASS' if burst_ok else 'FAIL'}: all delivered, none lost, ≈ 1 message/s")
        await notifier.stop()
        await bot.shutdown()
    finally:
        await server.stop()
        await core.close()
        if tmp is not None:
            tmp.cleanup()
    print("PASS" if ok else "FAIL")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", default=None, help="database (default: a temporary SQLite file)")
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=20)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # PTB's deprecation notes about RetryAfter's type
    ok = asyncio.run(run(args.db_url, args.chats, args.burst))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
