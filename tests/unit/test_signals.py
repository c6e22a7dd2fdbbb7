"""Signals, checked against Flask: same events, same order, same sender and arguments."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import flask
import pytest

import erlen
from erlen import Erlen, signals

SIGNAL_NAMES = [
    "appcontext_pushed",
    "request_started",
    "message_flashed",
    "before_render_template",
    "template_rendered",
    "got_request_exception",
    "request_finished",
    "request_tearing_down",
    "appcontext_tearing_down",
    "appcontext_popped",
]


def describe(name: str, sender: Any, app: Any, kwargs: dict[str, Any]) -> str:
    parts = []
    for key, value in sorted(kwargs.items()):
        if key == "template":
            value = value.name
        elif key == "context":
            value = sorted(k for k in value if k not in {"g", "request", "session"})
        elif key == "response":
            value = value.status_code
        elif key in ("exception", "exc"):
            value = type(value).__name__ if value is not None else None
        parts.append(f"{key}={value!r}")
    return f"{name}({'app' if sender is app else repr(sender)}; {', '.join(parts)})"


def build(mod: ModuleType) -> Any:
    app = (mod.Flask if mod is flask else mod.Erlen)(__name__)
    app.secret_key = "signals"

    @app.route("/")
    def index() -> str:
        mod.flash("hi", "info")
        return mod.render_template_string("{{ x }}", x=1)

    @app.route("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    @app.route("/handled")
    def handled() -> str:
        raise KeyError("k")

    @app.errorhandler(KeyError)
    def on_key(e: Any) -> Any:
        return "handled", 400

    @app.route("/stream")
    def stream() -> Any:
        return mod.stream_template_string("{% for i in range(2) %}{{ i }}{% endfor %}")

    return app


@pytest.fixture
def recorded(protocol: str) -> Iterator[dict[str, tuple[Any, list[str]]]]:
    """Connect a receiver to every signal of both frameworks."""
    results: dict[str, tuple[Any, list[str]]] = {}
    connections = []
    for mod in (flask, erlen):
        app = build(mod)
        log: list[str] = []
        sigs = importlib.import_module(f"{mod.__name__}.signals")
        for name in SIGNAL_NAMES:

            def receiver(
                sender: Any, name: str = name, app: Any = app, log: list[str] = log, **kw: Any
            ) -> None:
                log.append(describe(name, sender, app, kw))

            signal = getattr(sigs, name)
            signal.connect(receiver, app, weak=False)
            connections.append((signal, receiver))
        results[mod.__name__] = (app, log)
    yield results
    for signal, receiver in connections:
        signal.disconnect(receiver)


def run(recorded: dict[str, tuple[Any, list[str]]], protocol: str, path: str) -> list[str]:
    logs = {}
    for name, (app, log) in recorded.items():
        client = app.test_client() if name == "flask" else app.test_client(asgi=protocol == "asgi")
        log.clear()
        client.get(path).close()
        logs[name] = log.copy()
    assert logs["erlen"] == logs["flask"]
    return logs["erlen"]


def test_signals_of_a_request(recorded: Any, protocol: str) -> None:
    assert run(recorded, protocol, "/") == [
        "appcontext_pushed(app; )",
        "request_started(app; )",
        "message_flashed(app; category='info', message='hi')",
        "before_render_template(app; context=['x'], template=None)",
        "template_rendered(app; context=['x'], template=None)",
        "request_finished(app; response=200)",
        "request_tearing_down(app; exc=None)",
        "appcontext_tearing_down(app; exc=None)",
        "appcontext_popped(app; )",
    ]


def test_signals_of_a_failing_request(recorded: Any, protocol: str) -> None:
    log = run(recorded, protocol, "/boom")
    assert "got_request_exception(app; exception='RuntimeError')" in log
    assert "request_finished(app; response=500)" in log
    assert "request_tearing_down(app; exc='RuntimeError')" in log


def test_signals_of_a_handled_error(recorded: Any, protocol: str) -> None:
    log = run(recorded, protocol, "/handled")
    assert not any(entry.startswith("got_request_exception") for entry in log)
    assert "request_finished(app; response=400)" in log


def test_signals_of_a_streamed_template(recorded: Any, protocol: str) -> None:
    # Flask pops the context when the view returns and pushes it again for the
    # streamed body (so its teardown signals fire twice); Erlen keeps the context
    # until the body is done, so each signal fires once, in this order.
    app, log = recorded["erlen"]
    log.clear()
    resp = app.test_client(asgi=protocol == "asgi").get("/stream")
    assert resp.text == "01"
    resp.close()
    assert log == [
        "appcontext_pushed(app; )",
        "request_started(app; )",
        "before_render_template(app; context=[], template=None)",
        "request_finished(app; response=200)",
        "template_rendered(app; context=[], template=None)",
        "request_tearing_down(app; exc=None)",
        "appcontext_tearing_down(app; exc=None)",
        "appcontext_popped(app; )",
    ]


def test_signals_outside_requests() -> None:
    app = Erlen(__name__)
    log: list[str] = []
    with (
        signals.appcontext_pushed.connected_to(lambda s: log.append("pushed"), app),
        signals.appcontext_popped.connected_to(lambda s: log.append("popped"), app),
        signals.appcontext_tearing_down.connected_to(
            lambda s, exc: log.append(f"teardown {exc!r}"), app
        ),
        app.app_context(),
    ):
        log.append("inside")
    assert log == ["pushed", "inside", "teardown None", "popped"]


def test_receivers_for_another_sender_are_not_called(protocol: str) -> None:
    app, other = Erlen(__name__), Erlen(__name__)
    app.add_url_rule("/", "index", lambda: "ok")
    calls: list[Any] = []
    with signals.request_started.connected_to(lambda s, **kw: calls.append(s), other):
        app.test_client(asgi=protocol == "asgi").get("/")
    assert calls == []


def test_nothing_is_sent_without_receivers(protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a signal nobody listens to was sent")

    for name in SIGNAL_NAMES:
        signal = getattr(signals, name)
        assert not signal.receivers, f"{name} has leftover receivers"
        monkeypatch.setattr(signal, "send", boom)
    app = build(erlen)
    client = app.test_client(asgi=protocol == "asgi")
    assert client.get("/").status_code == 200
    assert client.get("/stream").text == "01"
    assert client.get("/handled").status_code == 400
    assert client.get("/boom").status_code == 500


def test_signal_names_match_flask() -> None:
    for name in SIGNAL_NAMES:
        assert getattr(signals, name).name == getattr(flask.signals, name).name
        assert getattr(erlen, name) is getattr(signals, name)
