"""Broadcast to rooms of WebSockets and subscribers.

:class:`Hub` fans messages out inside one process. :class:`BaseHub` holds the
local fan-out (rooms, members, bounded per-member queues); a subclass decides
how a published message reaches the processes that have members in a room, so
a Redis-backed hub only has to implement :meth:`BaseHub.publish` and the two
room hooks (see ``docs/realtime.md``).

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
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .websocket import WebSocket

Overflow = Literal["disconnect", "drop_oldest", "drop_newest"]
_POLICIES = ("disconnect", "drop_oldest", "drop_newest")

#: The close code sent to a WebSocket that fell too far behind ("try again later").
TRY_AGAIN_LATER = 1013

logger = logging.getLogger("erlen.hub")


def _unwrap(target: Any) -> Any:
    """Return the connection behind the ``websocket`` proxy (one proxy serves them all)."""
    get = getattr(target, "_get_current_object", None)
    return target if get is None else get()


class HubOverflow(Exception):
    """A member fell ``maxsize`` messages behind and was removed from its rooms."""


class _Closed(Exception):
    pass


class Subscription:
    """A member's bounded queue of messages from one or more rooms.

    Use it as ``async with hub.subscribe("room") as messages: async for m in
    messages: ...``; leaving the block leaves the rooms. Iterating without
    ``async with`` joins on the first iteration; call :meth:`close` when done.
    """

    __slots__ = (
        "_closed",
        "_error",
        "_hub",
        "_items",
        "_joined",
        "_waiter",
        "dropped",
        "maxsize",
        "rooms",
    )

    def __init__(self, hub: BaseHub, rooms: Iterable[str], maxsize: int) -> None:
        self._hub = hub
        self._items: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._closed = False
        self._joined = False
        #: The rooms this subscription listens to.
        self.rooms: set[str] = set(rooms)
        #: How many messages have been queued at most.
        self.maxsize = maxsize
        #: How many messages were discarded by a ``drop_*`` overflow policy.
        self.dropped = 0

    # -- the hub's side (synchronous, never blocks) ------------------------------------

    def _put(self, message: Any) -> None:
        if self._closed:
            return
        items = self._items
        if len(items) >= self.maxsize:
            policy = self._hub.overflow
            self.dropped += 1
            if policy == "drop_newest":
                return
            if policy == "drop_oldest":
                items.popleft()
            else:
                self._hub._evict(self)
                items.clear()
                self._end(
                    HubOverflow(
                        f"A hub member fell {self.maxsize} messages behind; it was removed."
                    )
                )
                return
        items.append(message)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _end(self, error: BaseException | None) -> None:
        if self._closed:
            return
        self._closed = True
        self._error = error
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the subscriber's side ------------------------------------------------------------

    async def get(self) -> Any:
        """Wait for the next message; raise :class:`HubOverflow` if this member was evicted."""
        if not self._joined:
            await self._join()
        items = self._items
        while not items:
            if self._closed:
                if self._error is not None:
                    raise self._error
                raise _Closed()
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        return items.popleft()

    def get_nowait(self) -> Any:
        """Return a queued message; raise ``LookupError`` when none is queued."""
        if not self._items:
            raise LookupError("No message is queued.")
        return self._items.popleft()

    def qsize(self) -> int:
        """Return the number of queued messages."""
        return len(self._items)

    async def _join(self) -> None:
        self._joined = True
        await self._hub._add(self)

    async def close(self) -> None:
        """Leave the rooms and end iteration."""
        self._end(None)
        self._items.clear()
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
    process with members in the room, where it must call :meth:`deliver`.
    It may override :meth:`room_opened` / :meth:`room_closed`, called when the
    first member of a room joins in this process and when the last one leaves
    (a Redis hub subscribes and unsubscribes the room's channel there).
    """

    def __init__(self, maxsize: int = 1024, overflow: Overflow = "disconnect") -> None:
        if overflow not in _POLICIES:
            raise ValueError(f"overflow must be one of {_POLICIES}, not {overflow!r}.")
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1.")
        self.maxsize = maxsize
        self.overflow: Overflow = overflow
        self._rooms: dict[str, dict[Subscription, None]] = {}
        self._targets: dict[Any, Subscription] = {}
        self._pumps: dict[Subscription, asyncio.Task[None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: set[asyncio.Future[None]] = set()

    # -- the interface a backend implements -----------------------------------------------

    @abstractmethod
    async def publish(self, room: str, message: Any) -> int:
        """Send ``message`` to every member of ``room``; return how many receivers took it."""

    async def room_opened(self, room: str) -> None:
        """Called when this process gets its first member in ``room``."""
        return None

    async def room_closed(self, room: str) -> None:
        """Called when the last member of ``room`` in this process leaves."""
        return None

    # -- members ----------------------------------------------------------------------------

    def subscribe(self, *rooms: str, maxsize: int | None = None) -> Subscription:
        """Return a subscription to ``rooms`` (an async context manager and iterator)."""
        if not rooms:
            raise TypeError("subscribe() needs at least one room.")
        return Subscription(self, rooms, maxsize or self.maxsize)

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
            await self._add(sub)
        elif room not in sub.rooms:
            sub.rooms.add(room)
            await self._add(sub, (room,))

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
        return list(self._rooms)

    def deliver(self, room: str, message: Any) -> int:
        """Queue ``message`` for every local member of ``room``; return how many."""
        members = self._rooms.get(room)
        if not members:
            return 0
        # A snapshot: an overflowing member is evicted while we iterate.
        for sub in tuple(members):
            sub._put(message)
        return len(members)

    # -- internals ----------------------------------------------------------------------------

    async def _add(self, sub: Subscription, rooms: Iterable[str] | None = None) -> None:
        if not self._rooms or self._loop is None or self._loop.is_closed():
            # The members' loop: where deliver() must run (see Hub.publish).
            self._loop = asyncio.get_running_loop()
        for room in sub.rooms if rooms is None else rooms:
            members = self._rooms.get(room)
            if members is None:
                members = self._rooms[room] = {}
                members[sub] = None
                await self.room_opened(room)
            else:
                members[sub] = None

    async def _remove(self, sub: Subscription) -> None:
        await self._discard(sub, tuple(sub.rooms))

    async def _discard(self, sub: Subscription, rooms: Iterable[str]) -> None:
        for room in rooms:
            members = self._rooms.get(room)
            if members is None or sub not in members:
                continue
            del members[sub]
            if not members:
                del self._rooms[room]
                await self.room_closed(room)

    def _evict(self, sub: Subscription) -> None:
        """Remove an overflowing member at once (from the synchronous delivery path)."""
        for room in sub.rooms:
            members = self._rooms.get(room)
            if members is not None:
                members.pop(sub, None)
                if not members:
                    del self._rooms[room]
                    task = asyncio.ensure_future(self.room_closed(room))
                    self._closing.add(task)
                    task.add_done_callback(self._closing.discard)
        sub.rooms = set()

    async def _leave_all(self, target: Any) -> None:
        sub = self._targets.pop(target, None)
        if sub is None:
            return
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


class Hub(BaseHub):
    """Broadcast within this process (one event loop)."""

    async def publish(self, room: str, message: Any) -> int:
        """Queue ``message`` for every member of ``room``; return how many members got it."""
        loop = self._loop
        if loop is not None and loop is not asyncio.get_running_loop() and not loop.is_closed():
            # Published on another loop (another thread): deliver on the members' loop.
            loop.call_soon_threadsafe(self.deliver, room, message)
            return self.members(room)
        return self.deliver(room, message)


__all__ = ["BaseHub", "Hub", "HubOverflow", "Subscription"]
