"""The one clock of a run: made in `main(argv, environ)` and passed down, never read below.

`OTP_GATE_TODAY` pins it (reproducible runs, tests); otherwise it is the system's UTC time. Every
date the gate reasons about (waiver expiry, data age, grace days, cache freshness) comes from it,
so a run can never mix two notions of "now" (issue 9).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time

from gate.errors import UsageError

Clock = Callable[[], datetime]
TODAY_VAR = "OTP_GATE_TODAY"


def system_clock() -> datetime:
    """The wall clock, in UTC: the only place the gate reads it."""
    return datetime.now(UTC)


def fixed_clock(day: date) -> Clock:
    """A clock that stays at midnight UTC of `day` (a pinned run is the same at any hour)."""
    moment = datetime.combine(day, time.min, UTC)
    return lambda: moment


def clock_from_environ(environ: Mapping[str, str]) -> Clock:
    """`OTP_GATE_TODAY=YYYY-MM-DD` pins the clock; unset or empty, the system clock runs."""
    value = environ.get(TODAY_VAR)
    if not value:
        return system_clock
    try:
        return fixed_clock(date.fromisoformat(value))
    except ValueError:
        raise UsageError(f"{TODAY_VAR}: {value!r} is not a date like 2026-11-29") from None
