"""The WSGI door (PEP 3333): environ in, status/headers/body out.

Each request runs in a fresh ``contextvars`` context. A streamed body keeps
that context, so ``request``, ``session`` and ``g`` stay available while the
server iterates it, and teardown runs when the server closes the iterable.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from .concurrency import run_coroutine_sync
from .ctx import AppContext, RequestContext
from .request import Request

if TYPE_CHECKING:
    from .app import Erlen
    from .response import Response

R = TypeVar("R", bound=Request)


def _decode_wsgi_str(value: str) -> str:
    # PEP 3333 passes paths as latin-1 "bytes in a str"; browsers send UTF-8.
    if value.isascii():
        return value
    return value.encode("latin-1").decode("utf-8", "replace")


def _server_of(environ: dict[str, Any]) -> tuple[str, int | None] | None:
    """Return ``(SERVER_NAME, SERVER_PORT)`` from a WSGI environ, when present."""
    if "SERVER_NAME" not in environ:
        return None
    port = environ.get("SERVER_PORT")
    return (environ["SERVER_NAME"], int(port) if port and port.isdigit() else None)


def request_from_environ(request_class: type[R], environ: dict[str, Any]) -> R:
    """Build a request of ``request_class`` from a WSGI environ."""
    # PERF: the hot fields are read inline; the headers stay a view of the environ, made
    # on first access, and the server address is only worked out when the Host header is
    # missing (``request.server`` reads it from the environ when asked).
    get = environ.get
    path = get("PATH_INFO") or "/"
    if not path.isascii():
        path = _decode_wsgi_str(path)
    if path[0] != "/":
        # Middleware that moves part of the path into SCRIPT_NAME may leave PATH_INFO
        # without its slash; the request path has one, as with Werkzeug.
        path = "/" + path
    root = get("SCRIPT_NAME", "")
    if root:
        root = _decode_wsgi_str(root).rstrip("/")
    server = None
    host = get("HTTP_HOST")
    if not host:
        host = None
        server = _server_of(environ)
    qs = get("QUERY_STRING")
    # PERF: by position (see Request.from_values), one argument a line, named.
    return request_class.from_values(
        get("REQUEST_METHOD", "GET"),  # method
        path,  # path
        qs.encode("latin-1") if qs else b"",  # query_string
        get("wsgi.url_scheme", "http"),  # scheme
        root,  # root_path
        None,  # headers: a view of the environ, made on first use
        None,  # raw_headers
        host,  # host
        server,  # server
        get("REMOTE_ADDR"),  # remote_addr
        get("wsgi.input"),  # body
        bool(get("wsgi.input_terminated")),  # body_terminated
        None,  # body_receiver
        "HTTP_COOKIE" in environ,  # has_cookie_header
        environ,  # environ
    )


def handle(
    app: Erlen, environ: dict[str, Any], start_response: Callable[..., Any]
) -> Iterable[bytes]:
    """Serve one WSGI request."""
    ctx = app.begin_request(request_from_environ(app.request_class, environ))
    try:
        response = app.respond(ctx)
    except BaseException as e:
        ctx.pop(e)
        raise
    if "erlen._preserve_context" in environ:
        environ["erlen._preserve_context"](ctx)
    _status_code, status, headers, body, close_pending = response.outgoing(ctx.request.method)
    try:
        start_response(status, headers)
    except BaseException as e:
        response.close()
        ctx.pop(e)
        raise
    if body is not None:
        chunks: list[bytes] = [body] if body else []
        if close_pending:
            if response.has_close_functions:
                # call_on_close functions (and after_response jobs) run once the server
                # has written the body, when it closes the iterable.
                ctx.pop(ctx.error)
                return _ClosingBody(chunks, response)
            try:
                response.close()  # a stream not sent (HEAD, 204, 304), in its context
            finally:
                ctx.pop(ctx.error)
            return chunks
        ctx.pop(ctx.error)
        return chunks
    # The body is iterated after we return, possibly elsewhere: keep a copy of
    # this context (with the request bound) for the iteration and the teardown,
    # and unbind the request from the caller's context now.
    context = contextvars.copy_context()
    app_ctx = ctx.detach()
    return _StreamedBody(app, ctx, app_ctx, response, context)


class _ClosingBody:
    """A complete body whose response is closed when the server closes the iterable."""

    __slots__ = ("_chunks", "_response")

    def __init__(self, chunks: list[bytes], response: Response) -> None:
        self._chunks = chunks
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._chunks)

    def close(self) -> None:
        self._response.close()


class _StreamedBody:
    """Iterate a streamed response inside the request's context; tear down on close."""

    __slots__ = ("_app", "_app_ctx", "_closed", "_context", "_ctx", "_error", "_it", "_response")

    def __init__(
        self,
        app: Erlen,
        ctx: RequestContext,
        app_ctx: AppContext | None,
        response: Response,
        context: contextvars.Context,
    ) -> None:
        self._app = app
        self._ctx = ctx
        self._app_ctx = app_ctx
        self._response = response
        self._context = context
        self._error: BaseException | None = ctx.error
        self._closed = False
        body = response.body_iterable
        self._it: Iterator[bytes] | Any
        if hasattr(body, "__anext__") or (
            hasattr(body, "__aiter__") and not hasattr(body, "__iter__")
        ):
            self._it = body.__aiter__()
        else:
            self._it = response.iter_encoded()

    def __iter__(self) -> _StreamedBody:
        return self

    def __next__(self) -> bytes:
        return self._context.run(self._next)

    def _next(self) -> bytes:
        it = self._it
        try:
            if hasattr(it, "__anext__"):
                try:
                    chunk = run_coroutine_sync(it.__anext__())
                except StopAsyncIteration:
                    raise StopIteration from None
                return chunk.encode(self._response.charset) if isinstance(chunk, str) else chunk
            return next(it)
        except StopIteration:
            raise
        except Exception as e:
            # Headers are already sent: log, and let the server abort the connection.
            self._error = e
            self._app.log_exception((type(e), e, e.__traceback__))
            raise

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._context.run(self._close)

    def _close(self) -> None:
        try:
            it = self._it
            if hasattr(it, "aclose"):
                try:
                    run_coroutine_sync(it.aclose())
                except RuntimeError:
                    pass
            self._response.close()
        finally:
            self._ctx.finish_detached(self._app_ctx, self._error)
