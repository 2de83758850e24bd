"""Security advisories of Erlang/OTP and what they mean for one runtime: plain frozen data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from gate.model.common import BackportPolicy

#: The package name used for ranges over OTP release numbers (`pkg:github/erlang/otp`), as
#: opposed to ranges over one application's versions (`pkg:otp/ssh`).
OTP_PACKAGE = "otp"


class AdvisorySeverity(StrEnum):
    """CVSS qualitative severity; `unknown` when no source scores it."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        return {"critical": 4, "high": 3, "medium": 2, "low": 1, "unknown": 0}[self.value]


@dataclass(frozen=True)
class AffectedRange:
    """Versions of one package an advisory affects, in OTP's version order.

    `package` is an OTP application (`ssh`) or `OTP_PACKAGE` for OTP release numbers. A version is
    affected when it is at or after `introduced` (None: since the beginning), before `limit` (None:
    no upper bound, CVE JSON's `lessThan: "*"`), and not at or after one of the `fixed` points on
    its own branch. `versions` lists affected versions explicitly (OpenVEX enumerates them) and,
    when present, replaces the interval. `otp_line` scopes a range to one OTP major (OpenVEX files
    are per line); None applies everywhere.
    """

    package: str
    introduced: str | None = None
    limit: str | None = None
    fixed: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    otp_line: int | None = None


@dataclass(frozen=True)
class Advisory:
    """One vulnerability, merged across sources (EEF CVE record, OpenVEX, GitHub advisory)."""

    id: str  # the CVE id where there is one, else the GHSA id
    title: str
    severity: AdvisorySeverity
    ranges: tuple[AffectedRange, ...]
    aliases: tuple[str, ...] = ()  # GHSA ids, EEF OSV ids
    score: float | None = None
    published: date | None = None
    url: str | None = None
    sources: tuple[str, ...] = ()  # e.g. ("eef-cna", "github-advisory")

    @property
    def applications(self) -> tuple[str, ...]:
        """The OTP applications the advisory names (not `otp`)."""
        return tuple(sorted({r.package for r in self.ranges if r.package != OTP_PACKAGE}))


class FindingStatus(StrEnum):
    """Whether one advisory applies to the runtime."""

    AFFECTED = "affected"
    NOT_AFFECTED = "not-affected"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class AdvisoryFinding:
    """One advisory judged against the runtime's actual application versions.

    `fixed_version` is the first application version on the runtime's branch that is not affected;
    `fixed_otp` the first OTP release of the runtime's line that carries it (None when that line
    has no fix: move to a supported line). `backported_in` names a distro package version whose
    changelog says it fixed this CVE; whether that counts is the `distro-backports` policy.
    """

    advisory_id: str
    status: FindingStatus
    severity: AdvisorySeverity
    title: str
    reason: str
    aliases: tuple[str, ...] = ()
    application: str | None = None
    installed_version: str | None = None
    fixed_version: str | None = None
    fixed_otp: str | None = None
    backported_in: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class BackportInfo:
    """What a distro package says it fixed without changing OTP_VERSION."""

    distro: str  # "debian"
    package: str  # source package, "erlang"
    version: str  # "1:25.2.3+dfsg-1+deb12u4"
    fixed_cves: tuple[str, ...]
    source: str  # the changelog (or patch list) it was read from
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AdvisoryAssessment:
    """Everything a report says about advisories for one runtime: findings, one-line summary,
    the distro's backports (if any) and the policy applied to them."""

    findings: tuple[AdvisoryFinding, ...]
    summary: str
    backports: BackportInfo | None = None
    backport_policy: BackportPolicy = BackportPolicy.IGNORE
    notes: tuple[str, ...] = ()

    @property
    def affected(self) -> tuple[AdvisoryFinding, ...]:
        return tuple(f for f in self.findings if f.status is FindingStatus.AFFECTED)
