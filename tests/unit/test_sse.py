"""Server-sent events: encoding, the response's headers, keep-alives, Last-Event-ID, disconnects."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from erlen import Erlen, g, has_request_context, request
from erlen.sse import PING, EventSourceResponse, ServerSentEvent, encode_event, last_event_id

# -- encoding ------------------------------------------------------------------------------


def test_event_fields_and_multiline_data() -> None:
    event = ServerSentEvent("line one\nline two\r\nthree\rfour", event="update", id=7, retry=3000)
    assert event.encode() == (
        b"event: update\nid: 7\nretry: 3000\n"
        b"data: line one\ndata: line two\ndata: three\ndata: four\n\n"
    )
    assert str(ServerSentEvent("x")) == "data: x\n\n"


def test_comment_only_and_empty_events() -> None:
    assert ServerSentEvent(comment="keep\nalive").encode() == b": keep\n: alive\n\n"
    assert ServerSentEvent(retry=10).encode() == b"retry: 10\n\n"
    assert ServerSentEvent("").encode() == b"data: \n\n"
    # A trailing line break survives the client's join of the data lines.
    assert ServerSentEvent("a\n").encode() == b"data: a\ndata: \n\n"


def test_non_string_data_is_json_with_the_app_provider() -> None:
    assert ServerSentEvent({"b": 1, "a": [1, 2]}).encode() == b'data: {"b": 1, "a": [1, 2]}\n\n'
    app = Erlen(__name__)
    with app.app_context():
        # The app's provider sorts keys, like Flask's.
        assert ServerSentEvent({"b": 1, "a": 2}).encode() == b'data: {"a": 2, "b": 1}\n\n'


def test_unicode_data_is_utf8() -> None:
    assert ServerSentEvent("grüße ✓").encode() == "data: grüße ✓\n\n".encode()


@pytest.mark.parametrize(
    "kwargs",
    [{"id": "a\nb"}, {"id": "a\0b"}, {"event": "x\ry"}, {"retry": -1}, {"retry": "10"}],
)
def test_invalid_fields(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ServerSentEvent("x", **kwargs)


def test_what_a_generator_may_yield() -> None:
    assert encode_event("hi") == b"data: hi\n\n"
    assert encode_event({"event": "e", "data": {"n": 1}}) == b'event: e\ndata: {"n": 1}\n\n'
    assert encode_event(ServerSentEvent(id="1")) == b"id: 1\n\n"
    with pytest.raises(TypeError, match="event fields"):
        encode_event({"price": 3})
    with pytest.raises(TypeError, match="ServerSentEvent"):
        encode_event(b"bytes")


def test_event_equality_and_repr() -> None:
    assert ServerSentEvent("a", id=1) == ServerSentEvent("a", id="1")
    assert ServerSentEvent("a") != ServerSentEvent("b")
    assert repr(ServerSentEvent("a", event="e")) == "ServerSentEvent(data='a', event='e')"


# -- responses through both doors ----------------------------------------------------------


def feed_app() -> Erlen:
    app = Erlen(__name__)

    @app.before_request
    def who() -> None:
        g.user = request.args.get("user", "anon")

    @app.route("/finite-sync")
    def finite_sync() -> EventSourceResponse:
        def events() -> Iterator[Any]:
            yield "hello"
            yield ServerSentEvent({"user": g.user}, event="who", id="1")
            yield {"event": "bye", "data": request.path, "id": 2}

        return EventSourceResponse(events())

    @app.route("/finite-async")
    async def finite_async() -> EventSourceResponse:
        async def events() -> AsyncIterator[Any]:
            yield "hello"
            await asyncio.sleep(0)
            yield ServerSentEvent({"user": g.user}, event="who", id="1")
            yield {"event": "bye", "data": request.path, "id": 2}

        return EventSourceResponse(events(), headers={"X-Feed": "1"})

    @app.route("/resume")
    def resume() -> EventSourceResponse:
        start = int(last_event_id("0") or 0) + 1
        header = request.headers.get("Last-Event-ID")
        return EventSourceResponse(
            iter([ServerSentEvent(f"{i} after {header}", id=i) for i in range(start, start + 2)])
        )

    return app


FINITE_BODY = (
    b"data: hello\n\n"
    b'event: who\nid: 1\ndata: {"user": "ann"}\n\n'
    b"event: bye\nid: 2\ndata: /finite-{kind}\n\n"
)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_finite_feed_headers_and_body(client: Callable[..., Any], kind: str) -> None:
    rv = client(feed_app()).get(f"/finite-{kind}?user=ann")
    assert rv.status_code == 200
    assert rv.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert rv.headers["Cache-Control"] == "no-cache"
    assert rv.headers["X-Accel-Buffering"] == "no"
    assert "Content-Length" not in rv.headers
    assert rv.data == FINITE_BODY.replace(b"{kind}", kind.encode())
    if kind == "async":
        assert rv.headers["X-Feed"] == "1"


def test_last_event_id_resumes(client: Callable[..., Any]) -> None:
    c = client(feed_app())
    assert c.get("/resume").data == b"id: 1\ndata: 1 after None\n\nid: 2\ndata: 2 after None\n\n"
    rv = c.get("/resume", headers={"Last-Event-ID": "41"})
    assert rv.data == b"id: 42\ndata: 42 after 41\n\nid: 43\ndata: 43 after 41\n\n"


def test_last_event_id_needs_a_request() -> None:
    with pytest.raises(RuntimeError):
        last_event_id()


def endless_app(state: dict[str, Any]) -> Erlen:
    """Feeds that never end by themselves; they record what their finally saw."""
    app = Erlen(__name__)

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        state.setdefault("log", []).append("teardown")
        if "torn_down" in state:
            state["torn_down"].set()

    @app.route("/async-feed")
    async def async_feed() -> EventSourceResponse:
        g.n = 0

        async def events() -> AsyncIterator[ServerSentEvent]:
            try:
                while True:
                    g.n += 1
                    yield ServerSentEvent(f"{request.args['name']} {g.n}", id=g.n)
                    await asyncio.sleep(0.001)
            finally:
                state.setdefault("log", []).append(f"finally after {g.n}")
                state["finished"].set()

        return EventSourceResponse(events())

    @app.route("/sync-feed")
    def sync_feed() -> EventSourceResponse:
        def events() -> Iterator[ServerSentEvent]:
            n = 0
            try:
                while True:
                    n += 1
                    yield ServerSentEvent(f"{request.args['name']} {n}", id=n)
            finally:
                state.setdefault("log", []).append("sync finally")
                state["finished"].set()

        return EventSourceResponse(events())

    @app.route("/quiet")
    async def quiet() -> EventSourceResponse:
        async def events() -> AsyncIterator[str]:
            try:
                yield "first"
                await asyncio.Event().wait()  # nothing more, ever
            finally:
                state["finished"].set()

        return EventSourceResponse(events(), ping=0.05)

    return app


@pytest.mark.parametrize("path", ["/async-feed", "/sync-feed"])
def test_reading_an_endless_feed_incrementally_and_disconnecting(
    client: Callable[..., Any], path: str
) -> None:
    state: dict[str, Any] = {"finished": threading.Event(), "torn_down": threading.Event()}
    rv = client(endless_app(state)).get(f"{path}?name=ann", buffered=False)
    assert rv.status_code == 200
    chunks = iter(rv.response)
    assert [next(chunks) for _ in range(3)] == [
        b"id: 1\ndata: ann 1\n\n",
        b"id: 2\ndata: ann 2\n\n",
        b"id: 3\ndata: ann 3\n\n",
    ]
    rv.close()
    # The generator's finally and then the teardown run on other threads under ASGI: wait
    # for the teardown (the last step), then check the order.
    assert state["finished"].wait(5)
    assert state["torn_down"].wait(5)
    log = state["log"]
    assert log[-1] == "teardown"  # teardown only after the stream closed
    assert len(log) == 2


def test_keep_alive_comments_while_idle(client: Callable[..., Any]) -> None:
    state: dict[str, Any] = {"finished": threading.Event()}
    rv = client(endless_app(state)).get("/quiet", buffered=False)
    chunks = iter(rv.response)
    assert next(chunks) == b"data: first\n\n"
    assert next(chunks) == PING
    assert next(chunks) == PING
    rv.close()
    assert state["finished"].wait(5)


def test_a_sync_generator_blocked_in_a_worker_is_closed_when_it_returns() -> None:
    """Under ASGI a sync generator runs in the thread pool; a disconnect cannot interrupt
    a blocking next(), so the generator is closed as soon as that step returns."""
    release = threading.Event()
    finished = threading.Event()
    app = Erlen(__name__)

    @app.route("/blocking")
    def blocking() -> EventSourceResponse:
        def events() -> Iterator[str]:
            try:
                yield "a"
                release.wait(10)
                yield "b"
                yield "never sent"
            finally:
                finished.set()

        return EventSourceResponse(events(), ping=0.05)

    rv = app.test_client(asgi=True).get("/blocking", buffered=False)
    chunks = iter(rv.response)
    assert next(chunks) == b"data: a\n\n"
    assert next(chunks) == PING  # the generator is blocked, the stream is kept alive
    rv.close()
    assert not finished.is_set()
    release.set()
    assert finished.wait(5)


def _threads_inside(code: Any) -> list[str]:
    """The threads whose stack runs ``code`` right now."""
    names = {t.ident: t.name for t in threading.enumerate()}
    inside = []
    for ident, frame in sys._current_frames().items():
        f: Any = frame
        while f is not None:
            if f.f_code is code:
                inside.append(names.get(ident, str(ident)))
                break
            f = f.f_back
    return inside


@pytest.mark.parametrize(
    ("ping", "pause"),
    [(None, 0.001), (15.0, 0.001), (15.0, 0.1)],
    ids=["no-keep-alive", "keep-alive", "slow-steps"],
)
def test_asgi_disconnect_mid_stream_closes_a_sync_generator(
    ping: float | None, pause: float
) -> None:
    """A client leaving mid-stream on the ASGI door: the sync generator (stepped in worker
    threads) is closed in its request context before teardown, and no thread stays in it."""
    log: list[str] = []
    gens: list[Iterator[str]] = []
    app = Erlen(__name__)

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        log.append("teardown")

    def events() -> Iterator[str]:
        n = 0
        try:
            while True:
                n += 1
                yield f"tick {n}"
                time.sleep(pause)  # a worker is often inside next() when the client leaves
        finally:
            log.append(f"finally in a request: {has_request_context()}")

    @app.route("/ticks")
    def ticks() -> EventSourceResponse:
        gen = events()
        gens.append(gen)
        return EventSourceResponse(gen, ping=ping)

    rv = app.test_client(asgi=True).get("/ticks", buffered=False)
    chunks = iter(rv.response)
    assert [next(chunks) for _ in range(3)] == [
        b"data: tick 1\n\n",
        b"data: tick 2\n\n",
        b"data: tick 3\n\n",
    ]
    rv.close()  # the disconnect; returns once the app has finished
    assert log == ["finally in a request: True", "teardown"]
    (gen,) = gens
    assert gen.gi_frame is None  # type: ignore[attr-defined]  # closed, not merely dropped
    assert _threads_inside(events.__code__) == []


def test_a_close_cancelled_midway_still_closes_the_generator_first() -> None:
    """The ASGI door cancels a pump when the client's disconnect arrives, which may be while
    the pump is already closing the stream (its send failed): the generator's ``finally``
    must still run before the close returns (and the request's teardown follows)."""
    log: list[str] = []

    def events() -> Iterator[ServerSentEvent]:
        try:
            while True:
                yield ServerSentEvent("x")
        finally:
            log.append("finally")

    async def main() -> None:
        stream = EventSourceResponse(events(), ping=10).body_iterable
        chunks = stream.__aiter__()
        assert await chunks.__anext__() == b"data: x\n\n"
        closing = asyncio.ensure_future(stream.aclose())
        await asyncio.sleep(0)  # (a yield: the close is now waiting for the producer)
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        assert log == ["finally"]
        await chunks.aclose()

    asyncio.run(main())
