"""Closing WebSockets with 1001 at shutdown: the registry, the signal chain and the lifespan fallback.

Real servers (uvicorn, gunicorn) are in ``tests/integration/test_graceful_shutdown.py``.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from erlen import Erlen, websocket
from erlen.lifespan import chain_shutdown_signals
from erlen.websocket import close_websockets, open_websockets


class FakeSocket:
    """The server's side of one ASGI WebSocket connection."""

    def __init__(self, app: Erlen, path: str = "/ws", eager: bool = False) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [(b"host", b"testserver")],
            "scheme": "ws",
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 5000),
            "subprotocols": [],
        }
        self.inbox.put_nowait({"type": "websocket.connect"})
        send = self.send_at_once if eager else self.outbox.put
        self.task = asyncio.ensure_future(app(scope, self.inbox.get, send))

    def send_at_once(self, message: dict[str, Any]) -> asyncio.Future[None]:
        """Take the message when ``send`` is called, not when it is awaited, as granian does."""
        self.outbox.put_nowait(message)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def expect(self, kind: str) -> dict[str, Any]:
        message = await asyncio.wait_for(self.outbox.get(), 5)
        assert message["type"] == kind, message
        return message


def make_app() -> tuple[Erlen, list[int | None]]:
    app = Erlen(__name__)
    codes: list[int | None] = []

    @app.websocket("/ws")
    async def ws() -> None:
        await websocket.accept()
        try:
            async for message in websocket:
                await websocket.send(message)
        finally:
            codes.append(websocket.close_code)

    return app, codes


def run(main: Any) -> Any:
    return asyncio.run(asyncio.wait_for(main(), 10))


def test_close_websockets_sends_1001_and_the_handler_sees_it() -> None:
    app, codes = make_app()

    async def main() -> None:
        sock = FakeSocket(app)
        await sock.expect("websocket.accept")
        assert len(open_websockets(app)) == 1
        assert await close_websockets(app) == 1
        close = await sock.expect("websocket.close")
        assert close["code"] == 1001 and close["reason"] == "server shutting down"
        sock.inbox.put_nowait({"type": "websocket.disconnect", "code": 1001})
        await asyncio.wait_for(sock.task, 5)
        assert codes == [1001]
        assert open_websockets(app) == []

    run(main)


def test_closing_twice_sends_one_close() -> None:
    app, _ = make_app()

    async def main() -> None:
        sock = FakeSocket(app)
        await sock.expect("websocket.accept")
        await close_websockets(app)
        assert await close_websockets(app) == 0
        await sock.expect("websocket.close")
        assert sock.outbox.empty()
        sock.inbox.put_nowait({"type": "websocket.disconnect", "code": 1001})
        await asyncio.wait_for(sock.task, 5)

    run(main)


@pytest.fixture
def server_handler() -> Iterator[list[int]]:
    """Install a Python SIGTERM handler, as uvicorn does; put the old one back afterwards."""
    calls: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    try:
        yield calls
    finally:
        signal.signal(signal.SIGTERM, previous)


async def lifespan(app: Erlen) -> tuple[asyncio.Queue[dict[str, Any]], Any, list[dict[str, Any]]]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    inbox.put_nowait({"type": "lifespan.startup"})
    task = asyncio.ensure_future(app({"type": "lifespan"}, inbox.get, send))
    while not sent:
        await asyncio.sleep(0)
    assert sent[-1]["type"] == "lifespan.startup.complete"
    return inbox, task, sent


def test_sigterm_closes_websockets_before_the_servers_handler_runs(
    server_handler: list[int],
) -> None:
    app, codes = make_app()
    ours: list[Any] = []

    async def main() -> None:
        inbox, task, sent = await lifespan(app)
        ours.append(signal.getsignal(signal.SIGTERM))
        sock = FakeSocket(app)
        await sock.expect("websocket.accept")
        signal.raise_signal(signal.SIGTERM)
        assert server_handler == [signal.SIGTERM]  # the server's handler ran too
        close = await sock.expect("websocket.close")
        assert close["code"] == 1001
        sock.inbox.put_nowait({"type": "websocket.disconnect", "code": 1001})
        await asyncio.wait_for(sock.task, 5)
        inbox.put_nowait({"type": "lifespan.shutdown"})
        await asyncio.wait_for(task, 5)
        assert sent[-1]["type"] == "lifespan.shutdown.complete"

    run(main)
    assert codes == [1001]
    assert ours[0] is not None and getattr(ours[0], "__name__", "") == "on_signal"
    # Lifespan shutdown put the server's handler back.
    assert getattr(signal.getsignal(signal.SIGTERM), "__name__", "") == "<lambda>"


def test_a_server_that_handles_the_signal_on_its_loop_has_the_close_before_its_handler_runs() -> (
    None
):
    """granian handles SIGTERM with ``loop.add_signal_handler`` and drops open WebSockets in that
    handler: the close must be in the server's hands before it runs, not a task step later."""
    app, codes = make_app()
    seen_by_server: list[list[str]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        # Installed before the lifespan starts, as granian's worker does.
        loop.add_signal_handler(
            signal.SIGTERM,
            lambda: seen_by_server.append([m["type"] for m in sock.outbox._queue]),  # type: ignore[attr-defined]
        )
        inbox, task, _ = await lifespan(app)
        try:
            sock = FakeSocket(app, eager=True)
            await sock.expect("websocket.accept")
            signal.raise_signal(signal.SIGTERM)
            while not seen_by_server:
                await asyncio.sleep(0)
            assert seen_by_server == [["websocket.close"]]
            close = await sock.expect("websocket.close")
            assert close["code"] == 1001
            sock.inbox.put_nowait({"type": "websocket.disconnect", "code": 1001})
            await asyncio.wait_for(sock.task, 5)
        finally:
            # Lifespan shutdown takes the chained handler off again, pass or fail.
            inbox.put_nowait({"type": "lifespan.shutdown"})
            await asyncio.wait_for(task, 5)
            loop.remove_signal_handler(signal.SIGTERM)

    run(main)
    assert codes == [1001]


def test_lifespan_shutdown_closes_what_is_still_open() -> None:
    app, codes = make_app()

    async def main() -> None:
        inbox, task, _ = await lifespan(app)
        sock = FakeSocket(app)
        await sock.expect("websocket.accept")
        inbox.put_nowait({"type": "lifespan.shutdown"})
        close = await sock.expect("websocket.close")
        assert close["code"] == 1001
        sock.inbox.put_nowait({"type": "websocket.disconnect", "code": 1001})
        await asyncio.wait_for(asyncio.gather(sock.task, task), 5)

    run(main)
    assert codes == [1001]


def test_no_chain_without_a_server_handler_or_when_turned_off(server_handler: list[int]) -> None:
    before = signal.getsignal(signal.SIGINT)
    restore = chain_shutdown_signals(Erlen(__name__))
    # Python's default SIGINT handler is not a server's: left alone.
    assert signal.getsignal(signal.SIGINT) is before
    restore()
    app, _ = make_app()
    app.config["WEBSOCKET_CLOSE_ON_SHUTDOWN"] = False
    server = signal.getsignal(signal.SIGTERM)

    async def main() -> None:
        inbox, task, _ = await lifespan(app)
        assert signal.getsignal(signal.SIGTERM) is server
        inbox.put_nowait({"type": "lifespan.shutdown"})
        await asyncio.wait_for(task, 5)

    run(main)
