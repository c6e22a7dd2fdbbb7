"""Server-sent events: :class:`ServerSentEvent` and :class:`EventSourceResponse`.

A view returns ``EventSourceResponse(generator)`` where the (sync or async)
generator yields :class:`ServerSentEvent` objects, strings (sent as the data
of an unnamed event) or dicts of event fields (``{"event": "tick", "data": 1}``).
Under ASGI, and under WSGI for async generators, a keep-alive comment is sent
whenever no event was sent for ``ping`` seconds, so proxies keep the connection.
The generator keeps the request context; its ``finally`` runs when the client
goes away. For a stream of a hub's room that replays what a reconnecting client
missed (``Last-Event-ID``), see :meth:`erlen.hub.BaseHub.event_stream`.
"""

from __future__ import annotations

import asyncio
import json as _json
import re
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any

from .concurrency import ThreadedIterator, run_coroutine_sync
from .globals import _cv_app, _cv_request
from .response import Response

_NEWLINES = re.compile(r"\r\n|\r|\n")
#: The keep-alive comment sent when the stream has been idle for ``ping`` seconds.
PING = b": ping\n\n"
_END: Any = object()
_FIELDS = frozenset(("data", "event", "id", "retry", "comment"))
_tasks: set[asyncio.Future[Any]] = set()


def _dumps(value: Any) -> str:
    ctx = _cv_app.get(None)
    if ctx is not None:
        return ctx.app.json.dumps(value)
    return _json.dumps(value)


class ServerSentEvent:
    """One event of an ``text/event-stream``.

    ``data`` is sent as ``data:`` lines (a ``str`` split at line breaks;
    anything else as JSON; ``None`` for no data). ``event`` names the event,
    ``id`` sets the client's last event id, ``retry`` its reconnection delay in
    milliseconds, and ``comment`` adds ``:`` lines that clients ignore.
    """

    __slots__ = ("comment", "data", "event", "id", "retry")

    def __init__(
        self,
        data: Any = None,
        event: str | None = None,
        id: str | int | None = None,
        retry: int | None = None,
        comment: str | None = None,
    ) -> None:
        if event is not None and _NEWLINES.search(event):
            raise ValueError("An event name cannot contain a line break.")
        if id is not None:
            id = str(id)
            if "\0" in id or _NEWLINES.search(id):
                raise ValueError("An event id cannot contain a line break or NUL.")
        if retry is not None and (not isinstance(retry, int) or retry < 0):
            raise ValueError("retry must be a non-negative number of milliseconds.")
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry
        self.comment = comment

    def encode(self) -> bytes:
        """Return the event in the wire format, ending with its blank line."""
        lines: list[str] = []
        if self.comment is not None:
            lines.extend(f": {line}" for line in _NEWLINES.split(self.comment))
        if self.event is not None:
            lines.append(f"event: {self.event}")
        if self.id is not None:
            lines.append(f"id: {self.id}")
        if self.retry is not None:
            lines.append(f"retry: {self.retry}")
        data = self.data
        if data is not None:
            text = data if isinstance(data, str) else _dumps(data)
            lines.extend(f"data: {line}" for line in _NEWLINES.split(text))
        lines.append("\n")
        return "\n".join(lines).encode("utf-8")

    def __str__(self) -> str:
        return self.encode().decode("utf-8")

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in ("data", "event", "id", "retry", "comment")
            if getattr(self, name) is not None
        )
        return f"ServerSentEvent({fields})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerSentEvent):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]


def encode_event(item: Any) -> bytes:
    """Encode what an event generator yielded: an event, a ``str`` or a dict of fields."""
    if isinstance(item, ServerSentEvent):
        return item.encode()
    if isinstance(item, str):
        return ServerSentEvent(item).encode()
    if isinstance(item, dict):
        unknown = item.keys() - _FIELDS
        if unknown:
            raise TypeError(
                f"A dict yielded to EventSourceResponse holds event fields (data, event, id,"
                f" retry, comment), not {sorted(unknown)!r}; send a JSON payload as"
                " ServerSentEvent(data=...)."
            )
        return ServerSentEvent(**item).encode()
    raise TypeError(
        "An event generator must yield ServerSentEvent objects, str or dicts of event"
        f" fields, not {type(item).__name__}; wrap other data as ServerSentEvent(data=...)."
    )


