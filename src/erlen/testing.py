"""Test helpers: a client that drives the app through its WSGI or ASGI door, and a CLI runner."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextvars
import functools
import importlib.metadata
import json as _json
import os
import queue
import threading
from collections.abc import Coroutine, Iterator
from contextlib import ExitStack, contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import werkzeug.test
from click.testing import CliRunner, Result
from werkzeug.datastructures import Headers
from werkzeug.test import TestResponse
from werkzeug.wrappers import Request as _WerkzeugRequest

from .concurrency import _Job, _settle, caller_thread

if TYPE_CHECKING:
    from .app import Erlen
    from .ctx import RequestContext

T = TypeVar("T")


class EnvironBuilder(werkzeug.test.EnvironBuilder):
    """Build a WSGI environ for the app, using its ``SERVER_NAME``, root and JSON provider."""

    def __init__(
        self,
        app: Erlen,
        path: str = "/",
        base_url: str | None = None,
        subdomain: str | None = None,
        url_scheme: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        if base_url is not None and (subdomain or url_scheme):
            raise AssertionError('Cannot pass "subdomain" or "url_scheme" with "base_url".')
        if base_url is None:
            http_host = app.config.get("SERVER_NAME") or "localhost"
            app_root = app.config["APPLICATION_ROOT"]
            if subdomain:
                http_host = f"{subdomain}.{http_host}"
            if url_scheme is None:
                url_scheme = app.config["PREFERRED_URL_SCHEME"]
            url = urlsplit(path)
            base_url = (
                f"{url.scheme or url_scheme}://{url.netloc or http_host}/{app_root.lstrip('/')}"
            )
            path = url.path
            if url.query:
                sep = b"?" if isinstance(url.query, bytes) else "?"
                path += sep + url.query
        self.app = app
        super().__init__(path, base_url, *args, **kwargs)

    def json_dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialize ``json=`` data with the app's JSON provider."""
        return self.app.json.dumps(obj, **kwargs)


class ErlenTestResponse(TestResponse):
    """A response returned by the test client (``status_code``, ``data``, ``json``, ``text``)."""

    json_module = _json


def _as_client_body(chunks: Any, buffered: bool | None) -> Any:
    """The body a test response is given: an iterator unless ``buffered=True`` was asked for.

    The client reads the body before it returns unless asked to stream; Flask's streams
    by default, so its responses report ``is_streamed`` until ``data`` is read.
    """
    return iter(chunks) if buffered is None else chunks


#: The scope extension under which the test client's ASGI door passes the environ keys a
#: scope has no field for (``wsgi.errors``, ``REMOTE_USER``, a test's own keys):
#: ``request.environ`` shows them, as the WSGI door's environ would.
ENVIRON_EXTENSION = "erlen.environ"

#: Environ keys the scope carries in its own fields, or that describe the server (the ASGI
#: door's own values stand for these), or that belong to the client (its Werkzeug request).
_SCOPE_KEYS = frozenset(
    (
        "REQUEST_METHOD",
        "SCRIPT_NAME",
        "PATH_INFO",
        "QUERY_STRING",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "REMOTE_ADDR",
        "REMOTE_PORT",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "wsgi.version",
        "wsgi.url_scheme",
        "wsgi.input",
        "wsgi.input_terminated",
        "wsgi.multithread",
        "wsgi.multiprocess",
        "wsgi.run_once",
        "erlen._preserve_context",
        "werkzeug.request",
    )
)


def _environ_extras(environ: dict[str, Any]) -> dict[str, Any]:
    """The keys of a test environ that an ASGI scope has no field for."""
    return {
        key: value
        for key, value in environ.items()
        if key not in _SCOPE_KEYS and not key.startswith("HTTP_")
    }


