"""`.otp-gate.toml`: defaults, every key, and errors that name the file, the key and the choices."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from gate.config import (
    DEFAULT_CONFIG_NAME,
    VERSION_BEHIND,
    Config,
    FailOn,
    VersionPolicy,
    Waiver,
    find_config,
    load_config_file,
)
from gate.errors import ConfigError
from gate.model.common import Severity


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / DEFAULT_CONFIG_NAME
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    c = Config()
    assert c.fail_on == FailOn.ERROR
    assert c.version_policy == VersionPolicy.LATEST_PATCH
    assert c.waivers == ()
    assert c.severity_override("pie") is None


def test_full_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
fail-on = "warning"
version_policy = "supported"   # underscore spelling accepted too
stale-data-days = 30
grace-days = 7

[severity]
fortify = "error"
cet = "off"
otp-latest-patch = "warning"

[[waiver]]
check = "bind-now"
path = "lib/*/priv/lib/*.so"
reason = "NIFs are loaded with RTLD_NOW by erts"
expires = 2027-01-31

[[waiver]]
check = "stack-*"
reason = "tracked in JIRA-12"
expires = "2026-12-01"
""",
    )
    c = load_config_file(path)
    assert c.fail_on == FailOn.WARNING
    assert c.version_policy == VersionPolicy.SUPPORTED
    assert c.stale_data_days == 30
    assert c.grace_days == 7
    assert c.severity_override("fortify") == Severity.ERROR
    assert c.severity_override("cet") == Severity.OFF
    assert c.severity_override(VERSION_BEHIND) == Severity.WARNING
    assert c.waivers == (
        Waiver(
            "bind-now",
            "lib/*/priv/lib/*.so",
            "NIFs are loaded with RTLD_NOW by erts",
            date(2027, 1, 31),
        ),
        Waiver("stack-*", "*", "tracked in JIRA-12", date(2026, 12, 1)),
    )
    assert c.source == str(path)


def test_command_line_wins_over_the_file(tmp_path: Path) -> None:
    c = load_config_file(write(tmp_path, 'fail-on = "never"\n'))
    assert c.with_options(fail_on=FailOn.ERROR).fail_on == FailOn.ERROR
    assert c.with_options().fail_on == FailOn.NEVER


def test_waiver_matching_and_expiry() -> None:
    w = Waiver("bind-now", "lib/*/priv/lib/*.so", "why", date(2026, 12, 31))
    assert w.matches("bind-now", "lib/crypto-5.1.4/priv/lib/crypto.so")
    assert not w.matches("bind-now", "erts-13.1.5/bin/beam.smp")
    assert not w.matches("pie", "lib/crypto-5.1.4/priv/lib/crypto.so")
    assert not w.matches("bind-now", None)  # a glob naming files does not cover version findings
    assert Waiver("otp-*", "*", "why").matches(VERSION_BEHIND, None)
    assert not w.expired(date(2026, 12, 31))  # the expiry day itself is still covered
    assert w.expired(date(2027, 1, 1))
    assert not Waiver("pie", "*", "why").expired(date(2100, 1, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('fail-on = "sometimes"\n', ["fail-on", "'sometimes'", "error, warning, never"]),
        ("version-policy = 3\n", ["version-policy", "latest-patch, supported, off"]),
        ('failon = "error"\n', ["failon", "unknown key", "fail-on"]),
        ('[severity]\nfortify = "loud"\n', ["severity.fortify", "error, warning, note, off"]),
        (
            '[severity]\nno-such-check = "error"\n',
            ["severity.no-such-check", "unknown check id", "bind-now"],
        ),
        ('severity = "error"\n', ["severity", "must be a table"]),
        ('[[waiver]]\ncheck = "pie"\n', ["waiver #1.reason", "mandatory"]),
        ('[[waiver]]\ncheck = "pie"\nreason = "   "\n', ["waiver #1.reason", "mandatory"]),
        ('[[waiver]]\nreason = "x"\n', ["waiver #1.check", "missing"]),
        ('[[waiver]]\ncheck = "nope"\nreason = "x"\n', ["waiver #1.check", "'nope'", "pie"]),
        (
            '[[waiver]]\ncheck = "pie"\nreason = "x"\nexpires = "soon"\n',
            ["waiver #1.expires", "'soon'"],
        ),
        (
            '[[waiver]]\ncheck = "pie"\nreason = "x"\nexpires = 2027-01-01T10:00:00\n',
            ["waiver #1.expires"],
        ),
        (
            '[[waiver]]\ncheck = "pie"\nreason = "x"\nowner = "me"\n',
            ["waiver #1.owner", "unknown key"],
        ),
        ('waiver = "pie"\n', ["waiver", "[[waiver]]"]),
        ("stale-data-days = 0\n", ["stale-data-days", ">= 1"]),
        ("stale-data-days = true\n", ["stale-data-days"]),
        ("fail-on = \n", ["not valid TOML"]),
    ],
)
def test_errors_name_file_key_and_choices(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    message = info.value.diagnostics()
    assert str(path) in message
    for part in expected:
        assert part in message


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config_file(tmp_path / "absent.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'fail-on = "\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config_file(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config_file(tmp_path)  # a directory


def test_find_config(tmp_path: Path) -> None:
    assert find_config(tmp_path) is None
    path = write(tmp_path, "")
    assert find_config(tmp_path) == path
    assert load_config_file(path) == Config(source=str(path))
