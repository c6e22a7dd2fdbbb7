"""Fixtures of the typed-view tests: each view written as ``def`` and as ``async def``.

The ``protocol`` and ``client`` fixtures of ``tests/conftest.py`` run a test through the
WSGI and the ASGI door; ``as_view`` here makes the same test run once with a plain view and
once with a coroutine view, so the four combinations are covered.
"""

import functools
import inspect
from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture(params=["def", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    """Whether the views under test are plain functions or coroutine functions."""
    return str(request.param)


@pytest.fixture
def as_view(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``as_view(func)``: ``func`` itself, or an ``async def`` with its signature and hints."""

    def convert(func: Callable[..., Any]) -> Callable[..., Any]:
        if kind == "def":
            return func

        @functools.wraps(func)
        async def view(*args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

        assert inspect.iscoroutinefunction(view)
        return view

    return convert
