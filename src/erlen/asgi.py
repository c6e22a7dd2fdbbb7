"""The ASGI door (ASGI 3): ``http``, ``websocket`` and ``lifespan`` scopes.

The request body is received before dispatch, so Flask's synchronous request
API (``request.form``, ``request.get_json()``) works in sync and async views
alike: small bodies stay in memory, large ones are spooled to a temporary file,
and a declared length over ``MAX_CONTENT_LENGTH`` is answered 413 unread.
Views decorated with :func:`erlen.stream_request_body` receive it themselves.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from io import BytesIO
from typing import IO, TYPE_CHECKING, Any, TypeVar

from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from .concurrency import ThreadedIterator
from .request import Request
from .websocket import serve_websocket

if TYPE_CHECKING:
    from .app import Erlen
    from .response import Response

R = TypeVar("R", bound=Request)

#: The ASGI ``receive`` callable: awaiting it gives the next event of the connection.
Receive = Callable[[], Any]
#: The ASGI ``send`` callable: awaiting it with an event sends that event.
Send = Callable[[dict[str, Any]], Any]


class ClientGone(Exception):
    """The client disconnected while the request was being handled."""


class ASGIBody:
    """The body of an ASGI request, received from the server on demand.

    ``declared`` is the request's ``Content-Length`` (None: not declared or invalid).
    """

    __slots__ = ("_done", "_receive", "declared")

    def __init__(self, receive: Receive, declared: int | None = None) -> None:
        self._receive = receive
        self._done = False
        self.declared = declared

    async def read_all(self, max_length: int | None, spool_size: int) -> bytes | IO[bytes]:
        """Receive the whole body: in memory up to ``spool_size``, then a temporary file.

        A body in memory of exactly its declared length comes back as ``bytes``, any other
        as a file positioned at its start (a short one fails when read, as under WSGI).
        """
        declared = self.declared
        if declared is not None and max_length is not None and declared > max_length:
            raise RequestEntityTooLarge(
                f"The request body is {declared} bytes; the limit is {max_length} bytes."
            )
        chunks: list[bytes] = []
        size = 0
        spool: IO[bytes] | None = None
        receive = self._receive
        # PERF: a loop over receive() rather than ``async for chunk in self``: most
        # bodies come in one message, and an async generator costs more than that.
        while not self._done:
            chunk = self._take(await receive())
            if not chunk:
                continue
            size += len(chunk)
            if max_length is not None and size > max_length:
                if spool is not None:
                    spool.close()
                raise RequestEntityTooLarge(
                    f"The request body is over the limit of {max_length} bytes."
                )
            if spool is not None:
                spool.write(chunk)
            elif size > spool_size:
                spool = tempfile.SpooledTemporaryFile(max_size=spool_size)  # noqa: SIM115
                for c in chunks:
                    spool.write(c)
                spool.write(chunk)
                chunks = []
            else:
                chunks.append(chunk)
        if spool is not None:
            spool.seek(0)
            return spool
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if size == declared:
            return body
        return BytesIO(body)

    def _take(self, message: dict[str, Any]) -> bytes:
        """Return a received message's chunk, marking the body done after its last one."""
        if message["type"] == "http.disconnect":
            self._done = True
            raise ClientDisconnected("The client disconnected while sending the body.")
        if not message.get("more_body", False):
            self._done = True
        return message.get("body", b"")  # type: ignore[no-any-return]

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """Yield the body's chunks as they arrive."""
        receive = self._receive
        while not self._done:
            chunk = self._take(await receive())
            if chunk:
                yield chunk


#: HTTP versions (ASGI's ``http_version``) that may send a body with no Content-Length or
#: Transfer-Encoding header: there the body is received unless it is declared empty.
_BODY_WITHOUT_LENGTH = frozenset(("2", "2.0", "3", "3.0"))


