"""`python -m bot …` is the `expertpanel` command.

A Ctrl-C while Python is still importing (the first seconds of `./run.sh`) ends the process at
once with 130, quietly: nothing has been opened or written yet, and a KeyboardInterrupt raised
in the middle of an import can do harm that shows later (pydantic-core swallows one raised
while it builds a validator and keeps a broken one; under `python -m`, one raised inside a
string `exec` turns any later exit into death by SIGINT). Once imported, the CLI turns a Ctrl-C
into a clean stop."""
import os
import signal
import sys


def _interrupted_while_importing(_signum: int, _frame: object) -> None:
    os._exit(130)


signal.signal(signal.SIGINT, _interrupted_while_importing)
from bot.cli import main  # noqa: E402

signal.signal(signal.SIGINT, signal.default_int_handler)
sys.argv[0] = "expertpanel"
main()
