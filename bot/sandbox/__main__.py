"""`python -m bot.sandbox [--host 127.0.0.1] [--port 8081] [--token T] [--no-flood-limits]`:
run only the Bot API stand-in until interrupted."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from .server import SandboxServer


async def _run(args: argparse.Namespace) -> None:
    server = SandboxServer(token=args.token)
    if args.no_flood_limits:
        server.limits.configure(enabled=False)
    await server.start(args.host, args.port)
    print(f"Bot API stand-in: base_url={server.base_url} base_file_url={server.base_file_url}", flush=True)
    print(f"Playground: {server.url}/   control API: {server.url}/sandbox/state", flush=True)
    done = asyncio.Event()
    with contextlib.suppress(NotImplementedError):  # not on Windows
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, done.set)
    try:
        await done.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=None, help="accept only this bot token (default: any)")
    parser.add_argument("--no-flood-limits", action="store_true", help="disable the 429 flood limits")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(args))


if __name__ == "__main__":
    main()
