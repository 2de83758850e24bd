"""The run's one clock: OTP_GATE_TODAY pins it; a bad value names the variable."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from gate.clock import clock_from_environ, fixed_clock, system_clock
from gate.errors import UsageError


def test_pinned_clock_is_midnight_utc_of_the_day_and_does_not_move() -> None:
    clock = clock_from_environ({"OTP_GATE_TODAY": "2027-03-04"})
    assert clock() == datetime(2027, 3, 4, tzinfo=UTC) == clock()
    assert clock().date() == date(2027, 3, 4)
    assert fixed_clock(date(2027, 3, 4))() == clock()


def test_unset_or_empty_means_the_system_clock() -> None:
    assert clock_from_environ({}) is system_clock
    assert clock_from_environ({"OTP_GATE_TODAY": ""}) is system_clock
    assert system_clock().tzinfo is UTC


def test_a_bad_day_is_a_usage_error_naming_the_variable() -> None:
    with pytest.raises(UsageError, match="OTP_GATE_TODAY: 'tomorrow' is not a date"):
        clock_from_environ({"OTP_GATE_TODAY": "tomorrow"})
