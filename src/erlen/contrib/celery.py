"""Background jobs with Celery: tasks that run in an app context, with the app's settings.

``pip install 'erlen[celery]'`` (Celery with its Redis transport), then in the factory::

    app.config["CELERY"] = {"broker_url": "redis://localhost/0",
                            "result_backend": "redis://localhost/0"}
    celery_init_app(app)          # a Celery app, also in app.extensions["celery"]

and in any module, tasks that do not import the app::

    @shared_task
    def resize(upload_id: int) -> str: ...   # current_app, the app's config and db work here

Start a worker with ``celery -A yourpackage.worker worker`` (a module that builds the app;
see ``docs/tasks.md``). Every task runs inside an application context of the Erlen app it
belongs to. ``async def`` tasks work too: the worker runs the coroutine to completion on
its thread's persistent event loop (:func:`erlen.concurrency.run_coroutine_sync`).

Without a ``broker_url`` (and no ``CELERY_BROKER_URL`` in the environment), tasks run
eagerly, in the process that calls ``.delay()``, and their results stay in that process's
memory: the app works with no broker in development. Set ``task_always_eager`` to choose
either way explicitly.

``delay()`` talks to the broker and blocks; from an ``async def`` view use
``await task.adelay(...)``, which makes that call in a worker thread. :func:`task_status`
(and :func:`atask_status`) describe a task for a status view.

Use :func:`erlen.background.after_response` instead for small work tied to one response in
the same process (nothing survives a restart); use Celery for work that must survive the
web process, take long, retry, or run on other machines.
"""

from __future__ import annotations

import contextvars
import inspect
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

try:
    import celery  # type: ignore[import-untyped]
    from celery import states
except ImportError as error:  # tested with sys.modules["celery"] = None
    raise ImportError(
        "erlen.contrib.celery needs Celery with its Redis transport: pip install 'erlen[celery]'"
    ) from error

from ..concurrency import as_coroutine, is_async_callable, run_coroutine_sync, run_in_threadpool
from ..ctx import has_app_context, has_request_context
from ..globals import current_app

if TYPE_CHECKING:
    from ..app import Erlen

#: The key of ``app.extensions`` that holds the Celery app.
EXTENSION = "celery"
#: What a broker-less app stores eager results in: this process's memory.
EAGER_RESULT_BACKEND = "cache+memory://"


