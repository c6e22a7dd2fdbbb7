"""The Redis hub against a real Redis: fan-out between "processes", replay from Streams, faults.

Two ``RedisHub`` objects on one prefix stand for two worker processes (each has its own
listener thread and connections). The fault tests kill the listener's connection, point
a hub at a port where nothing listens, and restart a private ``redis-server``.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from erlen import Erlen, request
from erlen.hub import HubEvent, HubUnavailable
from erlen.websocket import websocket
from services import redis_prefix, redis_url, unique_name
from support import free_port

redis = pytest.importorskip("redis")

from erlen.contrib.redis_hub import RedisHub  # noqa: E402


def run(main: Callable[[], Coroutine[Any, Any, Any]], timeout: float = 20) -> Any:
    return asyncio.run(asyncio.wait_for(main(), timeout))


class Hubs:
    """Make RedisHubs on the test Redis under this test's prefix; close them in their loop."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self.made: list[RedisHub] = []

    def __call__(self, **options: Any) -> RedisHub:
        options.setdefault("prefix", self.prefix)
        options.setdefault("timeout", 2.0)
        hub = RedisHub.from_url(self.url, **options)
        self.made.append(hub)
        return hub

    def run(self, main: Callable[[], Coroutine[Any, Any, Any]], timeout: float = 20) -> Any:
        """Run ``main`` on a fresh loop, closing the hubs' connections on it afterwards."""

        async def closing() -> Any:
            try:
                return await main()
            finally:
                for hub in self.made:
                    await hub.aclose()

        return run(closing, timeout)


@pytest.fixture
def hubs() -> Iterator[Hubs]:
    url = redis_url()
    with redis_prefix(url) as (_client, prefix):
        made = Hubs(url, prefix)
        yield made
        for hub in made.made:
            hub.close()


def listener_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "erlen-redis-hub"]


def test_a_message_published_in_one_process_reaches_members_in_another(hubs: Hubs) -> None:
    async def main() -> None:
        one, two = hubs(), hubs()
        async with one.subscribe("r") as at_one, two.subscribe("r", "s") as at_two:
            assert await two.publish("r", {"n": 1}) == 2  # two processes listen
            assert await one.publish("s", "only two") == 1
            assert await asyncio.wait_for(at_one.get(), 5) == {"n": 1}
            assert [await asyncio.wait_for(at_two.get(), 5) for _ in range(2)] == [
                {"n": 1},
                "only two",
            ]
            assert one.members("r") == 1 and two.members("s") == 1
        assert one.rooms() == [] and two.rooms() == []

    hubs.run(main)


def test_order_and_ids_are_the_same_everywhere(hubs: Hubs) -> None:
    async def main() -> None:
        one, two = hubs(), hubs()
        async with one.events("r") as a, two.events("r") as b:

            async def publish(hub: RedisHub, tag: str) -> None:
                for i in range(100):
                    await hub.publish("r", f"{tag}{i}")

            await asyncio.gather(publish(one, "x"), publish(two, "y"))
            got_a = [await asyncio.wait_for(a.get(), 5) for _ in range(200)]
            got_b = [await asyncio.wait_for(b.get(), 5) for _ in range(200)]
        assert got_a == got_b
        keys = [one.event_key(e.id) for e in got_a]
        assert keys == sorted(keys) and len(set(keys)) == 200
        assert [e.data for e in got_a if e.data[0] == "x"] == [f"x{i}" for i in range(100)]

    hubs.run(main)


