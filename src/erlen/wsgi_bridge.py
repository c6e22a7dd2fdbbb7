"""Serve ASGI HTTP requests through a replaced ``wsgi_app`` (WSGI middleware under ASGI).

A Flask app wraps its WSGI callable: ``app.wsgi_app = ProxyFix(app.wsgi_app)``, a
middleware that moves a prefix into ``SCRIPT_NAME``, ``DispatcherMiddleware``. When an
app has (on the instance or in a subclass), ``Erlen.asgi_app`` hands its HTTP requests
here, so they see that middleware under an ASGI server too: the body is received first,
as the ASGI door receives it; a PEP 3333 environ is made from the scope; the WSGI
callable runs in a worker thread (where the original ``wsgi_app`` serves the request as
the WSGI door does; a coroutine it runs goes to the server's loop); and its status,
headers and body go back to the server chunk by chunk, the iterable always closed.

WebSocket and lifespan scopes never come here: WSGI middleware cannot see them.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any

from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from .asgi import ASGIBody, ClientGone, Receive, Send, pump_until_disconnect
from .concurrency import ThreadedIterator, run_in_threadpool

if TYPE_CHECKING:
    from .app import Erlen

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_DEFAULT_PORTS = {"http": "80", "https": "443"}


def environ_from_scope(scope: dict[str, Any]) -> tuple[dict[str, Any], bool, int | None]:
    """Make a PEP 3333 environ (without ``wsgi.input``) from an ASGI HTTP scope.

    Return it with whether a body is to be received and its declared length.
    """
    scheme = scope.get("scheme", "http")
    root_path = scope.get("root_path", "")
    path = scope["path"]
    if root_path and path.startswith(root_path):
        # ASGI puts the mount prefix in both root_path and path (as the ASGI door reads it).
        path = path[len(root_path) :] or "/"
    http_version = scope.get("http_version", "1.1")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.get("method", "GET"),
        "SCRIPT_NAME": root_path.rstrip("/").encode("utf-8").decode("latin-1"),
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_PROTOCOL": f"HTTP/{http_version}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        # The whole body is received before the app runs: it may be read to its end.
        "wsgi.input_terminated": True,
        "asgi.scope": scope,
    }
    has_body = http_version[:1] in ("2", "3")
    declared: int | None = None
    for raw_key, raw_value in scope["headers"]:
        key = raw_key.decode("latin-1")
        value = raw_value.decode("latin-1")
        if "_" in key:
            # As gunicorn and nginx do: "X_Forwarded_For" would pass for X-Forwarded-For.
            continue
        name = key.upper().replace("-", "_")
        if name == "CONTENT_LENGTH":
            has_body = value != "0"
            declared = int(value) if value.isdigit() else None
        elif name == "TRANSFER_ENCODING":
            has_body = True
        if name not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = "HTTP_" + name
        if name in environ:
            # Repeated headers are one list, as a WSGI server gives them (cookies: "; ").
            value = environ[name] + ("; " if name == "HTTP_COOKIE" else ",") + value
        environ[name] = value
    server = scope.get("server")
    if server and server[1] is not None:
        environ["SERVER_NAME"] = server[0]
        environ["SERVER_PORT"] = str(server[1])
    else:
        # No address (a Unix socket or none given): the Host header, else localhost.
        host, _, port = environ.get("HTTP_HOST", "localhost").rpartition(":")
        if not host or not port.isdigit():
            host, port = environ.get("HTTP_HOST", "localhost"), ""
        environ["SERVER_NAME"] = host
        environ["SERVER_PORT"] = port or _DEFAULT_PORTS.get(scheme, "80")
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = client[0]
        environ["REMOTE_PORT"] = str(client[1])
    return environ, has_body, declared


class _RefusedBody(io.RawIOBase):
    """The input of a request whose body is over ``MAX_CONTENT_LENGTH``: reading raises 413.

    The app answers it as it answers any 413 (its error handlers run); a request that
    declared its length is refused by the app before it reads anything.
    """

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise RequestEntityTooLarge("The request body is over the limit.")


class _Exchange:
    """The server side of one bridged call: ``start_response``, ``write`` and sending."""

    __slots__ = ("headers", "loop", "send", "started", "status")

    def __init__(self, send: Send, loop: asyncio.AbstractEventLoop) -> None:
        self.send = send
        self.loop = loop
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.started = False

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        """PEP 3333's ``start_response``: keep the status and headers until the first chunk."""
        if exc_info is not None:
            try:
                if self.started:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise RuntimeError("start_response() was already called (without exc_info).")
        self.status = status
        self.headers = headers
        return self.write

    def write(self, data: bytes) -> None:
        """PEP 3333's ``write()`` (called in the worker thread): send ``data`` now."""
        if self.status is None:
            raise RuntimeError("write() was called before start_response().")
        if data:
            asyncio.run_coroutine_threadsafe(self.body(data), self.loop).result()

    async def body(self, chunk: bytes) -> None:
        """Send a chunk of the body, the status and headers first if they are not out yet."""
        if not isinstance(chunk, bytes):
            raise TypeError(f"A WSGI app must give bytes, not {type(chunk).__name__}.")
        if not chunk:
            return
        if not self.started:
            await self._start()
        try:
            await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
        except OSError as e:
            raise ClientGone() from e

    async def end(self) -> None:
        """End the response (sending the status and headers if no chunk did)."""
        if not self.started:
            await self._start()
        await self.send({"type": "http.response.body", "body": b""})

    async def _start(self) -> None:
        status = self.status
        if status is None:
            raise RuntimeError("The WSGI app did not call start_response().")
        code = int(status.split(None, 1)[0])
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers]
        self.started = True
        await self.send({"type": "http.response.start", "status": code, "headers": headers})


