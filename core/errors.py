"""Coded errors: the core raises codes with parameters; adapters render them from catalogs."""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule was broken by the input or the state; `code` is a message-catalog key."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params

    def __repr__(self) -> str:
        return f"DomainError({self.code!r}, {sorted(self.params)})"


class NotFound(DomainError):
    """The named object does not exist (or is not visible to the caller)."""


class Forbidden(DomainError):
    """The caller may not do this."""


class Conflict(DomainError):
    """The state changed under the caller (already answered, closed, taken)."""


class ValidationFailed(DomainError):
    """Several field errors at once; `errors` holds (field, code, params) triples."""

    def __init__(self, errors: list[tuple[str, str, dict[str, Any]]]) -> None:
        super().__init__("validation.failed", count=len(errors))
        self.errors = errors
