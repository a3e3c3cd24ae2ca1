"""`expertpanel sandbox` as a real child process, for tests: start it on a free port with its own
demo database, wait for the "ready" line, stop it with SIGINT (Ctrl-C) and collect its output."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The CLI's code path without depending on how bot/cli.py registers the command.
LAUNCH = "import sys; from bot.commands.sandbox import main; sys.exit(main(None, False, False))"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SandboxProcess:
    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self.stderr = ""
        self._reader: threading.Thread | None = None

    @property
    def db_path(self) -> Path:
        return self.workdir / "demo.db"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EXPERTPANEL_")}
        env.update({
            "EXPERTPANEL_SANDBOX__DATABASE_URL": f"sqlite+aiosqlite:///{self.db_path}",
            "EXPERTPANEL_SANDBOX__PORT": str(self.port),
            "PYTHONPATH": str(ROOT),  # the working directory is the test's (it has no config.toml)
            "PYTHONUNBUFFERED": "1",
        })
        return env

    def start(self, timeout: float = 60.0) -> float:
        """Start and wait for the page; returns the seconds it took."""
        began = time.monotonic()
        self.lines = []
        self.proc = subprocess.Popen([sys.executable, "-c", LAUNCH], cwd=self.workdir, env=self.env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        while time.monotonic() - began < timeout:
            if any(self.url in line for line in self.lines):
                return time.monotonic() - began
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"the sandbox did not come up:\n{self.output()}")

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self, timeout: float = 30.0) -> int:
        """Ctrl-C (SIGINT), then wait; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            _, self.stderr = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, self.stderr = self.proc.communicate()
        if self._reader is not None:
            self._reader.join(5)
        return self.proc.returncode

    def output(self) -> str:
        return "\n".join(self.lines) + ("\n[stderr]\n" + self.stderr if self.stderr else "")
