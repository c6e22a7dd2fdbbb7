"""A hub shared by every process through Redis: pub/sub for fan-out, Streams for replay.

``pip install erlen[redis]``. :class:`RedisHub` is used like :class:`erlen.hub.Hub`
(``join``, ``leave``, ``publish``, ``subscribe``, ``events``, ``event_stream``),
and a message published in one worker process reaches the room's members in all
of them::

    from erlen.contrib.redis_hub import RedisHub

    hub = RedisHub.from_url("redis://localhost:6379/0", prefix="myapp:hub:")
    # or: hub = RedisHub(); hub.init_app(app)   (HUB_REDIS_URL or REDIS_URL)

How it works:

* ``publish`` runs one Lua script: ``XADD`` to the room's stream (capped at
  ``history`` entries, ``MAXLEN``) and ``PUBLISH`` of the entry's id and JSON
  payload on the room's channel, atomically, so every process sees one order and
  the stream id is the event id (monotonic per room, the same in every process).
* Each process has one listener, on a thread and event loop of its own, that
  subscribes to the channels of the rooms with local members and hands messages
  to them (on whichever loop each member lives). When the connection drops (Redis
  restarted) it reconnects with bounded exponential backoff, resubscribes, and
  catches up from the streams on what was published meanwhile, skipping what it
  had already delivered: members that stay connected miss nothing the history
  still holds.
* Publishing and replay use ``redis.asyncio`` on the caller's loop (one client per
  loop), or a sync client for :meth:`RedisHub.publish_sync`. While Redis is down
  they fail within ``timeout`` with :class:`~erlen.hub.HubUnavailable` (a 503).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError
from redis.retry import Retry

from erlen.hub import BaseHub, HubEvent, HubUnavailable, Overflow, Replay

from . import LoopLocal, close_per_loop

if TYPE_CHECKING:
    from erlen import Erlen

logger = logging.getLogger("erlen.hub")

_ID = re.compile(r"(\d{1,20})-(\d{1,20})")

# KEYS[1]: the room's stream, whose name is also its channel.
# ARGV: history length, JSON payload, time to live in ms (0: none).
_PUBLISH = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'd', ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
local receivers = redis.call('PUBLISH', KEYS[1], id .. '\\n' .. ARGV[2])
return {id, receivers}
"""

# KEYS[1]: the room's stream. ARGV: the client's last id ('' for none), time to live in ms.
# Returns {position, status, entries}: status is 'fresh', 'ok' or 'reset'.
_REPLAY = """
local key = KEYS[1]
local since = ARGV[1]
if redis.call('EXISTS', key) == 0 then
  -- A position marker (no 'd' field, never delivered), so that the position handed
  -- out now stays valid until the history moves past it.
  local id = redis.call('XADD', key, '*', 'p', '')
  if tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', key, ARGV[2]) end
  if since == '' then return {id, 'fresh', {}} end
  return {id, 'reset', {}}
end
local info = redis.call('XINFO', 'STREAM', key)
local last = '0-0'
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last = info[i + 1] break end
end
if since == '' then return {last, 'fresh', {}} end
if since == last then return {last, 'ok', {}} end
if #redis.call('XRANGE', key, since, since) == 0 then return {last, 'reset', {}} end
return {last, 'ok', redis.call('XRANGE', key, '(' .. since, '+')}
"""

#: Reconnection delays of the listener: doubled after each failure, from the first to the last.
BACKOFF = (0.05, 2.0)


