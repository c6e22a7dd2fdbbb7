"""The ASGI lifespan protocol: ``before_serving``, ``while_serving`` and ``after_serving``.

Under WSGI there is no lifespan: these hooks do not run (see the deployment docs).

Graceful shutdown of WebSockets: ASGI tells the app nothing before a server
closes its connections (uvicorn sends close code 1012 to every WebSocket, then
waits for HTTP requests in flight, then sends ``lifespan.shutdown``). So while
it serves, Erlen chains onto the handler the server installed for SIGTERM and
SIGINT: on the signal it first closes the app's open WebSockets with 1001
(going away), then calls the server's handler, which shuts down as it always
does. It never installs a handler where the server has none (a server run in a
thread, Python's default SIGINT handler) and puts the server's handler back at
lifespan shutdown. ``WEBSOCKET_CLOSE_ON_SHUTDOWN = False`` turns this off. At
lifespan shutdown any WebSocket still open is closed with 1001 too (servers
that keep connections open until then).
"""

from __future__ import annotations

import contextlib
import inspect
import signal
import threading
import traceback
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from .websocket import GOING_AWAY, close_websockets, schedule_close_websockets

if TYPE_CHECKING:
    from .app import Erlen


async def _call(func: Callable[[], Any]) -> None:
    rv = func()
    if inspect.isawaitable(rv):
        await rv


def _enter_target(factory: Callable[[], Any]) -> Any:
    """Turn a ``while_serving`` function into an async context manager."""
    obj = factory()
    if hasattr(obj, "__aenter__"):
        return obj
    if inspect.isasyncgen(obj):

        @contextlib.asynccontextmanager
        async def wrap() -> Any:
            async for _ in obj:
                yield
                break
            with contextlib.suppress(StopAsyncIteration):
                await obj.__anext__()

        return wrap()
    raise TypeError(
        "while_serving functions must be async generators or return async context managers."
    )


#: The signals after which servers shut down gracefully.
_SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)

#: A signal handler as :func:`signal.signal` takes it: ``handler(signum, frame)``.
SignalHandler = Callable[[int, "FrameType | None"], Any]


def chain_shutdown_signals(app: Erlen) -> Callable[[], None]:
    """Close the app's WebSockets with 1001 before the server's own SIGTERM/SIGINT handler runs.

    Only a handler the server installed (a Python function other than Python's
    default SIGINT handler) is chained, and only from the main thread. Returns
    a function that puts the server's handlers back.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    chained: dict[int, tuple[SignalHandler, SignalHandler]] = {}
    for sig in _SHUTDOWN_SIGNALS:
        previous = signal.getsignal(sig)
        if not callable(previous) or previous is signal.default_int_handler:
            continue

        def on_signal(
            signum: int, frame: FrameType | None, previous: SignalHandler = previous
        ) -> Any:
            schedule_close_websockets(app, GOING_AWAY, "server shutting down")
            return previous(signum, frame)

        signal.signal(sig, on_signal)
        chained[sig] = (on_signal, previous)

    def restore() -> None:
        for sig, (ours, previous) in chained.items():
            if signal.getsignal(sig) is ours:
                signal.signal(sig, previous)
        chained.clear()

    return restore


async def serve_lifespan(app: Erlen, receive: Callable[[], Any], send: Callable[..., Any]) -> None:
    """Run startup and shutdown for an ASGI server, inside an app context."""
    stack = contextlib.AsyncExitStack()
    message = await receive()
    if message["type"] != "lifespan.startup":
        return
    try:
        async with app.app_context():
            for func in app.before_serving_funcs:
                await _call(func)
            for factory in app.while_serving_gens:
                await stack.enter_async_context(_enter_target(factory))
    except BaseException:
        await send({"type": "lifespan.startup.failed", "message": traceback.format_exc()})
        raise
    close_on_shutdown = bool(app.config.get("WEBSOCKET_CLOSE_ON_SHUTDOWN", True))
    restore = chain_shutdown_signals(app) if close_on_shutdown else (lambda: None)
    await send({"type": "lifespan.startup.complete"})
    try:
        message = await receive()
    finally:
        restore()
    try:
        if close_on_shutdown:
            await close_websockets(app, GOING_AWAY, "server shutting down")
        async with app.app_context():
            await stack.aclose()
            for func in app.after_serving_funcs:
                await _call(func)
    except BaseException:
        await send({"type": "lifespan.shutdown.failed", "message": traceback.format_exc()})
        raise
    await send({"type": "lifespan.shutdown.complete"})
