"""A real Celery worker, fed through the Redis that ``.ci/services.sh`` starts.

The views run in this process (the test client, through both doors); the worker is
``celery -A <module> worker --pool solo --concurrency 1``, started by the test and stopped
by it (SIGTERM, then SIGKILL). Each run has its own queue and its own Redis key prefix
(``global_keyprefix`` for the broker and for the results), so runs never see each other's
tasks. Nothing sleeps to synchronise: the tests poll the app's status views (or the API)
until a deadline.
"""

from __future__ import annotations

import io
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from services import redis_prefix, redis_url

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BLOG = ROOT / "examples" / "blog"
for folder in (HERE, BLOG):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

DEADLINE = 60.0  # seconds: a worker's start-up plus one task, with room for a slow machine


def celery_settings(url: str, prefix: str) -> dict[str, Any]:
    """Celery settings that keep this run's broker keys, results and queue to itself."""
    isolated = {"global_keyprefix": prefix}
    return {
        "broker_url": url,
        "result_backend": url,
        "broker_transport_options": isolated,
        "result_backend_transport_options": isolated,
        "task_default_queue": prefix + "tasks",
        "broker_connection_retry_on_startup": True,
    }


def env_for(settings: dict[str, Any], env_prefix: str) -> dict[str, str]:
    """``{PREFIX}_CELERY__<setting>`` variables, as ``config.from_prefixed_env`` reads them."""
    return {
        f"{env_prefix}_CELERY__{key}": value if isinstance(value, str) else json.dumps(value)
        for key, value in settings.items()
    }


