"""WebSockets: the ``websocket`` proxy, the :class:`WebSocket` channel and its ASGI door.

A handler registered with ``@app.websocket(rule)`` is an ``async def`` function
called with the rule's values, like a view. It talks to the client through the
``websocket`` proxy (Quart's convention); a handler whose first parameter is
named ``ws`` or ``websocket`` also gets the :class:`WebSocket` as that argument.

The handshake is an HTTP request: ``request``, ``session``, ``g``, cookies and
headers are available for the whole connection; ``before_request`` and
``websocket_before_funcs`` hooks run before the handler, and a hook (or the
handler, before accepting) may refuse the connection with an HTTP response.
Teardown functions run when the connection ends, however it ends.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from werkzeug.datastructures import Headers, ImmutableMultiDict
from werkzeug.exceptions import InternalServerError

from . import signals
from .concurrency import Steps, drive_async, drive_sync, is_async_callable, run_in_threadpool
from .ctx import RequestContext
from .globals import ContextProxy

if TYPE_CHECKING:
    from .app import EndpointPlan, Erlen
    from .request import Request
    from .response import Response

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_no_ws_msg = """\
Working outside of a WebSocket context.

The 'websocket' proxy is only available while a WebSocket handler (registered
with @app.websocket) or one of its hooks is running.\
"""

_cv_websocket: ContextVar[WebSocket] = ContextVar("erlen.websocket")

# The app's side of the connection.
_CONNECTING = 0
_ACCEPTED = 1
_CLOSED = 2
_RESPONDED = 3

#: The close code sent when the server stops the handler or shuts down.
GOING_AWAY = 1001
#: The close code used when the client vanished without a closing handshake.
ABNORMAL_CLOSURE = 1006
#: The close code sent when the handler raised an exception.
INTERNAL_ERROR = 1011
#: The close code sent to refuse a handshake when the server cannot send an HTTP response.
POLICY_VIOLATION = 1008


class WebSocketDisconnect(Exception):
    """The connection closed: the client went away, or the app closed it.

    ``code`` is the WebSocket close code (1000 normal, 1001 going away, 1006
    no closing handshake) and ``reason`` the close reason, if any.
    """

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"WebSocket closed with code {self.code}" + (
            f": {self.reason}" if self.reason else ""
        )


class WebSocket:
    """One WebSocket connection, over the channel an ASGI server provides.

    ``send``/``receive`` accept the handshake first when the handler has not
    done so. ``async for message in websocket`` yields messages until the
    client disconnects, then ends quietly.
    """

    __slots__ = (
        "_app",
        "_cleanups",
        "_client_closed",
        "_receive",
        "_send",
        "_state",
        "accepted_subprotocol",
        "close_code",
        "close_reason",
        "request",
        "scope",
        "state",
    )

    def __init__(
        self, app: Erlen, request: Request, scope: dict[str, Any], receive: Receive, send: Send
    ) -> None:
        self._app = app
        self.request = request
        self.scope = scope
        self._receive = receive
        self._send = send
        self._state = _CONNECTING
        self._client_closed = False
        self._cleanups: list[Callable[[], Any]] = []
        #: The subprotocol chosen by :meth:`accept`.
        self.accepted_subprotocol: str | None = None
        #: The close code once the connection has closed (from either side).
        self.close_code: int | None = None
        #: The close reason once the connection has closed.
        self.close_reason: str = ""
        #: Free-form storage for this connection.
        self.state = SimpleNamespace()

    # -- the handshake request ----------------------------------------------------------------

    @property
    def path(self) -> str:
        """The path of the handshake request."""
        return self.request.path

    @property
    def args(self) -> ImmutableMultiDict[str, str]:
        """The query string arguments of the handshake."""
        return self.request.args

    @property
    def headers(self) -> Headers:
        """The handshake's headers."""
        return self.request.headers

    @property
    def cookies(self) -> ImmutableMultiDict[str, str]:
        """The cookies sent with the handshake."""
        return self.request.cookies

    @property
    def view_args(self) -> dict[str, Any]:
        """The values matched from the URL rule."""
        return self.request.view_args or {}

    @property
    def url(self) -> str:
        """The full URL of the handshake (``ws://`` or ``wss://``)."""
        return self.request.url

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order of preference."""
        return list(self.scope.get("subprotocols") or ())

    @property
    def accepted(self) -> bool:
        """True once the handshake has been accepted."""
        return self._state != _CONNECTING and self._state != _RESPONDED

    @property
    def closed(self) -> bool:
        """True once the connection has closed or the handshake was refused."""
        return self._state >= _CLOSED or self._client_closed

    # -- sending and receiving ---------------------------------------------------------------

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        """Accept the handshake, optionally choosing a subprotocol and adding headers."""
        if self._state != _CONNECTING:
            raise RuntimeError("The WebSocket handshake has already been answered.")
        if subprotocol is not None and subprotocol not in self.subprotocols:
            raise ValueError(
                f"Subprotocol {subprotocol!r} was not offered by the client"
                f" (it offered {self.subprotocols!r})."
            )
        message: dict[str, Any] = {"type": "websocket.accept", "subprotocol": subprotocol}
        if headers is not None:
            items = headers.items() if isinstance(headers, Mapping) else headers
            message["headers"] = [
                (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in items
            ]
        self._state = _ACCEPTED
        self.accepted_subprotocol = subprotocol
        _track(self._app, self)
        try:
            await self._send(message)
        except OSError:
            self._gone(ABNORMAL_CLOSURE, "")
            raise WebSocketDisconnect(ABNORMAL_CLOSURE) from None

    async def receive(self) -> str | bytes:
        """Wait for the next message: ``str`` for a text frame, ``bytes`` for a binary one."""
        if self._state != _ACCEPTED:
            await self._before_io()
        if self._client_closed or self._state != _ACCEPTED:
            raise self._disconnect()
        message = await self._receive()
        kind = message["type"]
        if kind == "websocket.receive":
            text = message.get("text")
            if text is not None:
                return text  # type: ignore[no-any-return]
            return message.get("bytes") or b""
        if kind == "websocket.disconnect":
            self._gone(message.get("code", 1005), message.get("reason") or "")
            raise self._disconnect()
        raise RuntimeError(f"Unexpected ASGI message {kind!r} on a WebSocket.")

    async def receive_text(self) -> str:
        """Wait for the next message and require it to be text."""
        data = await self.receive()
        if not isinstance(data, str):
            raise TypeError("Expected a text WebSocket message, received a binary one.")
        return data

    async def receive_bytes(self) -> bytes:
        """Wait for the next message and require it to be binary."""
        data = await self.receive()
        if not isinstance(data, bytes):
            raise TypeError("Expected a binary WebSocket message, received a text one.")
        return data

    async def receive_json(self) -> Any:
        """Wait for the next message (text or binary) and parse it as JSON."""
        return self._app.json.loads(await self.receive())

    async def send(self, data: str | bytes | bytearray | memoryview | Any) -> None:
        """Send ``str`` as text, bytes-like data as binary, anything else as JSON text."""
        if isinstance(data, str):
            await self._send_message({"type": "websocket.send", "text": data})
        elif isinstance(data, (bytes, bytearray, memoryview)):
            await self._send_message({"type": "websocket.send", "bytes": bytes(data)})
        else:
            await self._send_message({"type": "websocket.send", "text": self._app.json.dumps(data)})

    async def send_text(self, data: str) -> None:
        """Send a text message."""
        await self._send_message({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        await self._send_message({"type": "websocket.send", "bytes": bytes(data)})

    async def send_json(self, data: Any) -> None:
        """Send ``data`` encoded as JSON in a text message."""
        await self._send_message({"type": "websocket.send", "text": self._app.json.dumps(data)})

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (before accepting, this refuses the handshake)."""
        sending = self._begin_close(code, reason)
        if sending is not None:
            await self._finish_close(sending)

    def _begin_close(self, code: int, reason: str) -> Awaitable[Any] | None:
        """Mark the connection closed and hand the close message to the server now.

        Returns what to await for the send to finish, or None when there is
        nothing to send. Some servers (granian) start writing when ``send`` is
        called, so a close begun here is on its way before anything else the
        event loop runs next, such as the server's own shutdown.
        """
        if self._state >= _CLOSED:
            return None
        self._state = _CLOSED
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
        if self._client_closed:
            return None  # The server rejects a close after the disconnect it reported.
        return self._send({"type": "websocket.close", "code": code, "reason": reason})

    async def _finish_close(self, sending: Awaitable[Any]) -> None:
        try:
            await sending
        except OSError:
            self._client_closed = True

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[str | bytes]:
        while True:
            try:
                message = await self.receive()
            except WebSocketDisconnect:
                return
            yield message

    def call_on_close(self, func: Callable[[], Any]) -> Callable[[], Any]:
        """Run ``func()`` (sync or async) when the connection ends, before teardown."""
        self._cleanups.append(func)
        return func

    def __repr__(self) -> str:
        states = {_CONNECTING: "connecting", _ACCEPTED: "open", _CLOSED: "closed"}
        state = "closed" if self._client_closed else states.get(self._state, "refused")
        return f"<WebSocket {self.request.path!r} [{state}]>"

    # -- internals ------------------------------------------------------------------------------

    async def _before_io(self) -> None:
        if self._state == _CONNECTING:
            await self.accept()

    async def _send_message(self, message: dict[str, Any]) -> None:
        if self._state != _ACCEPTED:
            await self._before_io()
        if self._client_closed or self._state != _ACCEPTED:
            raise self._disconnect()
        try:
            await self._send(message)
        except OSError:
            # The server reports a vanished client as an OSError (ASGI spec 2.4).
            self._gone(ABNORMAL_CLOSURE, "")
            raise self._disconnect() from None

    def _gone(self, code: int, reason: str) -> None:
        self._client_closed = True
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason

    def _disconnect(self) -> WebSocketDisconnect:
        if self.close_code is None:
            return WebSocketDisconnect(ABNORMAL_CLOSURE)
        return WebSocketDisconnect(self.close_code, self.close_reason)

    async def _refuse(self, response: Response) -> None:
        """Answer the handshake with an HTTP response (or a policy-violation close)."""
        if self._state != _CONNECTING:
            raise RuntimeError("The WebSocket handshake has already been answered.")
        extensions = self.scope.get("extensions") or {}
        if "websocket.http.response" not in extensions:
            await self.close(POLICY_VIOLATION)
            return
        self._state = _RESPONDED
        self.close_code = POLICY_VIOLATION
        body = await _collect_body(response)
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.header_list()]
        if not any(k.lower() == b"content-length" for k, _ in headers):
            headers.append((b"content-length", str(len(body)).encode()))
        try:
            await self._send(
                {
                    "type": "websocket.http.response.start",
                    "status": response.status_code,
                    "headers": headers,
                }
            )
            await self._send({"type": "websocket.http.response.body", "body": body})
        except OSError:
            self._client_closed = True
        finally:
            response.close()


