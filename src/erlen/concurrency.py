"""Crossing between sync and async code without losing the context.

* Sync code that must run a coroutine uses :func:`run_coroutine_sync`: in a
  worker thread started from the server's loop it schedules the coroutine on
  that loop; otherwise it uses one persistent event loop per thread (never a
  fresh loop per call).
* Async code that must run blocking sync code uses :func:`run_in_threadpool`,
  which carries the ``contextvars`` context into the worker thread, and
  :class:`ThreadedIterator` to iterate a blocking iterator.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_local = threading.local()
#: The loop of the ASGI server that handed work to a worker thread.
_server_loop: contextvars.ContextVar[asyncio.AbstractEventLoop] = contextvars.ContextVar(
    "erlen.server_loop"
)
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


class _LoopHolder:
    """Own a thread's loop; close it when the thread (and its locals) go away."""

    __slots__ = ("loop",)

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        _open_loops.add(self.loop)

    def __del__(self) -> None:
        loop = self.loop
        _open_loops.discard(loop)
        if not loop.is_closed() and not loop.is_running():
            loop.close()


_open_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


@atexit.register
def _close_open_loops() -> None:
    for loop in list(_open_loops):
        if not loop.is_closed() and not loop.is_running():
            loop.close()


def thread_loop() -> asyncio.AbstractEventLoop:
    """Return this thread's persistent event loop, creating it on first use."""
    holder: _LoopHolder | None = getattr(_local, "holder", None)
    if holder is None or holder.loop.is_closed():
        holder = _local.holder = _LoopHolder()
    return holder.loop


def run_coroutine_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code and return its result."""
    server_loop = _server_loop.get(None)
    if server_loop is not None and server_loop.is_running():
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not server_loop:
            return asyncio.run_coroutine_threadsafe(coro, server_loop).result()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        # Sync code running on an event loop (a sync context processor or
        # signal receiver called from an async view) can't block on that loop:
        # run the coroutine on a worker thread's loop instead. The loop waits
        # meanwhile, as it would for any blocking call; prefer awaiting.
        ctx = contextvars.copy_context()
        future = _get_executor(None).submit(ctx.run, _run_on_thread_loop, coro)
        return future.result()
    return thread_loop().run_until_complete(coro)


def _run_on_thread_loop(coro: Coroutine[Any, Any, T]) -> T:
    return thread_loop().run_until_complete(coro)


def async_to_sync(func: Callable[..., Awaitable[T]]) -> Callable[..., T]:
    """Wrap an async function so that sync code can call it."""

    def wrapper(*args: Any, **kwargs: Any) -> T:
        return run_coroutine_sync(func(*args, **kwargs))  # type: ignore[arg-type]

    wrapper.__wrapped__ = func  # type: ignore[attr-defined]
    wrapper.__name__ = getattr(func, "__name__", "wrapper")
    wrapper.__doc__ = getattr(func, "__doc__", None)
    return wrapper


def _get_executor(max_workers: int | None) -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                # Like anyio (Starlette), 40 threads by default: sync views block in them.
                _executor = ThreadPoolExecutor(
                    max_workers=max_workers or 40, thread_name_prefix="erlen"
                )
    return _executor


async def run_in_threadpool(
    func: Callable[..., T], *args: Any, max_workers: int | None = None
) -> T:
    """Run blocking ``func(*args)`` in a worker thread, carrying the current context."""
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    ctx.run(_server_loop.set, loop)
    return await loop.run_in_executor(_get_executor(max_workers), ctx.run, func, *args)


_STOP = object()


def _next_or_stop(it: Iterator[T]) -> Any:
    try:
        return next(it)
    except StopIteration:
        return _STOP


def _close_quietly(it: Any) -> None:
    close = getattr(it, "close", None)
    if close is not None:
        try:
            close()
        except ValueError:
            pass  # still executing in another thread; its owner closes it


class ThreadStep:
    """One call queued for a worker thread, which a closer can withdraw until it starts.

    A busy pool may leave a step waiting its turn; closing the iterator then need not
    wait for it (or give up waiting): a withdrawn step returns at once without
    touching the iterator, and the close queued after it runs next.
    """

    __slots__ = ("_lock", "_state")

    _QUEUED, _RUNNING, _WITHDRAWN = 0, 1, 2

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = self._QUEUED

    def run(self, func: Callable[[Any], T], arg: Any, withdrawn: T) -> T:
        """Call ``func(arg)`` in the worker, or return ``withdrawn`` if it was withdrawn."""
        with self._lock:
            if self._state == self._WITHDRAWN:
                return withdrawn
            self._state = self._RUNNING
        return func(arg)

    def withdraw(self) -> bool:
        """Keep the step from running if it has not started; True when it will not run."""
        with self._lock:
            if self._state == self._QUEUED:
                self._state = self._WITHDRAWN
            return self._state == self._WITHDRAWN


class ThreadedIterator:
    """Iterate a blocking iterator from async code, one worker-thread hop per item.

    Unlike a plain loop over :func:`run_in_threadpool`, :meth:`aclose` copes with
    a step still running in a thread (a client that left mid-stream): it waits a
    little for that step, then closes the iterator in a worker thread, in the
    caller's context, so a generator's ``finally`` sees the request. A step that
    stays blocked closes the iterator as soon as it returns.
    """

    __slots__ = ("_close_wait", "_guard", "_it", "_step")

    def __init__(self, it: Iterator[T], close_wait: float = 0.5) -> None:
        self._it = it
        self._step: asyncio.Future[Any] | None = None
        self._guard: ThreadStep | None = None
        self._close_wait = close_wait

    def __aiter__(self) -> ThreadedIterator:
        return self

    async def __anext__(self) -> Any:
        guard = self._guard = ThreadStep()
        step = self._step = asyncio.ensure_future(
            run_in_threadpool(guard.run, _next_or_stop, self._it, _STOP)
        )
        # Shielded: a cancelled consumer must not lose track of the running step.
        item = await asyncio.shield(step)
        self._step = None
        if item is _STOP:
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        """Close the iterator once no step of it is running."""
        step = self._step
        try:
            guard = self._guard
            if step is not None and not step.done() and not (guard and guard.withdraw()):
                # Running in a worker: give it a moment to finish.
                try:
                    await asyncio.wait_for(asyncio.shield(step), self._close_wait)
                except Exception:
                    pass  # the step's own error, or still blocked
            if step is None or step.done() or (guard and guard.withdraw()):
                # (A withdrawn step never touches the iterator; the close queues behind it.)
                await run_in_threadpool(_close_quietly, self._it)
                return
        except BaseException:
            # Cancelled while closing: close anyway, as soon as no step runs.
            self._close_later(step)
            raise
        self._close_later(step)

    def _close_later(self, step: asyncio.Future[Any] | None) -> None:
        ctx = contextvars.copy_context()
        if step is not None and not step.done():
            step.add_done_callback(lambda _: ctx.run(_close_quietly, self._it))
        else:
            ctx.run(_close_quietly, self._it)


__all__ = [
    "ThreadedIterator",
    "async_to_sync",
    "run_coroutine_sync",
    "run_in_threadpool",
    "thread_loop",
]
