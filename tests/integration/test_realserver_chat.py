"""The chat app of docs/realtime.md under uvicorn, driven by real WebSocket and SSE clients.

* Every client (and an EventSource reader) receives every message, in the same order, for a
  bounded run of thousands of messages.
* Clients that leave at random points (clean close, close code, TCP abort mid-stream) leave
  no task behind on the server, and teardown ran once per connection.
* The test file of the docs passes against the docs' app, in-process.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import random
import re
import sys
import textwrap
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "realtime.md"

CLIENTS = 8
MESSAGES_EACH = 300  # 2,400 messages, 21,600 deliveries (8 sockets and one feed)
WINDOW = 5  # messages a client may have in flight, so no member's queue can overflow


def doc_block(name: str) -> str:
    """Return the python block of docs/realtime.md whose first line is ``# name``."""
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S):
        if block.startswith(f"# {name}\n"):
            return str(block)
    raise LookupError(f"docs/realtime.md has no block starting with '# {name}'")


# Appended to the docs' app: counts teardowns and reports the server's tasks.
INSTRUMENTATION = """

import asyncio as _asyncio

from erlen import request as _request

_teardowns = {"chat": 0, "feed": 0}


@app.teardown_request
def _count_teardown(exc):
    if _request.endpoint in _teardowns:
        _teardowns[_request.endpoint] += 1


def _stats():
    return {
        "tasks": len(_asyncio.all_tasks()),
        "teardowns": dict(_teardowns),
        "rooms": {room: hub.members(room) for room in hub.rooms()},
    }


@app.route("/_stats")
async def _stats_view():
    return _stats()


@app.route("/_settle")
async def _settle_view():
    # Wait (bounded) on the server until the given state is reached, then report.
    tasks = int(_request.args["tasks"])
    chat = int(_request.args["chat"])
    loop = _asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        stats = _stats()
        settled = stats["tasks"] <= tasks and stats["teardowns"]["chat"] >= chat
        if (settled and not stats["rooms"]) or loop.time() > deadline:
            return stats
        await _asyncio.sleep(0.02)
"""


@pytest.fixture
def chat_server(real_server: Any, tmp_path: Path) -> Any:
    (tmp_path / "chat_app.py").write_text(doc_block("chat_app.py") + INSTRUMENTATION, "utf-8")
    with real_server("uvicorn", tmp_path, "chat_app:app") as base_url:
        yield base_url


async def read_feed(
    response: httpx.Response, count: int, ready: asyncio.Event, windows: list[asyncio.Semaphore]
) -> list[Any]:
    """Read ``count`` message events from an SSE response, releasing each sender's window."""
    events: list[Any] = []
    async for line in response.aiter_lines():
        if line.startswith("retry:"):
            ready.set()  # the feed has joined the room
        elif line.startswith("data: "):
            event = json.loads(line[6:])
            events.append(event)
            windows[int(event["user"][1:])].release()
            if len(events) == count:
                break
    return events


async def chat(ws_url: str, feed: httpx.AsyncClient) -> tuple[list[list[Any]], list[Any]]:
    total = CLIENTS * MESSAGES_EACH
    ready = asyncio.Event()
    # A sender waits until both its socket and the feed have seen its earlier messages.
    feed_windows = [asyncio.Semaphore(WINDOW) for _ in range(CLIENTS)]
    async with feed.stream("GET", "/feed/lobby") as response:
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        feed_task = asyncio.ensure_future(read_feed(response, total, ready, feed_windows))
        await asyncio.wait_for(ready.wait(), 5)
        sockets = [await connect(f"{ws_url}/chat/lobby?name=c{i}") for i in range(CLIENTS)]
        try:
            for ws in sockets:
                assert json.loads(await ws.recv()) == {"joined": "lobby"}
            received: list[list[Any]] = [[] for _ in range(CLIENTS)]

            async def talk(i: int, ws: ClientConnection) -> None:
                window = asyncio.Semaphore(WINDOW)

                async def send_all() -> None:
                    for k in range(MESSAGES_EACH):
                        await window.acquire()
                        await feed_windows[i].acquire()
                        await ws.send(f"{i}:{k}")

                async def receive_all() -> None:
                    while len(received[i]) < total:
                        message = json.loads(await ws.recv())
                        received[i].append((message["user"], message["text"]))
                        if message["user"] == f"c{i}":
                            window.release()

                await asyncio.gather(send_all(), receive_all())

            await asyncio.wait_for(
                asyncio.gather(*(talk(i, ws) for i, ws in enumerate(sockets))), 20
            )
            events = await asyncio.wait_for(feed_task, 10)
        finally:
            for ws in sockets:
                await ws.close()
            feed_task.cancel()
    return received, events


