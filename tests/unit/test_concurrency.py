"""The worker pool behind ``run_in_threadpool``: outcomes, context, queueing and cancellation."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

import erlen.concurrency as concurrency
from erlen import Erlen
from erlen.concurrency import _WorkerPool, run_coroutine_sync, run_in_threadpool

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


def test_result_exception_and_context_reach_the_caller() -> None:
    def work(x: int) -> tuple[int, str, str]:
        return x * 2, var.get(), threading.current_thread().name

    def fail() -> None:
        raise KeyError("boom")

    async def main() -> None:
        var.set("request value")
        doubled, seen, thread = await run_in_threadpool(work, 21)
        assert (doubled, seen) == (42, "request value")
        assert thread != threading.current_thread().name
        with pytest.raises(KeyError, match="boom"):
            await run_in_threadpool(fail)

    asyncio.run(main())


def test_stop_iteration_in_the_thread_reaches_the_caller_as_runtime_error() -> None:
    """An asyncio future cannot hold StopIteration; the caller gets a RuntimeError (as from a
    coroutine) instead of waiting forever."""

    def exhausted() -> None:
        next(iter(()))

    async def main() -> None:
        with pytest.raises(RuntimeError, match="StopIteration") as info:
            await asyncio.wait_for(run_in_threadpool(exhausted), 10)
        assert isinstance(info.value.__cause__, StopIteration)

    asyncio.run(main())


def test_a_change_to_the_context_in_the_thread_stays_there() -> None:
    async def main() -> None:
        var.set("caller")
        await run_in_threadpool(var.set, "worker")
        assert var.get() == "caller"

    asyncio.run(main())


def test_more_calls_than_threads_wait_their_turn() -> None:
    pool = _WorkerPool(max_workers=2)
    release = threading.Event()
    started: list[int] = []
    lock = threading.Lock()

    def blocker(i: int) -> int:
        with lock:
            started.append(i)
        assert release.wait(10)
        return i

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        futures = [
            pool.submit_async(loop, contextvars.copy_context(), blocker, (i,)) for i in range(6)
        ]
        first = pool.submit(lambda: "queued")  # a sync caller queues behind them too
        await asyncio.sleep(0)
        assert not first.done()
        release.set()
        done = await asyncio.gather(*futures)
        assert first.result(10) == "queued"
        return done

    assert asyncio.run(main()) == list(range(6))
    assert pool._threads == 2
    assert sorted(started) == list(range(6))


def test_a_call_cancelled_before_it_starts_never_runs() -> None:
    pool = _WorkerPool(max_workers=1)
    release = threading.Event()
    ran: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context
        busy = pool.submit_async(loop, ctx(), release.wait, (10,))
        queued = pool.submit_async(loop, ctx(), ran.append, ("queued",))
        queued.cancel()
        after = pool.submit_async(loop, ctx(), ran.append, ("after",))
        release.set()
        await busy
        await after

    asyncio.run(main())
    assert ran == ["after"]


def test_idle_threads_end_and_new_ones_start_when_needed() -> None:
    pool = _WorkerPool(max_workers=4, idle_timeout=0.01)
    worker = pool.submit(threading.current_thread).result(10)
    assert worker.name == "erlen-worker" and worker.daemon
    worker.join(5)  # it ends once idle for its timeout
    assert not worker.is_alive()
    assert (pool._threads, pool._waiting, pool._pending) == (0, 0, 0)
    assert pool.submit(lambda: "again").result(10) == "again"


def test_a_closed_loop_does_not_break_the_worker() -> None:
    pool = _WorkerPool(max_workers=1)
    release = threading.Event()
    loop = asyncio.new_event_loop()
    pool.submit_async(loop, contextvars.copy_context(), release.wait, (10,))
    loop.close()  # its caller is gone before the outcome is back
    release.set()
    assert pool.submit(lambda: "still working").result(10) == "still working"


def test_sync_code_on_a_loop_runs_a_coroutine_in_a_worker() -> None:
    async def coro() -> str:
        return var.get()

    async def main() -> str:
        var.set("seen")
        return run_coroutine_sync(coro())  # blocks this loop, as documented

    assert asyncio.run(main()) == "seen"


def test_a_pool_that_queued_jobs_and_went_idle_still_starts_threads() -> None:
    """Jobs queued behind busy threads, then every thread leaving when idle: the next call
    must still find (start) a thread, rather than wait on a pool that counts ghosts."""
    pool = _WorkerPool(max_workers=2, idle_timeout=0.01)
    release = threading.Event()

    def wait_then_name_thread() -> threading.Thread:
        assert release.wait(10)
        return threading.current_thread()

    busy = [pool.submit(wait_then_name_thread) for _ in range(2)]
    queued = [pool.submit(threading.current_thread) for _ in range(3)]
    release.set()
    workers = {f.result(10) for f in busy + queued}
    assert len(workers) == 2
    for worker in workers:
        worker.join(5)  # they end once idle
    assert (pool._threads, pool._waiting, pool._pending) == (0, 0, 0)
    assert pool.submit(lambda: "served").result(10) == "served"


def test_the_first_given_size_sizes_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    # run_coroutine_sync may create the pool first, with no size: an app's
    # ASGI_THREADPOOL_SIZE must still apply when it first uses the pool.
    monkeypatch.setattr(concurrency, "_pool", None)
    pool = concurrency._get_pool(None)
    assert (pool.max_workers, pool.sized) == (40, False)
    assert concurrency._get_pool(3) is pool and pool.max_workers == 3
    assert concurrency._get_pool(7) is pool and pool.max_workers == 3  # the first size stays
    assert concurrency._get_pool(None).max_workers == 3


def test_asgi_threadpool_size_applies_after_an_unsized_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(concurrency, "_pool", None)
    concurrency._get_pool(None)  # as run_coroutine_sync does from code on a loop
    app = Erlen(__name__)
    app.config["ASGI_THREADPOOL_SIZE"] = 2

    @app.route("/")
    def index() -> str:
        return "ok"

    response = app.test_client(asgi=True).get("/")
    assert response.status_code == 200 and response.get_data(as_text=True) == "ok"
    assert concurrency._pool is not None and concurrency._pool.max_workers == 2


def _lookup_steps(callback: object, key: str) -> concurrency.Steps[str]:
    """Call a sync or async callback once, for both callers; an error comes back in."""
    try:
        value = callback(key)  # type: ignore[operator]
        if asyncio.iscoroutine(value):
            value = yield value
    except LookupError:
        return "missing"
    return f"found {value}"


def test_drive_sync_and_drive_async_run_one_logic_for_both_kinds_of_callback() -> None:
    def plain(key: str) -> str:
        return key.upper()

    async def coro(key: str) -> str:
        await asyncio.sleep(0)
        return key * 2

    async def failing(key: str) -> str:
        raise KeyError(key)

    drive_sync, drive_async = concurrency.drive_sync, concurrency.drive_async
    assert drive_sync(_lookup_steps(plain, "a")) == "found A"
    assert drive_sync(_lookup_steps(coro, "a")) == "found aa"
    assert drive_sync(_lookup_steps(failing, "a")) == "missing"

    async def main() -> list[str]:
        return [
            await drive_async(_lookup_steps(plain, "b")),
            await drive_async(_lookup_steps(coro, "b")),
            await drive_async(_lookup_steps(failing, "b")),
        ]

    assert asyncio.run(main()) == ["found B", "found bb", "missing"]
