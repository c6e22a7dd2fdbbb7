"""The core's async path for batteries with network I/O, without any network.

* A session interface that overrides ``open_session_async``/``save_session_async`` has
  them awaited for async views (loaded before the hooks, saved after), on both doors;
  sync views keep the lazy sync pair.
* A hook that names an async twin in ``__erlen_async__`` runs as that twin for async
  views only.
"""

from __future__ import annotations

import functools
from typing import Any

from erlen import Erlen, g, session
from erlen.sessions import (
    SecureCookieSessionInterface,
    SessionInterface,
    SessionMixin,
    has_async_session_io,
)


class Recording(SecureCookieSessionInterface):
    """The cookie session, with async hooks that record their calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def open_session(self, app: Erlen, request: Any) -> Any:
        self.calls.append("open")
        return super().open_session(app, request)

    def save_session(self, app: Erlen, session: SessionMixin, response: Any) -> None:
        self.calls.append("save")
        super().save_session(app, session, response)

    async def open_session_async(self, app: Erlen, request: Any) -> Any:
        self.calls.append("aopen")
        return super().open_session(app, request)

    async def save_session_async(self, app: Erlen, session: SessionMixin, response: Any) -> None:
        self.calls.append("asave")
        super().save_session(app, session, response)


def make_app() -> tuple[Erlen, Recording]:
    app = Erlen(__name__)
    app.secret_key = "secret"
    interface = Recording()
    app.session_interface = interface

    @app.before_request
    def before() -> None:
        g.loaded = interface.calls[-1:] == ["aopen"]

    @app.get("/async/<value>")
    async def async_view(value: str) -> Any:
        old = session.get("v")
        session["v"] = value
        return {"old": old, "loaded_before_hooks": g.loaded}

    @app.get("/sync/<value>")
    def sync_view(value: str) -> Any:
        old = session.get("v")
        session["v"] = value
        return {"old": old}

    @app.get("/untouched")
    async def untouched() -> str:
        return "no session"

    return app, interface


def test_detection() -> None:
    assert has_async_session_io(Recording())
    assert not has_async_session_io(SecureCookieSessionInterface())
    assert not has_async_session_io(object())  # a duck-typed interface without the hooks

    class Base(SessionInterface):
        pass

    assert not has_async_session_io(Base())


def test_async_views_use_the_async_hooks(client: Any) -> None:
    app, interface = make_app()
    c = client(app)
    assert c.get("/async/a").json == {"old": None, "loaded_before_hooks": True}
    assert interface.calls == ["aopen", "asave"]
    assert c.get("/async/b").json == {"old": "a", "loaded_before_hooks": True}
    assert c.get("/sync/c").json == {"old": "b"}
    assert interface.calls == ["aopen", "asave", "aopen", "asave", "open", "save"]
    interface.calls.clear()
    response = c.get("/untouched")
    assert interface.calls == ["aopen", "asave"]  # loaded up front, but not marked used
    assert "Cookie" not in response.headers.get("Vary", "")


def test_a_new_interface_takes_effect_on_compiled_plans(client: Any) -> None:
    app, interface = make_app()
    c = client(app)
    c.get("/async/a")
    plain = SecureCookieSessionInterface()
    app.session_interface = plain
    interface.calls.clear()
    assert c.get("/async/b").json["old"] == "a"
    assert interface.calls == []


def test_hooks_with_an_async_twin(client: Any) -> None:
    app = Erlen(__name__)
    seen: list[str] = []

    def check() -> None:
        seen.append("sync")

    async def acheck() -> None:
        seen.append("async")

    hook = functools.partial(check)
    hook.__erlen_async__ = acheck  # type: ignore[attr-defined]
    app.before_request(hook)

    @app.get("/a")
    async def a() -> str:
        return "a"

    @app.get("/s")
    def s() -> str:
        return "s"

    c = client(app)
    assert c.get("/a").text == "a"
    assert c.get("/s").text == "s"
    assert c.get("/missing").status_code == 404
    assert seen == ["async", "sync", "sync"]
