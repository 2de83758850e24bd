"""Values used by several stages: check status and severity."""

from __future__ import annotations

from enum import StrEnum


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
