"""SARIF 2.1.0 as GitHub code scanning accepts it: structure, rules, locations, fingerprints."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from gate.config import VERSION_BEHIND, Config, Waiver
from gate.inspection.checks import CHECKS
from gate.model.common import Format, Status
from gate.model.runtime import Role
from gate.policy import evaluate
from gate.report import render
from gate.report.sarif import Pin
from gate.report.sarif import render as render_sarif
from tests.report import file_report, runtime_report

TODAY = date(2026, 5, 1)
LEVELS = {"none", "note", "warning", "error"}


def validate_sarif(doc: dict[str, Any]) -> None:
    """The SARIF 2.1.0 essentials (sarif-schema-2.1.0.json `required`) and GitHub's upload rules."""
    assert doc["version"] == "2.1.0"
    assert doc["$schema"].endswith("sarif-2.1.0.json")
    assert isinstance(doc["runs"], list) and doc["runs"]
    for run in doc["runs"]:
        driver = run["tool"]["driver"]
        assert isinstance(driver["name"], str) and driver["name"]
        rule_ids = [r["id"] for r in driver["rules"]]
        assert len(rule_ids) == len(set(rule_ids)), "rule ids must be unique"
        for rule in driver["rules"]:
            assert rule["shortDescription"]["text"]
            score = float(rule["properties"]["security-severity"])  # GitHub wants a number string
            assert 0.0 <= score <= 10.0
            assert rule["help"]["text"]
            assert rule["defaultConfiguration"]["level"] in LEVELS
        for result in run["results"]:
            assert result["ruleId"] in rule_ids
            assert result["level"] in LEVELS
            assert isinstance(result["message"]["text"], str) and result["message"]["text"]
            # GitHub requires a location with a relative URI and a region starting at line 1+.
            assert result["locations"], "GitHub rejects results without a location"
            for loc in result["locations"]:
                phys = loc["physicalLocation"]
                uri = phys["artifactLocation"]["uri"]
                assert uri and not uri.startswith("/") and "://" not in uri
                assert re.fullmatch(r"[A-Za-z0-9_.~/%!$&'()*+,;=:@-]+", uri), uri
                assert phys["region"]["startLine"] >= 1
            fps = result["partialFingerprints"]
            assert fps and all(isinstance(v, str) and v for v in fps.values())
            for s in result.get("suppressions", []):
                assert s["kind"] in {"inSource", "external"}


def sample(bind_now_on_beam: Status = Status.FAIL, extra: str = "erts-13.1.5/bin/epmd") -> Any:
    return runtime_report(
        (
            file_report("erts-13.1.5/bin/beam.smp", role=Role.EMULATOR, bind_now=bind_now_on_beam),
            file_report(extra, bind_now=Status.FAIL),
        ),
        version="25.2.3",
        latest="25.3.2.21",
        behind=20,
        supported=False,
    )


def sarif_of(report: Any, config: Config | None = None, **kw: Any) -> dict[str, Any]:
    verdict = evaluate(report, config or Config(), TODAY)
    return json.loads(render_sarif(report, verdict, **kw))  # type: ignore[no-any-return]


def test_structure_rules_and_results() -> None:
    doc = sarif_of(sample())
    validate_sarif(doc)
    run = doc["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    for check in CHECKS:  # rule ids are the check ids, help carries the fix
        assert check.id in rules
        assert rules[check.id]["help"]["text"] == (check.fix or check.title)
    assert VERSION_BEHIND in rules
    assert rules["bind-now"]["properties"]["security-severity"] == "7.5"  # error: high
    assert rules["fortify"]["properties"]["security-severity"] == "5.0"  # warning: medium
    by_rule = [
        (r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
        for r in run["results"]
    ]
    assert by_rule == [
        ("bind-now", "erts-13.1.5/bin/beam.smp"),
        ("bind-now", "erts-13.1.5/bin/epmd"),
        ("otp-latest-patch", "erts-13.1.5/bin/beam.smp"),
        ("otp-supported-line", "erts-13.1.5/bin/beam.smp"),
    ]
    assert all(r["level"] == "error" for r in run["results"])
    assert "Fix:" in run["results"][0]["message"]["text"]


def test_fingerprints_are_stable_and_distinct() -> None:
    a = sarif_of(sample())["runs"][0]["results"]
    b = sarif_of(sample())["runs"][0]["results"]
    assert [r["partialFingerprints"] for r in a] == [r["partialFingerprints"] for r in b]
    prints = [r["partialFingerprints"]["otpGate/v1"] for r in a]
    assert len(set(prints)) == len(prints)
    # Fixing beam.smp leaves epmd's finding with the same fingerprint (it is not renumbered).
    c = sarif_of(sample(bind_now_on_beam=Status.PASS))["runs"][0]["results"]
    assert c[0]["partialFingerprints"] == a[1]["partialFingerprints"]


def test_uri_base_and_pins() -> None:
    doc = sarif_of(sample(), uri_base="_build/prod/rel/app")
    validate_sarif(doc)
    uris = [
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in doc["runs"][0]["results"]
    ]
    assert uris[0] == "_build/prod/rel/app/erts-13.1.5/bin/beam.smp"
    pinned = sarif_of(
        sample(), hardening_pin=Pin("Dockerfile", 12), version_pin=Pin(".tool-versions", 2)
    )
    validate_sarif(pinned)
    locs = [
        (
            r["ruleId"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in pinned["runs"][0]["results"]
    ]
    # Pinned to one line, the files' findings of a check become one alert naming them all.
    assert locs == [
        ("bind-now", "Dockerfile", 12),
        ("otp-latest-patch", ".tool-versions", 2),
        ("otp-supported-line", ".tool-versions", 2),
    ]
    message = pinned["runs"][0]["results"][0]["message"]["text"]
    assert "bind-now fails on 2 files of the runtime this builds" in message
    assert "erts-13.1.5/bin/beam.smp, erts-13.1.5/bin/epmd" in message


def test_hostile_names_are_percent_encoded() -> None:
    doc = sarif_of(sample(extra="lib/x/priv/a b%\n#?\udcff.so"))
    validate_sarif(doc)
    uri = doc["runs"][0]["results"][1]["locations"][0]["physicalLocation"]["artifactLocation"][
        "uri"
    ]
    assert uri == "lib/x/priv/a%20b%25%0A%23%3F%FF.so"


def test_waived_findings_are_suppressed() -> None:
    config = Config(waivers=(Waiver("bind-now", "erts-13.1.5/bin/epmd", "tracked"),))
    doc = sarif_of(sample(), config)
    validate_sarif(doc)
    results = doc["runs"][0]["results"]
    suppressed = [r for r in results if r.get("suppressions")]
    assert len(suppressed) == 1
    assert (
        suppressed[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        == "erts-13.1.5/bin/epmd"
    )


def test_format_dispatch() -> None:
    report = sample()
    verdict = evaluate(report, Config(), TODAY)
    assert json.loads(render(Format.SARIF, report, verdict)) == json.loads(
        render_sarif(report, verdict)
    )
