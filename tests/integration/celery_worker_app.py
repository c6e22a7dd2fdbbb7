"""A small Erlen app with Celery tasks, for the real worker of test_celery_worker.py.

The test process and the worker both build it with :func:`create_app`, configured the way
``docs/tasks.md`` shows: ``ERLEN_CELERY__*`` environment variables (broker, result backend,
queue, key prefix) read by ``app.config.from_prefixed_env()``. The worker finds
``celery_app`` (``celery -A celery_worker_app worker``) only when it asks for it, so that
importing this module from the test builds nothing.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from celery import shared_task

from erlen import Erlen, current_app, g, has_app_context, has_request_context
from erlen.contrib.celery import atask_status, celery_init_app, task_status


def _where() -> dict[str, Any]:
    return {
        "app": current_app.name,
        "marker": current_app.config["WORKER_MARKER"],
        "app_context": has_app_context(),
        "request": has_request_context(),
        "pid": os.getpid(),
        "thread": threading.current_thread().name,
    }


@shared_task(ignore_result=False)
def report(label: str) -> dict[str, Any]:
    """Say where the task ran and what it saw of the app."""
    g.label = label  # g belongs to the task's own app context
    return {**_where(), "label": g.label}


@shared_task(ignore_result=False)
async def report_async(label: str) -> dict[str, Any]:
    """The same from an ``async def`` task, after an await on the worker's loop."""
    await asyncio.sleep(0.01)
    return {**_where(), "label": label, "async": True}


def create_app() -> Erlen:
    app = Erlen("celery_worker_app")
    app.config["WORKER_MARKER"] = "set by create_app"
    app.config.from_prefixed_env()  # ERLEN_CELERY__broker_url and friends
    celery_init_app(app)

    @app.post("/report/<label>")
    def enqueue(label: str) -> Any:
        return {"id": report.delay(label).id}, 202

    @app.post("/areport/<label>")
    async def aenqueue(label: str) -> Any:
        result = await report_async.adelay(label)
        return {"id": result.id}, 202

    @app.get("/tasks/<uuid:task_id>")
    def status(task_id: Any) -> Any:
        return task_status(str(task_id))

    @app.get("/atasks/<uuid:task_id>")
    async def astatus(task_id: Any) -> Any:
        return await atask_status(str(task_id))

    return app


def __getattr__(name: str) -> Any:
    # ``celery -A celery_worker_app`` looks for ``app`` first, then ``celery``.
    if name == "celery":
        return create_app().extensions["celery"]
    raise AttributeError(name)