def _environ_to_scope(environ: dict[str, Any]) -> dict[str, Any]:
    headers: list[tuple[bytes, bytes]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key.replace("_", "-").lower()
        else:
            continue
        if value == "" and key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            continue
        headers.append((name.encode("latin-1"), str(value).encode("latin-1")))
    path_info = environ.get("PATH_INFO", "") or "/"
    if path_info[0] != "/":
        # ``client.get("page")``: an ASGI path always has its slash (a server takes it
        # from the request line); the WSGI door reads such a PATH_INFO with one too.
        path_info = "/" + path_info
    script_name = environ.get("SCRIPT_NAME", "")
    raw_path = (script_name + path_info).encode("latin-1")
    port = environ.get("SERVER_PORT")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": environ.get("SERVER_PROTOCOL", "HTTP/1.1").partition("/")[2] or "1.1",
        "method": environ["REQUEST_METHOD"],
        "scheme": environ.get("wsgi.url_scheme", "http"),
        "path": raw_path.decode("utf-8", "replace"),
        "raw_path": raw_path,
        "root_path": script_name.encode("latin-1").decode("utf-8", "replace"),
        "query_string": environ.get("QUERY_STRING", "").encode("latin-1"),
        "headers": headers,
        "client": (
            environ.get("REMOTE_ADDR", "127.0.0.1"),
            int(environ.get("REMOTE_PORT", 0) or 0),
        ),
        "server": (environ.get("SERVER_NAME", "localhost"), int(port) if port else 80),
        "extensions": {ENVIRON_EXTENSION: _environ_extras(environ)},
    }


