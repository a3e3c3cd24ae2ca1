"""Typed handler context: handlers reach the core through `context.core`, never untyped bot_data."""
from __future__ import annotations

from typing import Any

from telegram.ext import Application, CallbackContext, ExtBot

from core.bootstrap import Core


class BotData:
    """Process-wide state shared by handlers. PTB instantiates it without arguments."""

    def __init__(self) -> None:
        self._core: Core | None = None
        self.admin_error_reports: dict[str, float] = {}

    @property
    def core(self) -> Core:
        if self._core is None:
            raise RuntimeError("BotData.core used before build_application set it")
        return self._core

    @core.setter
    def core(self, value: Core) -> None:
        self._core = value


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """CallbackContext with typed access to the core."""

    @property
    def core(self) -> Core:
        return self.bot_data.core


BotApplication = Application[ExtBot[None], BotContext, dict[Any, Any], dict[Any, Any], BotData, Any]