def last_event_id(default: str | None = None) -> str | None:
    """Return the ``Last-Event-ID`` header a reconnecting ``EventSource`` sent."""
    ctx = _cv_request.get(None)
    if ctx is None:
        raise RuntimeError("last_event_id() needs an active request context.")
    value = ctx.request.headers.get("Last-Event-ID")
    return default if value is None else value


#: How long a cancelled close still waits for the stream's source to close (seconds): a
#: blocked sync step gets half of it (erlen.concurrency.ThreadedIterator), the close the rest.
_CLOSE_WAIT = 1.0


def _keep(task: asyncio.Future[Any]) -> None:
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


def _retrieve(task: asyncio.Future[Any]) -> None:
    # A close that fails after its caller stopped waiting is not reported as unretrieved.
    if not task.cancelled():
        task.exception()


def _resolve(waiter: asyncio.Future[Any], value: Any) -> None:
    if not waiter.done():
        waiter.set_result(value)


class _EventStream:
    """Encode a generator's events, adding keep-alive comments while it is idle.

    Without keep-alives the consumer steps the generator itself. With them, a
    producer task steps it into a one-slot buffer and the consumer waits for the
    next chunk with a timer: a ping never interrupts (cancels) the generator,
    and a slow client still holds the generator back.

    On a loop, a sync generator is stepped in worker threads by a
    :class:`~erlen.concurrency.ThreadedIterator`, which also sees to closing it
    when a disconnect finds a step still running. Under WSGI it is iterated directly.
    """

    __slots__ = (
        "_ait",
        "_buffer",
        "_closed",
        "_ended",
        "_error",
        "_it",
        "_ping",
        "_producer",
        "_source",
        "_space",
        "_threaded",
        "_waiter",
    )

    def __init__(self, source: Any, ping: float | None) -> None:
        self._source = source
        self._ping = ping if ping and ping > 0 else None
        self._ait: AsyncIterator[Any] | None = None
        self._it: Iterator[Any] | None = None
        if hasattr(source, "__aiter__"):
            self._ait = source.__aiter__()
        else:
            self._it = iter(source)
        self._closed = False
        self._producer: asyncio.Future[None] | None = None
        self._buffer: deque[bytes] = deque()
        self._waiter: asyncio.Future[bytes | None] | None = None
        self._space: asyncio.Future[None] | None = None
        # A sync source's steps on a loop; made by the first one.
        self._threaded: ThreadedIterator | None = None
        self._ended = False
        self._error: BaseException | None = None

    def _stepper(self) -> ThreadedIterator:
        threaded = self._threaded
        if threaded is None:
            assert self._it is not None
            threaded = self._threaded = ThreadedIterator(self._it)
        return threaded

    async def _step(self) -> Any:
        ait = self._ait
        try:
            if ait is not None:
                return await ait.__anext__()
            # A disconnect (cancellation) does not lose track of a next() still running.
            return await self._stepper().__anext__()
        except StopAsyncIteration:
            return _END

    async def _produce(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                item = await self._step()
                if item is _END:
                    return
                chunk = encode_event(item)
                waiter = self._waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(chunk)
                else:
                    self._buffer.append(chunk)
                    space = self._space = loop.create_future()
                    await space
        except Exception as e:
            self._error = e
        finally:
            self._ended = True
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                if self._error is not None:
                    waiter.set_exception(self._error)
                else:
                    waiter.set_result(None)

    async def _next(self) -> bytes | None:
        """Return the next chunk: an event, a ping after ``ping`` idle seconds, None at the end."""
        if self._closed:
            return None
        ping = self._ping
        if ping is None:
            item = await self._step()
            return None if item is _END else encode_event(item)
        if self._producer is None:
            self._producer = asyncio.ensure_future(self._produce())
        if self._buffer:
            chunk = self._buffer.popleft()
            space = self._space
            if space is not None and not space.done():
                space.set_result(None)
            return chunk
        if self._ended:
            if self._error is not None:
                raise self._error
            return None
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bytes | None] = loop.create_future()
        self._waiter = waiter
        timer = loop.call_later(ping, _resolve, waiter, PING)
        try:
            return await waiter
        finally:
            timer.cancel()
            self._waiter = None

    # -- ASGI: iterated on the server's loop --------------------------------------------------

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._agen()

    async def _agen(self) -> AsyncIterator[bytes]:
        try:
            while True:
                chunk = await self._next()
                if chunk is None:
                    return
                yield chunk
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Stop the generator: its ``finally`` runs (after a blocked sync step returns)."""
        if self._closed:
            return
        self._closed = True
        # The close runs as a task of its own: the pump that closes us is cancelled when the
        # client's disconnect arrives, and that may be while this close is under way (the
        # pump ended on a failed send and is cleaning up).
        stopping = asyncio.ensure_future(self._stop())
        _keep(stopping)  # (referenced until it ends, even when nobody waits for it)
        stopping.add_done_callback(_retrieve)
        try:
            await asyncio.shield(stopping)
        except asyncio.CancelledError:
            # Let the close end anyway (bounded), so that the generator's finally runs
            # before what the caller does next (the request's teardown), as uncancelled.
            # Past the bound it goes on by itself (a blocked step closes when it returns).
            await asyncio.wait((stopping,), timeout=_CLOSE_WAIT)
            raise
        except BaseException:
            # The close failed: the generator must still be closed, or its finally would
            # wait for garbage collection.
            self._close_when_idle()
            raise

    async def _stop(self) -> None:
        producer = self._producer
        if producer is not None and not producer.done():
            producer.cancel()
            await asyncio.wait((producer,))
        if self._ait is not None:
            aclose = getattr(self._ait, "aclose", None)
            if aclose is not None:
                await aclose()
            return
        # A next() still running gets a moment, so that the usual quick step ends and
        # the generator closes before teardown; one that stays blocked closes it when
        # it returns. Either way in a worker thread, in the generator's context.
        await self._stepper().aclose()

    def _close_when_idle(self) -> None:
        if self._ait is not None:
            aclose = getattr(self._ait, "aclose", None)
            if aclose is not None:
                _keep(asyncio.ensure_future(aclose()))
            return
        self._stepper().close_soon()

    # -- WSGI (and get_data): iterated by a worker thread ---------------------------------------

    def __iter__(self) -> Iterator[bytes]:
        if self._ait is None:
            assert self._it is not None
            for item in self._it:
                yield encode_event(item)
            return
        while True:
            chunk = run_coroutine_sync(self._next())
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        """Close the generator from sync code (the WSGI door's close)."""
        if self._closed:
            return
        if self._ait is None and self._threaded is None:
            # Iterated here, by the server's thread: close it likewise.
            self._closed = True
            close = getattr(self._it, "close", None)
            if close is not None:
                close()
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            run_coroutine_sync(self.aclose())
        else:
            _keep(asyncio.ensure_future(self.aclose()))


class EventSourceResponse(Response):
    """A ``text/event-stream`` response streaming a (sync or async) generator's events.

    ``ping`` is the idle time in seconds after which a keep-alive comment is
    sent (``None`` or 0 disables it; sync generators under WSGI never ping).
    """

    # Werkzeug declares it per instance, Response as a ClassVar; a class default either way.
    default_mimetype = "text/event-stream"  # type: ignore[misc]

    def __init__(
        self,
        generator: Any,
        ping: float | None = 15.0,
        headers: Any = None,
        status: int | None = None,
    ) -> None:
        super().__init__(
            _EventStream(generator, ping),
            status=status,
            headers=headers,
            content_type="text/event-stream; charset=utf-8",
        )
        self.headers.setdefault("Cache-Control", "no-cache")
        self.headers.setdefault("X-Accel-Buffering", "no")


__all__ = [
    "PING",
    "EventSourceResponse",
    "ServerSentEvent",
    "encode_event",
    "last_event_id",
]
