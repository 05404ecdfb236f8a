"""User-facing errors raised below `bench`: one line on stderr and an exit status.

`devices` may not import `bench`, so the CLI's error class lives here and `bench.errors.BenchError`
is this `UserError`: anything raised as a `UserError` (e.g. a `DeviceError`) is caught by the CLI's
`except BenchError` and printed as one line with exit status `code`.
"""
from __future__ import annotations


class UserError(Exception):
    """A user-facing error: bad input or environment. `code` is the exit status (2 by default)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


class DeviceError(UserError):
    """Unknown device, device not available here, or a device option used with the wrong device."""