def test_replay_from_the_stream_at_another_process(hubs: Hubs) -> None:
    async def main() -> None:
        one, two = hubs(history=5), hubs(history=5)
        async with one.events("r") as first:
            assert first.position is not None and not first.reset
            await two.publish("r", "a")
            seen = await asyncio.wait_for(first.get(), 5)
        assert seen.data == "a" and seen.id == (await one.history("r"))[-1].id
        for text in "bcd":
            await one.publish("r", text)
        # The client comes back at the other process with the id it saw last.
        async with two.events("r", last_event_id=seen.id) as again:
            assert again.replayed == 3
            await one.publish("r", "e")
            got = [await asyncio.wait_for(again.get(), 5) for _ in range(4)]
        assert [e.data for e in got] == ["b", "c", "d", "e"]
        # History is capped at 5: "a" fell out once six were sent.
        for text in "fg":
            await two.publish("r", text)
        assert [e.data for e in await one.history("r")] == list("cdefg")
        assert [e.data for e in await one.history("r", limit=2)] == ["f", "g"]
        for stale in (seen.id, "1-0", "nonsense", "99999999999999-0"):
            async with one.events("r", last_event_id=stale) as behind:
                first_event = await asyncio.wait_for(behind.get(), 5)
                assert first_event == HubEvent(behind.position, "r", None, reset=True), stale
        # A room nobody wrote to: the position handed out stays valid.
        async with one.events("empty") as fresh:
            position = fresh.position
        await two.publish("empty", "first")
        async with one.events("empty", last_event_id=position) as back:
            assert (await asyncio.wait_for(back.get(), 5)).data == "first"

    hubs.run(main)


def chat_app(hub: RedisHub) -> Erlen:
    app = Erlen(__name__)

    @app.websocket("/ws/<room>")
    async def chat(room: str) -> None:
        await websocket.accept()
        await hub.join(room, websocket)
        await websocket.send_json({"joined": room})
        async for text in websocket:
            await hub.publish(room, {"text": text})

    @app.post("/say/<room>")
    def say(room: str) -> tuple[str, int]:
        hub.publish_sync(room, {"text": request.form["text"]})
        return "", 204

    @app.post("/say-async/<room>")
    async def say_async(room: str) -> tuple[str, int]:
        await hub.publish(room, {"text": request.form["text"]})
        return "", 204

    @app.route("/feed/<room>")
    def feed(room: str) -> Any:
        return hub.event_stream(room)

    return app


@pytest.mark.parametrize("view", ["say", "say-async"])
def test_a_view_on_either_door_reaches_websockets_of_another_process(
    hubs: Hubs, client: Callable[..., Any], view: str
) -> None:
    at_one, at_two = chat_app(hubs()), chat_app(hubs())
    with (
        at_one.test_client().websocket_connect("/ws/lobby") as ann,
        at_one.test_client().websocket_connect("/ws/lobby") as bob,
    ):
        assert ann.receive_json() == bob.receive_json() == {"joined": "lobby"}
        response = client(at_two).post(f"/{view}/lobby", data={"text": "from two"})
        assert response.status_code == 204
        assert ann.receive_json() == bob.receive_json() == {"text": "from two"}
        ann.send_text("from ann")
        assert ann.receive_json() == bob.receive_json() == {"text": "from ann"}


def test_an_event_stream_resumes_at_another_process(hubs: Hubs, client: Callable[..., Any]) -> None:
    one, two = client(chat_app(hubs())), client(chat_app(hubs()))
    response = one.get("/feed/news", buffered=False)
    try:
        chunks = iter(response.response)
        ready = next(chunks).decode()
        assert ready.startswith("event: ready\nid: ")
        two.post("/say/news", data={"text": "one"})
        event = next(chunks).decode()
        last_id = event.split("id: ")[1].split("\n")[0]
        assert event == f'id: {last_id}\ndata: {{"text": "one"}}\n\n'
    finally:
        response.close()
    for text in ("two", "three"):
        one.post("/say/news", data={"text": text})
    response = two.get("/feed/news", headers={"Last-Event-ID": last_id}, buffered=False)
    try:
        chunks = iter(response.response)
        texts = [next(chunks).decode().split("data: ")[1] for _ in range(2)]
        assert texts == ['{"text": "two"}\n\n', '{"text": "three"}\n\n']
        assert next(chunks).startswith(b"event: ready\n")
    finally:
        response.close()


