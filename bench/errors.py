"""Errors the CLI turns into one line on stderr and an exit status."""


class BenchError(Exception):
    """A user-facing error: bad input or environment. `code` is the exit status (2 by default)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code
