"""Streamed responses keep the request context and stop on disconnect; after_response jobs.

The disconnect on real servers is in ``tests/integration/test_streaming_real_server.py``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from erlen import (
    Erlen,
    Response,
    current_app,
    g,
    has_request_context,
    request,
    session,
    stream_with_context,
)
from erlen.background import after_response, drain
from erlen.websocket import websocket


def context_app(log: list[str]) -> Erlen:
    app = Erlen(__name__)
    app.secret_key = "streaming"

    @app.before_request
    def before() -> None:
        g.who = request.args.get("who", "nobody")

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        log.append("teardown")

    @app.route("/login")
    def login() -> str:
        session["user"] = "ann"
        return "ok"

    @app.route("/sync")
    def sync_stream() -> Any:
        def generate() -> Iterator[str]:
            for i in range(3):
                log.append(f"chunk {i}")
                yield f"{i}:{request.path}:{g.who}:{session.get('user')};"

        return generate()

    @app.route("/async")
    async def async_stream() -> Any:
        async def generate() -> AsyncIterator[str]:
            for i in range(3):
                await asyncio.sleep(0)
                log.append(f"chunk {i}")
                yield f"{i}:{request.path}:{g.who}:{session.get('user')};"

        return generate()

    @app.route("/flask-style")
    def flask_style() -> Any:
        @stream_with_context
        def generate() -> Iterator[str]:
            yield request.args["who"]
            yield "!"

        return generate()

    return app


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_request_session_and_g_during_iteration(client: Callable[..., Any], kind: str) -> None:
    log: list[str] = []
    c = client(context_app(log))
    c.get("/login")
    log.clear()
    rv = c.get(f"/{kind}?who=bob")
    assert rv.data == (f"0:/{kind}:bob:ann;1:/{kind}:bob:ann;2:/{kind}:bob:ann;".encode())
    rv.close()  # a WSGI server closes the iterable once it has sent it
    assert log == ["chunk 0", "chunk 1", "chunk 2", "teardown"]


def test_stream_with_context_still_works(client: Callable[..., Any]) -> None:
    rv = client(context_app([])).get("/flask-style?who=eve")
    assert rv.data == b"eve!"


def endless_app(events: dict[str, threading.Event], log: list[str]) -> Erlen:
    app = Erlen(__name__)

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        log.append("teardown")

    @app.route("/sync")
    def sync_stream() -> Any:
        def generate() -> Iterator[bytes]:
            try:
                while True:
                    yield request.path.encode()
            finally:
                log.append("sync finally")
                events["finally"].set()

        return generate()

    @app.route("/async")
    async def async_stream() -> Any:
        async def generate() -> AsyncIterator[bytes]:
            try:
                while True:
                    yield request.path.encode()
                    await asyncio.sleep(0)
            finally:
                log.append("async finally")
                events["finally"].set()

        return generate()

    return app


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_disconnect_runs_the_generators_finally_then_teardown(
    client: Callable[..., Any], kind: str
) -> None:
    events = {"finally": threading.Event()}
    log: list[str] = []
    rv = client(endless_app(events, log)).get(f"/{kind}", buffered=False)
    chunks = iter(rv.response)
    assert [next(chunks) for _ in range(3)] == [f"/{kind}".encode()] * 3
    assert log == []
    rv.close()
    assert events["finally"].wait(5)
    assert log == [f"{kind} finally", "teardown"]


def test_asgi_response_with_buffered_default_is_read_in_full() -> None:
    log: list[str] = []
    rv = context_app(log).test_client(asgi=True).get("/sync")
    assert log[-1] == "teardown"  # the app finished before get() returned
    assert rv.data.startswith(b"0:/sync")


# -- after_response ---------------------------------------------------------------------------


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.seen.set()


def jobs_app(done: threading.Event, results: list[Any]) -> Erlen:
    app = Erlen(__name__)

    def sync_job(value: str) -> None:
        results.append((value, current_app.name, has_request_context()))
        done.set()

    async def async_job(value: str, *, suffix: str) -> None:
        await asyncio.sleep(0)
        results.append((value + suffix, current_app.name, has_request_context()))
        done.set()

    def failing_job() -> None:
        raise RuntimeError("job failed")

    @app.route("/sync")
    def sync_view() -> str:
        after_response(sync_job, request.args["v"])
        return "queued"

    @app.route("/async")
    async def async_view() -> str:
        after_response(async_job, request.args["v"], suffix="!")
        return "queued"

    @app.route("/fail")
    def fail_view() -> str:
        after_response(failing_job)
        return "still fine"

    return app


@pytest.mark.parametrize(("path", "expected"), [("/sync", "x"), ("/async", "x!")])
def test_after_response_runs_in_an_app_context(
    client: Callable[..., Any], path: str, expected: str
) -> None:
    done = threading.Event()
    results: list[Any] = []
    rv = client(jobs_app(done, results)).get(f"{path}?v=x")
    assert rv.data == b"queued"
    assert done.wait(5)
    assert results == [(expected, "test_streaming", False)]


def test_after_response_errors_are_logged_not_raised(client: Callable[..., Any]) -> None:
    app = jobs_app(threading.Event(), [])
    handler = Captured()
    app.logger.addHandler(handler)
    try:
        rv = client(app).get("/fail")
        assert rv.data == b"still fine"
        assert handler.seen.wait(5)
    finally:
        app.logger.removeHandler(handler)
    record = handler.records[0]
    assert "failing_job" in record.getMessage()
    assert record.exc_info is not None and str(record.exc_info[1]) == "job failed"


def test_after_response_needs_a_request() -> None:
    with pytest.raises(RuntimeError, match="request context"):
        after_response(print)


def asgi_http_scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"v=x",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }


@pytest.mark.parametrize("path", ["/sync", "/async"])
def test_asgi_after_response_starts_after_the_body_was_sent(path: str) -> None:
    order: list[str] = []
    done = threading.Event()
    results: list[Any] = []
    app = jobs_app(done, results)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        order.append(message["type"])

    async def main() -> None:
        await app(asgi_http_scope(path), receive, send)
        order.append("returned")
        assert await drain(5)

    asyncio.run(main())
    assert done.wait(5)
    assert order == ["http.response.start", "http.response.body", "returned"]
    assert results and results[0][0].startswith("x")


def test_wsgi_after_response_starts_after_the_server_closes_the_body() -> None:
    done = threading.Event()
    app = jobs_app(done, [])
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/sync",
        "QUERY_STRING": "v=x",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": None,
    }
    body = app(environ, lambda status, headers: None)
    assert not done.is_set(), "the job ran before the server sent the body"
    assert b"".join(body) == b"queued"
    body.close()  # type: ignore[attr-defined]
    assert done.is_set()


def test_after_response_in_a_websocket_runs_when_it_closes() -> None:
    done = threading.Event()
    results: list[Any] = []
    app = Erlen(__name__)

    def job(path: str) -> None:
        results.append(path)
        done.set()

    @app.websocket("/ws")
    async def ws() -> None:
        after_response(job, websocket.path)
        await websocket.send_text("hi")

    with app.test_client().websocket_connect("/ws") as conn:
        assert conn.receive_text() == "hi"
    assert done.wait(5)
    assert results == ["/ws"]


def test_asgi_sync_generator_blocked_at_disconnect_is_closed_in_its_context() -> None:
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []
    app = Erlen(__name__)

    @app.route("/blocking")
    def blocking() -> Any:
        def generate() -> Iterator[bytes]:
            try:
                yield b"a"
                entered.set()
                release.wait(10)
                yield b"b"
            finally:
                seen.append(has_request_context())
                finished.set()

        return generate()

    rv = app.test_client(asgi=True).get("/blocking", buffered=False)
    assert next(iter(rv.response)) == b"a"
    assert entered.wait(5)
    rv.close()
    release.set()
    assert finished.wait(5)
    assert seen == [True]


def test_an_error_mid_stream_is_logged_by_the_app_on_both_doors(protocol: str) -> None:
    app = Erlen(__name__)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    @app.route("/stream")
    def stream() -> Any:
        def chunks() -> Iterator[str]:
            yield "first"
            raise ValueError("mid-stream failure")

        return chunks()

    handler = Keep()
    app.logger.addHandler(handler)
    try:
        # The status line is already out: the error reaches the server, which aborts.
        with pytest.raises(ValueError, match="mid-stream failure"):
            app.test_client(asgi=protocol == "asgi").get("/stream")
    finally:
        app.logger.removeHandler(handler)
    assert [r.getMessage() for r in records] == ["Exception on /stream [GET]"]
    assert records[0].exc_info is not None and records[0].exc_info[0] is ValueError


def test_a_queued_thread_step_can_be_withdrawn_before_it_starts() -> None:
    """A closer withdraws a next() still waiting for a worker; one already running stays."""
    from erlen.concurrency import ThreadStep

    calls: list[str] = []
    queued = ThreadStep()
    assert queued.withdraw()
    assert queued.withdraw()  # still withdrawn
    assert queued.run(calls.append, "never", "withdrawn") == "withdrawn"
    assert calls == []

    running = ThreadStep()
    started = threading.Event()
    release = threading.Event()

    def step(value: str) -> str:
        started.set()
        release.wait(10)
        calls.append(value)
        return value

    worker = threading.Thread(target=running.run, args=(step, "ran", "withdrawn"))
    worker.start()
    assert started.wait(10)
    assert not running.withdraw()  # too late: the step runs to its end
    release.set()
    worker.join(10)
    assert calls == ["ran"]


def test_closing_a_stream_whose_next_step_waits_for_a_busy_pool() -> None:
    """The step queued behind busy workers is withdrawn: the generator closes (its finally
    runs before teardown) as soon as a worker is free, and next() is never called again."""
    from erlen.concurrency import ThreadedIterator, _get_pool

    events: list[str] = []

    def gen() -> Iterator[int]:
        try:
            n = 0
            while True:
                n += 1
                events.append(f"next {n}")
                yield n
        finally:
            events.append("finally")

    async def main() -> None:
        it = ThreadedIterator(gen())
        assert await it.__anext__() == 1
        release = threading.Event()
        pool = _get_pool(None)
        blockers = [pool.submit(release.wait, 10) for _ in range(pool.max_workers)]
        step = asyncio.ensure_future(it.__anext__())  # queued behind the blockers
        await asyncio.sleep(0)
        step.cancel()  # the consumer goes away (a disconnect)
        closing = asyncio.ensure_future(it.aclose())
        await asyncio.sleep(0)
        release.set()  # workers free up only now
        await closing
        for b in blockers:
            b.result(10)
        events.append("teardown")

    asyncio.run(main())
    assert events == ["next 1", "finally", "teardown"]


def test_a_threaded_iterator_blocked_at_close_is_closed_in_a_worker_in_its_context() -> None:
    """A step still blocked when aclose() gives up: the close waits for it, then runs in a
    worker thread (not on the loop), in the closer's context; close_soon() and a second
    aclose() add nothing."""
    import contextvars

    from erlen.concurrency import ThreadedIterator

    who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")
    entered, release, closed = threading.Event(), threading.Event(), threading.Event()
    seen: list[tuple[str, bool]] = []

    def gen() -> Iterator[int]:
        try:
            yield 1
            entered.set()
            release.wait(10)
            yield 2
        finally:
            seen.append((who.get(), threading.current_thread() is threading.main_thread()))
            closed.set()

    async def main() -> None:
        who.set("ann")
        it = ThreadedIterator(gen(), close_wait=0.01)
        assert await it.__anext__() == 1
        step = asyncio.ensure_future(it.__anext__())
        while not entered.is_set():
            await asyncio.sleep(0.001)
        step.cancel()  # the consumer goes away; the step keeps running
        await it.aclose()  # gives up waiting: the step is blocked
        await it.aclose()
        it.close_soon()
        assert not closed.is_set()
        release.set()
        while not closed.is_set():
            await asyncio.sleep(0.001)

    asyncio.run(main())
    assert seen == [("ann", False)]


def test_close_soon_closes_an_idle_threaded_iterator_at_once() -> None:
    from erlen.concurrency import ThreadedIterator

    events: list[str] = []

    def gen() -> Iterator[int]:
        try:
            yield 1
            yield 2
        finally:
            events.append("finally")

    async def main() -> None:
        it = ThreadedIterator(gen())
        assert await it.__anext__() == 1
        it.close_soon()
        assert events == ["finally"]
        await it.aclose()  # already closed: nothing more
        with pytest.raises(StopAsyncIteration):
            await it.__anext__()

    asyncio.run(main())
    assert events == ["finally"]


def test_a_stream_not_sent_is_closed_in_its_request_context(client: Callable[..., Any]) -> None:
    """HEAD on a streamed response: the body is never sent, and is closed while the request
    context is still bound (a close() that reads ``request`` works), on both doors."""
    seen: list[Any] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"never sent"

        def close(self) -> None:
            seen.append(request.path if has_request_context() else None)

    app = Erlen(__name__)

    @app.get("/stream")
    def stream() -> Any:
        return Response(Body())

    r = client(app).head("/stream")
    assert r.status_code == 200
    assert r.data == b""
    assert seen == ["/stream"]
