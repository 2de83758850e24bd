"""`otp_versions.table` of erlang/otp's `master` and `maint-<N>` branches, fetched raw and merged.

master's table lags the maint branches (a patch on maint-27 reaches master's table only at the next
merge), so the table of each supported line's maint branch is read too and the lines are united.
"""

from __future__ import annotations

from collections.abc import Iterable

from gate.knowledge.fetch import FetchError
from gate.knowledge.snapshot import TableLine, parse_otp_versions_table
from gate.model.otp import OtpVersion

DEFAULT_RAW_BASE = "https://raw.githubusercontent.com/erlang/otp"
TABLE_PATH = "otp_versions.table"


def table_url(raw_base: str, branch: str) -> str:
    return f"{raw_base.rstrip('/')}/{branch}/{TABLE_PATH}"


def branches_for(lines: Iterable[int]) -> tuple[str, ...]:
    """`master` plus `maint-<N>` of each line, newest first: `("master", "maint-29", ...)`."""
    return ("master", *(f"maint-{n}" for n in sorted(set(lines), reverse=True)))


def parse_table(data: bytes, source: str) -> tuple[TableLine, ...]:
    """Parse one fetched table; an empty or non-table reply raises (so it is never cached)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FetchError(f"{source}: not UTF-8 text") from e
    lines = parse_otp_versions_table(text, source)
    if not lines:
        raise FetchError(f"{source}: empty OTP versions table")
    return lines


def merge_tables(*tables: Iterable[TableLine]) -> tuple[TableLine, ...]:
    """Union by OTP version; the first table naming a version wins (the tables agree on history)."""
    merged: dict[OtpVersion, TableLine] = {}
    for table in tables:
        for line in table:
            merged.setdefault(line.version, line)
    return tuple(sorted(merged.values(), key=lambda t: t.version, reverse=True))
