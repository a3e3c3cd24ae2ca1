"""`python -m MODULE ARGS` and `python -c CODE ARGS` for the tests, forked from a warm process.

A new interpreter spends ~2.5 s importing the bot's modules on a slow host, and the CLI tests
start ~40 of them per engine. Here one *zygote* process imports them once and forks a child per
command. The child is a process of its own — its pid, environment, working directory, stdout,
stderr and exit status — and runs the real entry point (`runpy` for `-m`, `exec` for `-c`,
with `sys.argv` as Python would set it), so what it prints and how it exits are the program's
own. What it skips is the interpreter's start and the first imports: the tests of those start
real interpreters (tests/unit/test_cli_startup.py, test_cli.py's `--help`, the playground's
./run.sh and the sandbox process).

`run` mirrors `subprocess.run(…, capture_output=True, text=True, timeout=…)`; `spawn` returns a
handle with Popen's `pid`, `send_signal`, `kill` and `wait` (no `poll`). Not thread-safe: one
pytest process, one zygote, one request at a time.
"""
from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]
# What the forked commands import, at start or when a command runs (the CLI's commands load
# their modules lazily): imported once, in the zygote.
PRELOAD = ("bot.cli", "bot.commands.outbox", "bot.commands.scheduler", "bot.notifier", "core.scheduling.scheduler",
           "core.db.migrate", "core.services.panels", "core.services.importer", "core.roster_export",
           "core.reports", "aiosqlite", "asyncpg")

_ZYGOTE = r'''
import json, os, runpy, sys, threading, traceback
sys.path.insert(0, ROOT)
requests, replies = os.fdopen(os.dup(0), "r"), os.fdopen(os.dup(1), "w")
null = os.open(os.devnull, os.O_RDWR)
os.dup2(null, 0)
os.dup2(null, 1)  # a child's stdout is its own file, never the replies' pipe
for name in PRELOAD:
    __import__(name)
if threading.active_count() != 1:  # forking a process with threads would copy their locks' state
    raise SystemExit(f"zygote: {threading.active_count()} threads after the imports")


def child(r):
    requests.close()
    replies.close()
    os.chdir(r["cwd"])
    os.environ.clear()
    os.environ.update(r["env"])
    for fd, path in ((1, r["stdout"]), (2, r["stderr"])):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(f, fd)
        os.close(f)
    code = 0
    try:
        if r["module"] is not None:
            sys.argv = [r["module"], *r["args"]]  # runpy puts the module's path in argv[0]
            runpy.run_module(r["module"], run_name="__main__", alter_sys=True)
        else:
            sys.argv = ["-c", *r["args"]]
            exec(compile(r["code"], "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
    except SystemExit as exc:  # what the interpreter does with it
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        traceback.print_exc()
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code & 0xFF)


def reply(value):
    replies.write(json.dumps(value) + "\n")
    replies.flush()


for line in requests:
    r = json.loads(line)
    if r["op"] == "spawn":
        pid = os.fork()
        if pid == 0:
            child(r)
        reply({"pid": pid})
    elif r["op"] == "wait":
        _, status = os.waitpid(r["pid"], 0)
        reply({"code": os.waitstatus_to_exitcode(status)})
'''


class _Zygote:
    def __init__(self) -> None:
        code = f"ROOT = {str(ROOT)!r}\nPRELOAD = {PRELOAD!r}\n{_ZYGOTE}"
        self.proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)

    def ask(self, request: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        if timeout is not None and not select.select([self.proc.stdout], [], [], timeout)[0]:
            raise TimeoutError
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the test zygote ended (exit {self.proc.wait()})")
        return dict(json.loads(line))

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


_zygote: _Zygote | None = None


def _get() -> _Zygote:
    global _zygote
    if _zygote is None or _zygote.proc.poll() is not None:
        _zygote = _Zygote()
        atexit.register(_zygote.close)
    return _zygote


class Child:
    """A forked command, Popen-like. Its output goes to files, read by `output()` after `wait`."""

    def __init__(self, args: list[str], module: str | None, code: str | None, env: dict[str, str],
                 cwd: Path | str) -> None:
        self.args = args
        self._dir = tempfile.TemporaryDirectory(prefix="forked-")
        self._out, self._err = Path(self._dir.name, "stdout"), Path(self._dir.name, "stderr")
        self.returncode: int | None = None
        self.pid = int(_get().ask({"op": "spawn", "module": module, "code": code, "args": args, "env": env,
                                   "cwd": str(cwd), "stdout": str(self._out), "stderr": str(self._err)})["pid"])

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            try:
                self.returncode = int(_get().ask({"op": "wait", "pid": self.pid}, timeout)["code"])
            except TimeoutError:
                # The zygote is still waiting for it: end it, so that the zygote's answer comes.
                os.kill(self.pid, signal.SIGKILL)
                self.returncode = int(json.loads(_read_line(_get().proc.stdout))["code"])
                raise subprocess.TimeoutExpired(self.args, timeout or 0) from None
        return self.returncode

    def output(self) -> tuple[str, str]:
        """(stdout, stderr) as text; the files are removed."""
        try:
            return (self._out.read_text(errors="replace") if self._out.exists() else "",
                    self._err.read_text(errors="replace") if self._err.exists() else "")
        finally:
            self._dir.cleanup()


def _read_line(stream: IO[str] | None) -> str:
    assert stream is not None
    return stream.readline()


def spawn(args: list[str], *, module: str | None = None, code: str | None = None, env: dict[str, str],
          cwd: Path | str) -> Child:
    """Start `python -m module *args` or `python -c code *args` (exactly one of the two)."""
    if (module is None) == (code is None):
        raise ValueError("give module or code")
    return Child(args, module, code, env, cwd)


def run(args: list[str], *, module: str | None = None, code: str | None = None, env: dict[str, str],
        cwd: Path | str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`subprocess.run([python, -m module | -c code, *args], capture_output=True, text=True)`."""
    child = spawn(args, module=module, code=code, env=env, cwd=cwd)
    try:
        rc = child.wait(timeout)
    finally:
        out, err = child.output()
    return subprocess.CompletedProcess(child.args, rc, out, err)
