"""Work that runs after the response has been sent: :func:`after_response`.

Each job runs in a fresh application context (``current_app`` and ``g``, no
request: pass what it needs as arguments). Under ASGI a coroutine function is
scheduled as a task on the server's loop and a plain function runs in the
thread pool; under WSGI the worker thread runs the job once the server has
closed the response (coroutines on the thread's persistent loop). Exceptions
are logged with ``current_app.logger.exception`` and never reach the server.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .concurrency import (
    as_coroutine,
    drive_async,
    is_async_callable,
    run_coroutine_sync,
    run_in_threadpool,
)
from .ctx import after_this_request
from .globals import _cv_app, _cv_request

if TYPE_CHECKING:
    from .app import Erlen
    from .ctx import AppContext
    from .response import Response

_tasks: set[asyncio.Future[Any]] = set()


class _Job:
    __slots__ = ("_app", "_args", "_func", "_kwargs")

    def __init__(
        self, app: Erlen, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self._app = app
        self._func = func
        self._args = args
        self._kwargs = kwargs

    def attach(self, response: Response) -> Response:
        response.call_on_close(self.start)
        return response

    def start(self) -> None:
        """Start the job: on the running loop when there is one, else in this thread."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            contextvars.Context().run(self._run_sync)
            return
        if is_async_callable(self._func):
            coro: Any = self._run_async()
        else:
            coro = run_in_threadpool(self._run_sync)
        # A fresh context: the job must not see (or keep alive) the finished request.
        task = contextvars.Context().run(loop.create_task, coro)
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)

    def _fail(self) -> None:
        name = getattr(self._func, "__qualname__", repr(self._func))
        self._app.logger.exception("The after_response job %s failed.", name)

    def _run_sync(self) -> None:
        with self._app.app_context():
            try:
                rv = self._func(*self._args, **self._kwargs)
                if inspect.isawaitable(rv):
                    run_coroutine_sync(as_coroutine(rv))
            except Exception:
                self._fail()

    async def _run_async(self) -> None:
        app_ctx = self._app.app_context()
        app_ctx.push()
        error: BaseException | None = None
        try:
            await self._func(*self._args, **self._kwargs)
        except Exception as e:
            error = e
            self._fail()
        finally:
            await _apop_app(app_ctx, error)


async def _apop_app(app_ctx: AppContext, exc: BaseException | None) -> None:
    # AppContext.pop() drives async teardown functions synchronously, which
    # cannot run on the loop; await them here instead.
    app = app_ctx.app
    try:
        if len(app_ctx._tokens) == 1:
            try:
                await drive_async(app._teardown_appcontext_steps(exc))
            except Exception:
                app.logger.exception("A teardown_appcontext function failed after a job.")
    finally:
        _cv_app.reset(app_ctx._tokens.pop())


def after_response(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run ``func(*args, **kwargs)`` after the current response has been sent.

    In a WebSocket handler the job runs when the connection ends.
    """
    ctx = _cv_request.get(None)
    if ctx is None:
        raise RuntimeError(
            "'after_response' needs an active request context, such as in a view function."
        )
    job = _Job(ctx.app, func, args, kwargs)
    from .websocket import _cv_websocket

    ws = _cv_websocket.get(None)
    if ws is not None and ws.request is ctx.request:
        ws.call_on_close(job.start)
        return
    after_this_request(job.attach)


async def drain(timeout: float | None = None) -> bool:
    """Wait for this loop's pending jobs (say, in ``after_serving``); False on timeout."""
    loop = asyncio.get_running_loop()
    pending = [t for t in _tasks if t.get_loop() is loop and not t.done()]
    if not pending:
        return True
    _, still = await asyncio.wait(pending, timeout=timeout)
    return not still


__all__ = ["after_response", "drain"]
