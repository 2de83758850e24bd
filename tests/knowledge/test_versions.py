"""Property tests of OTP version ordering (OTP System Principles, "Version Scheme")."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gate.model.otp import OtpVersion

V = OtpVersion.parse

parts = st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=5).map(tuple)
versions = st.builds(OtpVersion, parts, st.none() | st.integers(min_value=1, max_value=5))


@given(versions, versions)
def test_total_order(a: OtpVersion, b: OtpVersion) -> None:
    assert sum([a < b, a == b, a > b]) == 1
    assert (a <= b) == (a < b or a == b)


@given(versions, versions, versions)
def test_transitive(a: OtpVersion, b: OtpVersion, c: OtpVersion) -> None:
    if a <= b and b <= c:
        assert a <= c


@given(versions)
def test_equal_values_hash_equal_and_round_trip(a: OtpVersion) -> None:
    again = V(str(a))
    assert again == a and hash(again) == hash(a)


@given(parts, st.integers(min_value=0, max_value=3))
def test_trailing_zeros_do_not_count(p: tuple[int, ...], zeros: int) -> None:
    a = OtpVersion(p)
    b = OtpVersion(p + (0,) * zeros)
    assert a == b and hash(a) == hash(b)


@given(parts, st.integers(min_value=1, max_value=9))
def test_rc_before_release(p: tuple[int, ...], rc: int) -> None:
    assert OtpVersion(p, rc) < OtpVersion(p)
    assert OtpVersion(p, rc) < OtpVersion(p, rc + 1)


@given(st.integers(20, 40), st.integers(0, 9), st.integers(1, 30))
def test_branched_version_sits_between(major: int, minor: int, patch: int) -> None:
    base = OtpVersion((major, minor))
    branched = OtpVersion((major, minor, 0, patch))
    nxt = OtpVersion((major, minor + 1))
    assert base < branched < nxt


def test_examples_from_the_issue() -> None:
    assert V("28.5") < V("28.5.0.1") < V("28.6")
    assert V("29.0-rc2") < V("29.0") == V("29") == V("29.0.0")
    assert V("25.3.2.21") > V("25.3.2.9")  # numbers, not strings
    assert V("OTP-27.3.4") == V("27.3.4")
    assert V("22.3.4.12.1") > V("22.3.4.12")
    assert str(V("29.0-rc2")) == "29.0-rc2"


def test_bad_text_is_rejected() -> None:
    for bad in ("", "R16B03", "27.x", "25.2.3**", "29.0-rc", "1..2"):
        assert OtpVersion.try_parse(bad) is None


def test_comparing_with_other_types_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        assert V("27.0") < "28.0"
    assert V("27.0") != "27.0"
