"""A pytest plugin for the app's own suite: records each test's outcome and what ran it.

Loaded with ``-p suite_probe`` in the app's test run (see test_flask_app_unchanged.py);
writes JSON to the path in ``ERLEN_SUITE_REPORT`` when the session ends: the outcome of
every test by node id (with the first line of a failure), whether ``flask.Flask`` was
Erlen, and the classes of the app and test client the suite's fixtures made.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pytest

_outcomes: dict[str, str] = {}
_messages: dict[str, str] = {}
_seen: dict[str, str] = {}


def _qualname(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Fold the setup, call and teardown reports into one outcome per test."""
    before = _outcomes.get(report.nodeid)
    if report.failed:
        _outcomes[report.nodeid] = "failed"
        crash = getattr(report.longrepr, "reprcrash", None)
        message = getattr(crash, "message", None) or str(report.longrepr)
        _messages.setdefault(report.nodeid, message.splitlines()[0][:300] if message else "")
    elif report.skipped and before != "failed":
        _outcomes[report.nodeid] = "skipped"
    elif report.when == "call" and before is None:
        _outcomes[report.nodeid] = "passed"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Note the classes of the suite's own ``app`` and ``client`` fixtures."""
    funcargs = getattr(item, "funcargs", {})
    for name in ("app", "client"):
        if name in funcargs and name not in _seen:
            _seen[name] = _qualname(funcargs[name])
    yield


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the report."""
    path = os.environ.get("ERLEN_SUITE_REPORT")
    if not path:
        return
    import flask

    erlen = sys.modules.get("erlen")
    run = sys.modules.get("ihatemoney.run")
    report = {
        "exitstatus": int(exitstatus),
        "outcomes": _outcomes,
        "messages": _messages,
        "flask_module": getattr(flask, "__file__", None),
        "flask_is_erlen": erlen is not None and flask.Flask is getattr(erlen, "Erlen", None),
        "compat_active": "erlen.flask_compat" in sys.modules,
        "app_module_flask": _qualname_of_class(getattr(run, "Flask", None)),
        "fixtures": _seen,
        "door": os.environ.get("ERLEN_TEST_DOOR", ""),
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, sort_keys=True)


def _qualname_of_class(cls: Any) -> str | None:
    if cls is None:
        return None
    return f"{cls.__module__}.{cls.__qualname__}"
