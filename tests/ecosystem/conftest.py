"""The ecosystem run's marker: ``pytest -m "not ecosystem"`` leaves the release suites out."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ecosystem: Flask's and extensions' release suites on Erlen (tests/ecosystem, minutes)",
    )
