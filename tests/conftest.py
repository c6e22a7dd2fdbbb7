"""Shared fixtures: run core behaviour through both doors, and compare with Flask.

* ``protocol`` runs a test once through the WSGI door and once through the ASGI door.
* ``client`` turns an app built inline into a test client for the current protocol.
* ``oracle`` builds the same tiny app on Flask and on Erlen and asserts that both answer
  a request with the same status, body and the headers that matter.
* An autouse fixture fails any test that leaves an app or request context pushed.
"""

from __future__ import annotations

import base64
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import flask
import pytest

import erlen
from erlen.globals import _cv_app, _cv_request
from support import asgi_request, serve

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

Build = Callable[[ModuleType, type], Any]


@pytest.fixture(params=["wsgi", "asgi"])
def protocol(request: pytest.FixtureRequest) -> str:
    """The door a test drives the app through."""
    return str(request.param)


@pytest.fixture
def client(protocol: str) -> Callable[..., Any]:
    """``client(app)`` -> ``app.test_client(asgi=...)`` for the current protocol."""

    def make(app: Any, **kwargs: Any) -> Any:
        return app.test_client(asgi=(protocol == "asgi"), **kwargs)

    return make


@pytest.fixture(autouse=True)
def _no_leaked_context() -> Iterator[None]:
    """Fail a test that leaves an app or request context pushed."""
    yield
    app_ctx = _cv_app.get(None)
    req_ctx = _cv_request.get(None)
    if app_ctx is not None or req_ctx is not None:
        _unwind()  # so that one leak does not fail every later test too
        pytest.fail(f"test left a context pushed: app={app_ctx!r} request={req_ctx!r}")


def _unwind() -> None:
    """Reset the context variable through the leaked contexts' own tokens."""
    for _ in range(100):
        ctx: Any = _cv_app.get(None)
        tokens = getattr(ctx, "_tokens", None)
        if not tokens:
            break
        _cv_app.reset(tokens.pop())
    if _cv_app.get(None) is not None:  # pragma: no cover - a context pushed by other means
        _cv_app.set(None)  # type: ignore[arg-type]


# -- the Flask oracle --------------------------------------------------------------------------

DEFAULT_HEADERS = ("Content-Type", "Location", "Allow", "Set-Cookie", "WWW-Authenticate")


def _method_set(value: str | None) -> set[str] | None:
    return None if value is None else {m.strip() for m in value.split(",")}


#: A signed, timestamped cookie (Flask's session): name=payload.timestamp.signature; attributes.
_SIGNED_COOKIE = re.compile(
    r"(?P<name>[^=]+)=(?P<payload>\.?[\w-]+)\.(?P<stamp>[\w-]+)\.[\w-]+(?P<attributes>;.*)?"
)


def _signed_at(stamp: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(stamp + "=" * (-len(stamp) % 4)), "big")


def _same_cookie(erlen_value: str, flask_value: str) -> bool:
    """Equal, or the same signed cookie signed a clock second apart (the two apps answer one
    after the other, and the timestamp, so the signature, changes at each second)."""
    if erlen_value == flask_value:
        return True
    e, f = _SIGNED_COOKIE.fullmatch(erlen_value), _SIGNED_COOKIE.fullmatch(flask_value)
    if e is None or f is None:
        return False
    same = ("name", "payload", "attributes")
    if any(e.group(part) != f.group(part) for part in same):
        return False
    return abs(_signed_at(e.group("stamp")) - _signed_at(f.group("stamp"))) <= 1


class Oracle:
    """The same app built on Flask and on Erlen; ``check`` asserts they answer alike."""

    def __init__(self, build: Build, protocol: str) -> None:
        self.flask_app = build(flask, flask.Flask)
        self.erlen_app = build(erlen, erlen.Erlen)
        self.protocol = protocol
        self.flask_client = self.flask_app.test_client()
        self.erlen_client = self.erlen_app.test_client(asgi=(protocol == "asgi"))

    def check(
        self,
        method: str,
        path: str,
        *,
        headers_to_compare: Iterable[str] = DEFAULT_HEADERS,
        compare_body: bool = True,
        **kwargs: Any,
    ) -> tuple[Any, Any]:
        """Send the same request to both apps and assert the same answer."""
        f = self.flask_client.open(path, method=method, **kwargs)
        e = self.erlen_client.open(path, method=method, **kwargs)
        where = f"{method} {path} ({self.protocol})"
        assert e.status_code == f.status_code, f"{where}: status {e.status_code} != {f.status_code}"
        if compare_body:
            assert e.data == f.data, f"{where}: body {e.data[:300]!r} != {f.data[:300]!r}"
        for name in headers_to_compare:
            if name == "Allow":
                # Flask lists the methods in set order (random per process); compare as sets.
                assert _method_set(e.headers.get(name)) == _method_set(f.headers.get(name)), where
                continue
            erlen_values, flask_values = e.headers.getlist(name), f.headers.getlist(name)
            if (
                name == "Set-Cookie"
                and len(erlen_values) == len(flask_values)
                and all(map(_same_cookie, erlen_values, flask_values))
            ):
                continue
            assert erlen_values == flask_values, (
                f"{where}: header {name}: {erlen_values} != {flask_values}"
            )
        if compare_body and method != "HEAD" and not f.is_streamed:
            assert e.headers.get("Content-Length") == f.headers.get("Content-Length"), where
        return f, e


@pytest.fixture
def oracle(protocol: str) -> Callable[[Build], Oracle]:
    """``oracle(build)``: ``build(module, AppClass)`` is called for Flask and for Erlen."""

    def make(build: Build) -> Oracle:
        return Oracle(build, protocol)

    return make


@pytest.fixture(scope="session")
def real_server() -> Callable[..., Any]:
    """``with real_server("gunicorn" | "uvicorn", app_dir, "mod:app") as base_url: ...``"""
    return serve


@pytest.fixture
def asgi_call() -> Callable[..., Any]:
    """``await asgi_call(app, "GET", "/path", ...)`` -> (status, headers, body)."""
    return asgi_request
