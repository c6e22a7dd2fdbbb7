"""docs/typed-apis.md runs as written: its shop app, its requests and its error handler."""

from pathlib import Path

import pytest

pytest.importorskip("pydantic")

from support import run_markdown


def test_typed_apis_page_runs_as_written() -> None:
    page = Path(__file__).resolve().parents[2] / "docs" / "typed-apis.md"
    assert run_markdown(page) >= 12
