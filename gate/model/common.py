"""Values used by several stages: check status, severity, exit codes and the option choices a
front end parses before anything else is loaded (kept here, in a module that imports nothing of
the gate, so the run's helper can start before the model and the renderers load: issue 12)."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Status(StrEnum):
    """The outcome of one check on one file; a value, never a subclass."""

    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"
    NA = "n/a"


class Severity(StrEnum):
    """How much a failing check matters to the gate (see `fail-on`)."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"
    OFF = "off"

    @property
    def rank(self) -> int:
        return {"error": 3, "warning": 2, "note": 1, "off": 0}[self.value]


class ExitCode(IntEnum):
    """The documented exit codes of `otp-gate` and the action."""

    PASS = 0
    FAIL = 1
    ERROR = 2


class BackportPolicy(StrEnum):
    """`distro-backports` input: let the upstream verdict stand (the default, listed first), or
    trust a distro's changelog."""

    IGNORE = "ignore"
    TRUST = "trust"


class Format(StrEnum):
    """Output formats of `otp-gate --format`."""

    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    MARKDOWN = "markdown"
