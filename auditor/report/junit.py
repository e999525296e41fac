"""JUnit XML: one test suite per rule pack, one test case per rule and resource."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from ..model import Finding
from ..results import AuditResult, FleetResult


def _case_name(f: Finding, where: bool = False) -> str:
    r = f.resource
    return f"{f.rule_id} [{r.get('name') or r.get('id')}]" + (f" ({f.deployment})" if f.deployment else "") \
        + (f" in {r.get('account')}/{r.get('region')}" if where else "")


def to_junit(result: AuditResult | FleetResult) -> str:
    """One suite per pack; with several targets, each case names its account/region and a target not
    audited is an error case of a ``targets`` suite."""
    fleet = result if isinstance(result, FleetResult) else None
    if fleet is not None:
        result = fleet.combined
    where = fleet is not None and len(fleet.targets) > 1
    suites = ET.Element("testsuites", name="auditor", tests=str(len(result.findings)),
                        failures=str(sum(f.status == "fail" for f in result.findings)),
                        errors=str(sum(f.status == "error" for f in result.findings)),
                        skipped=str(sum(f.status in ("waived", "skip") for f in result.findings)),
                        time=f"{result.duration_seconds:.3f}")
    by_pack: dict[str, list[Finding]] = defaultdict(list)
    for f in result.findings:
        by_pack[f.pack or "rules"].append(f)
    for pack, findings in sorted(by_pack.items()):
        suite = ET.SubElement(suites, "testsuite", name=pack, tests=str(len(findings)),
                              failures=str(sum(f.status == "fail" for f in findings)),
                              errors=str(sum(f.status == "error" for f in findings)),
                              skipped=str(sum(f.status in ("waived", "skip") for f in findings)),
                              timestamp=result.started_at)
        for f in findings:
            case = ET.SubElement(suite, "testcase", classname=f"{pack}.{f.resource['type']}",
                                 name=_case_name(f, where))
            if f.status == "waived":   # an accepted failure: skipped, with the waiver
                w = f.waiver or {}
                ET.SubElement(case, "skipped", message=f"waived until {w.get('expires')} by {w.get('owner')}: "
                                                       f"{w.get('reason')} ({w.get('source')})")
            if f.status == "skip":   # the rule judged nothing here: say why
                ET.SubElement(case, "skipped", message=f.message)
            if f.status in ("fail", "error"):
                el = ET.SubElement(case, "failure" if f.status == "fail" else "error",
                                   message=f.message, type=f.severity)
                doc = f.doc or {}
                el.text = "\n".join(x for x in (
                    f"resource: {f.resource.get('arn') or f.resource.get('id')}",
                    f"expected: {f.expected}" if f.expected is not None else "",
                    f"actual: {f.actual}" if f.actual is not None else "",
                    f"doc: {doc.get('file', '')}: {doc.get('quote', '')}" if doc else "",
                    f"remediation: {f.remediation}" if f.remediation else "") if x)
    if result.errors:
        suite = ET.SubElement(suites, "testsuite", name="collection", tests=str(len(result.errors)),
                              errors=str(len(result.errors)))
        for e in result.errors:
            case = ET.SubElement(suite, "testcase", classname="collection", name=f"{e.service}:{e.operation}")
            ET.SubElement(case, "error", message=f"{e.code}: {e.message}", type=e.code)
    if fleet is not None and fleet.failures:
        suite = ET.SubElement(suites, "testsuite", name="targets", tests=str(len(fleet.failures)),
                              errors=str(len(fleet.failures)))
        for failure in fleet.failures.values():
            case = ET.SubElement(suite, "testcase", classname="targets", name=failure.target.key)
            ET.SubElement(case, "error", message=f"{failure.service}:{failure.operation} {failure.code}: "
                                                 f"{failure.message}", type=failure.code)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
