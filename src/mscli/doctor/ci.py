"""The doctor for CI systems: a JUnit XML report (`mscli doctor --junit FILE`: one testcase per
check, failures carrying the message and the fix, skipped checks as skipped) and, under GitHub
Actions, the root cause as an `::error` workflow command, so it shows on the run's summary page.

The texts are the report's, already redacted by the runner. Standard library only.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

from mscli.redact import strip_control

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mscli.doctor.base import CheckResult
    from mscli.doctor.runner import DoctorReport

#: The testsuite's name and the testcases' classname.
SUITE = "mscli doctor"
CLASSNAME = "mscli.doctor"

# What XML 1.0 cannot hold even escaped, beyond what strip_control removes: lone surrogates
# and the two non-characters U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", strip_control(text))


def _message(result: CheckResult) -> str:
    fix = f"\nfix: {result.fix}" if result.fix else ""
    return _xml_text(f"{result.detail}{fix}")


def junit_tree(report: DoctorReport) -> ET.ElementTree[ET.Element]:
    """The report as a JUnit XML document: `<testsuites>` holding one `<testsuite>`. A failed
    check (and with --strict a warning) is a `<failure>` whose message is the detail and whose
    text adds the fix; a skipped check is `<skipped>`; a warning otherwise passes, with the
    warning in `<system-out>`."""
    failing = [r for r in report.results if r.status == "fail"]
    if report.strict:
        failing += [r for r in report.results if r.status == "warn"]
    skipped = [r for r in report.results if r.status == "skip"]
    seconds = f"{report.duration_ms / 1000:.3f}"
    counts = {
        "tests": str(len(report.results)),
        "failures": str(len(failing)),
        "errors": "0",
        "skipped": str(len(skipped)),
        "time": seconds,
    }
    root = ET.Element("testsuites", {"name": SUITE, **counts})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": SUITE,
            **counts,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
        },
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("base_url", report.base_url),
        ("profile", report.profile),
        ("exit_code", str(report.exit_code)),
        ("root_cause", report.root_cause.name if report.root_cause else None),
    ):
        if value is not None:
            ET.SubElement(props, "property", {"name": name, "value": _xml_text(value)})
    for r in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": CLASSNAME,
                "name": r.name,
                "time": f"{r.duration_ms / 1000:.3f}",
            },
        )
        if r in failing:
            failure = ET.SubElement(
                case,
                "failure",
                {
                    "message": _xml_text(r.detail),
                    "type": f"{r.status}, exit {r.exit_code}",
                },
            )
            failure.text = _message(r)
        elif r.status == "skip":
            ET.SubElement(case, "skipped", {"message": _xml_text(r.detail)})
        elif r.status == "warn":
            ET.SubElement(case, "system-out").text = "warning: " + _message(r)
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(report: DoctorReport, path: str) -> Path:
    """Write the JUnit XML report to `path` (UTF-8, with the XML declaration) and return it."""
    target = Path(path).expanduser()
    junit_tree(report).write(target, encoding="utf-8", xml_declaration=True)
    return target


def _escape_data(text: str) -> str:
    """A workflow command's message: %, CR and LF escaped as the runner expects."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(report: DoctorReport, env: Mapping[str, str]) -> str | None:
    """Under GitHub Actions (GITHUB_ACTIONS=true), the root cause as one `::error title=…::…`
    line; None elsewhere or when nothing failed."""
    cause = report.root_cause
    if cause is None or env.get("GITHUB_ACTIONS") != "true":
        return None
    title = _escape_property(strip_control(f"mscli doctor: {cause.name} failed"))
    body = cause.detail.rstrip(".") + "."
    if cause.fix:
        body += f" Fix: {cause.fix}"
    body += f" (exit {report.exit_code})"
    return f"::error title={title}::{strip_control(_escape_data(body))}"