@contextmanager
def celery_worker(
    module: str, queue_name: str, cwd: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``celery -A module worker`` until the block ends; SIGTERM, then SIGKILL."""
    command = [
        str(Path(sys.executable).with_name("celery")),
        "-A",
        module,
        "worker",
        "--pool",
        "solo",
        "--concurrency",
        "1",
        "--queues",
        queue_name,
        "--without-mingle",
        "--without-gossip",
        "--loglevel",
        "INFO",
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)  # warm shutdown: the task in hand finishes
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def poll(check: Callable[[], Any], worker: subprocess.Popen[bytes], log: Path, what: str) -> Any:
    """Call ``check`` until it returns something truthy; fail at the deadline or if the
    worker dies (with its log)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        value = check()
        if value:
            return value
        if worker.poll() is not None:
            pytest.fail(f"the worker exited ({worker.returncode}):\n{log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {DEADLINE} s; worker log:\n{log.read_text()}")
        time.sleep(0.05)  # a polling interval, not synchronisation


@pytest.fixture
def redis_isolation() -> Iterator[tuple[str, str]]:
    """The Redis URL and a prefix no other run uses (its keys deleted afterwards)."""
    url = redis_url()
    with redis_prefix(url) as (_client, prefix):
        yield url, prefix


def test_tasks_from_both_doors_run_in_the_worker_inside_an_app_context(
    redis_isolation: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, prefix = redis_isolation
    settings = celery_settings(url, prefix)
    env = env_for(settings, "ERLEN")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    import celery_worker_app

    app = celery_worker_app.create_app()
    assert not app.extensions["celery"].conf.task_always_eager
    log = tmp_path / "worker.log"
    with celery_worker(
        "celery_worker_app", settings["task_default_queue"], HERE, env, log
    ) as worker:
        sent = []
        for door, path in (("wsgi", "/report/from-wsgi"), ("asgi", "/areport/from-asgi")):
            client = app.test_client(asgi=(door == "asgi"))
            response = client.post(path)
            assert response.status_code == 202, response.text
            sent.append((client, response.json["id"], path.rpartition("/")[2]))
        for client, task_id, label in sent:
            for status_path in (f"/tasks/{task_id}", f"/atasks/{task_id}"):

                def done(client: Any = client, status_path: str = status_path) -> Any:
                    status = client.get(status_path).json
                    return status if status["ready"] else None

                status = poll(done, worker, log, f"task {label}")
                assert status["state"] == "SUCCESS", status
                value = status["result"]
                assert value["pid"] == worker.pid  # run by the worker, not by this process
                assert value["pid"] != os.getpid()
                assert value["label"] == label
                assert value["app"] == "celery_worker_app"
                assert value["marker"] == "set by create_app"  # the app's config
                assert value["app_context"] is True
                assert value["request"] is False
                assert value.get("async", False) is (label == "from-asgi")


DOC = ROOT / "docs" / "tasks.md"


def doc_block(name: str) -> str:
    """The python block of docs/tasks.md whose first line is ``# name``."""
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S):
        if block.startswith(f"# {name}\n"):
            return str(block)
    raise LookupError(f"docs/tasks.md has no block starting with '# {name}'")


def test_the_docs_app_and_worker_run_as_written(
    redis_isolation: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, prefix = redis_isolation
    for name in ("jobs.py", "jobs_worker.py"):
        (tmp_path / name).write_text(doc_block(name), encoding="utf-8")
    settings = celery_settings(url, prefix)
    env = env_for(settings, "ERLEN")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # Task names come from the module's name: this process imports it as "jobs" too.
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "jobs", raising=False)
    import jobs  # type: ignore[import-not-found]

    try:
        app = jobs.create_app()
        log = tmp_path / "worker.log"
        with celery_worker(
            "jobs_worker", settings["task_default_queue"], tmp_path, env, log
        ) as worker:
            for door, lines in (("wsgi", 3), ("asgi", 7)):
                client = app.test_client(asgi=(door == "asgi"))
                text = "one two three\n" * lines
                response = client.post(
                    "/texts", data={"text": (io.BytesIO(text.encode()), "t.txt")}
                )
                assert response.status_code == 202, response.text
                location = response.headers["Location"]
                assert location == f"/tasks/{response.json['task']}"

                def done(client: Any = client, location: str = location) -> Any:
                    status = client.get(location).json
                    return status if status["ready"] else None

                status = poll(done, worker, log, f"the docs' task ({door})")
                assert status["state"] == "SUCCESS", status
                assert status["result"] == {"words": 3 * lines, "lines": lines}
            assert client.post("/texts").status_code == 400
            assert client.get("/tasks/not-a-task").status_code == 404
    finally:
        sys.modules.pop("jobs", None)


def test_the_example_app_digests_and_announces_a_post_in_the_worker(
    redis_isolation: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from erlenblog import create_app
    from erlenblog.extensions import db, login_manager
    from erlenblog.models import User

    from erlen.contrib.passwords import generate_password_hash

    url, prefix = redis_isolation
    settings = celery_settings(url, prefix)
    # The app puts Celery's keys under its REDIS_PREFIX by itself (checked below).
    del settings["broker_transport_options"], settings["result_backend_transport_options"]
    env = {
        "ERLENBLOG_INSTANCE_PATH": str(tmp_path / "instance"),
        "ERLENBLOG_SECRET_KEY": "shared by the web process and the worker",
        "ERLENBLOG_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'blog.sqlite'}",
        "ERLENBLOG_REDIS_URL": url,
        "ERLENBLOG_REDIS_PREFIX": prefix,
        **env_for(settings, "ERLENBLOG"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # The app puts a Redis store on the login manager, an object every app shares.
    monkeypatch.setattr(login_manager, "revocation_store", login_manager.revocation_store)
    app = create_app()
    conf = app.extensions["celery"].conf
    assert not conf.task_always_eager
    assert conf.broker_transport_options == {"global_keyprefix": prefix + "celery:"}
    with app.app_context():
        db.session.add(User(username="ann", password_hash=generate_password_hash("pw")))
        db.session.commit()
    log = tmp_path / "worker.log"
    try:
        with celery_worker(
            "erlenblog.worker", settings["task_default_queue"], BLOG, env, log
        ) as worker:
            _exercise_example(app, worker, log)
        import redis

        with redis.Redis.from_url(url) as client:
            assert client.keys(prefix + "celery:celery-task-meta-*")  # the task's result
    finally:
        app.extensions["erlenblog.live"].close()
        with app.app_context():
            db.engine.dispose()


def _exercise_example(app: Any, worker: subprocess.Popen[bytes], log: Path) -> None:
    import base64

    client = app.test_client(asgi=True)
    basic = base64.b64encode(b"ann:pw").decode()
    token = client.post("/api/tokens", headers={"Authorization": f"Basic {basic}"}).json["token"]
    # An open page's notification stream, read in a thread so that a missing event fails
    # the test at the deadline instead of hanging it.
    stream = app.test_client(asgi=True).get("/notifications/stream", buffered=False)
    assert stream.status_code == 200
    events: queue.Queue[bytes] = queue.Queue()
    chunks = iter(stream.response)
    assert next(chunks).startswith(b"event: ready")
    threading.Thread(target=lambda: events.put(next(chunks)), daemon=True).start()
    try:
        body = " ".join(["word"] * 500)  # 500 words: 3 minutes at 220 a minute
        response = client.post(
            "/api/posts",
            json={"title": "Written in the web process", "body": body},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.text
        post_id = response.json["id"]

        def digested() -> Any:
            return client.get(f"/api/posts/{post_id}").json["reading_minutes"]

        assert poll(digested, worker, log, "the post's digest") == 3
        assert "3 min read" in client.get(f"/posts/{post_id}").text
        # The worker announced the post through the Redis hub to this process's stream.
        try:
            event = events.get(timeout=DEADLINE).decode()
        except queue.Empty:
            pytest.fail(f"no announcement; worker log:\n{log.read_text()}")
        assert event.startswith("event: post\nid: ")  # the hub's event id, for replay
        message = json.loads(event.partition("data: ")[2])
        assert message["id"] == post_id
        assert message["title"] == "Written in the web process"
        assert message["url"] == f"/posts/{post_id}"
        assert message["reading_minutes"] == 3
        assert message["excerpt"].endswith("…")
        assert f"Post {post_id}: 500 words, digest saved." in log.read_text()
    finally:
        stream.close()