async def random_leavers(ws_url: str, seed: int) -> int:
    """Connect clients that leave at random points; return how many connected."""
    rng = random.Random(seed)
    stayer = await connect(f"{ws_url}/chat/room2?name=stayer")
    assert json.loads(await stayer.recv()) == {"joined": "room2"}
    connected = 1

    async def drain_stayer() -> None:
        while True:
            await stayer.recv()

    drainer = asyncio.ensure_future(drain_stayer())
    try:
        for round_ in range(4):
            sockets = []
            for i in range(6):
                # An unbounded client queue: with unread messages, a bounded one stops
                # reading the socket, so the server's close frame would never be read.
                ws = await connect(f"{ws_url}/chat/room2?name=r{round_}.{i}", max_queue=None)
                assert json.loads(await ws.recv()) == {"joined": "room2"}
                sockets.append(ws)
                connected += 1

            async def leave(ws: ClientConnection) -> None:
                for k in range(rng.randrange(0, 40)):
                    await ws.send(f"m{k}")
                    if rng.random() < 0.3:
                        await ws.recv()
                how = rng.choice(["close", "code", "abort", "abort"])
                if how == "close":
                    await ws.close()
                elif how == "code":
                    await ws.close(4000, "bye")
                else:
                    # Vanish mid-stream: no closing handshake, unread messages in flight.
                    ws.transport.abort()

            await asyncio.wait_for(asyncio.gather(*(leave(ws) for ws in sockets)), 10)
        drainer.cancel()
        # The room still works for the one who stayed.
        await stayer.send("still here")
        while json.loads(await asyncio.wait_for(stayer.recv(), 5))["text"] != "still here":
            pass
    finally:
        drainer.cancel()
        await stayer.close()
    return connected


def test_chat_under_uvicorn(chat_server: str) -> None:
    base_url = chat_server
    ws_url = base_url.replace("http://", "ws://")
    started = time.monotonic()

    async def main() -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
            baseline = (await http.get("/_stats")).json()
            assert baseline["rooms"] == {}
            page = await http.get("/")
            assert page.status_code == 200 and "new WebSocket" in page.text

            chat_started = time.monotonic()
            received, events = await chat(ws_url, http)
            elapsed = time.monotonic() - chat_started

            total = CLIENTS * MESSAGES_EACH
            reference = received[0]
            assert len(reference) == total
            for i, got in enumerate(received):
                assert got == reference, f"client {i} saw a different order"
            for i in range(CLIENTS):
                texts = [text for user, text in reference if user == f"c{i}"]
                assert texts == [f"{i}:{k}" for k in range(MESSAGES_EACH)]
            assert [(e["user"], e["text"]) for e in events] == reference

            settled = (
                await http.get("/_settle", params={"tasks": baseline["tasks"], "chat": CLIENTS})
            ).json()
            assert settled["rooms"] == {}
            assert settled["teardowns"] == {"chat": CLIENTS, "feed": 1}
            assert settled["tasks"] == baseline["tasks"], "tasks were left on the server"

            connected = await random_leavers(ws_url, seed=20240611)
            settled = (
                await http.get(
                    "/_settle", params={"tasks": baseline["tasks"], "chat": CLIENTS + connected}
                )
            ).json()
            assert settled["rooms"] == {}
            assert settled["teardowns"]["chat"] == CLIENTS + connected
            assert settled["tasks"] == baseline["tasks"], "tasks were left on the server"
            return {"deliveries_per_s": total * (CLIENTS + 1) / elapsed}

    result = asyncio.run(main())
    print(f"\nchat through the hub: {result['deliveries_per_s']:.0f} deliveries/s")
    assert time.monotonic() - started < 30


def test_the_docs_tests_pass_against_the_docs_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "chat_app.py").write_text(doc_block("chat_app.py"), "utf-8")
    (tmp_path / "test_chat.py").write_text(doc_block("test_chat.py"), "utf-8")
    modules: dict[str, ModuleType] = {}
    for name in ("chat_app", "test_chat"):
        spec = importlib.util.spec_from_file_location(name, tmp_path / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, module)
        spec.loader.exec_module(module)
        modules[name] = module
    tests = [
        getattr(modules["test_chat"], n) for n in dir(modules["test_chat"]) if n.startswith("test_")
    ]
    assert len(tests) == 3
    for test in tests:
        test()


def test_the_docs_lifespan_and_after_response_snippets_are_valid_python() -> None:
    text = DOC.read_text(encoding="utf-8")
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        compile(textwrap.dedent(block), "docs/realtime.md", "exec")