async def run_asgi_http(
    app: Any, scope: dict[str, Any], body: bytes, chunk_size: int = 65536
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Send one HTTP request to an ASGI app in-process; return status, headers and body."""
    chunks = [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)] or [b""]
    index = 0
    done = asyncio.Event()
    status = 500
    headers: list[tuple[bytes, bytes]] = []
    out: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal index
        if index < len(chunks):
            chunk = chunks[index]
            index += 1
            return {"type": "http.request", "body": chunk, "more_body": index < len(chunks)}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            out.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    try:
        await app(scope, receive, send)
    finally:
        done.set()
    return status, headers, b"".join(out)


class _LoopThread:
    """An event loop in a daemon thread: runs apps for streamed responses and WebSockets.

    One loop serves every client, so connections opened by a test share it
    (a hub broadcasting between them works as it does under a real server).
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="erlen-test-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def alive(self) -> bool:
        """Whether the loop's thread still runs (an exception that escapes the loop ends it)."""
        return self._thread.is_alive()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run a coroutine on the loop, in a fresh context."""
        return contextvars.Context().run(asyncio.run_coroutine_threadsafe, coro, self.loop)

    def call(self, func: Any, *args: Any) -> None:
        """Call ``func(*args)`` on the loop thread."""
        self.loop.call_soon_threadsafe(func, *args)

    def stop(self) -> None:
        """Cancel what is still running, stop the loop and close it."""
        if self.loop.is_closed():
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.submit(cancel_all()).result(5)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()


_loop_thread: _LoopThread | None = None
_loop_lock = threading.Lock()


def _background_loop() -> _LoopThread:
    global _loop_thread
    with _loop_lock:
        if (
            _loop_thread is None
            or _loop_thread.loop.is_closed()
            or _loop_thread.pid != os.getpid()
            or not _loop_thread.alive()
        ):
            _loop_thread = _LoopThread()
            atexit.register(_loop_thread.stop)
        return _loop_thread


_DONE: Any = object()


class _Channel:
    """Messages from an app running on the background loop to the test thread."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.messages: queue.Queue[Any] = queue.Queue()
        self.future: concurrent.futures.Future[None] | None = None
        #: Set by the runner when the app call has returned (or raised).
        self.ended = threading.Event()

    def get(self) -> Any:
        try:
            return self.messages.get(timeout=self.timeout)
        except queue.Empty:
            raise TimeoutError(f"The app sent nothing within {self.timeout} seconds.") from None

    async def run(self, call: Coroutine[Any, Any, None]) -> None:
        """Await the app call; always report its end."""
        try:
            await call
        finally:
            self.ended.set()
            self.messages.put(_DONE)

    def finish(self) -> bool:
        """Wait for the app to return; cancel it after the timeout. True if it ended by itself."""
        future = self.future
        if future is None:
            return True
        if self.ended.wait(self.timeout):
            return True
        future.cancel()
        # The cancelled future resolves at once; wait for the app's own cleanup.
        self.ended.wait(self.timeout)
        return False

    def raise_app_error(self) -> None:
        future = self.future
        if future is not None and future.done() and not future.cancelled():
            error = future.exception()
            if error is not None:
                raise error


class _CallerThread:
    """Run an ASGI call on the background loop while its blocking calls run on this thread.

    The WSGI door runs a sync view on the test's own thread; so does the ASGI door,
    through :data:`erlen.concurrency.caller_thread` (as asgiref's thread-sensitive mode
    does for Django's test client): what a test set up bound to its thread (an in-memory
    SQLite database, a ``check_same_thread`` connection, thread-locals) is what the view
    sees. One call at a time: a blocking call made while this thread is busy (a coroutine
    the view waits for that calls back into a thread), or after the ASGI call returned,
    goes to the worker pool as usual.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._open = True
        self._taken = 0  # jobs queued or running

    def _take(
        self,
        loop: asyncio.AbstractEventLoop,
        context: contextvars.Context,
        func: Any,
        args: tuple[Any, ...],
    ) -> asyncio.Future[Any] | None:
        with self._lock:
            if not self._open or self._taken:
                return None
            self._taken += 1
        future = loop.create_future()
        self._jobs.put(_Job(context, func, args, future, loop))
        return future

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the background loop in a copy of this context; serve its calls here."""
        context = contextvars.copy_context()
        context.run(caller_thread.set, self._take)
        # The task copies the context that schedules it: the test's (an app context it pushed).
        loop_thread = _background_loop()
        future = context.run(asyncio.run_coroutine_threadsafe, coro, loop_thread.loop)
        future.add_done_callback(lambda _: self._jobs.put(None))
        jobs = self._jobs
        escaped: BaseException | None = None
        try:
            while True:
                try:
                    job = jobs.get(timeout=1.0)
                except queue.Empty:
                    if not loop_thread.alive():
                        raise RuntimeError("The test client's event loop has stopped.") from None
                    continue
                if job is None:
                    break
                try:
                    escaped = self._run_job(job) or escaped
                finally:
                    with self._lock:
                        self._taken -= 1
        finally:
            with self._lock:
                self._open = False
                pending = self._taken
            while pending:  # taken just before the call ended: run them still
                job = jobs.get()
                if job is not None:
                    escaped = self._run_job(job) or escaped
                    pending -= 1
        if escaped is not None:
            raise escaped
        return future.result()

    @staticmethod
    def _run_job(job: _Job) -> BaseException | None:
        """Run a call; return a KeyboardInterrupt or SystemExit it raised, for the test."""
        future: asyncio.Future[Any] = job.future  # type: ignore[assignment]
        loop = job.loop
        assert loop is not None
        try:
            result = job.context.run(job.func, *job.args)
        except Exception as e:
            loop.call_soon_threadsafe(_settle, future, None, e)
        except BaseException as e:
            # Raised to the test, as the WSGI door raises it; set on the loop's future it
            # would stop the loop. The app's call is cancelled: it unwinds (teardown runs).
            loop.call_soon_threadsafe(future.cancel)
            return e
        else:
            loop.call_soon_threadsafe(_settle, future, result, None)
        return None


class StreamedASGIBody:
    """A response body that an app running through its ASGI door sends chunk by chunk.

    Iterating yields each chunk as the app sends it; :meth:`close` tells the app
    the client disconnected and waits for it to finish.
    """

    def __init__(self, app: Any, scope: dict[str, Any], body: bytes, timeout: float) -> None:
        self._channel = _Channel(timeout)
        self._chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)] or [b""]
        self._loop = _background_loop()
        self._disconnect: asyncio.Event | None = None
        self._finished = False
        self._closed = False
        self._app = app
        self._scope = scope

    def start(self) -> tuple[int, list[tuple[bytes, bytes]]]:
        """Run the app until it starts the response; return the status and headers."""
        self._channel.future = self._loop.submit(self._channel.run(self._run()))
        message = self._channel.get()
        if message is _DONE:
            self._finished = True
            self._channel.raise_app_error()
            raise RuntimeError("The app returned without sending a response.")
        return message["status"], list(message.get("headers", []))

    async def _run(self) -> None:
        self._disconnect = asyncio.Event()
        index = 0

        async def receive() -> dict[str, Any]:
            nonlocal index
            if index < len(self._chunks):
                chunk = self._chunks[index]
                index += 1
                return {
                    "type": "http.request",
                    "body": chunk,
                    "more_body": index < len(self._chunks),
                }
            assert self._disconnect is not None
            await self._disconnect.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if self._closed and message["type"] == "http.response.body":
                raise OSError("The test client closed the response.")
            self._channel.messages.put(message)

        await self._app(self._scope, receive, send)

    def __iter__(self) -> StreamedASGIBody:
        return self

    def __next__(self) -> bytes:
        while not self._finished:
            message = self._channel.get()
            if message is _DONE:
                self._finished = True
                self._channel.raise_app_error()
                break
            if message["type"] != "http.response.body":
                continue
            if not message.get("more_body", False):
                self._finished = True
            body: bytes = message.get("body", b"")
            if body:
                return body
        raise StopIteration

    def close(self) -> None:
        """Disconnect from the app and wait for it to finish (its generator closes)."""
        if self._closed:
            return
        self._closed = True
        if self._disconnect is not None:
            self._loop.call(self._disconnect.set)
        ended = self._channel.finish()
        if not ended:
            raise RuntimeError(
                f"The app did not finish within {self._channel.timeout} seconds after the"
                " client disconnected."
            )
        self._channel.raise_app_error()


