"""Test helpers: a client that drives the app through its WSGI or ASGI door, and a CLI runner."""

from __future__ import annotations

import asyncio
import contextvars
import json as _json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import werkzeug.test
from click.testing import CliRunner, Result
from werkzeug.datastructures import Headers
from werkzeug.test import TestResponse
from werkzeug.wrappers import Request as _WerkzeugRequest

from .concurrency import thread_loop
from .globals import _cv_app, _cv_request

if TYPE_CHECKING:
    from .app import Erlen
    from .ctx import RequestContext


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
                path += sep + url.query  # type: ignore[operator]
        self.app = app
        super().__init__(path, base_url, *args, **kwargs)

    def json_dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialize ``json=`` data with the app's JSON provider."""
        return self.app.json.dumps(obj, **kwargs)


class ErlenTestResponse(TestResponse):
    """A response returned by the test client (``status_code``, ``data``, ``json``, ``text``)."""

    json_module = _json


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
        "client": (environ.get("REMOTE_ADDR", "127.0.0.1"), int(environ.get("REMOTE_PORT", 0) or 0)),
        "server": (environ.get("SERVER_NAME", "localhost"), int(port) if port else 80),
        "extensions": {},
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


class ErlenClient(werkzeug.test.Client):
    """The test client: ``app.test_client()``; ``app.test_client(asgi=True)`` uses the ASGI door.

    Cookies persist between requests. Used as a context manager, the context of
    the last request stays available (``request``, ``session``) until the block ends.
    """

    application: Erlen

    def __init__(self, app: Erlen, use_cookies: bool = True, asgi: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("response_wrapper", ErlenTestResponse)
        super().__init__(app, use_cookies=use_cookies, **kwargs)
        self.asgi = asgi
        self.preserve_context = False
        self._preserved: RequestContext | None = None
        self._context_stack = ExitStack()
        self.environ_base = {
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_USER_AGENT": "Erlen-test-client",
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

    def open(  # type: ignore[override]
        self,
        *args: Any,
        buffered: bool = False,
        follow_redirects: bool = False,
        **kwargs: Any,
    ) -> ErlenTestResponse:
        """Send a request to the app and return the response."""
        if args and isinstance(args[0], (werkzeug.test.EnvironBuilder, dict, _WerkzeugRequest)):
            if isinstance(args[0], werkzeug.test.EnvironBuilder):
                builder = args[0]
                request = builder.get_request()
            elif isinstance(args[0], dict):
                request = werkzeug.test.EnvironBuilder.from_environ(args[0]).get_request()
            else:
                request = args[0]
        else:
            request = self._request_from_builder_args(args, kwargs)
        # Drop the context kept from an earlier request before making a new one.
        self._context_stack.close()
        self._preserved = None
        response = super().open(request, buffered=buffered, follow_redirects=follow_redirects)
        response.json_module = self.application.json  # type: ignore[assignment]
        if self.preserve_context and self._preserved is not None:
            ctx = self._preserved
            app_ctx = ctx._app_ctx
            if app_ctx is not None:
                token_app = _cv_app.set(app_ctx)
                self._context_stack.callback(_cv_app.reset, token_app)
            token_req = _cv_request.set(ctx)
            self._context_stack.callback(_cv_request.reset, token_req)
        return response  # type: ignore[return-value]

    def _keep(self, ctx: RequestContext) -> None:
        self._preserved = ctx

    def run_wsgi_app(
        self, environ: dict[str, Any], buffered: bool = False
    ) -> tuple[Any, str, Headers]:
        """Run the app through the chosen door (WSGI, or ASGI with ``asgi=True``)."""
        if self.preserve_context:
            environ["erlen._preserve_context"] = self._keep
        if not self.asgi:
            return super().run_wsgi_app(environ, buffered=buffered)
        self._add_cookies_to_wsgi(environ)
        scope = _environ_to_scope(environ)
        if self.preserve_context:
            scope["extensions"]["erlen.preserve_context"] = self._keep
        stream = environ.get("wsgi.input")
        body = stream.read() if stream is not None else b""
        status, raw_headers, content = contextvars.copy_context().run(
            thread_loop().run_until_complete, run_asgi_http(self.application, scope, body)
        )
        from .response import STATUS_LINES

        headers = Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers])
        host = environ.get("HTTP_HOST", "localhost").partition(":")[0]
        self._update_cookies_from_response(
            host, environ.get("PATH_INFO", "/") or "/", headers.getlist("Set-Cookie")
        )
        return [content], STATUS_LINES.get(status, f"{status} UNKNOWN"), headers

    def websocket_connect(self, path: str, **kwargs: Any) -> Any:
        """Open a WebSocket to the app in-process (see :mod:`erlen.websocket`)."""
        from .websocket import TestWebSocket

        return TestWebSocket(self, path, **kwargs)

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


__all__ = ["EnvironBuilder", "ErlenCliRunner", "ErlenClient", "ErlenTestResponse", "run_asgi_http"]
