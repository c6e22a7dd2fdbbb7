"""pytest plugin loaded into every suite run of the ecosystem runner (``-p eco_guard``).

It checks that the run is on the framework it claims to be on (``ECO_EXPECT``: ``flask``
means the real Flask, ``erlen`` means ``flask.Flask is erlen.Erlen`` and a test client on the
door named by ``ERLEN_TEST_DOOR``), refusing to run otherwise, and it writes one JSON line
per test outcome to ``ECO_OUT`` as each test ends, so a run cut short keeps what it did. It
also refuses a run whose temporary files would go to the machine's temporary directory.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pytest

EXPECT = os.environ.get("ECO_EXPECT", "")
OUT = os.environ.get("ECO_OUT", "")

_outcomes: dict[str, str] = {}
_messages: dict[str, str] = {}


def _framework_problem() -> str | None:
    """What is wrong with the framework this process answers ``import flask`` with, if anything."""
    import flask

    if EXPECT == "erlen":
        import erlen

        if flask.Flask is not erlen.Erlen:
            return f"flask.Flask is {flask.Flask!r}, not erlen.Erlen"
        door = os.environ.get("ERLEN_TEST_DOOR", "wsgi")
        client: Any = erlen.Erlen("eco_guard").test_client()
        if bool(client.asgi) != (door == "asgi"):
            return f"the test client's door is not {door!r} (asgi={client.asgi!r})"
        return None
    if EXPECT == "flask":
        if flask.Flask.__module__ != "flask.app" or "erlen" in sys.modules:
            return f"flask.Flask comes from {flask.Flask.__module__!r}, not the real Flask"
        return None
    return f"ECO_EXPECT must be 'flask' or 'erlen', not {EXPECT!r}"


def _tempdir_problem() -> str | None:
    """Whether temporary files go to the run's own directory (see eco_runner), not the machine's."""
    import tempfile
    from pathlib import Path

    if not OUT:
        return None
    run = Path(OUT).resolve().parent
    if run not in Path(tempfile.gettempdir()).resolve().parents:
        return f"tempfile.gettempdir() is {tempfile.gettempdir()!r}, outside the run's {run}"
    return None


def _write(record: dict[str, str]) -> None:
    if OUT:
        with open(OUT, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def pytest_report_header(config: pytest.Config) -> str:
    return f"eco_guard: expecting {EXPECT}, door {os.environ.get('ERLEN_TEST_DOOR', 'wsgi')}"


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    problem = _framework_problem() or _tempdir_problem()
    _write({"guard": "start", "problem": problem or ""})
    if problem:
        raise pytest.UsageError(f"eco_guard: {problem}")


_exitstatus = 0


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exitstatus
    _exitstatus = int(exitstatus)
    problem = _framework_problem()
    _write({"guard": "finish", "problem": problem or "", "exitstatus": str(_exitstatus)})


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Exit now: a server a test started (``app.run``) may leave a thread that never ends."""
    if OUT:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exitstatus)


def _message(report: pytest.CollectReport | pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = getattr(crash, "message", None) or str(report.longrepr)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    return first[:300]


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _write({"id": report.nodeid, "outcome": "collect-error", "message": _message(report)})


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    nodeid = report.nodeid
    xfail = hasattr(report, "wasxfail")
    if report.when == "setup":
        if report.skipped:
            _outcomes[nodeid] = "xfailed" if xfail else "skipped"
        elif report.failed:
            _outcomes[nodeid] = "error"
            _messages[nodeid] = _message(report)
        else:
            _outcomes[nodeid] = "passed"
    elif report.when == "call":
        if report.passed:
            _outcomes[nodeid] = "xpassed" if xfail else "passed"
        elif report.skipped:
            _outcomes[nodeid] = "xfailed" if xfail else "skipped"
        else:
            _outcomes[nodeid] = "failed"
            _messages[nodeid] = _message(report)
    else:
        outcome = _outcomes.pop(nodeid, "error")
        message = _messages.pop(nodeid, "")
        if report.failed and outcome in ("passed", "skipped", "xfailed", "xpassed"):
            outcome = "error"
            message = "teardown: " + _message(report)
        record = {"id": nodeid, "outcome": outcome}
        if message:
            record["message"] = message
        _write(record)