class WebSocketDenied(Exception):
    """The app refused the WebSocket handshake with an HTTP response."""

    def __init__(self, status_code: int, headers: Headers, data: bytes) -> None:
        super().__init__(f"The WebSocket handshake was refused with status {status_code}.")
        self.status_code = status_code
        self.headers = headers
        self.data = data

    @property
    def text(self) -> str:
        """The response body decoded as UTF-8."""
        return self.data.decode("utf-8", "replace")

    @property
    def json(self) -> Any:
        """The response body parsed as JSON."""
        return _json.loads(self.data)


class WebSocketTestSession:
    """A WebSocket connected to the app in-process, through its ASGI door.

    Created by ``client.websocket_connect(path)``; use it as a context manager.
    Every wait is bounded by ``timeout`` seconds. A message the app closes the
    connection with raises :class:`~erlen.websocket.WebSocketDisconnect`.
    """

    def __init__(self, app: Any, scope: dict[str, Any], timeout: float) -> None:
        self._app = app
        self.scope = scope
        self._channel = _Channel(timeout)
        self._loop = _background_loop()
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._client_closed = False
        self._app_closed: tuple[int, str] | None = None
        #: The subprotocol the app accepted.
        self.accepted_subprotocol: str | None = None
        #: The extra headers the app sent with its accept.
        self.accepted_headers = Headers()

    # -- the app's side (runs on the background loop) -------------------------------------------

    async def _run(self) -> None:
        await self._app(self.scope, self._to_app.get, self._asgi_send)

    async def _asgi_send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "websocket.send" and self._client_closed:
            raise OSError("The test client has disconnected.")
        if kind == "websocket.close":
            # Like a server: the closing handshake ends with a disconnect for the app.
            code = message.get("code", 1000)
            self._to_app.put_nowait({"type": "websocket.disconnect", "code": code})
        self._channel.messages.put(message)

    def _to(self, message: dict[str, Any]) -> None:
        self._loop.call(self._to_app.put_nowait, message)

    # -- the client's side --------------------------------------------------------------------------

    def __enter__(self) -> WebSocketTestSession:
        self._channel.future = self._loop.submit(self._channel.run(self._run()))
        self._to({"type": "websocket.connect"})
        try:
            message = self._channel.get()
        except TimeoutError:
            self._channel.finish()
            raise
        kind = message if message is _DONE else message["type"]
        if kind == "websocket.accept":
            self.accepted_subprotocol = message.get("subprotocol")
            self.accepted_headers = Headers(
                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])]
            )
            return self
        if kind == "websocket.http.response.start":
            body: list[bytes] = []
            while True:
                part = self._channel.get()
                if part is _DONE:
                    break
                body.append(part.get("body", b""))
                if not part.get("more_body", False):
                    break
            self._channel.finish()
            headers = Headers(
                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])]
            )
            raise WebSocketDenied(message["status"], headers, b"".join(body))
        self._channel.finish()
        self._channel.raise_app_error()
        from .websocket import WebSocketDisconnect

        if kind == "websocket.close":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason") or "")
        raise RuntimeError("The app returned without answering the WebSocket handshake.")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._client_closed and self._app_closed is None:
            self._client_closed = True
            self._to({"type": "websocket.disconnect", "code": 1000})
        ended = self._channel.finish()
        if exc_type is None:
            self._channel.raise_app_error()
            if not ended:
                raise RuntimeError(
                    f"The WebSocket handler did not return within {self._channel.timeout}"
                    " seconds after the connection closed; it was cancelled."
                )

    def send(self, message: dict[str, Any]) -> None:
        """Send a raw ASGI ``websocket.receive`` message to the app."""
        if self._client_closed:
            raise RuntimeError("The WebSocket is closed.")
        self._to(message)

    def send_text(self, data: str) -> None:
        """Send a text message."""
        self.send({"type": "websocket.receive", "text": data})

    def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        self.send({"type": "websocket.receive", "bytes": bytes(data)})

    def send_json(self, data: Any, mode: str = "text") -> None:
        """Send ``data`` as JSON, in a text (default) or binary message."""
        text = _json.dumps(data)
        if mode == "binary":
            self.send_bytes(text.encode("utf-8"))
        else:
            self.send_text(text)

    def receive(self) -> dict[str, Any]:
        """Wait for the app's next ``websocket.send`` message and return it."""
        from .websocket import WebSocketDisconnect

        if self._app_closed is not None:
            raise WebSocketDisconnect(*self._app_closed)
        message = self._channel.get()
        if message is _DONE:
            self._channel.raise_app_error()
            self._app_closed = (1006, "")
            raise WebSocketDisconnect(1006)
        if message["type"] == "websocket.close":
            self._app_closed = (message.get("code", 1000), message.get("reason") or "")
            raise WebSocketDisconnect(*self._app_closed)
        return message  # type: ignore[no-any-return]

    def receive_text(self) -> str:
        """Wait for a text message."""
        message = self.receive()
        text = message.get("text")
        if text is None:
            raise TypeError("Expected a text message, received a binary one.")
        return text  # type: ignore[no-any-return]

    def receive_bytes(self) -> bytes:
        """Wait for a binary message."""
        message = self.receive()
        data = message.get("bytes")
        if data is None:
            raise TypeError("Expected a binary message, received a text one.")
        return data  # type: ignore[no-any-return]

    def receive_json(self) -> Any:
        """Wait for a message (text or binary) and parse it as JSON."""
        message = self.receive()
        text = message.get("text")
        return _json.loads(text if text is not None else message.get("bytes") or b"")

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection from the client and wait for the handler to end."""
        if self._client_closed:
            return
        self._client_closed = True
        if self._app_closed is None:
            self._to({"type": "websocket.disconnect", "code": code, "reason": reason})
        self._channel.finish()


def _read_input(stream: Any) -> bytes:
    """Read a test request's body, leaving the stream where it was.

    A 307/308 redirect the client follows sends the same stream again (Werkzeug
    reuses it), as it would send it unread to a WSGI app that answered from routing.
    """
    if stream is None:
        return b""
    try:
        start = stream.tell()
    except (AttributeError, OSError, ValueError):
        return stream.read()  # type: ignore[no-any-return]
    body: bytes = stream.read()
    stream.seek(start)
    return body


def _close_keeping_body(request: Any) -> None:
    """Close a kept request's files, not its body (see ``ErlenClient._keep``)."""
    body = request._input
    request._input = None
    try:
        type(request).close(request)
    finally:
        request._input = body