def _call(
    wsgi_app: WSGIApp, environ: dict[str, Any], start_response: Callable[..., Any]
) -> tuple[contextvars.Context, Iterable[bytes]]:
    # The iterable is iterated and closed in this same context, as a WSGI server
    # would do all of it in one thread (a contextvar set in the call is seen later).
    context = contextvars.copy_context()
    return context, context.run(wsgi_app, environ, start_response)


class _InContext:
    """Iterate a WSGI app's iterable, and close it, in the context its call ran in."""

    __slots__ = ("_context", "_it", "_iterable")

    def __init__(self, context: contextvars.Context, iterable: Iterable[bytes]) -> None:
        self._context = context
        self._iterable = iterable
        self._it: Iterator[bytes] | None = None

    def __iter__(self) -> _InContext:
        return self

    def __next__(self) -> bytes:
        return self._context.run(self._step)

    def _step(self) -> bytes:
        it = self._it
        if it is None:
            it = self._it = iter(self._iterable)
        return next(it)

    def close(self) -> None:
        # PEP 3333: close() of the iterable the app returned (not of its iterator).
        close = getattr(self._iterable, "close", None)
        if close is not None:
            self._context.run(close)


async def serve_wsgi(
    app: Erlen, wsgi_app: WSGIApp, scope: dict[str, Any], receive: Receive, send: Send
) -> None:
    """Serve one ASGI HTTP request through the WSGI callable ``wsgi_app``."""
    environ, has_body, declared = environ_from_scope(scope)
    config = app.config
    limit = config.get("MAX_CONTENT_LENGTH")
    body: IO[bytes] | io.RawIOBase
    if declared is not None and limit is not None and declared > limit:
        body = _RefusedBody()  # left unread, as the ASGI door leaves it
    elif has_body:
        try:
            received = await ASGIBody(receive, declared).read_all(
                limit, config.get("ASGI_BODY_SPOOL_SIZE") or 1024 * 1024
            )
            body = io.BytesIO(received) if isinstance(received, bytes) else received
        except RequestEntityTooLarge:
            body = _RefusedBody()
        except ClientDisconnected:
            return
    else:
        body = io.BytesIO()
    environ["wsgi.input"] = body
    extensions = scope.get("extensions")
    preserve = extensions.get("erlen.preserve_context") if extensions else None
    if preserve is not None:
        environ["erlen._preserve_context"] = preserve  # the test client's `with client:`
    out = _Exchange(send, asyncio.get_running_loop())
    try:
        try:
            context, iterable = await run_in_threadpool(
                _call,
                wsgi_app,
                environ,
                out.start_response,
                max_workers=config.get("ASGI_THREADPOOL_SIZE"),
            )
        except Exception as e:
            await _fail(app, scope, out, e)
            return
        if type(iterable) is list:
            # PERF: the WSGI door's complete body: no worker hop to iterate a list.
            try:
                for chunk in iterable:
                    await out.body(chunk)
                await out.end()
            except ClientGone:
                pass
            except Exception as e:
                await _fail(app, scope, out, e)
            return
        chunks = ThreadedIterator(_InContext(context, iterable))
        try:
            await _stream(out, chunks, receive)
        except Exception as e:
            await _fail(app, scope, out, e)
    finally:
        if preserve is None and not isinstance(body, io.BytesIO):
            body.close()  # a spooled file (a request kept for a test may still read it)


async def _stream(out: _Exchange, chunks: ThreadedIterator, receive: Receive) -> None:
    """Send the chunks until they end or the client leaves; close the iterable either way."""
    # chunks.aclose() closes the app's iterable in a worker thread.
    await pump_until_disconnect(_pump(out, chunks), receive, chunks.aclose)


async def _pump(out: _Exchange, chunks: ThreadedIterator) -> None:
    async for chunk in chunks:
        await out.body(chunk)
    await out.end()


async def _fail(app: Erlen, scope: dict[str, Any], out: _Exchange, error: Exception) -> None:
    """Log an error of the WSGI app; answer 500 if nothing was sent, else re-raise it."""
    app.logger.error(
        f"Exception on {scope.get('path', '/')} [{scope.get('method', 'GET')}] (WSGI app)",
        exc_info=(type(error), error, error.__traceback__),
    )
    if out.started:
        # The status line is out: let the server abort the connection.
        raise error
    text = b"Internal Server Error"
    await out.send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(text)).encode("latin-1")),
            ],
        }
    )
    await out.send({"type": "http.response.body", "body": text})


__all__ = ["environ_from_scope", "serve_wsgi"]
