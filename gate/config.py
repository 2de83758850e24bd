"""The gate's policy settings as one frozen `Config`, parsed once from `.otp-gate.toml` and options.

Choices are `str` enums; a bad value raises `ConfigError` naming the file, the key and the
allowed values (issue 3: per-check severity, waivers with a mandatory reason and optional expiry).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from gate.errors import ConfigError, UsageError
from gate.model.common import Severity

#: The file `otp-gate` and the action read when no `--config` is given (it may be absent).
DEFAULT_CONFIG_NAME = ".otp-gate.toml"

#: Rule ids of the version side of the gate; they can be waived and given a severity like checks.
VERSION_BEHIND = "otp-latest-patch"
VERSION_UNSUPPORTED = "otp-supported-line"
VERSION_UNKNOWN = "otp-version-unknown"
#: Security fixes the runtime misses (advisories that affect its shipped application versions).
VERSION_ADVISORY = "otp-advisory"
VERSION_RULES = (VERSION_BEHIND, VERSION_UNSUPPORTED, VERSION_UNKNOWN, VERSION_ADVISORY)


class FailOn(StrEnum):
    """The lowest severity that fails the gate; `never` only reports."""

    ERROR = "error"
    WARNING = "warning"
    NEVER = "never"


class VersionPolicy(StrEnum):
    """How strictly the OTP version is judged.

    `latest-patch`: behind the newest patch of its line fails; `supported`: only a line that is no
    longer supported fails; `off`: the version is reported, never judged.
    """

    LATEST_PATCH = "latest-patch"
    SUPPORTED = "supported"
    OFF = "off"


@dataclass(frozen=True)
class Waiver:
    """An accepted finding: a check id (or version rule id) on the files matching a path glob."""

    check: str
    path: str  # fnmatch glob against the path relative to the scanned root; "*" for everything
    reason: str
    expires: date | None = None

    def matches(self, check_id: str | None, path: str | None) -> bool:
        if check_id is None or not fnmatch.fnmatchcase(check_id, self.check):
            return False
        # Version findings have no file: only a waiver whose glob matches "" (`*`) covers them.
        # fnmatch's `*` also matches `/`, so `lib/*.so` covers `lib/crypto-5.1/priv/lib/crypto.so`.
        return fnmatch.fnmatchcase(path if path is not None else "", self.path)

    def expired(self, today: date) -> bool:
        # The expiry day itself still counts: "expires = 2026-12-31" covers the whole of that day.
        return self.expires is not None and today > self.expires

    def describe(self) -> str:
        until = f" until {self.expires.isoformat()}" if self.expires else ""
        return f"waiver {self.check} on {self.path}{until}: {self.reason}"


@dataclass(frozen=True)
class Config:
    """Every policy setting, from defaults, the config file and the command line (in that order)."""

    fail_on: FailOn = FailOn.ERROR
    version_policy: VersionPolicy = VersionPolicy.LATEST_PATCH
    severities: tuple[tuple[str, Severity], ...] = ()  # per-check overrides, in file order
    waivers: tuple[Waiver, ...] = ()
    stale_data_days: int = 90  # release data older than this is a warning (never a silent pass)
    grace_days: int = 0  # behind only by patches younger than this: a warning, not a failure
    source: str | None = None  # the config file this came from, for messages

    def severity_override(self, check_id: str) -> Severity | None:
        return next((s for cid, s in self.severities if cid == check_id), None)

    def with_options(
        self,
        *,
        fail_on: FailOn | None = None,
        version_policy: VersionPolicy | None = None,
    ) -> Config:
        """The command line wins over the file: replace only what was given."""
        given: dict[str, Any] = {"fail_on": fail_on, "version_policy": version_policy}
        return dataclasses.replace(self, **{k: v for k, v in given.items() if v is not None})


E = TypeVar("E", bound=StrEnum)

#: A config file is a few hundred bytes; a cap keeps `/dev/zero`-like inputs from exhausting memory.
MAX_CONFIG_BYTES = 1024 * 1024
#: How much of a rejected value an error message echoes (a 10 MB value must not flood the log).
_SHOWN_CHARS = 80


def shown(value: object) -> str:
    """`repr(value)` cut to a readable length, for error messages about untrusted input."""
    text = repr(value)
    if len(text) <= _SHOWN_CHARS:
        return text
    return f"{text[:_SHOWN_CHARS]}... ({len(text)} characters)"


def _cut(key: str) -> str:
    """A key as written when it is short, else cut like a value."""
    return key if len(key) <= _SHOWN_CHARS else shown(key)


def parse_choice(enum: type[E], value: object, what: str) -> E:
    """Turn `value` into a member of `enum`, or raise `UsageError` naming `what` and the choices."""
    allowed = ", ".join(m.value for m in enum)
    if isinstance(value, str):
        try:
            return enum(value.strip().lower())
        except ValueError:
            pass
    raise UsageError(f"{what}: {shown(value)} is not one of: {allowed}")


_TOP_KEYS = ("fail-on", "version-policy", "stale-data-days", "grace-days", "severity", "waiver")
_WAIVER_KEYS = ("check", "path", "reason", "expires")


def _norm(key: str) -> str:
    # TOML users write both `fail_on` and `fail-on`; the action's inputs are kebab-case.
    return key.replace("_", "-")


def _normalized(data: Mapping[str, Any], where: str, err: Any) -> dict[str, Any]:
    """`data` with kebab-case keys; both spellings of one key (`fail-on`, `fail_on`) are refused,
    since silently letting the later one win hides which setting is in force."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        norm = _norm(key)
        if norm in out:
            raise err(
                f"{where}{_cut(norm)}", "given twice (`a-b` and `a_b` name the same key); keep one"
            )
        out[norm] = value
    return out