async def _collect_body(response: Response) -> bytes:
    body = response.complete_body
    if body is not None:
        return body
    it = response.body_iterable
    chunks: list[bytes] = []
    charset = response.charset
    if hasattr(it, "__aiter__"):
        async for chunk in it:
            chunks.append(chunk.encode(charset) if isinstance(chunk, str) else chunk)
    else:
        chunks.extend(response.iter_encoded())
    return b"".join(chunks)


#: The accepted WebSockets of each app that are still open, with the loop that serves each.
_open_sockets: weakref.WeakKeyDictionary[Erlen, dict[WebSocket, asyncio.AbstractEventLoop]] = (
    weakref.WeakKeyDictionary()
)


def open_websockets(app: Erlen) -> list[WebSocket]:
    """Return the app's accepted WebSockets that are open in this process."""
    return list(_open_sockets.get(app, ()))


async def close_websockets(
    app: Erlen, code: int = GOING_AWAY, reason: str = "server shutting down"
) -> int:
    """Close the app's open WebSockets served on this event loop; return how many.

    Erlen calls this with 1001 (going away) when the server begins to shut
    down (see :mod:`erlen.lifespan`); each handler then sees
    :class:`WebSocketDisconnect` from its next ``receive`` or ``send``.
    """
    return await _finish_closing(_begin_closing(app, asyncio.get_running_loop(), code, reason))


