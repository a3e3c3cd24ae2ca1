"""Keep the sandbox's chats (users, messages, files) across restarts of `expertpanel sandbox`.

The database keeps the domain state; this keeps what the simulated Telegram clients show, so a
restarted playground reopens with its conversations. Pending updates and events are not kept
(the bot confirmed them already, the page reloads messages). An unreadable file is ignored.
"""
from __future__ import annotations

import itertools
import logging
import pickle
import re
from pathlib import Path
from typing import Any

from .server import SandboxServer

log = logging.getLogger(__name__)
VERSION = 1
_FILE_NO = re.compile(r"file_(\d+)\.")


class ChatStore:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    def save(self, server: SandboxServer) -> None:
        if self.path is None:
            return
        world = server.world
        state: dict[str, Any] = {"version": VERSION, "users": world.users, "chats": world.chats,
                                 "files": world.files}
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_bytes(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
            tmp.replace(self.path)
        except OSError as exc:
            log.warning("could not save the sandbox chats to %s: %s", self.path, exc)

    def load(self, server: SandboxServer) -> bool:
        """Restore saved chats into a fresh server's world; False when there was nothing usable."""
        if self.path is None or not self.path.is_file():
            return False
        try:
            state = pickle.loads(self.path.read_bytes())  # our own file, written by save()
            if state.get("version") != VERSION:
                return False
            world = server.world
            world.users.update(state["users"])
            world.chats.update(state["chats"])
            world.files.update(state["files"])
            world.files_by_path.update({f.file_path: f for f in state["files"].values()})
        except Exception as exc:  # noqa: BLE001 — an old or damaged snapshot must not stop the sandbox
            log.warning("ignoring the unreadable sandbox chats file %s: %s", self.path, exc)
            return False
        numbers = [int(m.group(1)) for f in world.files.values() if (m := _FILE_NO.search(f.file_path))]
        world._file_counter = itertools.count(max(numbers, default=0) + 1)
        return True
