"""Event ids, the bounded history and replay of the in-memory hub; members on several loops."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from erlen import Erlen
from erlen.hub import BaseHub, Hub, HubEvent, HubUnavailable, Replay


def run(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(main(), 10))


def test_ids_increase_per_room_and_the_history_is_bounded() -> None:
    async def main() -> None:
        hub = Hub(history=3)
        for i in range(5):
            await hub.publish("a", i)
        await hub.publish("b", "other")
        events = await hub.history("a")
        assert [e.data for e in events] == [2, 3, 4]
        keys = [hub.event_key(e.id) for e in events if e.id is not None]
        assert keys == sorted(keys) and len(set(keys)) == 3
        assert [e.data for e in await hub.history("a", limit=2)] == [3, 4]
        assert await hub.history("a", limit=0) == []
        assert await hub.history("nobody") == []
        (b,) = await hub.history("b")
        assert b.room == "b" and hub.event_key(b.id) > keys[-1]  # type: ignore[arg-type, operator]

    run(main)


def test_replay_after_an_id_and_resets() -> None:
    async def main() -> None:
        hub = Hub(history=3)
        for i in range(5):
            await hub.publish("a", i)
        kept = await hub.history("a")
        fresh = await hub.replay("a", None)
        assert fresh == Replay([], kept[-1].id, False)
        # The newest id: nothing missed.
        assert await hub.replay("a", kept[-1].id) == Replay([], kept[-1].id, False)
        replay = await hub.replay("a", kept[0].id)
        assert [e.data for e in replay.events] == [3, 4] and not replay.reset
        # The newest event that fell out of the history: exactly what was kept is missed.
        replay = await hub.replay("a", _id_before(kept[0].id))
        assert [e.data for e in replay.events] == [2, 3, 4] and not replay.reset
        # One before that: the client missed an event the history no longer has.
        assert (await hub.replay("a", _id_before(_id_before(kept[0].id)))).reset
        for foreign in ("garbage", "", "x.1", f"{kept[0].id}0000000000000000000000"):
            assert (await hub.replay("a", foreign)).reset, foreign
        other = Hub()
        await other.publish("a", "x")
        assert (await hub.replay("a", (await other.history("a"))[0].id)).reset

    run(main)


def _id_before(event_id: str | None) -> str:
    assert event_id is not None
    epoch, _, seq = event_id.rpartition(".")
    return f"{epoch}.{int(seq) - 1}"


def test_a_room_never_published_to_replays_from_its_position() -> None:
    async def main() -> None:
        hub = Hub()
        await hub.publish("elsewhere", 1)
        position = (await hub.replay("quiet", None)).position
        assert position is not None
        await hub.publish("quiet", "first")
        replay = await hub.replay("quiet", position)
        assert [e.data for e in replay.events] == ["first"] and not replay.reset

    run(main)


def test_history_zero_keeps_nothing_but_an_up_to_date_client_is_not_reset() -> None:
    async def main() -> None:
        hub = Hub(history=0)
        await hub.publish("a", 1)
        position = (await hub.replay("a", None)).position
        assert await hub.history("a") == []
        assert not (await hub.replay("a", position)).reset
        await hub.publish("a", 2)
        assert (await hub.replay("a", position)).reset

    run(main)


def test_forgotten_rooms_reset_only_clients_that_may_have_missed_something() -> None:
    async def main() -> None:
        hub = Hub(history_rooms=2)
        await hub.publish("a", 1)
        old = (await hub.replay("a", None)).position
        await hub.publish("b", 1)
        await hub.publish("c", 1)  # "a" is forgotten
        assert await hub.history("a") == []
        assert (await hub.replay("a", old)).reset
        now = (await hub.replay("a", None)).position
        await hub.publish("a", 2)
        assert [e.data for e in (await hub.replay("a", now)).events] == [2]

    run(main)


def test_events_replays_then_goes_live_without_gap_or_duplicate() -> None:
    total = 2000

    async def main() -> None:
        hub = Hub(history=total, maxsize=total)
        await hub.publish("r", 0)
        (seen,) = await hub.history("r")
        published: list[int] = []

        def publisher() -> None:
            for n in range(1, total):
                hub.publish_sync("r", n)
                published.append(n)
                if n % 20 == 0:
                    time.sleep(0.001)  # pace: the subscription must land mid-stream

        thread = threading.Thread(target=publisher)
        thread.start()
        try:
            while len(published) < 50:  # subscribe while messages are flowing
                await asyncio.sleep(0.001)
            async with hub.events("r", last_event_id=seen.id) as events:
                assert not events.reset
                assert 50 <= events.replayed < total - 1, "not subscribed mid-stream"
                got = [await events.get() for _ in range(total - 1)]
                assert events.qsize() == 0
        finally:
            thread.join(5)
        assert [e.data for e in got] == list(range(1, total))
        keys = [hub.event_key(e.id) for e in got]  # type: ignore[arg-type]
        assert keys == sorted(keys)

    run(main)


def test_events_reset_when_the_client_is_further_behind_than_the_history() -> None:
    async def main() -> None:
        hub = Hub(history=2)
        await hub.publish("r", "old")
        (old,) = await hub.history("r")
        for i in range(3):
            await hub.publish("r", i)
        async with hub.events("r", last_event_id=old.id) as events:
            first = await events.get()
            assert first == HubEvent(events.position, "r", None, reset=True)
            assert events.reset and events.replayed == 0
            await hub.publish("r", "live")
            assert (await events.get()).data == "live"

    run(main)


def test_publish_sync_from_a_thread_without_a_loop_wakes_members_on_their_loops() -> None:
    """As under WSGI: a sync view publishes while async streams wait on other threads' loops."""
    hub = Hub()
    ready = threading.Barrier(3, timeout=5)
    results: dict[str, list[Any]] = {}

    def member(name: str) -> None:
        async def main() -> None:
            async with hub.subscribe("r") as sub:
                ready.wait()
                results[name] = [await asyncio.wait_for(sub.get(), 5) for _ in range(100)]

        asyncio.run(main())

    threads = [threading.Thread(target=member, args=(n,)) for n in ("one", "two")]
    for t in threads:
        t.start()
    ready.wait()
    for i in range(100):
        assert hub.publish_sync("r", i) == 2
    for t in threads:
        t.join(10)
    assert results == {"one": list(range(100)), "two": list(range(100))}