def _release_kept_request(request: Any) -> None:
    """Close a kept request for good, body included, when the client lets it go."""
    request.__dict__.pop("close", None)
    request.close()


@functools.cache
def _werkzeug_user_agent() -> str:
    """The User-Agent the test client sends: ``Werkzeug/<version>``, as Flask's does."""
    return f"Werkzeug/{importlib.metadata.version('werkzeug')}"


#: Names the test client's door for a whole run when ``asgi`` is not passed: ``wsgi`` or ``asgi``.
TEST_DOOR_ENV = "ERLEN_TEST_DOOR"


def default_test_door_is_asgi() -> bool:
    """Whether ``ERLEN_TEST_DOOR`` names the ASGI door (unset or empty means WSGI)."""
    door = os.environ.get(TEST_DOOR_ENV, "").strip().lower()
    if door in ("", "wsgi"):
        return False
    if door == "asgi":
        return True
    raise ValueError(f"{TEST_DOOR_ENV} must be 'wsgi' or 'asgi', not {door!r}")


class ErlenClient(werkzeug.test.Client):
    """The test client: ``app.test_client()``; ``app.test_client(asgi=True)`` uses the ASGI door.

    Without ``asgi``, the door comes from the environment variable ``ERLEN_TEST_DOOR``
    (``wsgi``, the default, or ``asgi``), read when the client is created: it switches a whole
    test run, Flask's and extensions' suites included, to the other door.

    Cookies persist between requests. Used as a context manager, the context of
    the last request stays available (``request``, ``session``) until the block ends.
    """

    application: Erlen
    #: Seconds a streamed response or a WebSocket waits for the app before failing.
    stream_timeout: float = 10.0

    def __init__(
        self, app: Erlen, use_cookies: bool = True, asgi: bool | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("response_wrapper", ErlenTestResponse)
        super().__init__(app, use_cookies=use_cookies, **kwargs)
        self.asgi = default_test_door_is_asgi() if asgi is None else asgi
        self.preserve_context = False
        self._preserved: RequestContext | None = None
        self._context_stack = ExitStack()
        self.environ_base = {
            "REMOTE_ADDR": "127.0.0.1",
            # Flask's test client sends Werkzeug's name and version; so does this one.
            "HTTP_USER_AGENT": _werkzeug_user_agent(),
        }

    @contextmanager
    def session_transaction(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """Open the session as the next request would see it; changes are saved to the cookie jar."""
        if self._cookies is None:
            raise TypeError("Cookies are disabled. Create a client with 'use_cookies=True'.")
        app = self.application
        ctx = app.test_request_context(*args, **kwargs)
        self._add_cookies_to_wsgi(ctx.request.environ)
        with ctx:
            sess = app.session_interface.open_session(app, ctx.request)
        if sess is None:
            raise RuntimeError("Session backend did not open a session.")
        yield sess
        resp = app.response_class()
        if app.session_interface.is_null_session(sess):
            return
        with ctx:
            app.session_interface.save_session(app, sess, resp)
        self._update_cookies_from_response(
            ctx.request.host.partition(":")[0],
            ctx.request.path,
            resp.headers.getlist("Set-Cookie"),
        )

    def _request_from_builder_args(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        kwargs["environ_base"] = {**self.environ_base, **kwargs.get("environ_base", {})}
        builder = EnvironBuilder(self.application, *args, **kwargs)
        try:
            return builder.get_request()
        finally:
            builder.close()

    def open(
        self,
        *args: Any,
        buffered: bool | None = None,
        follow_redirects: bool = False,
        **kwargs: Any,
    ) -> ErlenTestResponse:
        """Send a request to the app and return the response.

        ``buffered=False`` streams the body under both doors: iterating
        ``response.response`` (or ``iter_encoded()``) yields chunks as the app
        sends them and ``response.close()`` disconnects. By default both doors
        read the whole body first (the app's close functions have run), and the
        response still reports ``is_streamed`` until its data is read, as Flask's does.
        """
        if args and isinstance(args[0], (werkzeug.test.EnvironBuilder, dict, _WerkzeugRequest)):
            # The client's environ_base fills what the caller's builder or environ
            # leaves out (REMOTE_ADDR, User-Agent), as with Flask's client.
            if isinstance(args[0], werkzeug.test.EnvironBuilder):
                builder = args[0]
                builder.environ_base = {**self.environ_base, **(builder.environ_base or {})}
                request = builder.get_request()
            elif isinstance(args[0], dict):
                request = werkzeug.test.EnvironBuilder.from_environ(
                    args[0], environ_base=dict(self.environ_base)
                ).get_request()
            else:
                request = args[0]
        else:
            request = self._request_from_builder_args(args, kwargs)
        # Drop the context kept from an earlier request before making a new one.
        self._context_stack.close()
        self._preserved = None
        # None (not False) reaches run_wsgi_app when the caller did not ask to stream.
        response = super().open(request, buffered=buffered, follow_redirects=follow_redirects)  # type: ignore[arg-type]
        response.json_module = self.application.json  # type: ignore[assignment]
        if self.preserve_context and self._preserved is not None:
            # The kept request context, current again (with its app context: see erlen.ctx).
            self._context_stack.callback(self._preserved.keep_current())
        return response  # type: ignore[return-value]

    def _keep(self, ctx: RequestContext) -> None:
        self._preserved = ctx
        request = ctx.request
        if request.scope is not None and request._input is not None:
            # Under ASGI the body buffer is the request's own, closed with the request when
            # its context is popped; a kept request must still read it (``request.form``
            # after the response, as under WSGI, where the body is the client's stream).
            request.close = functools.partial(_close_keeping_body, request)  # type: ignore[method-assign]
            self._context_stack.callback(_release_kept_request, request)

    def run_wsgi_app(
        self, environ: dict[str, Any], buffered: bool | None = None
    ) -> tuple[Any, str, Headers]:
        """Run the app through the chosen door (WSGI, or ASGI with ``asgi=True``)."""
        if self.preserve_context:
            environ["erlen._preserve_context"] = self._keep
        if not self.asgi:
            # Unless streaming was asked for, read the body and close the
            # iterable, as a WSGI server does (call_on_close functions run).
            chunks, status_line, wsgi_headers = super().run_wsgi_app(
                environ, buffered=buffered is not False
            )
            return _as_client_body(chunks, buffered), status_line, wsgi_headers
        self._add_cookies_to_wsgi(environ)
        scope = _environ_to_scope(environ)
        if self.preserve_context:
            scope["extensions"]["erlen.preserve_context"] = self._keep
        body = _read_input(environ.get("wsgi.input"))
        app_iter: Any
        if buffered is False:
            streamed = StreamedASGIBody(self.application, scope, body, self.stream_timeout)
            status, raw_headers = streamed.start()
            app_iter = streamed
        else:
            status, raw_headers, content = _CallerThread().run(self._asgi_round_trip(scope, body))
            app_iter = _as_client_body([content], buffered)
        from .response import STATUS_LINES

        headers = Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers])
        host = environ.get("HTTP_HOST", "localhost").partition(":")[0]
        self._update_cookies_from_response(
            host, environ.get("PATH_INFO", "/") or "/", headers.getlist("Set-Cookie")
        )
        return app_iter, STATUS_LINES.get(status, f"{status} UNKNOWN"), headers

    async def _asgi_round_trip(
        self, scope: dict[str, Any], body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        from .background import drain

        rv = await run_asgi_http(self.application, scope, body)
        # The loop stops when this returns; let after_response jobs finish first,
        # as they would on a server's loop that keeps running.
        await drain(self.stream_timeout)
        return rv

    def websocket_connect(
        self,
        path: str = "/",
        subprotocols: list[str] | None = None,
        headers: Any = None,
        *,
        timeout: float | None = None,
        http_denial: bool = True,
        **kwargs: Any,
    ) -> WebSocketTestSession:
        """Open a WebSocket to the app in-process, through its ASGI door.

        Use it as ``with client.websocket_connect("/ws") as ws: ...``. The
        client's cookies go with the handshake; ``kwargs`` (``query_string``,
        ``base_url``...) build the handshake like a request. ``http_denial``
        offers the server extension that lets the app refuse with an HTTP
        response (raised as :class:`WebSocketDenied`).
        """
        kwargs["environ_base"] = {**self.environ_base, **kwargs.get("environ_base", {})}
        builder = EnvironBuilder(self.application, path, headers=headers, **kwargs)
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        self._add_cookies_to_wsgi(environ)
        scope = _environ_to_scope(environ)
        del scope["method"]
        scope["type"] = "websocket"
        scope["scheme"] = "wss" if scope["scheme"] == "https" else "ws"
        scope["subprotocols"] = list(subprotocols or ())
        scope["headers"] += [
            (b"connection", b"upgrade"),
            (b"upgrade", b"websocket"),
            (b"sec-websocket-version", b"13"),
            (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        ]
        if subprotocols:
            scope["headers"].append((b"sec-websocket-protocol", ", ".join(subprotocols).encode()))
        if http_denial:
            scope["extensions"]["websocket.http.response"] = {}
        return WebSocketTestSession(
            self.application, scope, self.stream_timeout if timeout is None else timeout
        )

    def __enter__(self) -> ErlenClient:
        if self.preserve_context:
            raise RuntimeError("Cannot nest client invocations")
        self.preserve_context = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.preserve_context = False
        self._context_stack.close()
        self._preserved = None


class ErlenCliRunner(CliRunner):
    """A click runner that invokes the app's commands: ``app.test_cli_runner().invoke(args=[...])``."""

    def __init__(self, app: Erlen, **kwargs: Any) -> None:
        self.app = app
        super().__init__(**kwargs)

    def invoke(self, cli: Any = None, args: Any = None, **kwargs: Any) -> Result:  # type: ignore[override]
        """Invoke a command (the app's CLI by default) with the app loaded."""
        if cli is None:
            cli = self.app.cli
        if "obj" not in kwargs:
            from .cli import ScriptInfo

            kwargs["obj"] = ScriptInfo(create_app=lambda: self.app)
        return super().invoke(cli, args, **kwargs)


__all__ = [
    "EnvironBuilder",
    "ErlenCliRunner",
    "ErlenClient",
    "ErlenTestResponse",
    "StreamedASGIBody",
    "WebSocketDenied",
    "WebSocketTestSession",
    "run_asgi_http",
]
