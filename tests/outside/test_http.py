"""The one bounded GET: size cap, bounded retries, one User-Agent, one error type."""

from __future__ import annotations

import io
import socket

import pytest

from gate.outside.http import USER_AGENT, HttpError, download, get
from tests.support.fake_http import FakeServer, Response


def test_get_sends_one_user_agent_and_caps_the_size() -> None:
    with FakeServer() as srv:
        srv.route("GET", "/doc", Response(200, b"x" * 100))
        assert get(srv.url + "/doc", timeout=5) == b"x" * 100
        assert srv.requests[0].headers["user-agent"] == USER_AGENT
        with pytest.raises(HttpError, match="larger than 99 bytes") as err:
            get(srv.url + "/doc", timeout=5, max_bytes=99)
        assert not err.value.network


def test_server_errors_are_retried_a_bounded_number_of_times() -> None:
    with FakeServer() as srv:
        srv.route("GET", "/flaky", Response(503, "busy"))
        with pytest.raises(HttpError, match="HTTP 503") as err:
            get(srv.url + "/flaky", timeout=5, retries=2)
        assert err.value.status == 503 and not err.value.network
        assert len(srv.requests) == 3
        srv.route("GET", "/gone", Response(404, "no"))
        with pytest.raises(HttpError, match="HTTP 404"):
            get(srv.url + "/gone", timeout=5, retries=2)
        assert len(srv.requests_to("GET", "/gone")) == 1  # a 4xx is an answer, not retried


def test_a_dead_host_is_a_network_error_and_not_retried() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/x"
    with pytest.raises(HttpError, match="unreachable") as err:
        get(url, timeout=2, retries=3)
    assert err.value.network and err.value.status == 0


def test_only_http_urls() -> None:
    with pytest.raises(HttpError, match="only http"):
        get("file:///etc/passwd", timeout=1)


def test_download_streams_with_a_cap_and_returns_the_digest() -> None:
    import hashlib

    with FakeServer() as srv:
        srv.route("GET", "/big", Response(200, b"y" * 200_000))
        out = io.BytesIO()
        digest = download(srv.url + "/big", out, timeout=5, max_bytes=1 << 20)
        assert digest == hashlib.sha256(b"y" * 200_000).hexdigest()
        with pytest.raises(HttpError, match="refusing to download more"):
            download(srv.url + "/big", io.BytesIO(), timeout=5, max_bytes=100_000)
