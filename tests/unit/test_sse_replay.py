"""Server-sent events that survive reconnects: ``hub.event_stream`` on both doors."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from erlen import Erlen, request
from erlen.hub import Hub
from erlen.sse import EventSourceResponse, ServerSentEvent, last_event_id


def parse(chunk: bytes) -> dict[str, str]:
    """One event's fields (the last value of each; data lines joined)."""
    fields: dict[str, str] = {}
    for line in chunk.decode().split("\n"):
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(": ")
        fields[name] = fields[name] + "\n" + value if name == "data" and name in fields else value
    return fields


class Reader:
    """An EventSource stand-in: reads events, remembers the last id, reconnects with it."""

    def __init__(self, client: Any, path: str) -> None:
        self.client = client
        self.path = path
        self.last_id: str | None = None
        self.response: Any = None
        self.chunks: Iterator[bytes] = iter(())

    def connect(self) -> None:
        headers = {} if self.last_id is None else {"Last-Event-ID": self.last_id}
        self.response = self.client.get(self.path, headers=headers, buffered=False)
        assert self.response.status_code == 200
        assert self.response.mimetype == "text/event-stream"
        self.chunks = iter(self.response.response)

    def next(self) -> dict[str, str]:
        while True:
            chunk = next(self.chunks)
            if chunk.startswith(b":"):
                continue  # keep-alive
            event = parse(chunk)
            if "id" in event:
                self.last_id = event["id"]
            return event

    def disconnect(self) -> None:
        self.response.close()


def feed_app(hub: Hub) -> Erlen:
    app = Erlen(__name__)

    @app.route("/feed/<room>")
    def feed(room: str) -> EventSourceResponse:
        return hub.event_stream(room, event="say", retry=1000)

    @app.route("/quiet/<room>")
    async def quiet(room: str) -> EventSourceResponse:
        return hub.event_stream(room, ready=None)

    @app.post("/say/<room>")
    def say(room: str) -> tuple[str, int]:
        hub.publish_sync(room, request.form["text"])
        return "", 204

    @app.post("/say-json/<room>")
    async def say_json(room: str) -> tuple[str, int]:
        await hub.publish(room, request.get_json())
        return "", 204

    return app


def test_a_reconnecting_client_gets_what_it_missed_then_live_events(
    client: Callable[..., Any],
) -> None:
    hub = Hub()
    c = client(feed_app(hub))
    reader = Reader(c, "/feed/lobby")
    reader.connect()
    try:
        ready = reader.next()
        assert ready["event"] == "ready" and ready["retry"] == "1000" and ready["data"] == ""
        assert c.post("/say/lobby", data={"text": "one"}).status_code == 204
        one = reader.next()
        assert (one["event"], one["data"]) == ("say", "one")
        assert hub.event_key(one["id"]) > hub.event_key(ready["id"])  # type: ignore[operator]
    finally:
        reader.disconnect()
    assert hub.members("lobby") == 0
    for text in ("two", "three"):
        c.post("/say/lobby", data={"text": text})
    c.post("/say-json/lobby", json={"four": 4})
    reader.connect()
    try:
        assert [reader.next()["data"] for _ in range(3)] == ["two", "three", '{"four": 4}']
        caught_up = reader.next()
        assert caught_up["event"] == "ready"
        c.post("/say/lobby", data={"text": "five"})
        five = reader.next()
        assert five["data"] == "five"
    finally:
        reader.disconnect()
    # Nothing missed and nothing new: the replay is empty, the client is live at once.
    reader.connect()
    try:
        assert reader.next()["event"] == "ready"
        c.post("/say/lobby", data={"text": "six"})
        assert reader.next()["data"] == "six"
    finally:
        reader.disconnect()