def known_rule_ids() -> tuple[str, ...]:
    """Check ids from the registry plus the version rule ids."""
    from gate.inspection.checks import CHECKS  # layer 3: policy may import it

    return (*(c.id for c in CHECKS), *VERSION_RULES)


def parse_config(data: Mapping[str, Any], origin: str) -> Config:
    """Build a `Config` from a parsed TOML table; `origin` names the file in every error."""

    def err(key: str, problem: str) -> ConfigError:
        return ConfigError(
            f"{origin}: {key}: {problem}",
            hint="see the README section 'Configuration file'",
        )

    table = _normalized(data, "", err)
    for key in table:
        if key not in _TOP_KEYS:
            raise err(_cut(key), f"unknown key; allowed keys: {', '.join(_TOP_KEYS)}")
    config = Config(source=origin)
    try:
        if "fail-on" in table:
            config = dataclasses.replace(
                config, fail_on=parse_choice(FailOn, table["fail-on"], f"{origin}: fail-on")
            )
        if "version-policy" in table:
            config = dataclasses.replace(
                config,
                version_policy=parse_choice(
                    VersionPolicy, table["version-policy"], f"{origin}: version-policy"
                ),
            )
    except UsageError as e:
        raise ConfigError(e.message) from e
    if "stale-data-days" in table:
        days = table["stale-data-days"]
        if not isinstance(days, int) or isinstance(days, bool) or days < 1:
            raise err("stale-data-days", f"{shown(days)} is not a whole number of days >= 1")
        config = dataclasses.replace(config, stale_data_days=days)

    if "grace-days" in table:
        grace = table["grace-days"]
        if not isinstance(grace, int) or isinstance(grace, bool) or grace < 0:
            raise err("grace-days", f"{shown(grace)} is not a whole number of days >= 0")
        config = dataclasses.replace(config, grace_days=grace)

    rule_ids = known_rule_ids()
    if "severity" in table:
        sev_table = table["severity"]
        if not isinstance(sev_table, dict):
            raise err("severity", 'must be a table like `[severity]` with `check-id = "warning"`')
        severities: list[tuple[str, Severity]] = []
        for check_id, value in sev_table.items():
            if check_id not in rule_ids:
                raise err(
                    f"severity.{_cut(check_id)}",
                    f"unknown check id; known ids: {', '.join(rule_ids)}",
                )
            try:
                sev = parse_choice(Severity, value, f"{origin}: severity.{check_id}")
            except UsageError as e:
                raise ConfigError(e.message) from e
            severities.append((check_id, sev))
        config = dataclasses.replace(config, severities=tuple(severities))

    if "waiver" in table:
        entries = table["waiver"]
        if not isinstance(entries, list):
            raise err("waiver", "must be an array of tables: write each one as `[[waiver]]`")
        waivers = [_parse_waiver(entry, n, rule_ids, err) for n, entry in enumerate(entries, 1)]
        config = dataclasses.replace(config, waivers=tuple(waivers))
    return config


