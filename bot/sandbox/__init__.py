"""A local stand-in for the Telegram Bot API (see `bot.sandbox.server` for the Python API and
`bot.sandbox.control` for the JSON control API under /sandbox/)."""
from .faults import FaultRules
from .limits import FloodLimiter
from .server import SandboxConfig, SandboxServer
from .state import SandboxError

__all__ = ["FaultRules", "FloodLimiter", "SandboxConfig", "SandboxError", "SandboxServer"]
