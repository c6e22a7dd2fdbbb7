"""Crossing between sync and async code without losing the context.

* Sync code that must run a coroutine uses :func:`run_coroutine_sync`: in a
  worker thread started from the server's loop it schedules the coroutine on
  that loop; otherwise it uses one persistent event loop per thread (never a
  fresh loop per call).
* Async code that must run blocking sync code uses :func:`run_in_threadpool`,
  which carries the ``contextvars`` context into the worker thread, and
  :class:`ThreadedIterator` to iterate a blocking iterator.
* Logic written once for both, as a generator of :data:`Steps`, runs with
  :func:`drive_sync` or :func:`drive_async`.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextvars
import inspect
import os
import queue
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_local = threading.local()
#: The loop of the ASGI server that handed work to a worker thread.
_server_loop: contextvars.ContextVar[asyncio.AbstractEventLoop] = contextvars.ContextVar(
    "erlen.server_loop"
)


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
        future: concurrent.futures.Future[T] = _get_pool(None).submit(_run_on_thread_loop, coro)
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


#: Code written once for sync and async callers: a generator that yields an awaitable
#: whenever a callback it calls returns one, gets the awaitable's result sent back (or
#: its exception thrown in), and returns its own result. Run it with :func:`drive_sync`
#: or :func:`drive_async`.
Steps = Generator[Awaitable[Any], Any, T]


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


def as_coroutine(awaitable: Awaitable[T]) -> Coroutine[Any, Any, T]:
    """Return ``awaitable`` as a coroutine (what :func:`run_coroutine_sync` takes)."""
    if inspect.iscoroutine(awaitable):
        return awaitable
    return _await(awaitable)


def is_async_callable(func: Callable[..., Any]) -> bool:
    """Tell whether calling ``func`` returns a coroutine: an ``async def`` function, or an
    object whose ``__call__`` is one."""
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(func, "__call__", None)  # noqa: B004 - objects with an async __call__
    return call is not None and not inspect.isfunction(func) and inspect.iscoroutinefunction(call)


def mark_coroutine_function(func: Any) -> Any:
    """Mark ``func`` so that ``inspect.iscoroutinefunction`` says True; return it.

    ASGI servers that guess the interface (uvicorn, hypercorn) look for a coroutine
    function; a ``__call__`` that serves WSGI and ASGI alike cannot be ``async def``.
    """
    mark = getattr(inspect, "markcoroutinefunction", None)
    if mark is not None:  # Python 3.12+
        mark(func)
    else:  # pragma: no cover - Python < 3.12
        import asyncio.coroutines

        func._is_coroutine = getattr(asyncio.coroutines, "_is_coroutine", None)
    return func


def drive_sync(steps: Steps[T]) -> T:
    """Run ``steps`` from sync code, each awaitable it yields on the thread's event loop."""
    try:
        awaitable = steps.send(None)
        while True:
            try:
                result = run_coroutine_sync(as_coroutine(awaitable))
            except Exception as e:
                awaitable = steps.throw(e)
            else:
                awaitable = steps.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def drive_async(steps: Steps[T]) -> T:
    """Run ``steps`` from async code, awaiting each awaitable it yields on the running loop."""
    try:
        awaitable = steps.send(None)
        while True:
            try:
                result = await awaitable
            except Exception as e:
                awaitable = steps.throw(e)
            else:
                awaitable = steps.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


