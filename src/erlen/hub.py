"""Broadcast to rooms of WebSockets and subscribers, with event ids and a replayable history.

:class:`Hub` fans messages out inside one process. :class:`BaseHub` holds the
local fan-out (rooms, members, bounded per-member queues); a subclass decides
how a published message reaches the processes that have members in a room, so
a cross-process hub (:class:`erlen.contrib.redis_hub.RedisHub`) only implements
:meth:`BaseHub.publish`, the two room hooks and, for replay, :meth:`BaseHub.replay`
(see ``docs/realtime.md``).

Every published message gets an id, increasing within its room. A hub keeps a
bounded history per room, so that :meth:`BaseHub.events` can give a client that
comes back with the id it saw last (an ``EventSource``'s ``Last-Event-ID``)
what it missed, and :meth:`BaseHub.event_stream` turns that into a server-sent
event stream.

Members may live on different event loops and threads (the WSGI door runs
async code on one loop per worker thread): delivery takes the hub's lock and
wakes each member on its own loop, so all members see messages in one order.

Every member has its own bounded queue, and delivery never waits for a member:
a slow client cannot hold up the others. When a member's queue is full the
hub's ``overflow`` policy decides what happens:

``"disconnect"`` (default)
    The member is removed from all its rooms and its queue is discarded: a
    WebSocket is closed with code 1013 (try again later), a subscription raises
    :class:`HubOverflow`. Every member thus sees every message in order, or
    knows that it did not.
``"drop_oldest"``
    The oldest queued message is discarded to make room (latest state wins).
``"drop_newest"``
    The new message is discarded for that member.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from werkzeug.exceptions import ServiceUnavailable

from .concurrency import run_coroutine_sync

if TYPE_CHECKING:
    from .app import Erlen
    from .sse import EventSourceResponse
    from .websocket import WebSocket

#: What a subscription does when its queue is full: close the subscriber, or drop a message.
Overflow = Literal["disconnect", "drop_oldest", "drop_newest"]
_POLICIES = ("disconnect", "drop_oldest", "drop_newest")

#: The close code sent to a WebSocket that fell too far behind ("try again later").
TRY_AGAIN_LATER = 1013

logger = logging.getLogger("erlen.hub")

_UNSET: Any = object()


def _unwrap(target: Any) -> Any:
    """Return the connection behind the ``websocket`` proxy (one proxy serves them all)."""
    get = getattr(target, "_get_current_object", None)
    return target if get is None else get()


class HubEvent(NamedTuple):
    """A message as a room's members receive it.

    ``id`` increases within the room (``None`` from a backend without ids);
    ``reset`` marks the event :meth:`BaseHub.events` yields instead of a replay
    when the client's last id is no longer in the history (``data`` is ``None``).
    """

    id: str | None
    room: str
    data: Any
    reset: bool = False


class Replay(NamedTuple):
    """What a hub's history holds after a client's last event id.

    ``events`` are the missed events, oldest first; ``position`` is the id of
    the newest event in the room at the time (the client is up to date once it
    has seen the events); ``reset`` says the client's id was not found (too old,
    from another hub, or malformed), so ``events`` cannot be trusted to be all.
    """

    events: list[HubEvent]
    position: str | None
    reset: bool


class HubOverflow(Exception):
    """A member fell ``maxsize`` messages behind and was removed from its rooms."""


class HubUnavailable(ServiceUnavailable):
    """The hub's backend (such as Redis) cannot be reached; a request that meets it gets a 503."""

    def __init__(self, description: str) -> None:
        super().__init__(description)


class _Closed(Exception):
    pass


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _wake_from_anywhere(waiter: asyncio.Future[None], same_thread: bool) -> None:
    """Wake ``waiter`` on its own loop, from this thread or another."""
    if waiter.done():
        return
    if same_thread:
        waiter.set_result(None)
        return
    try:
        waiter.get_loop().call_soon_threadsafe(_wake, waiter)
    except RuntimeError:  # its loop is closed: nobody waits any more
        pass


def _wake_all(waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)