def test_publish_while_redis_is_unreachable_is_a_quick_503(client: Callable[..., Any]) -> None:
    hub = RedisHub.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout=2.0)
    c = client(chat_app(hub))
    try:
        for view in ("say", "say-async"):
            started = time.monotonic()
            response = c.post(f"/{view}/r", data={"text": "x"})
            assert response.status_code == 503, view
            assert time.monotonic() - started < 1.5, "did not fail fast"
            assert b"try again" in response.data
        with pytest.raises(HubUnavailable):
            run(lambda: hub.publish("r", 1))
        # A member cannot join either: the subscription is not confirmed within the timeout.
        started = time.monotonic()
        with pytest.raises(HubUnavailable):
            run(lambda: hub.subscribe("r").__aenter__())
        assert time.monotonic() - started < 4
        assert hub.rooms() == []
    finally:
        hub.close()


def test_messages_must_be_json(hubs: Hubs) -> None:
    hub = hubs()
    with pytest.raises(TypeError, match="JSON"):
        hub.publish_sync("r", object())
    with pytest.raises(TypeError, match="JSON"):
        hubs.run(lambda: hub.publish("r", b"bytes"))


def test_the_listener_catches_up_after_its_connection_is_cut(
    hubs: Hubs, caplog: pytest.LogCaptureFixture
) -> None:
    name = unique_name("erlen-listener-")
    listening, publishing = hubs(client_options={"client_name": name}), hubs()
    admin = redis.Redis.from_url(redis_url())

    async def main() -> None:
        async with listening.subscribe("r", maxsize=10_000) as plain, listening.events("r") as ev:
            publishing.publish_sync("r", 0)
            assert await asyncio.wait_for(plain.get(), 5) == 0
            killed = 0
            for line in admin.client_list():
                if line.get("name") == name and "P" in line.get("flags", ""):
                    admin.client_kill_filter(_id=line["id"])
                    killed += 1
            assert killed == 1, "the listener's pubsub connection was not found"
            # Published while the listener is reconnecting (it waits 50 ms first).
            for i in range(1, 51):
                publishing.publish_sync("r", i)
            got = [await asyncio.wait_for(plain.get(), 5) for _ in range(50)]
            events = [await asyncio.wait_for(ev.get(), 5) for _ in range(51)]
            await publishing.publish("r", 51)
            assert await asyncio.wait_for(plain.get(), 5) == 51
            assert plain.qsize() == 0
        assert got == list(range(1, 51))
        assert [e.data for e in events] == list(range(51))

    with caplog.at_level(logging.WARNING, logger="erlen.hub"):
        hubs.run(main)
    admin.close()
    assert "connection lost" in caplog.text


def redis_server_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    return binary