def request_from_scope(request_class: type[R], scope: dict[str, Any], receive: Receive | None) -> R:
    """Build a request of ``request_class`` from an ASGI HTTP or WebSocket scope.

    The body stays with the server until :meth:`Request.receive_body`; without
    ``receive`` (a WebSocket handshake) there is none.
    """
    raw_headers = scope["headers"]
    # HTTP/1.1 announces a body with Content-Length or Transfer-Encoding; HTTP/2 and 3 may
    # send one with neither, so there the body is received unless it is declared empty.
    has_body = scope.get("http_version") in _BODY_WITHOUT_LENGTH
    # PERF: one pass over the raw headers, in C, finds what dispatch needs up front (the
    # Host header is read from the headers when asked for): about 270 instructions a header,
    # where a loop in Python cost 615, and browsers send ten or more. A repeated name keeps
    # its last value, as the request reads Content-Length.
    found = dict(raw_headers)
    length: bytes | None = found.get(b"content-length")
    if length is not None:
        has_body = length != b"0"
    if b"transfer-encoding" in found:
        has_body = True
    has_cookie = b"cookie" in found
    body = None
    if has_body and receive is not None:
        declared = None
        if length is not None:
            # Every length int() reads from bytes, it reads alike from the header's text
            # (request.content_length): the declared length, or None.
            try:
                declared = int(length)
            except ValueError:
                pass
        body = ASGIBody(receive, declared)
    client = scope.get("client")
    root_path = scope.get("root_path", "")
    path = scope["path"]
    if root_path and path.startswith(root_path):
        # ASGI puts the mount prefix in both root_path and path.
        path = path[len(root_path) :] or "/"
    server = scope.get("server")
    # PERF: by position (see Request.from_values), one argument a line, named.
    return request_class.from_values(
        scope.get("method", "GET"),  # method
        path,  # path
        scope.get("query_string", b""),  # query_string
        scope.get("scheme", "http"),  # scheme
        root_path.rstrip("/") if root_path else "",  # root_path
        None,  # headers: made from the raw pairs on first use
        raw_headers,  # raw_headers
        None,  # host: read from the headers when asked for
        tuple(server) if server else None,  # server
        client[0] if client else None,  # remote_addr
        None,  # body: received later, by Request.receive_body
        True,  # body_terminated
        body,  # body_receiver
        has_cookie,  # has_cookie_header
        None,  # environ: made from the scope when asked for
        scope,  # scope
        found,  # raw_header_map
    )


def environ_from_request(request: Request, body: IO[bytes] | None) -> dict[str, Any]:
    """Synthesize a WSGI environ for a request that came through ASGI (``body``: its input)."""
    scope = request.scope or {}
    server = request.server or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": request.root_path.encode("utf-8").decode("latin-1"),
        "PATH_INFO": request.path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": request.query_string.decode("latin-1"),
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1] or 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": request.remote_addr or "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": request.scheme,
        "wsgi.input": body or BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "asgi.scope": scope,
    }
    for key, value in request.headers.items():
        name = key.upper().replace("-", "_")
        if name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[name] = value
        else:
            name = f"HTTP_{name}"
            environ[name] = f"{environ[name]},{value}" if name in environ else value
    return environ