def _wake_remote(waiters: list[asyncio.Future[None]]) -> None:
    """Wake waiters of other threads' loops: one call per loop (each call writes to a pipe)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for waiter in waiters:
        by_loop.setdefault(waiter.get_loop(), []).append(waiter)
    for loop, group in by_loop.items():
        try:
            loop.call_soon_threadsafe(_wake_all, group)
        except RuntimeError:  # its loop is closed: nobody waits any more
            pass


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Subscription:
    """A member's bounded queue of messages from one or more rooms.

    Use it as ``async with hub.subscribe("room") as messages: async for m in
    messages: ...``; leaving the block leaves the rooms. Iterating without
    ``async with`` joins on the first iteration; call :meth:`close` when done.
    A subscription made by :meth:`BaseHub.events` yields :class:`HubEvent`
    objects, replayed ones first; one made by :meth:`BaseHub.subscribe` yields
    the messages themselves.
    """

    __slots__ = (
        "_after",
        "_closed",
        "_error",
        "_events",
        "_front",
        "_hub",
        "_items",
        "_joined",
        "_last_event_id",
        "_loop",
        "_thread",
        "_waiter",
        "dropped",
        "maxsize",
        "position",
        "replayed",
        "reset",
        "rooms",
    )

    def __init__(
        self,
        hub: BaseHub,
        rooms: Iterable[str],
        maxsize: int,
        events: bool = False,
        last_event_id: str | None = None,
    ) -> None:
        self._hub = hub
        self._items: deque[HubEvent] = deque()
        self._front: deque[HubEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0  # the thread of the member's loop
        self._error: BaseException | None = None
        self._closed = False
        self._joined = False
        self._events = events
        self._last_event_id = last_event_id or None
        # Events at or before this key were replayed or are older than the client's state.
        self._after: Any = None
        #: The rooms this subscription listens to.
        self.rooms: set[str] = set(rooms)
        #: How many messages have been queued at most.
        self.maxsize = maxsize
        #: How many messages were discarded by a ``drop_*`` overflow policy.
        self.dropped = 0
        #: For :meth:`BaseHub.events`: the id the client is at once the replay is done.
        self.position: str | None = None
        #: For :meth:`BaseHub.events`: how many events were replayed.
        self.replayed = 0
        #: For :meth:`BaseHub.events`: the client's last id was not in the history.
        self.reset = False

    # -- the hub's side (under the hub's lock, from any thread; never blocks) -----------------

    def _put(self, event: HubEvent, thread: int) -> asyncio.Future[None] | None:
        """Queue ``event``; return the waiter to wake from another thread, if any."""
        if self._closed:
            return None
        items = self._items
        if len(items) >= self.maxsize:
            policy = self._hub.overflow
            self.dropped += 1
            if policy == "drop_newest":
                return None
            if policy == "drop_oldest":
                items.popleft()
            else:
                self._hub._evict(self)
                items.clear()
                self._end(
                    HubOverflow(
                        f"A hub member fell {self.maxsize} messages behind; it was removed.",
                    ),
                )
                return None
        items.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            # PERF: a loop runs on one thread, so comparing thread ids tells whether the
            # waiter's loop is ours; asyncio.get_running_loop() per delivery (a getpid()
            # system call) halved the hub's throughput in our measurements.
            if thread != self._thread:
                return waiter
            waiter.set_result(None)
        return None

    def _end(self, error: BaseException | None) -> None:
        if self._closed:
            return
        self._closed = True
        self._error = error
        waiter = self._waiter
        if waiter is not None:
            _wake_from_anywhere(waiter, threading.get_ident() == self._thread)

    def _skip(self, event: HubEvent) -> bool:
        """Whether a live event is one the client already has (replayed, or before a reset)."""
        if event.reset:
            if not self._events:
                return True
            self._after = self._hub.event_key(event.id) if event.id is not None else None
            return False
        after = self._after
        if after is None:
            return False
        key = self._hub.event_key(event.id) if event.id is not None else None
        if key is not None and key <= after:
            return True
        self._after = None  # ids increase: nothing later can be a duplicate
        return False

    def _take(self) -> Any:
        """Return the next item to hand out, or ``_UNSET`` when none is queued."""
        if not self._events:
            # A plain member: never a replay, a reset or a duplicate to skip.
            return self._items.popleft().data if self._items else _UNSET
        if self._front:
            return self._front.popleft()
        items = self._items
        while items:
            event = items.popleft()
            if not self._skip(event):
                return event if self._events else event.data
        return _UNSET

    # -- the subscriber's side ------------------------------------------------------------

    async def get(self) -> Any:
        """Wait for the next message; raise :class:`HubOverflow` if this member was evicted."""
        if not self._joined:
            await self._join()
        elif not self._events:
            # PERF: a plain member with a message queued takes it without the lock
            # (deque.popleft is atomic; only this consumer pops, but for overflow).
            try:
                return self._items.popleft().data
            except IndexError:
                pass
        lock = self._hub._lock
        while True:
            with lock:
                item = self._take()
                if item is not _UNSET:
                    return item
                if self._closed:
                    if self._error is not None:
                        raise self._error
                    raise _Closed()
                loop = self._loop
                if loop is None or self._thread != threading.get_ident():
                    loop = asyncio.get_running_loop()
                waiter = self._waiter = loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None

    def get_nowait(self) -> Any:
        """Return a queued message; raise ``LookupError`` when none is queued."""
        with self._hub._lock:
            item = self._take()
        if item is _UNSET:
            raise LookupError("No message is queued.")
        return item

    def qsize(self) -> int:
        """Return the number of queued messages."""
        return len(self._front) + len(self._items)

    async def _join(self) -> None:
        self._joined = True
        await self._hub._add(self)
        if not self._events:
            return
        (room,) = self.rooms
        try:
            replay = await self._hub.replay(room, self._last_event_id)
        except BaseException:
            await self.close()
            raise
        self.position = replay.position
        if replay.position is not None:
            self._after = self._hub.event_key(replay.position)
        if replay.reset:
            self.reset = True
            self._front.append(HubEvent(replay.position, room, None, reset=True))
        else:
            self._front.extend(replay.events)
            self.replayed = len(replay.events)

    async def close(self) -> None:
        """Leave the rooms and end iteration."""
        with self._hub._lock:
            self._end(None)
            self._items.clear()
            self._front.clear()
        if self._joined:
            self._joined = False
            await self._hub._remove(self)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.get()
        except _Closed:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Subscription:
        if not self._joined:
            await self._join()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class BaseHub(ABC):
    """Rooms of local members with bounded queues; subclasses carry messages between processes.

    A subclass implements :meth:`publish` so that the message reaches every
    process with members in the room, where it must call :meth:`deliver` with
    the message's id. It may override :meth:`room_opened` / :meth:`room_closed`,
    called when the first member of a room joins in this process and when the
    last one leaves (a Redis hub subscribes and unsubscribes the room's channel
    there), and :meth:`replay`, :meth:`history` and :meth:`event_key` when it
    keeps a history.
    """

    def __init__(self, maxsize: int = 1024, overflow: Overflow = "disconnect") -> None:
        if overflow not in _POLICIES:
            raise ValueError(f"overflow must be one of {_POLICIES}, not {overflow!r}.")
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1.")
        self.maxsize = maxsize
        self.overflow: Overflow = overflow
        # Guards rooms and every member's queue: members may live on several loops and threads.
        self._lock = threading.RLock()
        self._rooms: dict[str, dict[Subscription, None]] = {}
        # Rooms whose room_opened() is under way: later joiners wait for it too.
        self._opening: dict[str, concurrent.futures.Future[None]] = {}
        self._targets: dict[Any, Subscription] = {}
        self._pumps: dict[Subscription, asyncio.Task[None]] = {}
        self._closing: set[asyncio.Future[None]] = set()

    # -- the interface a backend implements -----------------------------------------------

    @abstractmethod
    async def publish(self, room: str, message: Any) -> int:
        """Send ``message`` to every member of ``room``; return how many receivers took it."""

    def publish_sync(self, room: str, message: Any) -> int:
        """Publish from sync code (a sync view, on either door); return what :meth:`publish` does.

        The default runs :meth:`publish` with
        :func:`~erlen.concurrency.run_coroutine_sync`: on the server's loop when
        called from a worker thread of an ASGI server, else on this thread's loop.
        """
        return run_coroutine_sync(self.publish(room, message))

    async def room_opened(self, room: str) -> None:
        """Called when this process gets its first member in ``room``."""
        return None

    async def room_closed(self, room: str) -> None:
        """Called when the last member of ``room`` in this process leaves."""
        return None

    async def replay(self, room: str, last_event_id: str | None) -> Replay:
        """Return the events of ``room`` after ``last_event_id`` (``None``: the position only).

        The default keeps no history: a client that sends an id gets a reset.
        """
        return Replay([], None, last_event_id is not None)

    async def history(self, room: str, limit: int | None = None) -> list[HubEvent]:
        """Return the newest ``limit`` (default: all kept) events of ``room``, oldest first."""
        return []

    def event_key(self, event_id: str) -> Any:
        """Return a key that orders this hub's ids within a room, or ``None`` for a foreign id."""
        return None

    async def aclose(self) -> None:
        """Release the backend's connections (at server shutdown); the hub can be used again."""
        return None

    def close(self) -> None:
        """Release the backend's connections from sync code (scripts, tests)."""
        return None

    def init_app(self, app: Erlen) -> None:
        """Close the hub's connections when ``app``'s server shuts down (ASGI lifespan)."""
        app.after_serving(self.aclose)

    # -- members ----------------------------------------------------------------------------

    def subscribe(self, *rooms: str, maxsize: int | None = None) -> Subscription:
        """Return a subscription to ``rooms`` (an async context manager and iterator)."""
        if not rooms:
            raise TypeError("subscribe() needs at least one room.")
        return Subscription(self, rooms, maxsize or self.maxsize)

    def events(
        self, room: str, last_event_id: str | None = None, maxsize: int | None = None
    ) -> Subscription:
        """Return a subscription to ``room`` that yields :class:`HubEvent` objects.

        With ``last_event_id`` (what a reconnecting client saw last, such as
        :func:`erlen.sse.last_event_id`), the events the room's history holds
        after it come first, then live ones, without gap or duplicate: the
        subscription joins the room before it reads the history and skips live
        events it already replayed. When the id is no longer in the history (or
        is not this hub's) the first event has ``reset=True`` instead: the
        client missed more than the history keeps and must reload its state.
        """
        if not isinstance(room, str):
            raise TypeError("events() takes one room name.")
        return Subscription(
            self, (room,), maxsize or self.maxsize, events=True, last_event_id=last_event_id
        )

    def event_stream(
        self,
        room: str,
        *,
        event: str | None = None,
        last_event_id: str | None = _UNSET,
        ready: str | None = "ready",
        reset: str = "reset",
        retry: int | None = None,
        ping: float | None = 15.0,
        maxsize: int | None = None,
    ) -> EventSourceResponse:
        """Return an ``EventSourceResponse`` of ``room``'s messages that survives reconnects.

        Each message is sent with its ``id`` (and as event ``event``, default
        unnamed). A client that reconnects with ``Last-Event-ID`` (read from the
        request unless given) first gets what it missed. Once live, the stream
        sends a ``ready`` event (empty data) that carries the current position
        as its id; ``ready=None`` sends the id alone, which a page does not see.
        A client further behind than the history gets a ``reset`` event instead
        (reload the page's state). A member that falls ``maxsize`` messages
        behind is disconnected, and its browser reconnects and catches up. While
        the backend is unavailable the stream ends at once, and the browser retries.
        """
        from .sse import EventSourceResponse, ServerSentEvent
        from .sse import last_event_id as header

        since = header() if last_event_id is _UNSET else last_event_id

        def position(sub: Subscription) -> ServerSentEvent | None:
            if ready is not None:
                return ServerSentEvent("", event=ready, id=sub.position, retry=retry)
            if sub.position is None and retry is None:
                return None
            return ServerSentEvent(id=sub.position, retry=retry)

        async def stream() -> AsyncIterator[ServerSentEvent]:
            try:
                async with self.events(room, since, maxsize) as sub:
                    pending = sub.replayed
                    if not pending and not sub.reset:
                        first = position(sub)
                        if first is not None:
                            yield first
                    async for item in sub:
                        if item.reset:
                            yield ServerSentEvent("", event=reset, id=item.id, retry=retry)
                            continue
                        yield ServerSentEvent(item.data, event=event, id=item.id)
                        if pending:
                            pending -= 1
                            if not pending:
                                after = position(sub)
                                if after is not None:
                                    yield after
            except HubOverflow:
                return  # the browser reconnects and catches up from its last id
            except HubUnavailable:
                # End the stream (a 200) rather than fail it: EventSource retries after a
                # dropped stream, but gives up for good after an error status.
                yield ServerSentEvent(comment="the hub is unavailable; retrying", retry=retry)

        return EventSourceResponse(stream(), ping=ping)

    async def join(self, room: str, target: WebSocket | asyncio.Queue[Any]) -> None:
        """Add a WebSocket or an ``asyncio.Queue`` to ``room``.

        A WebSocket gets the room's messages through ``websocket.send`` (``str``
        as text, ``bytes`` as binary, anything else as JSON) and leaves its
        rooms when the connection ends. A queue gets them in order; while it is
        full, messages wait in the member's bounded queue (``overflow`` applies).
        """
        target = _unwrap(target)
        sub = self._targets.get(target)
        if sub is None:
            sub = Subscription(self, (room,), self.maxsize)
            sub._joined = True
            self._targets[target] = sub
            if isinstance(target, asyncio.Queue):
                self._pumps[sub] = asyncio.ensure_future(self._feed_queue(sub, target))
            else:
                self._pumps[sub] = asyncio.ensure_future(self._feed_socket(sub, target))
                target.call_on_close(lambda: self._leave_all(target))
            try:
                await self._add(sub)
            except BaseException:
                await self._leave_all(target)
                raise
        elif room not in sub.rooms:
            sub.rooms.add(room)
            try:
                await self._add(sub, (room,))
            except BaseException:
                sub.rooms.discard(room)
                raise

    async def leave(self, room: str, target: WebSocket | asyncio.Queue[Any]) -> None:
        """Remove a WebSocket or queue from ``room`` (a no-op when it is not a member)."""
        target = _unwrap(target)
        sub = self._targets.get(target)
        if sub is None or room not in sub.rooms:
            return
        sub.rooms.discard(room)
        await self._discard(sub, (room,))
        if not sub.rooms:
            await self._leave_all(target)

    def members(self, room: str) -> int:
        """Return the number of members of ``room`` in this process."""
        return len(self._rooms.get(room, ()))

    def rooms(self) -> list[str]:
        """Return the rooms with members in this process."""
        with self._lock:
            return list(self._rooms)

    def deliver(self, room: str, message: Any, id: str | None = None) -> int:
        """Queue ``message`` (with its ``id``) for every local member of ``room``; return how many.

        Safe from any thread: each member is woken on its own loop.
        """
        if room not in self._rooms:
            return 0
        return self._deliver_event(room, HubEvent(id, room, message))

    def _deliver_event(self, room: str, event: HubEvent) -> int:
        thread = threading.get_ident()
        remote: list[asyncio.Future[None]] | None = None
        with self._lock:
            members = self._rooms.get(room)
            if not members:
                return 0
            count = len(members)
            # A snapshot: an overflowing member is evicted while we iterate.
            for sub in tuple(members):
                waiter = sub._put(event, thread)
                if waiter is not None:
                    if remote is None:
                        remote = []
                    remote.append(waiter)
        if remote is not None:
            _wake_remote(remote)
        return count

    def deliver_reset(self, room: str, id: str | None) -> int:
        """Tell the local :meth:`events` members of ``room`` that they missed events.

        A backend calls it when it finds a gap it cannot fill (its history was
        trimmed past what this process saw); plain members are not told.
        """
        members = self._rooms.get(room)
        if not members:
            return 0
        event = HubEvent(id, room, None, reset=True)
        thread = threading.get_ident()
        remote = []
        with self._lock:
            targets = [sub for sub in self._rooms.get(room, ()) if sub._events]
            for sub in targets:
                waiter = sub._put(event, thread)
                if waiter is not None:
                    remote.append(waiter)
        _wake_remote(remote)
        return len(targets)

    # -- internals ----------------------------------------------------------------------------

    async def _add(self, sub: Subscription, rooms: Iterable[str] | None = None) -> None:
        sub._loop = asyncio.get_running_loop()
        sub._thread = threading.get_ident()
        rooms = tuple(sub.rooms if rooms is None else rooms)
        opened: list[tuple[str, concurrent.futures.Future[None]]] = []
        waits: list[concurrent.futures.Future[None]] = []
        with self._lock:
            for room in rooms:
                members = self._rooms.get(room)
                if members is None:
                    self._rooms[room] = {sub: None}
                    future: concurrent.futures.Future[None] = concurrent.futures.Future()
                    self._opening[room] = future
                    opened.append((room, future))
                else:
                    members[sub] = None
                    pending = self._opening.get(room)
                    if pending is not None:
                        waits.append(pending)
        try:
            for room, future in opened:
                try:
                    await self.room_opened(room)
                except BaseException as e:
                    future.set_exception(e)
                    raise
                else:
                    future.set_result(None)
                finally:
                    with self._lock:
                        if self._opening.get(room) is future:
                            del self._opening[room]
            for pending in waits:
                # Another member is opening the room: it is ours once that is done.
                await asyncio.wrap_future(pending)
        except BaseException:
            await self._discard(sub, rooms)
            raise

    async def _remove(self, sub: Subscription) -> None:
        await self._discard(sub, tuple(sub.rooms))

    async def _discard(self, sub: Subscription, rooms: Iterable[str]) -> None:
        closed: list[str] = []
        with self._lock:
            for room in rooms:
                members = self._rooms.get(room)
                if members is None or sub not in members:
                    continue
                del members[sub]
                if not members:
                    del self._rooms[room]
                    closed.append(room)
        for room in closed:
            await self.room_closed(room)

    def _evict(self, sub: Subscription) -> None:
        """Remove an overflowing member at once (from the delivery path, under the lock)."""
        running = _running_loop()
        for room in sub.rooms:
            members = self._rooms.get(room)
            if members is not None:
                members.pop(sub, None)
                if not members:
                    del self._rooms[room]
                    self._schedule_room_closed(room, sub._loop, running)
        sub.rooms = set()

    def _schedule_room_closed(self, room: str, loop: Any, running: Any) -> None:
        def start() -> None:
            task = asyncio.ensure_future(self.room_closed(room))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

        if loop is None or loop is running:
            if running is not None:
                start()
            return
        try:
            loop.call_soon_threadsafe(start)
        except RuntimeError:  # the member's loop is closed
            pass

    async def _leave_all(self, target: Any) -> None:
        sub = self._targets.pop(target, None)
        if sub is None:
            return
        with self._lock:
            sub._end(None)
        await self._remove(sub)
        sub.rooms = set()
        pump = self._pumps.pop(sub, None)
        if pump is not None and pump is not asyncio.current_task() and not pump.done():
            pump.cancel()
            # wait() does not raise the pump's CancelledError, only our own.
            await asyncio.wait((pump,))

    async def _feed_socket(self, sub: Subscription, ws: WebSocket) -> None:
        from .websocket import WebSocketDisconnect

        try:
            while True:
                message = await sub.get()
                await ws.send(message)
        except _Closed:
            pass
        except WebSocketDisconnect:
            pass
        except HubOverflow:
            await ws.close(TRY_AGAIN_LATER, "Too slow: messages were not read in time.")
        finally:
            self._pumps.pop(sub, None)
            if self._targets.get(ws) is sub:
                del self._targets[ws]
                await self._remove(sub)

    async def _feed_queue(self, sub: Subscription, queue: asyncio.Queue[Any]) -> None:
        try:
            while True:
                message = await sub.get()
                await queue.put(message)
        except (_Closed, HubOverflow):
            pass
        finally:
            self._pumps.pop(sub, None)
            if self._targets.get(queue) is sub:
                del self._targets[queue]
                await self._remove(sub)


