"""Lifespan: before_serving, while_serving and after_serving, driven by hand.

Uvicorn running them is tested in ``tests/integration/test_lifespan_real_server.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from erlen import Erlen, current_app, g


class LifespanDriver:
    """Play the server's side of the ASGI lifespan protocol."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self.got = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        self.got.set()

    async def step(self, message_type: str) -> dict[str, Any]:
        """Send one event and return the app's answer."""
        if self.task is None:
            scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
            self.task = asyncio.ensure_future(self.app(scope, self.receive, self.send))
        self.got.clear()
        count = len(self.sent)
        await self.inbox.put({"type": message_type})
        done, _ = await asyncio.wait(
            [asyncio.ensure_future(self.got.wait()), self.task],
            timeout=5,
            return_when=asyncio.FIRST_COMPLETED,
        )
        assert done, f"no answer to {message_type}"
        assert len(self.sent) > count, f"the app ended without answering {message_type}"
        return self.sent[-1]

    async def finish(self) -> BaseException | None:
        assert self.task is not None
        await asyncio.wait_for(asyncio.wait([self.task]), 5)
        return self.task.exception()


def run(main: Any) -> Any:
    return asyncio.run(asyncio.wait_for(main(), 10))


def test_hooks_run_in_order_with_an_app_context() -> None:
    app = Erlen(__name__)
    order: list[str] = []

    @app.before_serving
    def sync_start() -> None:
        order.append(f"before sync {current_app.name}")

    @app.before_serving
    async def async_start() -> None:
        order.append("before async")

    @app.while_serving
    async def resource() -> AsyncIterator[None]:
        order.append("while: enter")
        yield
        order.append("while: exit")

    @app.while_serving
    @contextlib.asynccontextmanager
    async def manager() -> AsyncIterator[None]:
        order.append("manager: enter")
        yield
        order.append("manager: exit")

    @app.after_serving
    async def async_stop() -> None:
        order.append("after async")

    @app.after_serving
    def sync_stop() -> None:
        order.append(f"after sync {current_app.name}")

    async def main() -> None:
        driver = LifespanDriver(app)
        assert await driver.step("lifespan.startup") == {"type": "lifespan.startup.complete"}
        assert order == [
            "before sync test_lifespan",
            "before async",
            "while: enter",
            "manager: enter",
        ]
        assert await driver.step("lifespan.shutdown") == {"type": "lifespan.shutdown.complete"}
        assert await driver.finish() is None

    run(main)
    # Context managers exit in reverse order, before the after_serving hooks.
    assert order[4:] == [
        "manager: exit",
        "while: exit",
        "after async",
        "after sync test_lifespan",
    ]


def test_startup_failure_is_reported_to_the_server() -> None:
    app = Erlen(__name__)

    @app.before_serving
    async def broken() -> None:
        raise RuntimeError("database unreachable")

    async def main() -> None:
        driver = LifespanDriver(app)
        answer = await driver.step("lifespan.startup")
        assert answer["type"] == "lifespan.startup.failed"
        assert "database unreachable" in answer["message"]
        error = await driver.finish()
        assert isinstance(error, RuntimeError)

    run(main)


def test_shutdown_failure_is_reported_to_the_server() -> None:
    app = Erlen(__name__)

    @app.after_serving
    def broken() -> None:
        raise ValueError("flush failed")

    async def main() -> None:
        driver = LifespanDriver(app)
        assert (await driver.step("lifespan.startup"))["type"] == "lifespan.startup.complete"
        answer = await driver.step("lifespan.shutdown")
        assert answer["type"] == "lifespan.shutdown.failed"
        assert "flush failed" in answer["message"]
        await driver.finish()

    run(main)


def test_a_while_serving_function_must_be_a_generator_or_manager() -> None:
    app = Erlen(__name__)

    @app.while_serving
    def not_async() -> None:
        return None

    async def main() -> None:
        driver = LifespanDriver(app)
        answer = await driver.step("lifespan.startup")
        assert answer["type"] == "lifespan.startup.failed"
        assert "async generators" in answer["message"]
        await driver.finish()

    run(main)


def test_async_teardown_appcontext_during_lifespan() -> None:
    app = Erlen(__name__)
    torn: list[str] = []

    @app.teardown_appcontext
    async def close_pool(exc: BaseException | None) -> None:
        torn.append("closed")

    @app.before_serving
    def start() -> None:
        g.pool = "pool"

    async def main() -> None:
        driver = LifespanDriver(app)
        try:
            assert await driver.step("lifespan.startup") == {"type": "lifespan.startup.complete"}
            assert await driver.step("lifespan.shutdown") == {"type": "lifespan.shutdown.complete"}
        finally:
            await driver.finish()

    run(main)
    assert torn == ["closed", "closed"]


def test_wsgi_never_runs_serving_hooks() -> None:
    app = Erlen(__name__)
    ran: list[str] = []
    app.before_serving(lambda: ran.append("before"))
    app.after_serving(lambda: ran.append("after"))

    @app.route("/")
    def index() -> str:
        return "ok"

    assert app.test_client().get("/").data == b"ok"
    assert ran == []
