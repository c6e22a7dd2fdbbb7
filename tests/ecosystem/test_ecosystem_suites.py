"""Flask's and its extensions' release test suites pass on Erlen where they pass on Flask.

One test per suite and door. The first one runs the whole ecosystem run (``eco_runner``:
every suite on real Flask and on both of Erlen's doors, two at a time, a few minutes with a
warm cache); each test then fails with the list of tests that pass on Flask but not on Erlen
through its door, unless ``exclusions.toml`` gives a reason. ``ERLEN_ECOSYSTEM=0`` skips them.
The results are written to the cache directory (``results.json``); ``make ecosystem`` writes
them to ``docs/_data/ecosystem.json``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import eco_runner
import pytest

pytestmark = [pytest.mark.ecosystem, pytest.mark.slow]


@pytest.fixture(scope="session")
def ecosystem_results() -> dict[str, Any]:
    if os.environ.get("ERLEN_ECOSYSTEM", "1").strip().lower() in ("0", "false", "no", "off"):
        pytest.skip("ERLEN_ECOSYSTEM=0: the release suites are left out")
    results = eco_runner.run_all()
    path = eco_runner.cache_dir() / "results.json"
    path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(eco_runner.summary(results))
    return results


@pytest.mark.parametrize("door", eco_runner.DOORS)
@pytest.mark.parametrize("suite", list(eco_runner.SUITES))
def test_suite_passes_on_erlen(ecosystem_results: dict[str, Any], suite: str, door: str) -> None:
    problems = eco_runner.unexpected(ecosystem_results, suite, door)
    assert not problems, (
        f"{suite} on Erlen's {door} door differs from Flask"
        f" ({len(ecosystem_results['suites'][suite][door].get('regressions', []))} tests):\n"
        + "\n".join(problems)
    )