class _RoomHistory:
    __slots__ = ("events", "floor")

    def __init__(self, floor: int, size: int) -> None:
        self.events: deque[tuple[int, HubEvent]] = deque(maxlen=size or None)
        # The newest sequence number this room may have lost: ids at or after it are exact.
        self.floor = floor


class Hub(BaseHub):
    """Broadcast within this process, keeping the last ``history`` events of each room.

    Ids are ``<hub>.<n>``: ``n`` counts every message this hub published, and
    ``<hub>`` differs per hub object, so an id from another process (or from
    before a restart) is recognised as foreign and answered with a reset.
    ``history=0`` keeps none; at most ``history_rooms`` rooms keep a history
    (the least recently published one is forgotten first).
    """

    def __init__(
        self,
        maxsize: int = 1024,
        overflow: Overflow = "disconnect",
        history: int = 100,
        history_rooms: int = 10_000,
    ) -> None:
        super().__init__(maxsize=maxsize, overflow=overflow)
        if history < 0 or history_rooms < 1:
            raise ValueError("history must be at least 0 and history_rooms at least 1.")
        self.history_size = history
        self.history_rooms = history_rooms
        self._epoch = f"{time.time_ns() // 1_000_000:x}{os.urandom(3).hex()}"
        self._seq = 0
        self._histories: OrderedDict[str, _RoomHistory] = OrderedDict()
        # Rooms without a history may have lost everything up to here.
        self._forgotten = 0

    def _emit(self, room: str, message: Any) -> int:
        with self._lock:
            self._seq = seq = self._seq + 1
            event = HubEvent(f"{self._epoch}.{seq}", room, message)
            size = self.history_size
            histories = self._histories
            record = histories.get(room)
            if record is None:
                record = histories[room] = _RoomHistory(self._forgotten, size)
                if len(histories) > self.history_rooms:
                    histories.popitem(last=False)
                    self._forgotten = seq - 1
            else:
                histories.move_to_end(room)
            if size == 0:
                record.floor = seq
            else:
                if len(record.events) == size:
                    record.floor = record.events[0][0]
                record.events.append((seq, event))
            if room not in self._rooms:
                return 0
            return self._deliver_event(room, event)

    async def publish(self, room: str, message: Any) -> int:
        """Queue ``message`` for every member of ``room``; return how many members got it."""
        return self._emit(room, message)

    def publish_sync(self, room: str, message: Any) -> int:
        """Publish from sync code, on any thread; the same as :meth:`publish`."""
        return self._emit(room, message)

    def event_key(self, event_id: str) -> int | None:
        """Return the sequence number of one of this hub's ids, else ``None``."""
        epoch, _, seq = event_id.rpartition(".")
        if epoch != self._epoch or not seq.isdigit() or len(seq) > 20:
            return None
        return int(seq)

    async def replay(self, room: str, last_event_id: str | None) -> Replay:
        """Return the kept events of ``room`` after ``last_event_id``."""
        with self._lock:
            position = f"{self._epoch}.{self._seq}"
            if last_event_id is None:
                return Replay([], position, False)
            seq = self.event_key(last_event_id)
            record = self._histories.get(room)
            floor = self._forgotten if record is None else record.floor
            if seq is None or seq < floor or seq > self._seq:
                return Replay([], position, True)
            events = [] if record is None else [e for n, e in record.events if n > seq]
            return Replay(events, position, False)

    async def history(self, room: str, limit: int | None = None) -> list[HubEvent]:
        """Return the newest ``limit`` kept events of ``room``, oldest first."""
        with self._lock:
            record = self._histories.get(room)
            if record is None:
                return []
            events = [e for _, e in record.events]
        return events if limit is None else events[-limit:] if limit > 0 else []


__all__ = [
    "TRY_AGAIN_LATER",
    "BaseHub",
    "Hub",
    "HubEvent",
    "HubOverflow",
    "HubUnavailable",
    "Overflow",
    "Replay",
    "Subscription",
]
