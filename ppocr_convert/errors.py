"""Typed errors. Each carries a one-line cause and a hint; the CLI renders them
without a traceback (unless --debug) and exits non-zero."""
from __future__ import annotations


class ConvertError(Exception):
    """Base class: `str(e)` is the one-line cause, `hint` what to do about it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None, log_path: str | None = None):
        super().__init__(message)
        self.hint = hint
        self.log_path = log_path

    def __reduce__(self):
        # keep hint, log path and subclass fields across a process boundary (the release
        # measures parity in a child process): pickle's default rebuilds from args only
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls, args, state):
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigError(ConvertError):
    """A config (or command-line setting) is wrong. Config validation collects every
    problem into one error: `problems` lists them (`<file>: <key.path>: <what>`), the
    message joins them on one line."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None, log_path: str | None = None,
                 problems: list[str] | None = None):
        super().__init__(message, hint, log_path)
        self.problems = list(problems) if problems else [message]


class UnknownModelError(ConfigError):
    pass


class SourceError(ConvertError):
    exit_code = 3


class ToolError(ConvertError):
    """An external tool (paddle2onnx, onnx2tf, ...) failed; its log is kept."""

    exit_code = 4


class GpuCompatibilityError(ConvertError):
    exit_code = 5


class ParityError(ConvertError):
    exit_code = 6


class PassFailedError(ConvertError):
    """A graph pass failed; the message starts with the pass name."""

    exit_code = 4
