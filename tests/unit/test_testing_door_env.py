"""ERLEN_TEST_DOOR: the test client's door for a whole run when ``asgi`` is not passed."""

from __future__ import annotations

import pytest

from erlen import Erlen, request


def _app() -> Erlen:
    app = Erlen(__name__)

    @app.get("/")
    def index() -> str:
        return "asgi" if request.scope is not None else "wsgi"

    return app


@pytest.mark.parametrize(
    ("value", "asgi"),
    [(None, False), ("", False), ("wsgi", False), ("asgi", True), (" ASGI ", True)],
)
def test_env_names_the_default_door(
    monkeypatch: pytest.MonkeyPatch, value: str | None, asgi: bool
) -> None:
    if value is None:
        monkeypatch.delenv("ERLEN_TEST_DOOR", raising=False)
    else:
        monkeypatch.setenv("ERLEN_TEST_DOOR", value)
    client = _app().test_client()
    assert client.asgi is asgi
    assert client.get("/").text == ("asgi" if asgi else "wsgi")


@pytest.mark.parametrize("explicit", [True, False])
def test_explicit_door_wins(monkeypatch: pytest.MonkeyPatch, explicit: bool) -> None:
    monkeypatch.setenv("ERLEN_TEST_DOOR", "wsgi" if explicit else "asgi")
    client = _app().test_client(asgi=explicit)
    assert client.asgi is explicit
    assert client.get("/").text == ("asgi" if explicit else "wsgi")


def test_read_when_the_client_is_created(monkeypatch: pytest.MonkeyPatch) -> None:
    app = _app()
    monkeypatch.setenv("ERLEN_TEST_DOOR", "asgi")
    first = app.test_client()
    monkeypatch.setenv("ERLEN_TEST_DOOR", "wsgi")
    assert first.asgi is True
    assert app.test_client().asgi is False


def test_unknown_door_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERLEN_TEST_DOOR", "http2")
    with pytest.raises(ValueError, match="ERLEN_TEST_DOOR"):
        _app().test_client()
