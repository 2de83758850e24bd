"""The second core: `gate.inspection.helper` and the scan's read-ahead (`gate.inspection.ahead.read_ahead`).

A helper may only make a run faster: with it, without it, or when it dies, the report is the same.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from pathlib import Path

import pytest

from gate.acquire.directory import DirectorySource
from gate.cli import main
from gate.inspection import helper
from gate.inspection.ahead import read_ahead

ENV = {"OTP_GATE_TODAY": "2026-11-29"}


def _scan(root: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    code = main(["scan", str(root), "--format", "json", "--offline"], ENV)
    out, _ = capsys.readouterr()
    assert code == 1  # Debian's OTP fails the gate (no BIND_NOW, no fortify)
    doc: dict[str, object] = json.loads(out)
    return doc


def test_a_helper_gives_its_value() -> None:
    with helper.forked(lambda _send: {"pid": os.getpid(), "files": [Path("/a"), "b"]}) as running:
        assert running is not None
        got = running.result()
    assert got is not None and got["files"] == [Path("/a"), "b"]
    assert got["pid"] != os.getpid()  # it really ran in another process


def test_a_failing_helper_gives_none() -> None:
    def boom(_send: object) -> int:
        raise ValueError("inside the helper")

    with helper.forked(boom) as running:
        assert running is not None
        assert running.result() is None


def test_a_helper_no_longer_wanted_is_stopped_and_reaped() -> None:
    start = time.monotonic()
    with helper.forked(lambda _send: time.sleep(60)) as running:
        assert running is not None
        pid = running._pid
    assert time.monotonic() - start < 10
    assert pid is not None
    with pytest.raises(ChildProcessError):  # reaped: no zombie left behind
        os.waitpid(pid, os.WNOHANG)


def test_the_debian_tree_is_read_ahead(debian_otp: Path) -> None:
    tree = DirectorySource(debian_otp).acquire(Path("/nonexistent-unused"))[0]
    with read_ahead(tree) as first_read:
        ahead = first_read()
    if helper.cores() < 2:
        assert ahead is None
        return
    assert ahead is not None
    walk, outcomes = ahead
    assert len(walk.elf) == len(outcomes) > 30
    assert all(not isinstance(o, str) for o in outcomes.values())  # every file read


def test_the_report_is_the_same_with_a_helper_without_one_and_when_it_dies(
    debian_otp: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(helper, "cores", lambda: 2)  # a helper even on a one-core runner
    with_helper = _scan(debian_otp, capsys)

    def died(*_args: object) -> bytes:  # only helpers pickle: each dies without an answer
        raise MemoryError

    monkeypatch.setattr(pickle, "dumps", died)
    after_death = _scan(debian_otp, capsys)
    monkeypatch.undo()
    monkeypatch.setattr(helper, "cores", lambda: 1)
    from gate.inspection import batch

    monkeypatch.setattr(batch, "cores", lambda: 1)
    alone = _scan(debian_otp, capsys)
    assert with_helper == after_death == alone


def test_a_helper_that_dies_while_reading_leaves_its_files_to_the_caller(
    debian_otp: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gate.inspection import batch

    alone = _alone(debian_otp, capsys, monkeypatch)
    monkeypatch.setattr(helper, "cores", lambda: 2)
    parent = os.getpid()
    real_read = batch.read_one
    taken: list[int] = []

    def dies_in_the_helper(path: Path) -> batch.Outcome:
        if os.getpid() != parent:
            taken.append(1)
            if len(taken) == 3:  # after the walk was sent and two files were read
                os._exit(9)
        return real_read(path)

    monkeypatch.setattr(batch, "read_one", dies_in_the_helper)
    tree = DirectorySource(debian_otp).acquire(Path("/nonexistent-unused"))[0]
    with read_ahead(tree) as first_read:
        ahead = first_read()
    assert ahead is not None  # the walk arrived: the caller read the rest itself
    walk, outcomes = ahead
    assert len(outcomes) == len(walk.elf) and not any(isinstance(o, str) for o in outcomes.values())
    assert _scan(debian_otp, capsys) == alone


def _alone(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, object]:
    from gate.inspection import batch

    with monkeypatch.context() as m:
        m.setattr(helper, "cores", lambda: 1)
        m.setattr(batch, "cores", lambda: 1)
        return _scan(root, capsys)
