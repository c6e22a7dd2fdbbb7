"""Two real server processes share a RedisHub: uvicorn (ASGI) and gunicorn (WSGI, threads).

* A WebSocket member at the uvicorn process gets what a sync view at the gunicorn process
  publishes.
* An EventSource reader connected to the uvicorn process disconnects, messages are
  published at the other process, and it reconnects to the gunicorn process with
  ``Last-Event-ID``: it gets exactly the missed messages, then live ones, no gap and no
  duplicate (the ids come from the Redis stream, the same in both processes).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from services import redis_prefix, redis_url

pytest.importorskip("redis")

APP = """
import os

from erlen import Erlen, request
from erlen.contrib.redis_hub import RedisHub
from erlen.websocket import websocket

app = Erlen(__name__)
hub = RedisHub.from_url(os.environ["HUB_TEST_URL"], prefix=os.environ["HUB_TEST_PREFIX"])
hub.init_app(app)


@app.websocket("/ws/<room>")
async def member(room):
    await websocket.accept()
    await hub.join(room, websocket)
    await websocket.send_json({"joined": room, "pid": os.getpid()})
    async for _ in websocket:
        pass


@app.post("/say/<room>")
def say(room):
    hub.publish_sync(room, {"text": request.form["text"], "pid": os.getpid()})
    return "", 204


@app.route("/feed/<room>")
def feed(room):
    return hub.event_stream(room, event="say", retry=500)
"""


class Feed:
    """An EventSource: reads events from a streamed response, remembers the last id."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines: AsyncIterator[str] = response.aiter_lines()

    async def next(self) -> dict[str, str]:
        event: dict[str, str] = {}
        async for line in self.lines:
            if not line:
                if event:
                    return event
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            event[name] = value
        raise AssertionError("the stream ended")


async def scenario(uvicorn_url: str, gunicorn_url: str) -> None:
    ws_url = uvicorn_url.replace("http://", "ws://") + "/ws/lobby"
    timeout = httpx.Timeout(10.0)
    async with (
        httpx.AsyncClient(base_url=uvicorn_url, timeout=timeout) as at_a,
        httpx.AsyncClient(base_url=gunicorn_url, timeout=timeout) as at_b,
        connect(ws_url, open_timeout=10) as member,
    ):
        joined = json.loads(await asyncio.wait_for(member.recv(), 10))
        assert joined["joined"] == "lobby"

        async def heard() -> dict[str, Any]:
            return dict(json.loads(await asyncio.wait_for(member.recv(), 10)))

        async def say(client: httpx.AsyncClient, text: str) -> None:
            response = await client.post("/say/lobby", data={"text": text})
            assert response.status_code == 204, response.text

        async with at_a.stream("GET", "/feed/lobby") as response:
            assert response.status_code == 200
            feed = Feed(response)
            ready = await asyncio.wait_for(feed.next(), 10)
            assert ready["event"] == "ready" and ready["retry"] == "500"
            await say(at_b, "one")
            message = await heard()
            assert message["text"] == "one" and message["pid"] != joined["pid"]
            one = await asyncio.wait_for(feed.next(), 10)
            assert (one["event"], json.loads(one["data"])["text"]) == ("say", "one")
        # The reader is gone; the gunicorn process publishes meanwhile.
        for text in ("two", "three"):
            await say(at_b, text)
            assert (await heard())["text"] == text
        headers = {"Last-Event-ID": one["id"]}
        async with at_b.stream("GET", "/feed/lobby", headers=headers) as response:
            assert response.status_code == 200
            feed = Feed(response)
            missed = [await asyncio.wait_for(feed.next(), 10) for _ in range(2)]
            assert [json.loads(e["data"])["text"] for e in missed] == ["two", "three"]
            live = await asyncio.wait_for(feed.next(), 10)
            assert live["event"] == "ready"
            await say(at_a, "four")
            four = await asyncio.wait_for(feed.next(), 10)
            assert json.loads(four["data"])["text"] == "four"
            assert (await heard())["text"] == "four"
        ids = [one["id"], *(e["id"] for e in missed), four["id"]]
        keys = [tuple(int(part) for part in i.split("-")) for i in ids]
        assert keys == sorted(keys) and len(set(keys)) == 4


def test_two_processes_share_the_hub_and_a_reader_resumes_at_the_other(
    real_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = redis_url()
    (tmp_path / "hub_app.py").write_text(APP, encoding="utf-8")
    with redis_prefix(url) as (_client, prefix):
        monkeypatch.setenv("HUB_TEST_URL", url)
        monkeypatch.setenv("HUB_TEST_PREFIX", prefix)
        with (
            real_server("uvicorn", tmp_path, "hub_app:app") as uvicorn_url,
            real_server("gunicorn", tmp_path, "hub_app:app") as gunicorn_url,
        ):
            asyncio.run(asyncio.wait_for(scenario(uvicorn_url, gunicorn_url), 60))
