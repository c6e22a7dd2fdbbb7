"""WebSockets through the ASGI door: handshake, hooks, messages, refusals, errors, teardown."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import erlen
from erlen import Blueprint, Erlen, abort, g, request, session, url_for
from erlen.testing import WebSocketDenied
from erlen.websocket import WebSocket, WebSocketDisconnect, websocket


def make_app() -> Erlen:
    app = Erlen(__name__)
    app.secret_key = "test secret"
    app.testing = True
    return app


def test_echo_text_bytes_json_and_async_for() -> None:
    app = make_app()

    @app.websocket("/echo")
    async def echo() -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.send_bytes(await websocket.receive_bytes())
        await websocket.send_json(await websocket.receive_json())
        await websocket.send({"via": "send"})
        await websocket.send(b"raw")
        async for message in websocket:
            await websocket.send(f"got {message!r}")

    with app.test_client().websocket_connect("/echo") as ws:
        ws.send_text("hello")
        assert ws.receive_text() == "hello"
        ws.send_bytes(b"\x00\x01")
        assert ws.receive_bytes() == b"\x00\x01"
        ws.send_json({"a": [1, 2]})
        assert ws.receive_json() == {"a": [1, 2]}
        assert ws.receive_json() == {"via": "send"}
        assert ws.receive_bytes() == b"raw"
        ws.send_text("x")
        assert ws.receive_text() == "got 'x'"
        ws.send_bytes(b"y")
        assert ws.receive_text() == "got b'y'"


def test_url_values_and_the_ws_parameter_convention() -> None:
    app = make_app()

    @app.websocket("/rooms/<int:room>/<name>")
    async def room(ws: WebSocket, room: int, name: str) -> None:
        assert ws is websocket._get_current_object()  # type: ignore[attr-defined]
        await ws.send_json({"room": room, "name": name, "args": ws.args.get("q")})

    @app.websocket("/plain/<int:n>")
    async def plain(n: int) -> None:
        await websocket.send_json({"n": n, "path": websocket.path})

    client = app.test_client()
    with client.websocket_connect("/rooms/7/ann?q=z") as ws:
        assert ws.receive_json() == {"room": 7, "name": "ann", "args": "z"}
    with client.websocket_connect("/plain/3") as ws:
        assert ws.receive_json() == {"n": 3, "path": "/plain/3"}


def test_handshake_headers_cookies_session_and_g() -> None:
    app = make_app()

    @app.before_request
    def load_user() -> None:
        g.user = session.get("user", "anonymous")

    @app.websocket("/who")
    async def who() -> None:
        await websocket.send_json(
            {
                "user": g.user,
                "header": websocket.headers.get("X-Token"),
                "cookie": websocket.cookies.get("theme"),
                "request_path": request.path,
                "scheme": request.scheme,
            }
        )

    client = app.test_client()
    with client.session_transaction() as sess:
        sess["user"] = "ann"
    client.set_cookie("theme", "dark")
    with client.websocket_connect("/who", headers={"X-Token": "t0k"}) as ws:
        assert ws.receive_json() == {
            "user": "ann",
            "header": "t0k",
            "cookie": "dark",
            "request_path": "/who",
            "scheme": "ws",
        }


def test_subprotocol_and_accept_headers() -> None:
    app = make_app()

    @app.websocket("/proto")
    async def proto() -> None:
        assert websocket.subprotocols == ["chat.v1", "chat.v2"]
        await websocket.accept(subprotocol="chat.v2", headers={"X-Served-By": "erlen"})
        await websocket.send_text(websocket.accepted_subprotocol or "")

    with app.test_client().websocket_connect("/proto", subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.accepted_subprotocol == "chat.v2"
        assert ws.accepted_headers["X-Served-By"] == "erlen"
        assert ws.receive_text() == "chat.v2"


def test_accepting_a_subprotocol_the_client_did_not_offer_is_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app()

    @app.websocket("/proto")
    async def proto() -> None:
        await websocket.accept(subprotocol="nope")

    with (
        caplog.at_level(logging.ERROR),
        pytest.raises(WebSocketDenied) as info,
        app.test_client().websocket_connect("/proto", subprotocols=["chat"]),
    ):
        pass
    assert info.value.status_code == 500
    assert "was not offered" in caplog.text


def test_first_send_or_receive_accepts() -> None:
    app = make_app()

    @app.websocket("/send-first")
    async def send_first() -> None:
        await websocket.send_text("hi")

    @app.websocket("/receive-first")
    async def receive_first() -> None:
        await websocket.send_text((await websocket.receive_text()) * 2)

    client = app.test_client()
    with client.websocket_connect("/send-first") as ws:
        assert ws.receive_text() == "hi"
    with client.websocket_connect("/receive-first") as ws:
        ws.send_text("ab")
        assert ws.receive_text() == "abab"


def test_accepting_twice_is_an_error() -> None:
    app = make_app()
    errors: list[str] = []

    @app.websocket("/twice")
    async def twice() -> None:
        await websocket.accept()
        try:
            await websocket.accept()
        except RuntimeError as e:
            errors.append(str(e))
        await websocket.send_text("ok")

    with app.test_client().websocket_connect("/twice") as ws:
        assert ws.receive_text() == "ok"
    assert errors == ["The WebSocket handshake has already been answered."]


def test_before_request_refuses_with_an_http_response() -> None:
    app = make_app()
    calls: list[str] = []

    @app.before_request
    def gate() -> Any:
        if request.args.get("token") != "ok":
            return "Forbidden here", 403, {"X-Reason": "token"}
        return None

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        calls.append("teardown")

    @app.websocket("/guarded")
    async def guarded() -> None:
        calls.append("handler")
        await websocket.send_text("welcome")

    client = app.test_client()
    with pytest.raises(WebSocketDenied) as info:
        client.websocket_connect("/guarded").__enter__()
    assert info.value.status_code == 403
    assert info.value.text == "Forbidden here"
    assert info.value.headers["X-Reason"] == "token"
    assert calls == ["teardown"]
    with client.websocket_connect("/guarded?token=ok") as ws:
        assert ws.receive_text() == "welcome"
    assert calls == ["teardown", "handler", "teardown"]


def test_refusal_without_the_denial_extension_closes_with_policy_violation() -> None:
    app = make_app()

    @app.before_request
    def gate() -> Any:
        return "no", 403

    @app.websocket("/guarded")
    async def guarded() -> None:  # pragma: no cover - refused before
        await websocket.accept()

    with (
        pytest.raises(WebSocketDisconnect) as info,
        app.test_client().websocket_connect("/guarded", http_denial=False),
    ):
        pass
    assert info.value.code == 1008


def test_abort_in_a_hook_uses_error_handlers() -> None:
    app = make_app()

    @app.errorhandler(401)
    def unauthorized(e: Exception) -> Any:
        return {"error": "log in first"}, 401

    @app.before_request
    def gate() -> None:
        abort(401)

    @app.websocket("/ws")
    async def ws() -> None:  # pragma: no cover - refused before
        await websocket.accept()

    with pytest.raises(WebSocketDenied) as info, app.test_client().websocket_connect("/ws"):
        pass
    assert info.value.status_code == 401
    assert info.value.json == {"error": "log in first"}


def test_websocket_before_funcs_run_after_before_request_app_then_blueprint() -> None:
    app = make_app()
    bp = Blueprint("live", __name__, url_prefix="/live")
    order: list[str] = []

    @app.before_request
    def app_before() -> None:
        order.append("app before_request")

    async def app_ws_before() -> None:
        order.append("app websocket_before")

    def bp_ws_before() -> Any:
        order.append("bp websocket_before")
        if websocket.args.get("deny"):
            return "denied by blueprint", 409
        return None

    app.websocket_before_funcs[None].append(app_ws_before)
    bp.websocket_before_funcs[None].append(bp_ws_before)

    @bp.websocket("/feed/<int:n>")
    async def feed(n: int) -> None:
        order.append("handler")
        await websocket.send_text(url_for(".feed", n=n + 1))

    app.register_blueprint(bp)
    client = app.test_client()
    with client.websocket_connect("/live/feed/1") as ws:
        assert ws.receive_text() == "/live/feed/2"
    assert order == [
        "app before_request",
        "app websocket_before",
        "bp websocket_before",
        "handler",
    ]
    with (
        pytest.raises(WebSocketDenied) as info,
        client.websocket_connect("/live/feed/1?deny=1"),
    ):
        pass
    assert info.value.status_code == 409


def test_handler_returning_a_response_before_accepting_refuses() -> None:
    app = make_app()

    @app.websocket("/maybe")
    async def maybe() -> Any:
        if websocket.args.get("ok") is None:
            return "not today", 401
        await websocket.send_text("ok")
        return None

    client = app.test_client()
    with pytest.raises(WebSocketDenied) as info, client.websocket_connect("/maybe"):
        pass
    assert (info.value.status_code, info.value.text) == (401, "not today")
    with client.websocket_connect("/maybe?ok") as ws:
        assert ws.receive_text() == "ok"


def test_handler_returning_nothing_before_accepting_refuses_with_403() -> None:
    app = make_app()

    @app.websocket("/silent")
    async def silent() -> None:
        return None

    with pytest.raises(WebSocketDenied) as info, app.test_client().websocket_connect("/silent"):
        pass
    assert info.value.status_code == 403


def test_close_before_accept_refuses_and_close_after_accept_sends_code() -> None:
    app = make_app()

    @app.websocket("/refuse")
    async def refuse() -> None:
        await websocket.close(4003)

    @app.websocket("/bye")
    async def bye() -> None:
        await websocket.accept()
        await websocket.close(4001, "bye now")
        await websocket.close()  # closing twice is harmless
        with pytest.raises(WebSocketDisconnect):
            await websocket.send_text("after close")

    client = app.test_client()
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/refuse"):
        pass
    assert refused.value.code == 4003
    with client.websocket_connect("/bye") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert (closed.value.code, closed.value.reason) == (4001, "bye now")


def test_client_disconnect_raises_in_handler_and_teardown_runs() -> None:
    app = make_app()
    seen: list[Any] = []

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        seen.append(("teardown", exc))

    @app.websocket("/listen")
    async def listen() -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.receive()
        except WebSocketDisconnect as e:
            seen.append(("disconnect", e.code))
            raise

    with app.test_client().websocket_connect("/listen") as ws:
        ws.send_text("one")
        ws.close(4000)
    assert seen == [("disconnect", 4000), ("teardown", None)]


def test_async_for_ends_quietly_on_disconnect() -> None:
    app = make_app()
    seen: list[Any] = []

    @app.websocket("/loop")
    async def loop() -> None:
        async for message in websocket:
            seen.append(message)
        seen.append(("after loop", websocket.close_code))

    with app.test_client().websocket_connect("/loop") as ws:
        ws.send_text("a")
        ws.send_bytes(b"b")
    assert seen == ["a", b"b", ("after loop", 1000)]


def test_handler_error_closes_1011_logs_and_reaches_teardown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app()
    torn: list[BaseException | None] = []

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        torn.append(exc)

    @app.websocket("/boom")
    async def boom() -> None:
        await websocket.accept()
        await websocket.receive()
        raise ValueError("kaput")

    with caplog.at_level(logging.ERROR), app.test_client().websocket_connect("/boom") as ws:
        ws.send_text("go")
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive()
    assert info.value.code == 1011
    assert "kaput" in caplog.text and "Exception on /boom [GET]" in caplog.text
    assert len(torn) == 1 and isinstance(torn[0], ValueError)


def test_handler_error_before_accept_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()

    @app.websocket("/early")
    async def early() -> None:
        raise KeyError("early")

    @app.errorhandler(500)
    def server_error(e: Exception) -> Any:
        return {"error": "sorry"}, 500

    with (
        caplog.at_level(logging.ERROR),
        pytest.raises(WebSocketDenied) as info,
        app.test_client().websocket_connect("/early"),
    ):
        pass
    assert info.value.status_code == 500
    assert info.value.json == {"error": "sorry"}
    assert "KeyError" in caplog.text


def test_wrong_message_kind_is_a_type_error() -> None:
    app = make_app()
    errors: list[str] = []

    @app.websocket("/text")
    async def text() -> None:
        try:
            await websocket.receive_text()
        except TypeError as e:
            errors.append(str(e))
        try:
            await websocket.receive_bytes()
        except TypeError as e:
            errors.append(str(e))

    with app.test_client().websocket_connect("/text") as ws:
        ws.send_bytes(b"x")
        ws.send_text("y")
    assert errors == [
        "Expected a text WebSocket message, received a binary one.",
        "Expected a binary WebSocket message, received a text one.",
    ]


def test_a_sync_handler_is_refused_with_a_clear_error(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()

    @app.websocket("/sync")
    def sync_handler() -> None:  # pragma: no cover - never called
        pass

    with (
        caplog.at_level(logging.ERROR),
        pytest.raises(WebSocketDenied) as info,
        app.test_client().websocket_connect("/sync"),
    ):
        pass
    assert info.value.status_code == 500
    assert "must be an 'async def' function" in caplog.text


def test_unknown_path_and_http_only_route_are_404() -> None:
    app = make_app()

    @app.route("/page")
    def page() -> str:  # pragma: no cover - never reached over WebSocket
        return "page"

    client = app.test_client()
    for path in ("/nowhere", "/page"):
        with pytest.raises(WebSocketDenied) as info, client.websocket_connect(path):
            pass
        assert info.value.status_code == 404


def test_untrusted_host_is_refused() -> None:
    app = make_app()
    app.config["TRUSTED_HOSTS"] = ["good.example"]

    @app.websocket("/ws")
    async def ws() -> None:
        await websocket.send_text("in")

    client = app.test_client()
    with client.websocket_connect("/ws", base_url="http://good.example") as conn:
        assert conn.receive_text() == "in"
    with (
        pytest.raises(WebSocketDenied) as info,
        client.websocket_connect("/ws", base_url="http://evil.example"),
    ):
        pass
    assert info.value.status_code == 400


def test_url_for_builds_websocket_urls() -> None:
    app = make_app()
    app.config["SERVER_NAME"] = "example.com"

    @app.websocket("/chat/<room>")
    async def chat(room: str) -> None:
        await websocket.send_json(
            [url_for("chat", room="b"), url_for("chat", room="c", _external=True)]
        )

    with app.app_context():
        assert url_for("chat", room="a") == "http://example.com/chat/a"
    with app.test_client().websocket_connect("/chat/a") as ws:
        assert ws.receive_json() == ["/chat/b", "ws://example.com/chat/c"]


def test_wsgi_door_answers_websocket_routes_with_a_clear_400() -> None:
    app = make_app()

    @app.websocket("/ws")
    async def ws() -> None:  # pragma: no cover - WSGI cannot serve it
        await websocket.accept()

    rv = app.test_client().get("/ws")
    assert rv.status_code == 400
    assert b"ASGI server" in rv.data


def test_websocket_proxy_outside_a_connection() -> None:
    assert not websocket
    with pytest.raises(RuntimeError, match="outside of a WebSocket context"):
        websocket.path  # noqa: B018


def test_signals_fire_around_the_handler() -> None:
    app = make_app()
    events: list[str] = []

    def started(sender: Any, **kw: Any) -> None:
        events.append("started")

    def finished(sender: Any, **kw: Any) -> None:
        events.append("finished")

    @app.websocket("/s")
    async def s() -> None:
        events.append("handler")
        await websocket.send_text("x")

    erlen.signals.websocket_started.connect(started, app)
    erlen.signals.websocket_finished.connect(finished, app)
    try:
        with app.test_client().websocket_connect("/s") as ws:
            assert ws.receive_text() == "x"
    finally:
        erlen.signals.websocket_started.disconnect(started, app)
        erlen.signals.websocket_finished.disconnect(finished, app)
    assert events == ["started", "handler", "finished"]


def test_call_on_close_runs_before_teardown() -> None:
    app = make_app()
    order: list[str] = []

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        order.append("teardown")

    @app.websocket("/c")
    async def c() -> None:
        async def cleanup() -> None:
            order.append("async cleanup")

        websocket.call_on_close(lambda: order.append("sync cleanup"))
        websocket.call_on_close(cleanup)
        await websocket.accept()

    with app.test_client().websocket_connect("/c"):
        pass
    assert order == ["async cleanup", "sync cleanup", "teardown"]


def test_a_handler_that_ignores_the_disconnect_is_cancelled_and_reported() -> None:
    app = make_app()
    torn: list[str] = []

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        torn.append(type(exc).__name__)

    @app.websocket("/stuck")
    async def stuck() -> None:
        await websocket.accept()
        await asyncio.Event().wait()

    with (
        pytest.raises(RuntimeError, match="did not return"),
        app.test_client().websocket_connect("/stuck", timeout=0.3),
    ):
        pass
    assert torn == ["CancelledError"]


# -- the ASGI channel, driven by hand -----------------------------------------------------


def ws_scope(path: str, extensions: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "subprotocols": [],
        "extensions": extensions or {},
    }


def test_send_after_the_client_vanished_raises_disconnect_1006() -> None:
    """A server reports a send to a vanished client as an OSError (ASGI 2.4)."""
    app = make_app()
    outcome: list[Any] = []

    @app.websocket("/late")
    async def late() -> None:
        await websocket.accept()
        try:
            await websocket.send_text("into the void")
        except WebSocketDisconnect as e:
            outcome.append(e.code)
        outcome.append(websocket.closed)

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            raise OSError("connection lost")
        sent.append(message)

    asyncio.run(app(ws_scope("/late"), receive, send))
    assert outcome == [1006, True]
    # No close is sent to a client that is gone.
    assert [m["type"] for m in sent] == ["websocket.accept"]


def test_server_cancellation_tears_down_and_closes_going_away() -> None:
    app = make_app()
    torn: list[str] = []
    entered = asyncio.Event()

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        torn.append(type(exc).__name__)

    @app.websocket("/wait")
    async def wait() -> None:
        await websocket.accept()
        entered.set()
        await asyncio.Event().wait()

    sent: list[dict[str, Any]] = []
    messages = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def main() -> None:
        task = asyncio.ensure_future(app(ws_scope("/wait"), receive, send))
        await asyncio.wait_for(entered.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert torn == ["CancelledError"]
    assert sent[-1] == {"type": "websocket.close", "code": 1001, "reason": ""}


def test_client_leaving_before_the_handshake_runs_nothing() -> None:
    app = make_app()
    calls: list[str] = []

    @app.before_request
    def before() -> None:  # pragma: no cover - must not run
        calls.append("before")

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.disconnect", "code": 1006}

    async def send(message: dict[str, Any]) -> None:  # pragma: no cover - nothing to send
        calls.append(message["type"])

    asyncio.run(app(ws_scope("/x"), receive, send))
    assert calls == []


def test_denial_response_through_the_extension() -> None:
    app = make_app()

    @app.websocket("/ws")
    async def ws() -> Any:
        return "go away", 403

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(ws_scope("/ws", {"websocket.http.response": {}}), receive, send))
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == 403
    headers = {k.lower(): v for k, v in sent[0]["headers"]}
    assert headers[b"content-length"] == b"7"
    assert sent[1] == {"type": "websocket.http.response.body", "body": b"go away"}
    assert len(sent) == 2


def test_top_level_exports() -> None:
    import sys

    module = sys.modules["erlen.websocket"]
    assert erlen.websocket is module.websocket  # type: ignore[attr-defined]
    assert erlen.WebSocketDisconnect is WebSocketDisconnect  # type: ignore[attr-defined]


def test_the_docs_same_origin_hook() -> None:
    import re
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "realtime.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    (snippet,) = [b for b in blocks if "def same_origin_only" in b]
    app = make_app()
    exec(snippet, {"app": app, "request": request})

    @app.websocket("/ws")
    async def ws() -> None:
        await websocket.send_text("hello")

    @app.route("/page")
    def page() -> str:
        return "page"

    client = app.test_client()
    with client.websocket_connect("/ws", headers={"Origin": "http://localhost"}) as conn:
        assert conn.receive_text() == "hello"
    with (
        pytest.raises(WebSocketDenied) as info,
        client.websocket_connect("/ws", headers={"Origin": "https://evil.example"}),
    ):
        pass
    assert info.value.status_code == 403
    # Plain HTTP requests from other origins are not its business.
    assert client.get("/page", headers={"Origin": "https://evil.example"}).data == b"page"


def test_before_websocket_decorator_runs_and_can_refuse() -> None:
    app = make_app()
    seen: list[str] = []

    @app.before_websocket
    def hook() -> Any:
        seen.append(websocket.path)
        if websocket.args.get("deny"):
            return "no", 403
        return None

    @app.websocket("/ws")
    async def ws() -> None:
        await websocket.accept()
        await websocket.send_text("hi")

    client = app.test_client()
    with client.websocket_connect("/ws") as conn:
        assert conn.receive_text() == "hi"
    assert seen == ["/ws"]
    with pytest.raises(WebSocketDenied) as info, client.websocket_connect("/ws?deny=1"):
        pass
    assert info.value.status_code == 403


def test_a_refusal_goes_through_an_overridden_process_response() -> None:
    """An app overriding Flask's ``process_response`` sees WebSocket refusals too, as it sees
    every HTTP response."""
    seen: list[int] = []

    class Audited(Erlen):
        def process_response(self, response: Any) -> Any:
            response = super().process_response(response)
            seen.append(response.status_code)
            response.headers["X-Audited"] = "yes"
            return response

    app = Audited(__name__)

    @app.before_request
    def gate() -> Any:
        return "Forbidden here", 403

    @app.websocket("/guarded")
    async def guarded() -> None:  # pragma: no cover - refused before
        await websocket.accept()

    with pytest.raises(WebSocketDenied) as info:
        app.test_client().websocket_connect("/guarded").__enter__()
    assert info.value.status_code == 403
    assert info.value.headers["X-Audited"] == "yes"
    assert seen == [403]