@pytest.mark.parametrize("header", ["nonsense", "0", "x.1", "\u00e9" * 3])
def test_an_unknown_last_event_id_gets_a_reset_not_an_error(
    client: Callable[..., Any], header: str
) -> None:
    hub = Hub()
    c = client(feed_app(hub))
    c.post("/say/r", data={"text": "before"})
    response = c.get("/feed/r", headers={"Last-Event-ID": header}, buffered=False)
    try:
        assert response.status_code == 200
        chunks = iter(response.response)
        reset = parse(next(chunks))
        assert reset["event"] == "reset" and reset["retry"] == "1000"
        # The reset carries the current position: a later reconnection resumes from there.
        assert hub.event_key(reset["id"]) is not None
        c.post("/say/r", data={"text": "after"})
        assert parse(next(chunks))["data"] == "after"
    finally:
        response.close()


def test_a_client_further_behind_than_the_history_is_reset(client: Callable[..., Any]) -> None:
    hub = Hub(history=2)
    c = client(feed_app(hub))
    reader = Reader(c, "/feed/r")
    reader.connect()
    try:
        assert reader.next()["event"] == "ready"
    finally:
        reader.disconnect()
    for text in "abc":
        c.post("/say/r", data={"text": text})
    reader.connect()
    try:
        reset = reader.next()
        assert reset["event"] == "reset"
        c.post("/say/r", data={"text": "d"})
        assert reader.next()["data"] == "d"
    finally:
        reader.disconnect()


def test_the_position_alone_is_an_id_without_data(client: Callable[..., Any]) -> None:
    hub = Hub()
    c = client(feed_app(hub))
    response = c.get("/quiet/r", buffered=False)
    try:
        chunks = iter(response.response)
        first = next(chunks)
        assert first.startswith(b"id: ") and b"data" not in first
        c.post("/say/r", data={"text": "x"})
        event = parse(next(chunks))
        assert event["data"] == "x" and "event" not in event
    finally:
        response.close()


def test_a_hand_written_stream_with_events(client: Callable[..., Any]) -> None:
    """The lower-level API: hub.events() in a generator of the view's own."""
    hub = Hub()
    app = Erlen(__name__)

    @app.route("/feed")
    async def feed() -> EventSourceResponse:
        async def events() -> AsyncIterator[ServerSentEvent]:
            async with hub.events("r", last_event_id=last_event_id()) as stream:
                if not stream.replayed and not stream.reset:
                    yield ServerSentEvent(id=stream.position)  # where a reconnection resumes
                async for event in stream:
                    if event.reset:
                        yield ServerSentEvent("reload", event="reset", id=event.id)
                    else:
                        yield ServerSentEvent(event.data, id=event.id)

        return EventSourceResponse(events())

    c = client(app)
    reader = Reader(c, "/feed")
    reader.connect()
    try:
        reader.next()
        hub.publish_sync("r", "a")
        assert reader.next()["data"] == "a"
    finally:
        reader.disconnect()
    hub.publish_sync("r", "b")
    reader.connect()
    try:
        assert reader.next()["data"] == "b"
    finally:
        reader.disconnect()


DOC = Path(__file__).resolve().parents[2] / "docs" / "realtime.md"


def doc_block(contains: str) -> str:
    """The python block of docs/realtime.md that contains ``contains``."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    (block,) = [b for b in blocks if contains in b]
    return str(block)


def test_the_docs_feed_app_and_its_hand_written_stream(client: Callable[..., Any]) -> None:
    namespace: dict[str, Any] = {"__name__": "feed_app"}
    exec(compile(doc_block("# feed_app.py"), "docs/realtime.md", "exec"), namespace)
    exec(compile(doc_block("def custom_news"), "docs/realtime.md", "exec"), namespace)
    c = client(namespace["app"])
    for path in ("/news", "/news/custom"):
        reader = Reader(c, path)
        reader.connect()
        try:
            first = reader.next()
            assert "id" in first
            c.post("/news", data={"title": f"one at {path}"})
            assert reader.next()["data"] == f'{{"title": "one at {path}"}}'
        finally:
            reader.disconnect()
        c.post("/news", data={"title": "missed"})
        reader.connect()
        try:
            assert reader.next()["data"] == '{"title": "missed"}'
        finally:
            reader.disconnect()