def _key(event_id: str) -> tuple[int, int] | None:
    match = _ID.fullmatch(event_id)
    if match is None:
        return None
    return int(match[1]), int(match[2])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Script:
    """A Lua script run by its SHA1, loaded again when Redis lost its script cache."""

    def __init__(self, source: str) -> None:
        import hashlib

        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def run_async(self, client: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:  # a restarted Redis has an empty script cache
            return await client.eval(self.source, len(keys), *keys, *args)

    def run(self, client: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return client.eval(self.source, len(keys), *keys, *args)


_PUBLISH_SCRIPT = _Script(_PUBLISH)
_REPLAY_SCRIPT = _Script(_REPLAY)


class RedisHub(BaseHub):
    """A hub whose rooms are Redis channels and streams, shared by every process.

    ``url`` is a Redis URL (or set by :meth:`init_app` from the app's config);
    ``prefix`` starts every channel and stream name; ``history`` entries are
    kept per room (``history_ttl`` seconds after the room's last message, or
    for ever with ``None``). ``timeout`` bounds every Redis call a request
    waits for. Messages are sent as JSON. ``client_options`` go to
    ``redis.from_url`` (by default no retries: a failure is reported at once).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str | None = None,
        history: int | None = None,
        history_ttl: float | None = 86400.0,
        maxsize: int = 1024,
        overflow: Overflow = "disconnect",
        timeout: float = 5.0,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(maxsize=maxsize, overflow=overflow)
        if history is not None and history < 1:
            raise ValueError("A RedisHub keeps a history of at least 1 event per room.")
        if timeout <= 0:
            raise ValueError("timeout must be positive.")
        self.url = url
        self.prefix = prefix if prefix is not None else "erlen:hub:"
        self.history_size = history if history is not None else 100
        # What init_app() may take from the app's config (arguments given here win).
        self._from_config = {
            name for name, value in (("prefix", prefix), ("history", history)) if value is None
        }
        self.history_ttl = history_ttl
        self.timeout = timeout
        self.client_options = dict(client_options or {})
        self._clients: LoopLocal[Any] = LoopLocal(self._async_client)
        self._sync_client: Any = None
        self._sync_pid = 0
        self._listener: _Listener | None = None
        self._setup_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisHub:
        """Return a hub on the Redis at ``url`` (keyword arguments as for the constructor)."""
        return cls(url, **options)

    def init_app(self, app: Erlen) -> None:
        """Take settings not given to the constructor from ``app.config``; close at shutdown.

        ``HUB_REDIS_URL`` (else ``REDIS_URL``), ``HUB_REDIS_PREFIX``, ``HUB_HISTORY``.
        """
        config = app.config
        if self.url is None:
            self.url = config.get("HUB_REDIS_URL") or config.get("REDIS_URL")
            if not self.url:
                raise RuntimeError("RedisHub needs a URL: set HUB_REDIS_URL or REDIS_URL.")
        if "prefix" in self._from_config and "HUB_REDIS_PREFIX" in config:
            self.prefix = str(config["HUB_REDIS_PREFIX"])
        if "history" in self._from_config and "HUB_HISTORY" in config:
            self.history_size = max(1, int(config["HUB_HISTORY"]))
        super().init_app(app)

    # -- connections --------------------------------------------------------------------------

    def _url(self) -> str:
        if not self.url:
            raise RuntimeError("RedisHub has no URL: pass one, or call init_app(app).")
        return self.url

    def _options(self, retry: Any) -> dict[str, Any]:
        options: dict[str, Any] = {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            "retry": retry,
        }
        options.update(self.client_options)
        return options

    def _async_client(self) -> Any:
        return redis.asyncio.from_url(self._url(), **self._options(AsyncRetry(NoBackoff(), 0)))

    def _sync(self) -> Any:
        with self._setup_lock:
            if self._sync_client is None or self._sync_pid != os.getpid():
                self._sync_client = redis.Redis.from_url(
                    self._url(), **self._options(Retry(NoBackoff(), 0))
                )
                self._sync_pid = os.getpid()
            return self._sync_client

    def _get_listener(self) -> _Listener:
        with self._setup_lock:
            listener = self._listener
            if listener is None or not listener.usable():
                listener = self._listener = _Listener(self)
            return listener

    def channel(self, room: str) -> str:
        """Return the name of ``room``'s channel, which is also its stream's key."""
        return self.prefix + room

    def _unavailable(self, action: str, error: BaseException) -> HubUnavailable:
        detail = str(error) or type(error).__name__
        logger.warning("Redis hub: cannot %s: %s", action, detail)
        return HubUnavailable(f"The message hub cannot {action} right now; try again shortly.")

    def _ttl(self) -> int:
        return 0 if not self.history_ttl else max(1, int(self.history_ttl * 1000))

    @staticmethod
    def _encode(message: Any) -> str:
        try:
            return json.dumps(message, separators=(",", ":"))
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"RedisHub sends messages as JSON; {type(message).__name__} is not: {e}"
            ) from e

    # -- publishing -----------------------------------------------------------------------------

    async def publish(self, room: str, message: Any) -> int:
        """Send ``message`` to the members of ``room`` in every process; return how many
        processes listen to the room. Raise :class:`HubUnavailable` when Redis cannot be reached."""
        payload = self._encode(message)
        args = [self.history_size, payload, self._ttl()]
        try:
            client = self._clients.get()
            result = await asyncio.wait_for(
                _PUBLISH_SCRIPT.run_async(client, [self.channel(room)], args), self.timeout
            )
        except (RedisError, OSError, asyncio.TimeoutError) as e:
            raise self._unavailable(f"publish to room {room!r}", e) from e
        return int(result[1])

    def publish_sync(self, room: str, message: Any) -> int:
        """Publish from sync code (a sync view on either door) with a sync client."""
        payload = self._encode(message)
        args = [self.history_size, payload, self._ttl()]
        try:
            result = _PUBLISH_SCRIPT.run(self._sync(), [self.channel(room)], args)
        except (RedisError, OSError) as e:
            raise self._unavailable(f"publish to room {room!r}", e) from e
        return int(result[1])

    # -- history --------------------------------------------------------------------------------

    def event_key(self, event_id: str) -> tuple[int, int] | None:
        """Return ``(milliseconds, sequence)`` of a Redis stream id, else ``None``."""
        return _key(event_id)

    async def replay(self, room: str, last_event_id: str | None) -> Replay:
        """Return the events of ``room``'s stream after ``last_event_id``."""
        valid = last_event_id is None or _key(last_event_id) is not None
        since = last_event_id if last_event_id is not None and valid else ""
        try:
            client = self._clients.get()
            position, status, entries = await asyncio.wait_for(
                _REPLAY_SCRIPT.run_async(client, [self.channel(room)], [since, self._ttl()]),
                self.timeout,
            )
        except (RedisError, OSError, asyncio.TimeoutError) as e:
            raise self._unavailable(f"read the history of room {room!r}", e) from e
        status = _text(status)
        if not valid:
            status = "reset"
        events = self._events(room, entries) if status == "ok" else []
        return Replay(events, _text(position), status == "reset")

    async def history(self, room: str, limit: int | None = None) -> list[HubEvent]:
        """Return the newest ``limit`` (default: all kept) events of ``room``, oldest first."""
        if limit is not None and limit <= 0:
            return []
        try:
            client = self._clients.get()
            entries = await asyncio.wait_for(
                client.xrevrange(self.channel(room), count=limit), self.timeout
            )
        except (RedisError, OSError, asyncio.TimeoutError) as e:
            raise self._unavailable(f"read the history of room {room!r}", e) from e
        return self._events(room, reversed(entries))

    @staticmethod
    def _events(room: str, entries: Any) -> list[HubEvent]:
        """Decode stream entries; position markers (entries without data) are left out."""
        events = []
        for event_id, fields in entries:
            if isinstance(fields, (list, tuple)):  # from a script: a flat list
                fields = dict(zip(fields[::2], fields[1::2], strict=True))
            data = fields.get(b"d")
            if data is not None:
                events.append(HubEvent(_text(event_id), room, json.loads(data)))
        return events

    # -- rooms ----------------------------------------------------------------------------------

    async def room_opened(self, room: str) -> None:
        """Subscribe this process to ``room``'s channel; wait until Redis confirmed it."""
        try:
            future = self._get_listener().want(room)
        except RuntimeError:  # the listener stopped in between: start another one
            future = self._get_listener().want(room)
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except (asyncio.TimeoutError, RedisError, OSError, RuntimeError) as e:
            raise self._unavailable(f"subscribe to room {room!r}", e) from e

    async def room_closed(self, room: str) -> None:
        """Unsubscribe this process from ``room``'s channel (in the background)."""
        listener = self._listener
        if listener is not None:
            listener.unwant(room)

    # -- shutdown -------------------------------------------------------------------------------

    def _stop_listener(self) -> _Listener | None:
        with self._setup_lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
        return listener

    async def aclose(self) -> None:
        """Stop the listener and close the connections of this loop and the sync client."""
        listener = self._stop_listener()
        if listener is not None:
            await asyncio.get_running_loop().run_in_executor(None, listener.join, self.timeout + 1)
        client = self._clients.peek()
        if client is not None:
            self._clients.discard(asyncio.get_running_loop())
            await client.aclose()
        self._close_sync()

    def close(self) -> None:
        """Stop the listener and close every loop's connections (from sync code)."""
        listener = self._stop_listener()
        if listener is not None:
            listener.join(self.timeout + 1)
        close_per_loop(self._clients, _aclose_client)
        self._close_sync()

    def _close_sync(self) -> None:
        with self._setup_lock:
            client, self._sync_client = self._sync_client, None
        if client is not None:
            client.close()


async def _aclose_client(client: Any) -> None:
    await client.aclose()


class _Listener:
    """This process's subscriptions to its rooms' channels, on a thread and loop of its own.

    A thread of its own, because members may live on any loop: under WSGI each worker
    thread runs async code on its own loop, which only runs while that thread serves a
    request. Messages are handed to the hub's :meth:`~erlen.hub.BaseHub.deliver`,
    which wakes each member on its loop.
    """

    def __init__(self, hub: RedisHub) -> None:
        self.hub = hub
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.stopping = False
        self.connected = False
        self.pubsub: Any = None
        self.client: Any = None
        self.task: asyncio.Task[None] | None = None
        #: Rooms whose subscription Redis confirmed on the current connection.
        self.confirmed: set[str] = set()
        #: Subscribe confirmations still expected, per room.
        self.pending: dict[str, int] = {}
        self.waiters: dict[str, list[concurrent.futures.Future[None]]] = {}
        #: Per room, the id of the last event delivered here (or where the subscription began):
        #: after a reconnection the stream is read from there, and older messages are skipped.
        self.after: dict[str, str] = {}
        self.base: dict[str, str] = {}
        self.wake = asyncio.Event()
        #: Failed connection attempts since the last success.
        self.failures = 0
        self.tasks: set[asyncio.Task[Any]] = set()
        self.thread = threading.Thread(target=self._main, name="erlen-redis-hub", daemon=True)
        self.thread.start()

    # -- the hub's side (any thread) ------------------------------------------------------------

    def usable(self) -> bool:
        return not self.stopping and self.pid == os.getpid() and self.thread.is_alive()

    def want(self, room: str) -> concurrent.futures.Future[None]:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.loop.call_soon_threadsafe(self._want, room, future)
        return future

    def unwant(self, room: str) -> None:
        try:
            self.loop.call_soon_threadsafe(self._unwant, room)
        except RuntimeError:  # stopped
            pass

    def stop(self) -> None:
        self.stopping = True
        try:
            self.loop.call_soon_threadsafe(self._cancel)
        except RuntimeError:
            pass

    def join(self, timeout: float) -> None:
        if self.thread is not threading.current_thread():
            self.thread.join(timeout)

    # -- the listener's loop --------------------------------------------------------------------

    def _main(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            self.task = loop.create_task(self._run())
            try:
                loop.run_until_complete(self.task)
            except asyncio.CancelledError:
                pass
            loop.run_until_complete(asyncio.wait_for(self._close(), self.hub.timeout))
        except Exception:  # pragma: no cover - closing a broken connection
            logger.debug("Redis hub: error while closing the listener", exc_info=True)
        finally:
            for future_list in self.waiters.values():
                for future in future_list:
                    _fail(future, RuntimeError("The Redis hub listener stopped."))
            loop.close()

    def _cancel(self) -> None:
        self.wake.set()
        if self.task is not None:
            self.task.cancel()

    def _spawn(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _want(self, room: str, future: concurrent.futures.Future[None]) -> None:
        if room in self.confirmed:
            _resolve(future)
            return
        self.waiters.setdefault(room, []).append(future)
        if self.connected and not self.pending.get(room):
            self.pending[room] = 1
            self._spawn(self._subscribe(room))
        self.wake.set()

    def _unwant(self, room: str) -> None:
        if room in self.hub.rooms():
            return  # a member joined again meanwhile
        waiting = [f for f in self.waiters.pop(room, ()) if not f.done()]
        if waiting:
            self.waiters[room] = waiting
            return
        self.after.pop(room, None)
        self.base.pop(room, None)
        if room in self.confirmed:
            self.confirmed.discard(room)
            if self.connected:
                self._spawn(self._unsubscribe(room))

    async def _subscribe(self, room: str) -> None:
        try:
            if room not in self.after:
                self.base[room] = await self._newest(room)
            await self.pubsub.subscribe(self.hub.channel(room))
        except Exception as e:
            # The listening loop sees the broken connection too, and reconnects.
            logger.debug("Redis hub: subscribing to %r failed: %s", room, e)

    async def _unsubscribe(self, room: str) -> None:
        try:
            await self.pubsub.unsubscribe(self.hub.channel(room))
        except Exception as e:
            logger.debug("Redis hub: unsubscribing from %r failed: %s", room, e)

    async def _newest(self, room: str) -> str:
        entries = await self.client.xrevrange(self.hub.channel(room), count=1)
        return _text(entries[0][0]) if entries else "0-0"

    async def _run(self) -> None:
        delay = BACKOFF[0]
        while not self.stopping:
            for room in list(self.waiters):
                if room not in self.hub.rooms():
                    self._unwant(room)
            if not self.hub.rooms() and not self.waiters:
                self.wake.clear()
                await self.wake.wait()
                continue
            try:
                await self._session()
            except (RedisError, OSError, asyncio.TimeoutError) as e:
                if self.stopping:
                    return
                self.failures += 1
                # One warning per outage, then quieter (a line every 2 s would flood the log).
                logger.log(
                    logging.WARNING if self.failures == 1 else logging.DEBUG,
                    "Redis hub: connection lost (%s); reconnecting in %.2fs (attempt %d)",
                    str(e) or type(e).__name__,
                    delay,
                    self.failures,
                )
                await self._drop()
                try:
                    await asyncio.wait_for(self._stopped(), delay)
                except asyncio.TimeoutError:
                    pass
                delay = min(delay * 2, BACKOFF[1])
            else:
                delay = BACKOFF[0]
            finally:
                self.connected = False

    async def _stopped(self) -> None:
        while not self.stopping:
            self.wake.clear()
            await self.wake.wait()

    async def _drop(self) -> None:
        self.connected = False
        self.confirmed.clear()
        self.pending.clear()
        pubsub, self.pubsub = self.pubsub, None
        if pubsub is not None:
            try:
                await asyncio.wait_for(pubsub.aclose(), 1.0)
            except Exception:
                pass

    async def _close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await self._drop()
        if self.client is not None:
            await self.client.aclose()

    async def _session(self) -> None:
        """Connect, subscribe to every room, catch up, then hand messages out until stopped."""
        hub = self.hub
        if self.client is None:
            self.client = hub._async_client()
        loop = asyncio.get_running_loop()
        pubsub = self.pubsub = self.client.pubsub()
        self.confirmed.clear()
        self.pending.clear()
        rooms = set(hub.rooms()) | set(self.waiters)
        for room in rooms:
            if room not in self.after:
                self.base[room] = await self._newest(room)
        await pubsub.subscribe(*(hub.channel(room) for room in rooms))
        waiting = set(rooms)
        early: list[dict[str, Any]] = []
        deadline = loop.time() + hub.timeout
        while waiting:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise asyncio.TimeoutError("Redis did not confirm the subscriptions")
            message = await pubsub.get_message(timeout=remaining)
            if message is None:
                continue
            if message["type"] == "subscribe":
                room = self._room(message["channel"])
                waiting.discard(room)
                self.confirmed.add(room)
            else:
                early.append(message)
        for room in rooms:
            if room in self.after:
                await self._catch_up(room)
            else:
                self.after[room] = self.base.pop(room, "0-0")
        self.connected = True
        if self.failures:
            logger.warning("Redis hub: reconnected after %d attempts", self.failures)
            self.failures = 0
        for room in rooms:
            self._confirm(room)
        for message in early:
            self._handle(message)
        # Rooms joined or left while this was under way.
        for room in set(hub.rooms()) | set(self.waiters):
            if room not in self.confirmed and not self.pending.get(room):
                self.pending[room] = 1
                self._spawn(self._subscribe(room))
        for room in list(self.confirmed):
            self._unwant(room)
        await self._listen(pubsub)

    async def _listen(self, pubsub: Any) -> None:
        loop = asyncio.get_running_loop()
        timeout = self.hub.timeout
        heard = loop.time()
        pinged: float | None = None
        while not self.stopping:
            message = await pubsub.get_message(timeout=min(1.0, timeout))
            now = loop.time()
            if message is not None:
                heard = now
                pinged = None
                self._handle(message)
                continue
            if not pubsub.subscribed:
                heard = now
                continue
            if pinged is not None:
                if now - pinged > timeout:
                    raise asyncio.TimeoutError("Redis did not answer a ping")
            elif now - heard > timeout:
                pinged = now
                await pubsub.ping()

    def _room(self, channel: Any) -> str:
        return _text(channel)[len(self.hub.prefix) :]

    def _confirm(self, room: str) -> None:
        if room not in self.hub.rooms() and room not in self.waiters:
            return
        self.confirmed.add(room)
        for future in self.waiters.pop(room, ()):
            _resolve(future)

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "subscribe":
            room = self._room(message["channel"])
            count = self.pending.get(room, 0) - 1
            if count > 0:
                self.pending[room] = count
                return
            self.pending.pop(room, None)
            if room in self.hub.rooms() or room in self.waiters:
                self.after.setdefault(room, self.base.pop(room, "0-0"))
                self._confirm(room)
            else:
                self.confirmed.add(room)
                self._unwant(room)
            return
        if kind != "message":
            return
        room = self._room(message["channel"])
        event_id, _, payload = bytes(message["data"]).partition(b"\n")
        self._deliver(room, event_id.decode(), payload)

    def _deliver(self, room: str, event_id: str, payload: bytes) -> None:
        key = _key(event_id)
        after = self.after.get(room)
        if key is None or room not in self.after:
            return  # not one of ours, or a room no longer listened to
        if after is not None:
            seen = _key(after)
            if seen is not None and key <= seen:
                return  # delivered already (caught up from the stream)
        self.after[room] = event_id
        try:
            data = json.loads(payload)
        except ValueError:
            logger.warning("Redis hub: a message on room %r is not JSON; dropped", room)
            return
        self.hub.deliver(room, data, event_id)

    async def _catch_up(self, room: str) -> None:
        """Deliver what the room's stream got while this process was not listening."""
        after = self.after[room]
        key = self.hub.channel(room)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.xrange(key, min="(" + after)
            pipe.xrange(key, count=1)
            pipe.xlen(key)
            entries, first, length = await pipe.execute()
        start = _key(after)
        if (
            first
            and start is not None
            and start > (0, 0)
            and (_key(_text(first[0][0])) or (0, 0)) > start
            and length >= self.hub.history_size
        ):
            newest = _text(entries[-1][0]) if entries else _text(first[0][0])
            logger.warning(
                "Redis hub: room %r lost events while Redis was unreachable"
                " (more than its history of %d); replaying members are reset",
                room,
                self.hub.history_size,
            )
            self.hub.deliver_reset(room, newest)
        for event_id, fields in entries:
            if b"d" in fields:
                self._deliver(room, _text(event_id), fields[b"d"])


def _resolve(future: concurrent.futures.Future[None]) -> None:
    try:
        if not future.done():
            future.set_result(None)
    except concurrent.futures.InvalidStateError:  # cancelled in between
        pass


def _fail(future: concurrent.futures.Future[None], error: BaseException) -> None:
    try:
        if not future.done():
            future.set_exception(error)
    except concurrent.futures.InvalidStateError:
        pass


__all__ = ["BACKOFF", "RedisHub"]