def _begin_closing(
    app: Erlen, loop: asyncio.AbstractEventLoop, code: int, reason: str
) -> list[tuple[WebSocket, Awaitable[Any] | None]]:
    """Begin closing the app's open WebSockets served on ``loop`` (see ``WebSocket._begin_close``)."""
    targets = [ws for ws, ws_loop in list(_open_sockets.get(app, {}).items()) if ws_loop is loop]
    closing: list[tuple[WebSocket, Awaitable[Any] | None]] = []
    for ws in targets:
        if not ws.closed:
            sending = ws._begin_close(code, reason)
            # A task owns each send, so a coroutine ``send`` (uvicorn's) runs even if the
            # waiter is cancelled first, and is never left un-awaited.
            closing.append(
                (ws, None if sending is None else asyncio.ensure_future(sending, loop=loop))
            )
    return closing


async def _finish_closing(closing: list[tuple[WebSocket, Awaitable[Any] | None]]) -> int:
    """Wait for the closes :func:`_begin_closing` began; return how many finished."""
    results = await asyncio.gather(
        *(ws._finish_close(sending) for ws, sending in closing if sending is not None),
        return_exceptions=True,
    )
    return len(closing) - sum(1 for r in results if isinstance(r, BaseException))


def schedule_close_websockets(
    app: Erlen, code: int = GOING_AWAY, reason: str = "server shutting down"
) -> None:
    """Ask every loop that serves the app's open WebSockets to close them (thread- and signal-safe)."""
    loops = {loop for loop in list(_open_sockets.get(app, {}).values())}
    for loop in loops:
        if loop.is_closed():
            continue

        def start(app: Erlen = app, loop: asyncio.AbstractEventLoop = loop) -> None:
            # The close messages go to the server here, not in the task's first step:
            # this callback runs before the server's own handler for the same signal
            # when the server handles it on the loop (granian), and that handler
            # drops open connections at once.
            closing = _begin_closing(app, loop, code, reason)
            task = asyncio.ensure_future(_finish_closing(closing))
            _closing_tasks.add(task)
            task.add_done_callback(_closing_tasks.discard)

        try:
            loop.call_soon_threadsafe(start)
        except RuntimeError:
            pass  # The loop closed in between.