class ErlenTask(celery.Task):  # type: ignore[misc]
    """A Celery task that runs inside an application context of its Erlen app.

    :func:`celery_init_app` makes a subclass bound to one app and gives it to Celery as the
    base of every task of that Celery app (``shared_task`` included).
    """

    #: The Erlen app whose context the task runs in.
    erlen_app: ClassVar[Erlen | None] = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        app = self.erlen_app
        if app is None:
            raise RuntimeError(
                f"Task {self.name!r} belongs to a Celery app not made by celery_init_app(app)."
            )
        if has_request_context():
            # Eager mode, inside a view: run as a worker would, without the request (a
            # task that reads it would fail only in production otherwise).
            return contextvars.Context().run(self._call, app, args, kwargs)
        return self._call(app, args, kwargs)

    def _call(self, app: Erlen, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if is_async_callable(self.run):
            # A coroutine needs a loop: this thread's persistent one (never a fresh loop
            # per task), so async clients a task opens are reused by the next task.
            return run_coroutine_sync(self._call_async(app, args, kwargs))
        with app.app_context():
            rv = super().__call__(*args, **kwargs)
            if inspect.isawaitable(rv):  # a sync callable that returned an awaitable
                rv = run_coroutine_sync(as_coroutine(rv))
            return rv

    async def _call_async(self, app: Erlen, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        async with app.app_context():
            return await super().__call__(*args, **kwargs)

    def _for_current_app(self) -> ErlenTask:
        """This task as registered with the current Erlen app's Celery app.

        ``shared_task`` resolves to the default Celery app, the one made last; with several
        Erlen apps in one process (tests, two apps side by side) a task sent from a view
        must go through its own app's broker and run in its own app's context.
        """
        if not has_app_context():
            return self
        other = current_app.extensions.get(EXTENSION)
        if other is None or other is self.app:
            return self
        task: ErlenTask = other.tasks.get(self.name, self)
        return task

    def apply_async(self, *args: Any, **kwargs: Any) -> Any:
        """Send the task to the broker (or run it, in eager mode); see Celery's docs."""
        task = self._for_current_app()
        if task is not self:
            return task.apply_async(*args, **kwargs)
        return super().apply_async(*args, **kwargs)

    def apply(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task here and now, in this process; see Celery's docs."""
        task = self._for_current_app()
        if task is not self:
            return task.apply(*args, **kwargs)
        return super().apply(*args, **kwargs)

    async def adelay(self, *args: Any, **kwargs: Any) -> celery.result.AsyncResult:
        """``delay()`` for async code: the broker round trip happens in a worker thread."""
        return await run_in_threadpool(self._send, args, kwargs, {})

    async def aapply_async(
        self,
        args: tuple[Any, ...] | list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> celery.result.AsyncResult:
        """``apply_async()`` for async code: the broker round trip happens in a worker thread."""
        return await run_in_threadpool(self._send, args, kwargs, options)

    def _send(
        self, args: Any, kwargs: dict[str, Any] | None, options: dict[str, Any]
    ) -> celery.result.AsyncResult:
        return self.apply_async(args, kwargs, **options)


def celery_init_app(app: Erlen, *, config_key: str = "CELERY") -> celery.Celery:
    """Make the Celery app of ``app``, configured from ``app.config[config_key]``.

    The setting is a mapping of Celery's own (lower-case) settings: ``broker_url``,
    ``result_backend``, ``task_ignore_result``... Every task of the returned Celery app runs
    inside an application context of ``app``. The Celery app becomes Celery's default (so
    ``shared_task`` uses it) and is stored in ``app.extensions["celery"]``.

    Without a broker, tasks run eagerly, in the calling process (a warning says so unless
    ``task_always_eager`` is set or the app is in debug or testing mode), so development
    needs no broker. In eager mode a task's exception propagates to the caller, and results
    are kept in this process's memory unless a ``result_backend`` is set, so status views
    work there too.
    """
    settings = app.config.get(config_key) or {}
    if not isinstance(settings, Mapping):
        raise TypeError(
            f"app.config[{config_key!r}] must be a mapping of Celery settings"
            f" (such as {{'broker_url': 'redis://...'}}), not {type(settings).__name__}."
        )
    conf = dict(settings)
    has_broker = conf.get("broker_url") or os.environ.get("CELERY_BROKER_URL")
    if not has_broker and conf.get("task_always_eager") is None:
        conf["task_always_eager"] = True
        if not (app.debug or app.testing):
            app.logger.warning(
                "No Celery broker_url in app.config[%r]: tasks run eagerly, inside the"
                " requests that send them. Set a broker_url to run them in a worker.",
                config_key,
            )
    if conf.get("task_always_eager"):
        conf.setdefault("result_backend", EAGER_RESULT_BACKEND)
        conf.setdefault("task_store_eager_result", True)
        # A task's bug shows where it ran: in the request (a 500, the debugger).
        conf.setdefault("task_eager_propagates", True)
    task_cls = type("ErlenTask", (ErlenTask,), {"erlen_app": app, "__module__": __name__})
    celery_app = celery.Celery(app.import_name, task_cls=task_cls)
    celery_app.config_from_object(conf)
    celery_app.set_default()
    app.extensions[EXTENSION] = celery_app
    return celery_app


def task_status(task_id: str, *, celery_app: celery.Celery | None = None) -> dict[str, Any]:
    """Describe the task ``task_id`` for a status view, as a JSON-ready dict.

    ``{"id", "state", "ready"}``, plus ``"result"`` once it succeeded, ``"error"`` (the
    exception's class name only: its message may hold internals) once it failed, and
    ``"info"`` while a task that reports progress (``self.update_state(meta={...})``) runs.
    Celery cannot tell an unknown id from a task still waiting: both are ``PENDING``.
    Reads the result backend (blocking; from async code use :func:`atask_status`).
    """
    if celery_app is None:
        celery_app = current_app.extensions[EXTENSION]
    result = celery_app.AsyncResult(task_id)
    state: str = result.state
    status: dict[str, Any] = {"id": task_id, "state": state, "ready": state in states.READY_STATES}
    if state == states.SUCCESS:
        status["result"] = result.result
    elif state in states.PROPAGATE_STATES:
        status["error"] = type(result.result).__name__
    elif isinstance(result.info, Mapping):
        status["info"] = dict(result.info)
    return status


async def atask_status(task_id: str, *, celery_app: celery.Celery | None = None) -> dict[str, Any]:
    """:func:`task_status` for async code: the backend is read in a worker thread."""
    if celery_app is None:
        celery_app = current_app.extensions[EXTENSION]
    return await run_in_threadpool(_status_of, task_id, celery_app)


def _status_of(task_id: str, celery_app: celery.Celery) -> dict[str, Any]:
    return task_status(task_id, celery_app=celery_app)


__all__ = [
    "EXTENSION",
    "ErlenTask",
    "atask_status",
    "celery_init_app",
    "task_status",
]
