"""The ASGI lifespan protocol: ``before_serving``, ``while_serving`` and ``after_serving``.

Under WSGI there is no lifespan: these hooks do not run (see the deployment docs).
"""

from __future__ import annotations

import contextlib
import inspect
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

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
    await send({"type": "lifespan.startup.complete"})
    message = await receive()
    try:
        async with app.app_context():
            await stack.aclose()
            for func in app.after_serving_funcs:
                await _call(func)
    except BaseException:
        await send({"type": "lifespan.shutdown.failed", "message": traceback.format_exc()})
        raise
    await send({"type": "lifespan.shutdown.complete"})
