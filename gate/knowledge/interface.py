"""Interfaces of the outside world's OTP data (release index); implementations live beside it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from gate.model.otp import AppVersion, DataProvenance, OtpVersion, Release


class ReleaseIndex(Protocol):
    """Published OTP releases and the application versions each one contains."""

    @property
    def provenance(self) -> DataProvenance:
        """Which source this data came from and how old it is."""
        ...

    def releases(self) -> tuple[Release, ...]:
        """Every known release (RCs included), in no particular order."""
        ...

    def applications(self) -> Mapping[OtpVersion, tuple[AppVersion, ...]]:
        """The full application set of each release, from `otp_versions.table` (may lag)."""
        ...
