"""Running data tests like a test suite: named reads with their checks, PASS/FAIL/WARN, a summary, JUnit XML.

A :class:`DataTestCase` is one named data set: where to read it (a URI, a table
and read options) and its checks (:mod:`unistore.checks` values or their dict
forms). :func:`run_data_tests` streams each read with its checks (batches are
dropped as they pass: memory stays bounded, whatever the size of the data set),
takes the results from the read's provenance record, and returns a
:class:`DataTestReport`: one line per test, a summary, the exit code a CI job
wants (1 when a test of severity ``error`` failed or a read failed) and JUnit XML
for CI systems. A catalog feeds it its datasets' ``tests:`` lists; the CLI and
the pytest plugin are built on it.
"""

from __future__ import annotations

import json
import time
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from .api import scan
from .checks import Check, as_checks
from .errors import DataTestError, DataTestWarning, UnistoreError
from .location import redact
from .provenance import CheckResult, jsonable, provenance_of


@dataclass(frozen=True)
class DataTestCase:
    """One data set under test: ``name`` (its catalog name), how to read it, and its checks."""

    name: str
    uri: str
    table: str | tuple[str, ...] | None = None
    checks: tuple[Check | Mapping[str, Any], ...] = ()
    read_options: Mapping[str, Any] = field(default_factory=dict)
    #: opens the read with its checks instead (a catalog dataset: ``lambda: cat.scan(name)``); ``uri`` then
    #: only names the source in the report, redacted
    reader: Callable[[], pa.RecordBatchReader] | None = None


@dataclass
class DataSetOutcome:
    """What testing one data set gave: its results, or the error that stopped its read."""

    name: str
    source: str  # redacted
    results: list[CheckResult] = field(default_factory=list)
    error: str | None = None
    rows: int | None = None
    read_id: str | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.error is not None or any(not r.success and r.severity == "error" for r in self.results)


def status(result: CheckResult) -> str:
    """PASS, FAIL (severity error) or WARN (severity warn)."""
    if result.success:
        return "PASS"
    return "FAIL" if result.severity == "error" else "WARN"


@dataclass
class DataTestReport:
    """Every data set's outcome; :attr:`exit_code`, :meth:`summary` and :meth:`junit_xml` for CI."""

    outcomes: list[DataSetOutcome]
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        out = {"PASS": 0, "FAIL": 0, "WARN": 0, "ERROR": 0}
        for o in self.outcomes:
            out["ERROR"] += o.error is not None
            for r in o.results:
                out[status(r)] += 1
        return out

    @property
    def exit_code(self) -> int:
        """1 when a test of severity error failed or a data set could not be read, else 0."""
        return int(any(o.failed for o in self.outcomes))

    def summary(self) -> str:
        c = self.counts()
        return (f"{c['PASS']} passed, {c['FAIL']} failed, {c['WARN']} warned, {c['ERROR']} error(s) "
                f"in {len(self.outcomes)} data set(s) ({self.seconds:.2f} s)")

    def lines(self) -> list[str]:
        """The report as a test runner prints it: a line per data set, a line per test, the summary."""
        out: list[str] = []
        for o in self.outcomes:
            out.append(dataset_line(o))
            out.extend(result_line(r) for r in o.results)
        out.append(self.summary())
        return out

    def junit_xml(self) -> str:
        """JUnit XML: a testsuite per data set, a testcase per test (a read error is a testcase ``read``).

        A failed ``warn`` test passes in JUnit terms; its ``system-out`` says WARN and why.
        """
        suites = ET.Element("testsuites", name="unistore data tests", time=f"{self.seconds:.3f}")
        for o in self.outcomes:
            failures = sum(status(r) == "FAIL" for r in o.results)
            suite = ET.SubElement(suites, "testsuite", name=o.name, tests=str(len(o.results) or 1),
                                  failures=str(failures), errors=str(int(o.error is not None)),
                                  time=f"{o.seconds:.3f}")
            props = ET.SubElement(suite, "properties")
            for key, value in (("source", o.source), ("read_id", o.read_id or ""), ("rows", o.rows)):
                ET.SubElement(props, "property", name=key, value="" if value is None else str(value))
            if o.error is not None:
                case = ET.SubElement(suite, "testcase", classname=o.name, name="read")
                ET.SubElement(case, "error", message=o.error, type="UnistoreError").text = o.error
            for r in o.results:
                case = ET.SubElement(suite, "testcase", classname=o.name, name=r.name)
                detail = _detail(r)
                if status(r) == "FAIL":
                    ET.SubElement(case, "failure", message=detail, type=r.assertion).text = detail
                elif status(r) == "WARN":
                    ET.SubElement(case, "system-out").text = f"WARN {detail}"
        return ET.tostring(suites, encoding="unicode", xml_declaration=True)


def run_data_tests(cases: Iterable[DataTestCase], *,
                   progress: Callable[[str], None] | None = None) -> DataTestReport:
    """Read each data set with its checks and gather the results; never raises for a failed test or read.

    ``progress`` receives a line per data set as soon as it is done, then a line per test.
    """
    started = time.perf_counter()
    outcomes = []
    for case in cases:
        outcome = _run_one(case)
        outcomes.append(outcome)
        if progress is not None:
            progress(dataset_line(outcome))
            for r in outcome.results:
                progress(result_line(r))
    return DataTestReport(outcomes, time.perf_counter() - started)


def _run_one(case: DataTestCase) -> DataSetOutcome:
    outcome = DataSetOutcome(case.name, redact(case.uri))
    started = time.perf_counter()
    reader = None
    try:
        checks = as_checks(case.checks)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataTestWarning)  # the report says WARN
            reader = case.reader() if case.reader is not None else \
                scan(case.uri, case.table, checks=list(checks), **dict(case.read_options))
            try:
                for _ in reader:
                    pass
            except DataTestError:
                pass  # the record holds every result
    except UnistoreError as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
    if reader is not None:
        record = provenance_of(reader)
        outcome.results = list(record.checks or [])
        outcome.rows, outcome.read_id = record.result.rows, record.read_id
    outcome.seconds = time.perf_counter() - started
    return outcome


def dataset_line(o: DataSetOutcome) -> str:
    if o.error is not None:
        return f"{o.name} ({o.source}): ERROR {o.error}"
    c = {s: sum(status(r) == s for r in o.results) for s in ("PASS", "FAIL", "WARN")}
    verdict = "FAIL" if o.failed else "WARN" if c["WARN"] else "PASS"
    return (f"{o.name} ({o.source}, {o.rows:,} rows, read {o.read_id}): {verdict} "
            f"{c['PASS']} passed, {c['FAIL']} failed, {c['WARN']} warned ({o.seconds:.2f} s)")


def result_line(r: CheckResult) -> str:
    return f"  {status(r):<4}  {r.name}  {_detail(r)}"


def _detail(r: CheckResult) -> str:
    observed = json.dumps(r.observed, default=jsonable, sort_keys=True)
    rows = f", {r.failing_rows} failing row(s)" if r.failing_rows else ""
    examples = f", e.g. {json.dumps(r.examples[:5], default=jsonable)}" if r.examples and not r.success else ""
    return f"observed {observed}{rows}{examples} (expected {r.expected})"
