"""erlen.contrib.celery: tasks in an app context, eager mode, results, async tasks.

These run the tasks in-process (Celery's eager mode, or the task called directly); a real
worker fed through Redis is tests/integration/test_celery_worker.py.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from celery import shared_task

from erlen import Erlen, current_app, g, has_request_context
from erlen.contrib.celery import (
    EXTENSION,
    ErlenTask,
    atask_status,
    celery_init_app,
    task_status,
)


@shared_task
def where_am_i(label: str) -> dict[str, Any]:
    """Report what the task sees of its app."""
    seen = getattr(g, "seen", None)
    g.seen = label
    return {
        "app": current_app.name,
        "flag": current_app.config.get("FLAG"),
        "g_was_empty": seen is None,
        "request": has_request_context(),
        "thread": threading.current_thread().name,
    }


@shared_task
async def where_am_i_async(label: str) -> dict[str, Any]:
    """The async twin: awaits, then reports what it sees."""
    await asyncio.sleep(0)
    return {
        "app": current_app.name,
        "flag": current_app.config.get("FLAG"),
        "label": label,
        "loop": id(asyncio.get_running_loop()),
    }


@shared_task
def fail(message: str) -> None:
    raise ValueError(message)


def make_app(name: str = "tasks_app", **celery: Any) -> Erlen:
    app = Erlen(name)
    app.config.update(TESTING=True, FLAG=name + "-flag", CELERY=celery)
    celery_init_app(app)

    @app.get("/run/<label>")
    def run(label: str) -> Any:
        g.seen = "the view"  # a task sharing the request's g would see it
        result = where_am_i.delay(label)
        return {"id": result.id, "value": result.get()}

    @app.get("/run-async/<label>")
    async def run_async(label: str) -> Any:
        result = await where_am_i_async.adelay(label)
        return {"id": result.id, "value": result.get()}

    @app.get("/tasks/<uuid:task_id>")
    def status(task_id: Any) -> Any:
        return task_status(str(task_id))

    @app.get("/atasks/<uuid:task_id>")
    async def astatus(task_id: Any) -> Any:
        return await atask_status(str(task_id))

    return app


def test_init_stores_the_celery_app_and_makes_it_the_default() -> None:
    app = make_app()
    celery_app = app.extensions[EXTENSION]
    assert celery_app.main == app.import_name
    assert isinstance(celery_app.tasks[where_am_i.name], ErlenTask)
    from celery import current_app as celery_current

    assert celery_current._get_current_object() is celery_app


def test_a_task_sent_from_a_view_runs_in_a_fresh_app_context(
    client: Callable[..., Any], protocol: str
) -> None:
    app = make_app()
    response = client(app).get("/run/one")
    assert response.status_code == 200
    value = response.json["value"]
    assert value["app"] == "tasks_app"
    assert value["flag"] == "tasks_app-flag"  # the app's config
    # Its own app context: not the request's g, and no request (as in a worker).
    assert value["g_was_empty"] is True
    assert value["request"] is False
    # The result is reachable from a status view, on the same door.
    status = client(app).get(f"/tasks/{response.json['id']}").json
    assert status == {
        "id": response.json["id"],
        "state": "SUCCESS",
        "ready": True,
        "result": value,
    }


def test_an_async_task_sent_from_an_async_view(client: Callable[..., Any], protocol: str) -> None:
    app = make_app()
    response = client(app).get("/run-async/two")
    assert response.status_code == 200
    value = response.json["value"]
    assert (value["app"], value["flag"], value["label"]) == ("tasks_app", "tasks_app-flag", "two")
    status = client(app).get(f"/atasks/{response.json['id']}").json
    assert (status["state"], status["result"]) == ("SUCCESS", value)


def test_tasks_called_outside_any_request_push_their_app_context() -> None:
    app = make_app()
    assert where_am_i("direct")["flag"] == "tasks_app-flag"
    assert where_am_i.apply(args=("applied",)).get()["app"] == "tasks_app"
    # async def tasks run on this thread's persistent loop: the same loop every time.
    first = where_am_i_async("a")
    assert first["flag"] == "tasks_app-flag"
    assert where_am_i_async("b")["loop"] == first["loop"]
    assert where_am_i_async.apply(args=("c",)).get()["label"] == "c"
    del app


def test_each_app_runs_its_own_tasks() -> None:
    """shared_task resolves to the newest Celery app; a view of an older app keeps its own."""
    one, two = make_app("one"), make_app("two")
    assert one.test_client().get("/run/x").json["value"]["app"] == "one"
    assert two.test_client().get("/run/x").json["value"]["app"] == "two"
    with one.app_context():
        assert where_am_i.delay("y").get()["flag"] == "one-flag"
    # Outside any app context the default (newest) app is used.
    assert where_am_i.delay("z").get()["app"] == "two"


def test_without_a_broker_tasks_run_eagerly_and_results_stay_in_memory() -> None:
    conf = make_app().extensions[EXTENSION].conf
    assert conf.task_always_eager is True
    assert conf.task_eager_propagates is True
    assert conf.result_backend == "cache+memory://"


def test_eager_mode_without_a_broker_is_logged_outside_debug_and_testing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Erlen("prod_like")
    with caplog.at_level(logging.WARNING):
        celery_init_app(app)
    assert "No Celery broker_url" in caplog.text
    caplog.clear()
    app.config["CELERY"] = {"task_always_eager": True}  # chosen: nothing to warn about
    with caplog.at_level(logging.WARNING):
        celery_init_app(app)
    assert caplog.text == ""


def test_a_broker_turns_eager_mode_off(monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(broker_url="redis://127.0.0.1:1/0", result_backend="redis://127.0.0.1:1/0")
    conf = app.extensions[EXTENSION].conf
    assert not conf.task_always_eager
    assert conf.broker_url == "redis://127.0.0.1:1/0"
    # Celery's own environment variable counts as a broker too.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    assert not make_app().extensions[EXTENSION].conf.task_always_eager


def test_celery_settings_come_from_the_app_config() -> None:
    app = make_app(task_default_queue="erlen-q", task_ignore_result=True)
    conf = app.extensions[EXTENSION].conf
    assert (conf.task_default_queue, conf.task_ignore_result) == ("erlen-q", True)
    other = Erlen("keyed")
    other.config["JOBS"] = {"task_default_queue": "jobs"}
    assert celery_init_app(other, config_key="JOBS").conf.task_default_queue == "jobs"


def test_a_bad_celery_setting_is_a_clear_error() -> None:
    app = Erlen("bad")
    app.config["CELERY"] = "redis://localhost"
    with pytest.raises(TypeError, match=r"app.config\['CELERY'\] must be a mapping"):
        celery_init_app(app)


def test_a_failing_eager_task_propagates_to_the_view(
    client: Callable[..., Any], protocol: str
) -> None:
    app = make_app()

    @app.get("/fail")
    def failing() -> Any:
        fail.delay("boom")
        return "not reached"

    with pytest.raises(ValueError, match="boom"):  # TESTING: the view's exception reaches us
        client(app).get("/fail")
    app.testing = False
    assert client(app).get("/fail").status_code == 500


def test_status_of_failed_pending_and_running_tasks(
    client: Callable[..., Any], protocol: str
) -> None:
    app = make_app(task_eager_propagates=False)
    celery_app = app.extensions[EXTENSION]
    failed = fail.delay("secret internals")
    c = client(app)
    status = c.get(f"/tasks/{failed.id}").json
    # The exception's class only: its message may hold what a visitor must not see.
    assert status == {"id": failed.id, "state": "FAILURE", "ready": True, "error": "ValueError"}
    unknown = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    assert c.get(f"/tasks/{unknown}").json == {"id": unknown, "state": "PENDING", "ready": False}
    # A task that reports progress (self.update_state) shows it while it runs.
    running = "6fa459ea-ee8a-3ca4-894e-db77e160355e"
    celery_app.backend.store_result(running, {"done": 3, "total": 10}, "PROGRESS")
    assert c.get(f"/atasks/{running}").json == {
        "id": running,
        "state": "PROGRESS",
        "ready": False,
        "info": {"done": 3, "total": 10},
    }
    # Not a task id: the route's converter refuses it.
    assert c.get("/tasks/not-a-uuid").status_code == 404


def test_a_task_of_a_celery_app_not_made_by_init_is_refused() -> None:
    import celery

    bare = celery.Celery("bare", task_cls=ErlenTask, set_as_current=False)

    @bare.task(shared=False)
    def orphan() -> None:
        pass

    with pytest.raises(RuntimeError, match="not made by celery_init_app"):
        orphan()


def test_without_celery_the_import_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "celery", None)  # what a missing package looks like
    monkeypatch.delitem(sys.modules, "erlen.contrib.celery")
    with pytest.raises(ImportError, match=r"pip install 'erlen\[celery\]'"):
        importlib.import_module("erlen.contrib.celery")
