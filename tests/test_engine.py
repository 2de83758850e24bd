"""The engine's settings for live data: where the workflow token may go, and mirrors."""

from __future__ import annotations

from datetime import date

from gate.clock import fixed_clock
from gate.engine import live_options, release_data_token, same_origin

GITHUB_COM = "https://api.github.com"


def test_the_workflow_token_goes_only_to_its_own_api_host() -> None:
    ghes = {"GITHUB_TOKEN": "ghs_x", "GITHUB_API_URL": "https://ghes.example.com/api/v3"}
    assert release_data_token(ghes, GITHUB_COM) is None
    assert release_data_token({"GITHUB_TOKEN": "ghs_x"}, GITHUB_COM) == "ghs_x"
    on_com = {"GITHUB_TOKEN": "ghs_x", "GITHUB_API_URL": "https://api.github.com"}
    assert release_data_token(on_com, GITHUB_COM) == "ghs_x"
    # A mirror of the release data is another host: no workflow token there either.
    assert release_data_token(on_com, "https://mirror.example.com") is None
    # A token meant for the release data's host is used wherever that is.
    assert (
        release_data_token({**ghes, "OTP_GATE_RELEASE_DATA_TOKEN": "ghp_y"}, GITHUB_COM) == "ghp_y"
    )


def test_same_origin_compares_scheme_host_and_port() -> None:
    assert same_origin("https://api.github.com", "https://api.github.com/")
    assert not same_origin("http://api.github.com", "https://api.github.com")
    assert not same_origin("https://api.github.com:8443", "https://api.github.com")
    assert not same_origin("https://api.github.com.evil.example", "https://api.github.com")


def test_live_options_read_the_given_environment() -> None:
    clock = fixed_clock(date(2026, 11, 29))
    env = {
        "OTP_GATE_CACHE": "/c",
        "GITHUB_API_URL": "https://ghes.example.com",
        "GITHUB_TOKEN": "t",
    }
    opts = live_options(False, env, 90, clock)
    assert str(opts.cache_dir) == "/c/data" and opts.token is None
    # The builds.hex.pm mirror named for the runtime also serves the release data's builds.txt.
    assert live_options(False, {}, 90, clock, "http://m").builds_base_url == "http://m"
    explicit = {"OTP_GATE_BUILDS_BASE_URL": "http://b"}
    assert live_options(False, explicit, 90, clock, "http://m").builds_base_url == "http://b"
