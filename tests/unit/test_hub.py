"""The broadcast hub: rooms, members, ordering, overflow policies and the backend interface."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from erlen import Erlen
from erlen.hub import BaseHub, Hub, HubOverflow, Subscription
from erlen.websocket import WebSocketDisconnect, websocket


def run(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(main(), 10))


def drain(sub: Subscription) -> list[Any]:
    out = []
    while sub.qsize():
        out.append(sub.get_nowait())
    return out


def test_publish_reaches_every_subscriber_in_order() -> None:
    async def main() -> None:
        hub = Hub()
        async with hub.subscribe("a") as one, hub.subscribe("a", "b") as two:
            assert hub.members("a") == 2 and hub.members("b") == 1
            assert sorted(hub.rooms()) == ["a", "b"]
            for i in range(100):
                assert await hub.publish("a", i) == 2
            assert await hub.publish("b", "only two") == 1
            assert await hub.publish("nobody", "x") == 0
            assert [await one.get() for _ in range(100)] == list(range(100))
            assert drain(two) == [*range(100), "only two"]
        assert hub.rooms() == [] and hub.members("a") == 0

    run(main)


def test_iterating_a_subscription_and_closing_it() -> None:
    async def main() -> None:
        hub = Hub()
        sub = hub.subscribe("news")
        got: list[Any] = []

        async def reader() -> None:
            async for message in sub:
                got.append(message)

        task = asyncio.ensure_future(reader())
        while hub.members("news") == 0:  # the reader joins on its first iteration
            await asyncio.sleep(0)
        await hub.publish("news", 1)
        await hub.publish("news", 2)
        while len(got) < 2:
            await asyncio.sleep(0)
        await sub.close()
        await asyncio.wait_for(task, 5)
        assert got == [1, 2]
        assert hub.members("news") == 0

    run(main)


@pytest.mark.parametrize(
    ("policy", "kept", "dropped"),
    [("drop_oldest", [2, 3, 4], 2), ("drop_newest", [0, 1, 2], 2)],
)
def test_drop_policies_bound_the_queue(policy: Any, kept: list[int], dropped: int) -> None:
    async def main() -> None:
        hub = Hub(maxsize=3, overflow=policy)
        async with hub.subscribe("r") as slow, hub.subscribe("r", maxsize=10) as fast:
            for i in range(5):
                await hub.publish("r", i)
            assert drain(slow) == kept and slow.dropped == dropped
            assert drain(fast) == [0, 1, 2, 3, 4] and fast.dropped == 0
            assert hub.members("r") == 2

    run(main)


def test_disconnect_policy_evicts_only_the_slow_member() -> None:
    async def main() -> None:
        hub = Hub(maxsize=2)
        async with hub.subscribe("r") as slow, hub.subscribe("r", maxsize=100) as fast:
            for i in range(5):
                await hub.publish("r", i)
            assert hub.members("r") == 1
            with pytest.raises(HubOverflow):
                await slow.get()
            assert [await fast.get() for _ in range(5)] == [0, 1, 2, 3, 4]

    run(main)


def test_a_queue_member() -> None:
    async def main() -> None:
        hub = Hub()
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        await hub.join("r", inbox)
        await hub.join("s", inbox)
        await hub.join("r", inbox)  # joining twice is one membership
        assert hub.members("r") == 1
        await hub.publish("r", "one")
        await hub.publish("s", "two")
        assert [await inbox.get(), await inbox.get()] == ["one", "two"]
        await hub.leave("r", inbox)
        await hub.publish("r", "not delivered")
        await hub.publish("s", "three")
        assert await inbox.get() == "three"
        await hub.leave("s", inbox)
        await hub.leave("s", inbox)  # leaving twice is harmless
        assert hub.rooms() == []
        # The feeding task ended with the last room.
        assert hub._pumps == {}

    run(main)


def test_publish_from_another_thread_is_delivered_on_the_members_loop() -> None:
    async def main() -> None:
        hub = Hub()
        async with hub.subscribe("r") as sub:

            def other_thread() -> None:
                asyncio.run(hub.publish("r", "from a thread"))

            thread = threading.Thread(target=other_thread)
            thread.start()
            assert await asyncio.wait_for(sub.get(), 5) == "from a thread"
            thread.join(5)

    run(main)


def test_invalid_configuration() -> None:
    with pytest.raises(ValueError):
        Hub(overflow="block")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Hub(maxsize=0)
    with pytest.raises(TypeError):
        Hub().subscribe()


class BrokerHub(BaseHub):
    """A stand-in for a Redis hub: messages go through a broker, then each process delivers."""

    broker: list[BrokerHub]

    def __init__(self, broker: list[BrokerHub]) -> None:
        super().__init__()
        self.broker = broker
        self.channels: set[str] = set()
        self.events: list[str] = []
        broker.append(self)

    async def publish(self, room: str, message: Any) -> int:
        receivers = [hub for hub in self.broker if room in hub.channels]
        for hub in receivers:
            hub.deliver(room, message)
        return len(receivers)

    async def room_opened(self, room: str) -> None:
        self.channels.add(room)
        self.events.append(f"subscribe {room}")

    async def room_closed(self, room: str) -> None:
        self.channels.discard(room)
        self.events.append(f"unsubscribe {room}")


def test_a_backend_only_implements_publish_and_the_room_hooks() -> None:
    async def main() -> None:
        broker: list[BrokerHub] = []
        first, second = BrokerHub(broker), BrokerHub(broker)
        async with (
            first.subscribe("r") as a,
            second.subscribe("r") as b,
            second.subscribe("r") as c,
        ):
            assert await first.publish("r", "hello") == 2
            assert [await a.get(), await b.get(), await c.get()] == ["hello"] * 3
        assert first.events == ["subscribe r", "unsubscribe r"]
        assert second.events == ["subscribe r", "unsubscribe r"]

    run(main)


def chat_app(hub: Hub) -> Erlen:
    app = Erlen(__name__)
    left: list[str] = []
    app.config["left"] = left

    @app.websocket("/chat/<room>")
    async def chat(room: str) -> None:
        await websocket.accept()
        await hub.join(room, websocket)
        await websocket.send_text(f"joined {room}")  # the client waits for this before talking
        try:
            async for message in websocket:
                await hub.publish(room, message)
        finally:
            left.append(room)

    return app


def test_websockets_in_a_room_through_the_test_client() -> None:
    hub = Hub()
    app = chat_app(hub)
    client = app.test_client()
    with (
        client.websocket_connect("/chat/lobby") as ann,
        client.websocket_connect("/chat/lobby") as bob,
    ):
        assert ann.receive_text() == bob.receive_text() == "joined lobby"
        with client.websocket_connect("/chat/other") as eve:
            assert eve.receive_text() == "joined other"
            ann.send_text("hi from ann")
            assert ann.receive_text() == "hi from ann"
            assert bob.receive_text() == "hi from ann"
            bob.send_json({"from": "bob"})
            assert ann.receive_json() == {"from": "bob"}
            assert bob.receive_json() == {"from": "bob"}
            eve.send_text("eve alone")
            assert eve.receive_text() == "eve alone"
        assert hub.members("other") == 0
    assert hub.rooms() == []
    assert sorted(app.config["left"]) == ["lobby", "lobby", "other"]


def test_a_websocket_leaves_its_rooms_when_it_closes_even_without_leave() -> None:
    hub = Hub()
    app = Erlen(__name__)

    @app.websocket("/sub/<room>")
    async def sub(room: str) -> None:
        await hub.join(room, websocket)
        await hub.join("everyone", websocket)
        await websocket.send_text("joined")
        await websocket.receive()

    client = app.test_client()
    with client.websocket_connect("/sub/a") as ws:
        assert ws.receive_text() == "joined"
        assert sorted(hub.rooms()) == ["a", "everyone"]
    assert hub.rooms() == []


class SlowSocket:
    """A WebSocket stand-in whose sends block until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.sent: list[Any] = []
        self.closed: tuple[int, str] | None = None
        self.on_close: list[Any] = []

    async def send(self, message: Any) -> None:
        await self.release.wait()
        self.sent.append(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)

    def call_on_close(self, func: Any) -> Any:
        self.on_close.append(func)
        return func


def test_a_slow_websocket_is_closed_1013_and_does_not_block_others() -> None:
    async def main() -> None:
        hub = Hub(maxsize=3)
        slow = SlowSocket()
        await hub.join("r", slow)  # type: ignore[arg-type]
        async with hub.subscribe("r", maxsize=100) as fast:
            for i in range(10):
                await hub.publish("r", i)
            assert [await fast.get() for _ in range(10)] == list(range(10))
            assert hub.members("r") == 1
            slow.release.set()
            while slow.closed is None:
                await asyncio.sleep(0)
        assert slow.sent == []  # evicted before its feeder ever ran
        assert slow.closed[0] == 1013

    run(main)


def test_a_socket_that_disconnects_is_dropped_from_the_room() -> None:
    class GoneSocket(SlowSocket):
        async def send(self, message: Any) -> None:
            raise WebSocketDisconnect(1001)

    async def main() -> None:
        hub = Hub()
        gone = GoneSocket()
        await hub.join("r", gone)  # type: ignore[arg-type]
        await hub.publish("r", "x")
        while hub.members("r"):
            await asyncio.sleep(0)
        assert hub.rooms() == []

    run(main)