class _Job:
    """One call for a worker thread, and where its outcome goes."""

    __slots__ = ("args", "context", "func", "future", "loop")

    def __init__(
        self,
        context: contextvars.Context,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        future: asyncio.Future[Any] | concurrent.futures.Future[Any],
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        self.context = context
        self.func = func
        self.args = args
        self.future = future
        self.loop = loop

    def run(self) -> None:
        future = self.future
        loop = self.loop
        if loop is None:
            cfuture: concurrent.futures.Future[Any] = future  # type: ignore[assignment]
            if not cfuture.set_running_or_notify_cancel():
                return
            try:
                result = self.context.run(self.func, *self.args)
            except BaseException as e:
                cfuture.set_exception(e)
            else:
                cfuture.set_result(result)
            return
        if future.cancelled():
            return  # the caller went away before the call started
        try:
            result = self.context.run(self.func, *self.args)
        except BaseException as e:
            outcome: tuple[Any, ...] = (future, None, e)
        else:
            outcome = (future, result, None)
        try:
            loop.call_soon_threadsafe(_settle, *outcome)
        except RuntimeError:
            pass  # the loop is closed: nobody waits for the outcome any more


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
        return
    if isinstance(error, StopIteration):
        # An asyncio future refuses StopIteration; turn it into the RuntimeError a
        # coroutine would raise for it (PEP 479), so the caller is not left waiting.
        wrapped = RuntimeError(f"{type(error).__name__} raised in a worker thread")
        wrapped.__cause__ = error
        error = wrapped
    future.set_exception(error)


class _WorkerPool:
    """Worker threads for blocking calls made from async code.

    PERF: a job goes through one queue to an idle thread and its outcome comes
    back with one ``call_soon_threadsafe``: about half the cost of
    ``loop.run_in_executor``, which wraps a ``concurrent.futures`` future (and its
    locks) in an asyncio future. A ``def`` view under an ASGI server pays this
    hop on every request.

    Threads start when no idle one is left, up to ``max_workers``; beyond that,
    jobs wait their turn. A thread idle for ``idle_timeout`` seconds ends. They
    are daemon threads: a call still blocked at exit does not hold the process.
    """

    def __init__(self, max_workers: int, idle_timeout: float = 10.0) -> None:
        self.max_workers = max_workers
        #: Whether a caller chose ``max_workers`` (False: the default, until one does).
        self.sized = True
        self._idle_timeout = idle_timeout
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        # Guarded by the lock: live threads, threads waiting for a job, jobs not yet taken.
        self._threads = 0
        self._waiting = 0
        self._pending = 0

    def submit_async(
        self, loop: asyncio.AbstractEventLoop, context: contextvars.Context, func: Any, args: Any
    ) -> asyncio.Future[Any]:
        """Queue ``context.run(func, *args)``; the returned future (on ``loop``) gets its outcome."""
        future = loop.create_future()
        self._put(_Job(context, func, args, future, loop))
        return future

    def submit(self, func: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """Queue ``func(*args)`` in a copy of the current context; block on the returned future."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._put(_Job(contextvars.copy_context(), func, args, future, None))
        return future

    def _put(self, job: _Job) -> None:
        with self._lock:
            self._jobs.put(job)
            self._pending += 1
            # A new thread only when the waiting ones are all spoken for.
            if self._pending <= self._waiting or self._threads >= self.max_workers:
                return
            self._threads += 1
            self._waiting += 1  # the new thread waits for a job from the start
        try:
            threading.Thread(target=self._work, name="erlen-worker", daemon=True).start()
        except BaseException:
            with self._lock:
                self._threads -= 1
                self._waiting -= 1
            raise

    def _work(self) -> None:
        jobs = self._jobs
        lock = self._lock
        while True:
            try:
                job = jobs.get(timeout=self._idle_timeout)
            except queue.Empty:
                with lock:
                    if self._pending < self._waiting:
                        # More threads wait than there are jobs for them: leave.
                        self._waiting -= 1
                        self._threads -= 1
                        return
                continue
            with lock:
                self._waiting -= 1
                self._pending -= 1
            job.run()
            del job  # drop the job's references while idle
            with lock:
                self._waiting += 1


_pool: _WorkerPool | None = None
_pool_lock = threading.Lock()


def _get_pool(max_workers: int | None) -> _WorkerPool:
    """The process's worker pool, sized by the first caller that gives ``max_workers``.

    Until one does (``run_coroutine_sync`` passes none), it has the default of 40
    threads. A smaller size takes effect as busy threads finish.
    """
    global _pool
    pool = _pool
    if pool is None or (max_workers is not None and not pool.sized):
        with _pool_lock:
            pool = _pool
            if pool is None:
                # Like anyio (Starlette), 40 threads by default: sync views block in them.
                pool = _pool = _WorkerPool(max_workers or 40)
                pool.sized = max_workers is not None
            elif max_workers is not None and not pool.sized:
                with pool._lock:
                    pool.max_workers = max_workers
                    pool.sized = True
    return pool


def _forget_pool_after_fork() -> None:
    # The parent's threads do not exist in a forked child (a preforking server):
    # the child starts its own pool when it first needs one.
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


async def run_in_threadpool(
    func: Callable[..., T], *args: Any, max_workers: int | None = None
) -> T:
    """Run blocking ``func(*args)`` in a worker thread, carrying the current context."""
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    ctx.run(_server_loop.set, loop)
    pool = _get_pool(max_workers)  # sized by the first caller that gives a size, either way
    runner = caller_thread.get()
    if runner is not None:
        future = runner(loop, ctx, func, args)
        if future is not None:
            return await future  # type: ignore[no-any-return]
    return await pool.submit_async(loop, ctx, func, args)  # type: ignore[no-any-return]


#: Set by a caller that blocks on the loop from a thread of its own and lends that thread to
#: the blocking calls made for it (the test client's ASGI door, like asgiref's thread-sensitive
#: mode): takes ``(loop, context, func, args)`` as ``_WorkerPool.submit_async`` does, and
#: returns the future of the call, or None when it cannot take it (then a worker does).
caller_thread: contextvars.ContextVar[
    Callable[
        [asyncio.AbstractEventLoop, contextvars.Context, Callable[..., Any], tuple[Any, ...]],
        asyncio.Future[Any] | None,
    ]
    | None
] = contextvars.ContextVar("erlen.caller_thread", default=None)


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
    stays blocked closes the iterator (in a worker thread too) as soon as it returns.
    A closer that cannot await uses :meth:`close_soon`.
    """

    __slots__ = ("_close_wait", "_closed", "_guard", "_it", "_step")

    def __init__(self, it: Iterator[T], close_wait: float = 0.5) -> None:
        self._it = it
        self._step: asyncio.Future[Any] | None = None
        self._guard: ThreadStep | None = None
        self._close_wait = close_wait
        self._closed = False

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
        """Close the iterator once no step of it is running; later calls do nothing."""
        if self._closed:
            return
        self._closed = True
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

    def close_soon(self) -> None:
        """Close the iterator without waiting: now if no step runs, else when it returns.

        For a closer that cannot await, such as one whose own close was interrupted.
        Does nothing once :meth:`aclose` has begun, which sees the close through itself.
        """
        if not self._closed:
            self._closed = True
            self._close_later(self._step)

    def _close_later(self, step: asyncio.Future[Any] | None) -> None:
        ctx = contextvars.copy_context()
        if step is not None and not step.done():
            if self._guard is not None:
                self._guard.withdraw()  # a step that has not started never will
            # The close is sync code too: keep it off the loop, in the caller's context.
            step.add_done_callback(self._close_in_worker, context=ctx)
        else:
            # Nothing to wait for, and perhaps no loop turn left to wait with.
            ctx.run(_close_quietly, self._it)

    def _close_in_worker(self, _: asyncio.Future[Any]) -> None:
        task = asyncio.ensure_future(run_in_threadpool(_close_quietly, self._it))
        _closing.add(task)
        task.add_done_callback(_closing.discard)


#: Closes started by a finished step, kept referenced until they end.
_closing: set[asyncio.Future[None]] = set()


__all__ = [
    "Steps",
    "ThreadedIterator",
    "as_coroutine",
    "async_to_sync",
    "drive_async",
    "drive_sync",
    "is_async_callable",
    "mark_coroutine_function",
    "run_coroutine_sync",
    "run_in_threadpool",
    "thread_loop",
]