@contextmanager
def private_redis(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A throwaway redis-server on ``port`` without persistence (as a restart loses all)."""
    options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"]
    proc = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.02)
        client.close()
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def test_members_keep_receiving_across_a_redis_restart(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    listening = RedisHub.from_url(url, timeout=1.0)
    publishing = RedisHub.from_url(url, timeout=1.0)

    async def main() -> None:
        with private_redis(port) as server:
            async with listening.subscribe("r") as plain, listening.events("r") as ev:
                assert await publishing.publish("r", "before") == 1
                assert await asyncio.wait_for(plain.get(), 5) == "before"
                first = await asyncio.wait_for(ev.get(), 5)
                server.terminate()
                server.wait(10)
                started = time.monotonic()
                with pytest.raises(HubUnavailable):
                    await publishing.publish("r", "lost")
                assert time.monotonic() - started < 1.0
                with private_redis(port):
                    # Published as soon as Redis is back, before the listener has
                    # resubscribed: the stream has them, and the listener catches up.
                    sent = []
                    deadline = time.monotonic() + 10
                    while True:
                        try:
                            receivers = await publishing.publish("r", len(sent))
                        except HubUnavailable:
                            assert time.monotonic() < deadline
                            await asyncio.sleep(0.01)
                            continue
                        sent.append(len(sent))
                        if receivers:  # the listener is subscribed again
                            break
                        await asyncio.sleep(0.01)
                    await publishing.publish("r", "after")
                    sent.append("after")
                    got = [await asyncio.wait_for(plain.get(), 5) for _ in sent]
                    events = [await asyncio.wait_for(ev.get(), 5) for _ in sent]
                    assert plain.qsize() == 0 and ev.qsize() == 0
        assert got == sent
        assert [e.data for e in events] == sent and not any(e.reset for e in events)
        start = listening.event_key(first.id or "")
        assert start is not None
        assert all((listening.event_key(e.id or "") or start) > start for e in events)

    async def closing() -> None:
        try:
            await main()
        finally:
            await listening.aclose()
            await publishing.aclose()

    with caplog.at_level(logging.WARNING, logger="erlen.hub"):
        run(closing, timeout=40)
    assert "connection lost" in caplog.text
    assert "reconnected" in caplog.text


def test_aclose_stops_the_listener_and_the_hub_can_be_used_again(hubs: Hubs) -> None:
    hub = hubs()
    before = set(listener_threads())

    async def use() -> set[threading.Thread]:
        async with hub.subscribe("r") as sub:
            hub.publish_sync("r", "x")
            assert await asyncio.wait_for(sub.get(), 5) == "x"
        return set(listener_threads()) - before

    for _ in range(2):  # hubs.run() ends with hub.aclose(); the second run starts anew
        (thread,) = hubs.run(use)
        assert not thread.is_alive()
    assert set(listener_threads()) <= before


def test_init_app_reads_the_config_and_lifespan_shutdown_closes(hubs: Hubs) -> None:
    from test_lifespan import LifespanDriver

    url = redis_url()
    app = Erlen(__name__)
    app.config.update(REDIS_URL=url, HUB_REDIS_PREFIX=unique_name("erlen-test:") + ":")
    app.config["HUB_HISTORY"] = 7
    hub = RedisHub()
    hub.init_app(app)
    assert (hub.url, hub.history_size) == (url, 7)
    assert hub.prefix == app.config["HUB_REDIS_PREFIX"]
    with pytest.raises(RuntimeError, match="HUB_REDIS_URL"):
        RedisHub().init_app(Erlen(__name__))

    async def main() -> None:
        driver = LifespanDriver(app)
        assert (await driver.step("lifespan.startup"))["type"] == "lifespan.startup.complete"
        async with hub.subscribe("r") as sub:
            await hub.publish("r", 1)
            assert await asyncio.wait_for(sub.get(), 5) == 1
        thread = hub._listener.thread  # type: ignore[union-attr]
        assert (await driver.step("lifespan.shutdown"))["type"] == "lifespan.shutdown.complete"
        assert not thread.is_alive() and hub._listener is None

    try:
        hubs.run(main)
    finally:
        hub.close()
        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(match=hub.prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_the_docs_redis_app(hubs: Hubs, monkeypatch: pytest.MonkeyPatch) -> None:
    import re
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "realtime.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    (block,) = [b for b in blocks if b.startswith("# redis_app.py")]
    monkeypatch.setenv("REDIS_URL", hubs.url)
    namespace: dict[str, Any] = {"__name__": "redis_app"}
    exec(compile(block, "docs/realtime.md", "exec"), namespace)
    app, hub = namespace["app"], namespace["hub"]
    hub.prefix = hubs.prefix  # this test's keys, deleted afterwards
    hubs.made.append(hub)
    other_process = chat_app(hubs())
    with app.test_client().websocket_connect("/chat/lobby") as ws:
        assert ws.receive_json() == {"joined": "lobby"}
        # The docs' sync view, through the WSGI door; a message from the other "process".
        assert app.test_client().post("/chat/lobby", data={"text": "hi"}).status_code == 204
        assert ws.receive_json() == {"text": "hi"}
        other_process.test_client().post("/say/lobby", data={"text": "from two"})
        assert ws.receive_json() == {"text": "from two"}
        ws.send_text("typed")
        assert ws.receive_json() == {"text": "typed"}
    response = app.test_client().get("/chat/lobby/feed", buffered=False)
    try:
        assert next(iter(response.response)).startswith(b"event: ready\nid: ")
    finally:
        response.close()


def test_an_event_stream_ends_at_once_while_redis_is_unreachable(
    client: Callable[..., Any],
) -> None:
    """A 200 that ends, so that EventSource retries (it gives up after an error status)."""
    hub = RedisHub.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    try:
        response = client(chat_app(hub)).get("/feed/r")
        assert response.status_code == 200
        assert response.data == b": the hub is unavailable; retrying\n\n"
    finally:
        hub.close()
