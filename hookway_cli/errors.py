"""The CLI's errors, drawn as a tree; each one ends the command with one sentence on stderr::

CliError                 exit code 1 unless said otherwise
  ApiError               the API answered 4xx/5xx: .status, .code and .message from its error body
  ConnectionFailed       the API could not be reached (refused, DNS, timeout)
  UsageError             exit code 2: the command line or a file it names is unusable
"""

from __future__ import annotations


class CliError(Exception):
    """An error the CLI reports as one sentence; ``exit_code`` says how it ends."""

    exit_code = 1


class ApiError(CliError):
    """The API said no."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ConnectionFailed(CliError):
    """The API could not be reached."""


class UsageError(CliError):
    """The command line, or a file it names, is unusable."""

    exit_code = 2