#: Closing tasks started by :func:`schedule_close_websockets`, kept until they finish.
_closing_tasks: set[asyncio.Future[int]] = set()


def _track(app: Erlen, ws: WebSocket) -> None:
    sockets = _open_sockets.get(app)
    if sockets is None:
        sockets = _open_sockets[app] = {}
    sockets[ws] = asyncio.get_running_loop()


def _untrack(app: Erlen, ws: WebSocket) -> None:
    sockets = _open_sockets.get(app)
    if sockets is not None:
        sockets.pop(ws, None)


class _WebSocketProxy(ContextProxy):
    """The ``websocket`` proxy; it also supports ``async for`` (which looks up ``__aiter__`` on the type)."""

    __slots__ = ()

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return cast("WebSocket", self._get_current_object()).__aiter__()


#: The current WebSocket connection, like ``request`` for HTTP.
websocket: WebSocket = cast("WebSocket", _WebSocketProxy(_cv_websocket, None, _no_ws_msg))

_SOCKET_PARAMS = ("ws", "websocket")
_socket_param_cache: dict[Callable[..., Any], str | None] = {}


def _socket_param(handler: Callable[..., Any]) -> str | None:
    """Return the name of the handler's first parameter if it asks for the socket."""
    try:
        return _socket_param_cache[handler]
    except (KeyError, TypeError):
        pass
    name: str | None = None
    try:
        params = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError):
        params = []
    if params and params[0].name in _SOCKET_PARAMS:
        name = params[0].name
    if len(_socket_param_cache) < 4096:
        try:
            _socket_param_cache[handler] = name
        except TypeError:
            pass
    return name


def _websocket_before(app: Erlen, plan: EndpointPlan) -> list[tuple[Callable[[], Any], bool]]:

    funcs = app.websocket_before_funcs
    if not funcs:
        return []
    names: tuple[str | None, ...] = (None, *reversed(plan.blueprints))
    return [(f, is_async_callable(f)) for name in names for f in funcs.get(name, ())]


def _before_steps(
    request: Request, plan: EndpointPlan, before: list[tuple[Callable[[], Any], bool]]
) -> Steps[Any]:
    """URL value preprocessors, then before hooks; return the first non-None hook value."""
    for pre in plan.url_preprocessors:
        pre(request.endpoint, request.view_args)
    for func, is_async in before:
        rv = func()
        if is_async:
            rv = yield rv
        if rv is not None:
            return rv
    return None


async def _run_before(app: Erlen, request: Request, plan: EndpointPlan) -> Any:
    before = [*plan.before, *_websocket_before(app, plan)]
    if not before and not plan.url_preprocessors:
        return None
    steps = _before_steps(request, plan, before)
    if any(is_async for _, is_async in before):
        return await drive_async(steps)
    # Sync hooks may block (a database lookup); keep them off the event loop.
    return await run_in_threadpool(drive_sync, steps)


