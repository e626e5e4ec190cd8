"""`mscli doctor` for CI: `--junit FILE` (one testcase per check, failures with the message and
the fix, skipped checks as skipped; parsed back here) and, under GitHub Actions, the root cause as
an `::error` annotation."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

from mscli.doctor.base import CheckResult
from mscli.doctor.checks import CHECK_NAMES
from mscli.doctor.ci import github_annotation, write_junit
from mscli.doctor.runner import DoctorReport
from support.cli import run

if TYPE_CHECKING:
    from mscli.sandbox.embedded import EmbeddedSandbox

REJECTED = "sk_test_invalid"  # the sandbox answers 401


def cases(path: Path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    found = {case.get("name", ""): case for case in suite.findall("testcase")}
    assert suite.get("tests") == str(len(found))
    return found


def test_junit_has_one_testcase_per_check(sandbox: EmbeddedSandbox, tmp_path: Path) -> None:
    report = tmp_path / "doctor.xml"
    r = run("--sandbox", "doctor", "--junit", str(report))
    assert r.code == 0, r.output
    found = cases(report)
    assert list(found) == list(CHECK_NAMES)
    assert all(c.find("failure") is None for c in found.values())
    skipped = found["live"].find("skipped")
    assert skipped is not None and "--live" in skipped.get("message", "")
    assert ET.parse(report).getroot().get("failures") == "0"


def test_junit_failure_carries_the_message_and_the_fix(
    sandbox: EmbeddedSandbox, tmp_path: Path
) -> None:
    report = tmp_path / "doctor.xml"
    env = {"MODELSTACK_API_KEY": REJECTED}
    r = run("--json", "--base-url", sandbox.base_url, "doctor", "--junit", str(report), env=env)
    assert r.code == 3, r.output
    assert r.doc["root_cause"]["check"] == "auth"  # stdout is still the JSON document
    found = cases(report)
    failure = found["auth"].find("failure")
    assert failure is not None
    assert failure.get("message") == r.doc["root_cause"]["detail"]
    assert failure.text is not None and f"fix: {r.doc['root_cause']['fix']}" in failure.text
    for dependent in ("rate_limit", "models", "balance"):
        skipped = found[dependent].find("skipped")
        assert skipped is not None and skipped.get("message") == "skipped: auth failed"
    assert ET.parse(report).getroot().get("failures") == "1"
    assert REJECTED not in report.read_text()


def test_junit_escapes_what_xml_cannot_hold(tmp_path: Path) -> None:
    nasty = 'server said <b>&amp;</b> \x1b[2J\x00\x07 \ud800 "quoted" ]]> done'
    report = DoctorReport(
        results=[
            CheckResult(name="http", title="HTTP", status="fail", detail=nasty, fix="a\nb & c"),
            CheckResult(name="api", title="API", status="warn", detail="warn \x0b here"),
        ],
        strict=False,
    )
    path = write_junit(report, str(tmp_path / "r.xml"))
    found = cases(path)  # parses: no control character or lone surrogate got through
    failure = found["http"].find("failure")
    assert failure is not None
    assert failure.get("message") == 'server said <b>&amp;</b> [2J  "quoted" ]]> done'
    assert failure.text == 'server said <b>&amp;</b> [2J  "quoted" ]]> done\nfix: a\nb & c'
    out = found["api"].find("system-out")
    assert out is not None and out.text == "warning: warn  here"
    strict = DoctorReport(results=report.results, strict=True)
    assert cases(write_junit(strict, str(tmp_path / "s.xml")))["api"].find("failure") is not None


def test_github_actions_gets_the_root_cause_as_an_error_annotation(
    sandbox: EmbeddedSandbox,
) -> None:
    env = {"MODELSTACK_API_KEY": REJECTED, "GITHUB_ACTIONS": "true"}
    r = run("--json", "--base-url", sandbox.base_url, "doctor", env=env)
    assert r.code == 3
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("::")]
    assert line.startswith("::error title=mscli doctor%3A auth failed::")
    assert r.doc["root_cause"]["detail"].rstrip(".") in line and "Fix: " in line
    assert line.endswith("(exit 3)")

    healthy = run("--sandbox", "doctor", env={"GITHUB_ACTIONS": "true"})
    assert healthy.code == 0 and "::error" not in healthy.output
    elsewhere = run("--base-url", sandbox.base_url, "doctor", env={"MODELSTACK_API_KEY": REJECTED})
    assert elsewhere.code == 3 and "::error" not in elsewhere.output


def test_annotation_escapes_newlines_and_percent() -> None:
    cause = CheckResult(
        name="tls", title="TLS", status="fail", detail="100% broken\r\nline 2", exit_code=8
    )
    line = github_annotation(DoctorReport(results=[cause]), {"GITHUB_ACTIONS": "true"})
    assert line == "::error title=mscli doctor%3A tls failed::100%25 broken%0D%0Aline 2. (exit 8)"
    assert "\n" not in line