def _parse_waiver(entry: object, n: int, rule_ids: tuple[str, ...], err: Any) -> Waiver:
    where = f"waiver #{n}"
    if not isinstance(entry, dict):
        raise err(where, "must be a table with check, path, reason and optional expires")
    fields = _normalized(entry, f"{where}.", err)
    for key in fields:
        if key not in _WAIVER_KEYS:
            raise err(
                f"{where}.{_cut(key)}", f"unknown key; allowed keys: {', '.join(_WAIVER_KEYS)}"
            )
    check = fields.get("check")
    if not isinstance(check, str) or not check:
        raise err(f"{where}.check", f"missing; give a check id, one of: {', '.join(rule_ids)}")
    if not any(fnmatch.fnmatchcase(rid, check) for rid in rule_ids):
        raise err(
            f"{where}.check",
            f"{shown(check)} matches no check id; known ids: {', '.join(rule_ids)}",
        )
    path = fields.get("path", "*")
    if not isinstance(path, str) or not path:
        raise err(f"{where}.path", 'must be a non-empty path glob such as "lib/*/priv/lib/*.so"')
    reason = fields.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise err(f"{where}.reason", "is mandatory: say why this finding is accepted")
    expires = fields.get("expires")
    if expires is not None:
        # TOML has a date type (`expires = 2027-01-31`); accept the quoted ISO form too.
        if isinstance(expires, str):
            try:
                expires = date.fromisoformat(expires)
            except ValueError:
                raise err(
                    f"{where}.expires", f"{shown(expires)} is not a date like 2027-01-31"
                ) from None
        elif not isinstance(expires, date) or hasattr(expires, "hour"):
            raise err(f"{where}.expires", f"{shown(expires)} is not a date like 2027-01-31")
    return Waiver(check=check, path=path, reason=reason.strip(), expires=expires)


def _read_config_bytes(path: Path) -> bytes:
    """The file's bytes: a regular file of at most `MAX_CONFIG_BYTES`, else `ConfigError`.

    Opened non-blocking and checked with fstat before reading, so a FIFO cannot hang the run and
    `/dev/zero` cannot exhaust memory.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file: {e.strerror or e}") from e
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            what = "it is a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise ConfigError(
                f"{path}: cannot read the config file: {what}",
                hint="pass the path of a .otp-gate.toml file",
            )
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_CONFIG_BYTES and (chunk := os.read(fd, 64 * 1024)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file: {e.strerror or e}") from e
    finally:
        os.close(fd)
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes; not a config file")
    return b"".join(chunks)


def load_config_file(path: Path) -> Config:
    """Read `.otp-gate.toml` at `path`; `ConfigError` naming the file for any problem."""
    import tomllib  # only when a config file is read (start-up time, issue 12)

    raw = _read_config_bytes(path)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively (`a = [[[[...]]]]`).
        raise ConfigError(f"{path}: nested too deeply to be a config file") from None
    return parse_config(data, str(path))


def find_config(start: Path) -> Path | None:
    """The default config file in `start` (the working directory), if there is one."""
    candidate = start / DEFAULT_CONFIG_NAME
    return candidate if candidate.is_file() else None