async def _response_for(
    app: Erlen, ctx: RequestContext, plan: EndpointPlan, rv: Any, from_error: bool
) -> Response:
    """Make a response from a hook's or handler's value, with after-request processing."""
    return await app.finish_async(ctx, rv, from_error)


async def _error_response(
    app: Erlen, ctx: RequestContext, plan: EndpointPlan, e: Exception
) -> Response | None:
    """Let the app's error handlers turn ``e`` into a response; None when none does."""
    try:
        rv = await app.handle_user_exception_async(ctx, e)
        return await _response_for(app, ctx, plan, rv, True)
    except Exception:
        return None


async def serve_websocket(app: Erlen, scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Serve one ASGI ``websocket`` connection scope with the app's handler."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return  # The client left before the handshake started.
    from .asgi import request_from_scope

    # A handshake has no body to receive (no ``receive`` for the request).
    request = request_from_scope(app.request_class, scope, None)
    ctx = app.begin_request(request, websocket=True)
    ws = WebSocket(app, request, scope, receive, send)
    token = _cv_websocket.set(ws)
    error: BaseException | None = None
    try:
        error = await _handle(app, ctx, ws)
    except BaseException as e:  # Cancelled by the server: still tear down, then re-raise.
        error = e
        raise
    finally:
        try:
            await _run_cleanups(app, ws)
            if not ws.closed:
                if error is None:
                    code = 1000
                elif isinstance(error, asyncio.CancelledError):
                    code = GOING_AWAY
                else:
                    code = INTERNAL_ERROR
                await ws.close(code)
        finally:
            _untrack(app, ws)
            _cv_websocket.reset(token)
            await ctx.apop(error)


async def _handle(app: Erlen, ctx: RequestContext, ws: WebSocket) -> BaseException | None:
    """Run hooks and handler; return the error to pass to teardown functions."""
    request = ctx.request
    plan = ctx.plan
    assert plan is not None
    try:
        if plan.session_async is not None:
            # A store with non-blocking I/O: loaded here, not lazily with its blocking client.
            await ctx.load_session_async(plan.session_async)
        rv = await _run_before(app, request, plan)
        if rv is not None:
            await ws._refuse(await _response_for(app, ctx, plan, rv, False))
            return None
        if request.routing_exception is not None:
            app.raise_routing_exception(request)
        handler = plan.view
        if handler is None:
            raise LookupError(f"No WebSocket handler is registered for {request.endpoint!r}.")
        if not plan.view_is_async:
            raise TypeError(
                f"The WebSocket handler for {request.endpoint!r} must be an 'async def' function."
            )
        kwargs = dict(request.view_args or ())
        param = _socket_param(handler)
        if param is not None:
            kwargs[param] = ws
        if signals.websocket_started.receivers:
            signals.websocket_started.send(app, _async_wrapper=app.ensure_sync)
        try:
            rv = await handler(**kwargs)
        finally:
            if signals.websocket_finished.receivers:
                signals.websocket_finished.send(app, _async_wrapper=app.ensure_sync)
        if ws._state == _CONNECTING:
            # Returned without answering the handshake: its value, or 403, refuses it.
            await ws._refuse(
                await _response_for(app, ctx, plan, rv if rv is not None else ("", 403), False)
            )
        return None
    except WebSocketDisconnect:
        return None
    except Exception as e:
        if ws._state == _CONNECTING:
            response = await _error_response(app, ctx, plan, e)
            if response is not None:
                await ws._refuse(response)
                return None
        app.log_exception(sys.exc_info())
        if ws._state == _CONNECTING and not ws._client_closed:
            server_error = InternalServerError(original_exception=e)
            response = await _error_response(app, ctx, plan, server_error)
            await ws._refuse(response or app.make_response(server_error))
        elif not ws.closed:
            await ws.close(INTERNAL_ERROR)
        return e


async def _run_cleanups(app: Erlen, ws: WebSocket) -> None:
    funcs = ws._cleanups
    while funcs:
        func = funcs.pop()
        try:
            rv = func()
            if inspect.isawaitable(rv):
                await rv
        except Exception:
            app.logger.exception("A WebSocket close callback failed.")


__all__ = [
    "GOING_AWAY",
    "WebSocket",
    "WebSocketDisconnect",
    "close_websockets",
    "open_websockets",
    "schedule_close_websockets",
    "serve_websocket",
    "websocket",
]