def test_two_publishing_threads_give_every_member_the_same_order() -> None:
    hub = Hub(maxsize=10_000)
    ready = threading.Barrier(4, timeout=5)
    results: dict[str, list[Any]] = {}

    def member(name: str) -> None:
        async def main() -> None:
            async with hub.events("r") as sub:
                ready.wait()
                results[name] = [(await asyncio.wait_for(sub.get(), 5)).id for _ in range(400)]

        asyncio.run(main())

    def publisher(tag: str) -> None:
        ready.wait()
        for i in range(200):
            hub.publish_sync("r", f"{tag}{i}")

    threads = [threading.Thread(target=member, args=(n,)) for n in ("one", "two")]
    threads += [threading.Thread(target=publisher, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results["one"] == results["two"]
    keys = [hub.event_key(i) for i in results["one"]]
    assert keys == sorted(keys) and len(set(keys)) == 400


class Failing(BaseHub):
    """A backend whose subscriptions fail, as a Redis hub's do while Redis is down."""

    def __init__(self) -> None:
        super().__init__()
        self.closed: list[str] = []

    async def publish(self, room: str, message: Any) -> int:
        raise HubUnavailable("down")

    async def room_opened(self, room: str) -> None:
        await asyncio.sleep(0.01)
        raise HubUnavailable("down")

    async def room_closed(self, room: str) -> None:
        self.closed.append(room)


def test_a_failed_join_leaves_no_member_behind_and_waiting_joiners_fail_too() -> None:
    async def main() -> None:
        hub = Failing()
        first, second = hub.subscribe("r"), hub.subscribe("r")
        results = await asyncio.gather(
            first.__aenter__(), second.__aenter__(), return_exceptions=True
        )
        assert all(isinstance(r, HubUnavailable) for r in results)
        assert hub.rooms() == [] and hub.members("r") == 0
        queue: asyncio.Queue[Any] = asyncio.Queue()
        with pytest.raises(HubUnavailable):
            await hub.join("r", queue)
        assert hub.rooms() == [] and hub._pumps == {} and hub._targets == {}

    run(main)


def test_a_backend_without_history_resets_returning_clients() -> None:
    async def main() -> None:
        class Plain(BaseHub):
            async def publish(self, room: str, message: Any) -> int:
                return self.deliver(room, message)

        hub = Plain()
        async with hub.events("r", last_event_id="7") as events:
            assert (await events.get()).reset
            await hub.publish("r", "x")
            assert await events.get() == HubEvent(None, "r", "x")
        async with hub.events("r") as events:
            assert events.position is None and not events.reset

    run(main)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_hub_unavailable_is_a_503(client: Callable[..., Any], kind: str) -> None:
    app = Erlen(__name__)
    hub = Failing()

    @app.post("/sync")
    def sync_view() -> str:
        hub.publish_sync("r", 1)
        return "sent"

    @app.post("/async")
    async def async_view() -> str:
        await hub.publish("r", 1)
        return "sent"

    response = client(app).post(f"/{kind}")
    assert response.status_code == 503
    assert b"down" in response.data


def test_invalid_history_settings() -> None:
    with pytest.raises(ValueError):
        Hub(history=-1)
    with pytest.raises(ValueError):
        Hub(history_rooms=0)
    with pytest.raises(TypeError):
        Hub().events(["a", "b"])  # type: ignore[arg-type]