async def handle(app: Erlen, scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Serve one ASGI connection scope."""
    kind = scope["type"]
    if kind == "http":
        await handle_http(app, scope, receive, send)
    elif kind == "websocket":
        await serve_websocket(app, scope, receive, send)
    elif kind == "lifespan":
        await _lifespan(app, scope, receive, send)
    else:
        raise RuntimeError(f"Erlen cannot serve ASGI scope type {kind!r}.")


async def handle_http(app: Erlen, scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Serve one ASGI HTTP request (``Erlen.asgi_app`` calls this directly for HTTP scopes)."""
    ctx = app.begin_request(request_from_scope(app.request_class, scope, receive))
    request = ctx.request
    plan = ctx.plan
    assert plan is not None
    error: BaseException | None = None
    try:
        if request.body_pending and not plan.streams_body:
            try:
                await request.receive_body(app.config.get("ASGI_BODY_SPOOL_SIZE") or 1024 * 1024)
            except ClientDisconnected:
                return
        if plan.in_thread:
            response = await app.respond_in_thread(ctx)
        else:
            response = await app.respond_async(ctx)
        error = ctx.error
        extensions = scope.get("extensions")
        if extensions:
            preserve = extensions.get("erlen.preserve_context")
            if preserve is not None:
                preserve(ctx)
        try:
            status_code, headers, body, close_pending = response.outgoing_raw(request.method)
            if body is None:
                await send_stream(response, receive, send, headers)
            else:
                # PERF: a complete body is sent here, without another coroutine.
                try:
                    await send(
                        {
                            "type": "http.response.start",
                            "status": status_code,
                            "headers": headers,
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                finally:
                    if close_pending:
                        await _close_response(response)
        except Exception as e:
            # The status line is out: log through the app (as the WSGI door does)
            # and let the server abort the connection.
            app.log_exception((type(e), e, e.__traceback__))
            raise
    except BaseException as e:
        error = e
        raise
    finally:
        # PERF: popped without a coroutine when no teardown function is to be awaited.
        if not ctx.pop_unless_pending():
            await ctx.apop(error)


async def send_stream(
    response: Response,
    receive: Receive,
    send: Send,
    headers: list[tuple[bytes, bytes]],
) -> None:
    """Send a streamed response with its encoded ``headers``; the stream stops if the client disconnects."""
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": headers,
        }
    )
    await pump_until_disconnect(_pump(response, send), receive, lambda: _close_response(response))


async def pump_until_disconnect(
    pump: Coroutine[Any, Any, None],
    receive: Receive,
    close: Callable[[], Awaitable[None]],
) -> None:
    """Run ``pump`` (which sends a body) until it ends or the client disconnects.

    Either way ``close`` runs once both have stopped; the pump's error is raised
    afterwards, unless it only says that the client left (:class:`ClientGone`).
    """
    pumping = asyncio.ensure_future(pump)
    watch = asyncio.ensure_future(_watch_disconnect(receive))
    try:
        done, _ = await asyncio.wait((pumping, watch), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pumping, watch):
            if not task.done():
                task.cancel()
        await asyncio.gather(pumping, watch, return_exceptions=True)
        await close()
    if pumping in done and not pumping.cancelled():
        exc = pumping.exception()
        if exc is not None and not isinstance(exc, ClientGone):
            raise exc


async def _watch_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _pump(response: Response, send: Send) -> None:
    it = response.body_iterable
    charset = response.charset
    chunks: AsyncIterator[Any]
    if hasattr(it, "__aiter__"):
        chunks = it.__aiter__()
    elif isinstance(it, (list, tuple)):
        chunks = _iterate_list(it)
    else:
        chunks = ThreadedIterator(iter(it))
    try:
        async for chunk in chunks:
            if isinstance(chunk, str):
                chunk = chunk.encode(charset)
            if not chunk:
                continue
            try:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except OSError as e:
                raise ClientGone() from e
        try:
            await send({"type": "http.response.body", "body": b""})
        except OSError as e:  # the client left as the stream ended: nothing is lost
            raise ClientGone() from e
    finally:
        # Our own wrappers are closed here; the body itself by _close_response().
        if chunks is not it:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()


async def _iterate_list(items: list[Any] | tuple[Any, ...]) -> AsyncIterator[Any]:
    for item in items:
        yield item


async def _close_response(response: Response) -> None:
    it = response.body_iterable
    if it is not None and hasattr(it, "aclose"):
        try:
            await it.aclose()
        except RuntimeError:
            pass  # already running or closed
    try:
        response.close()
    except ValueError:
        pass  # a sync generator still executing in a worker thread


async def _lifespan(app: Erlen, scope: dict[str, Any], receive: Receive, send: Send) -> None:
    from .lifespan import serve_lifespan

    await serve_lifespan(app, receive, send)
