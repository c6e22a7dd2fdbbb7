"""The debugging page: show an unhandled error's traceback in the browser, in debug mode.

In debug mode an unhandled exception propagates out of the app instead of becoming a
plain 500. :class:`DebugMiddleware` wraps the app (either door: it is a WSGI and an ASGI
callable like the app itself), catches that exception and answers with a page showing
the traceback, the source around each frame, each frame's local variables and the
request. ``erlen run --debug`` and ``app.run(debug=True)`` serve the app wrapped in it.

The page is read-only: there is no console and no way to run code from the browser.
It still shows source and variable values, so it is only served to loopback clients
unless other addresses are allowed, and it does nothing when debug mode is off.
"""

from __future__ import annotations

import html
import ipaddress
import linecache
import logging
import os
import reprlib
import sysconfig
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import Any

from erlen.concurrency import mark_coroutine_function

#: Header values replaced by ``[redacted]`` on the page.
REDACTED_HEADERS = frozenset(
    {"cookie", "authorization", "proxy-authorization", "x-api-key", "x-auth-token"}
)
#: Lines of source shown before and after each frame's current line.
CONTEXT_LINES = 5
#: Frames shown at most (the innermost ones); a deep recursion would make a huge page.
MAX_FRAMES = 100
#: Local variables shown at most per frame.
MAX_LOCALS = 60

_logger = logging.getLogger("erlen.middleware.debug")
_REDACTED = "[redacted]"
_PAGE_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    # The page has no scripts; forbid any that a repr might smuggle in.
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
]
_PLAIN_500 = b"Internal Server Error\n"
_PLAIN_HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class RequestInfo:
    """What the page shows about the request that failed."""

    method: str
    url: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    client: str | None = None

    @classmethod
    def from_environ(cls, environ: dict[str, Any]) -> RequestInfo:
        """Describe a WSGI request."""
        scheme = environ.get("wsgi.url_scheme", "http")
        host = environ.get("HTTP_HOST") or (
            f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
        )
        path = _wsgi_text(environ.get("SCRIPT_NAME", "")) + _wsgi_text(environ.get("PATH_INFO", ""))
        query = environ.get("QUERY_STRING", "")
        headers = []
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                headers.append((key[5:].replace("_", "-").title(), str(value)))
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
                headers.append((key.replace("_", "-").title(), str(value)))
        return cls(
            method=environ.get("REQUEST_METHOD", "GET"),
            url=f"{scheme}://{host}{path or '/'}" + (f"?{query}" if query else ""),
            headers=headers,
            client=environ.get("REMOTE_ADDR"),
        )

    @classmethod
    def from_scope(cls, scope: dict[str, Any]) -> RequestInfo:
        """Describe an ASGI request."""
        headers = [
            (k.decode("latin-1").title(), v.decode("latin-1")) for k, v in scope.get("headers", ())
        ]
        host = next((v for k, v in headers if k == "Host"), None)
        if host is None:
            server = scope.get("server") or ("localhost", None)
            host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
        root_path = scope.get("root_path", "")
        path = scope.get("path", "/")
        if root_path and not path.startswith(root_path):
            path = root_path + path
        query = scope.get("query_string", b"").decode("latin-1")
        client = scope.get("client")
        return cls(
            method=scope.get("method", "GET"),
            url=f"{scope.get('scheme', 'http')}://{host}{path}" + (f"?{query}" if query else ""),
            headers=headers,
            client=client[0] if client else None,
        )


def _wsgi_text(value: str) -> str:
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


class DebugMiddleware:
    """Serve the debugging page for exceptions that escape *app* (WSGI or ASGI).

    :param app: the Erlen app, or its ``wsgi_app``/``asgi_app``, or any app of either kind.
    :param allow: addresses or networks, besides loopback, that may see the page: a list
        or a comma-separated string such as ``"192.168.1.0/24, 10.0.0.5"``; ``"*"`` allows
        everyone. Defaults to ``ERLEN_DEBUG_ALLOW``. Other clients get a plain 500.
    :param enabled: whether the page is on. By default it follows the wrapped Erlen app's
        debug mode, read on each error, so the page never shows with debug mode off;
        for an app that is not Erlen's the default is on.
    """

    def __init__(
        self,
        app: Any,
        allow: str | Sequence[str] | None = None,
        *,
        enabled: bool | Callable[[], bool] | None = None,
    ) -> None:
        self.app = app
        if allow is None:
            allow = os.environ.get("ERLEN_DEBUG_ALLOW", "")
        self.allow_all, self.allowed_networks = parse_allow(allow)
        self._erlen_app = _find_erlen_app(app)
        self._enabled = enabled

    def is_enabled(self) -> bool:
        """Tell whether the page is on (the app's debug mode unless *enabled* was given)."""
        enabled = self._enabled
        if callable(enabled):
            return bool(enabled())
        if enabled is not None:
            return enabled
        if self._erlen_app is not None:
            return bool(self._erlen_app.debug)
        return True

    def is_allowed(self, address: str | None) -> bool:
        """Tell whether a client at *address* may see the page."""
        if self.allow_all:
            return True
        ip = _parse_ip(address)
        if ip is None:
            # A Unix socket or an unknown peer: it may be a proxy for anyone.
            return False
        return ip.is_loopback or any(ip in net for net in self.allowed_networks)

    def __call__(self, *args: Any) -> Any:
        """Serve WSGI (``environ, start_response``) or ASGI (``scope, receive, send``)."""
        if len(args) == 2:
            return self.wsgi(*args)
        if len(args) == 3:
            return self.asgi(*args)
        raise TypeError("DebugMiddleware is called as a WSGI app (2 args) or an ASGI app (3 args).")

    # -- WSGI ----------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """The WSGI side: run the app, and replace its response by the page on an error."""
        return self._wsgi_body(environ, start_response)

    def _wsgi_body(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterator[bytes]:
        # The app's start_response call is held back until its first body chunk, so an
        # error raised in between can still be answered with the page (as on the ASGI side).
        pending: tuple[str, list[tuple[str, str]]] | None = None
        server_write: Callable[[bytes], Any] | None = None

        def flush() -> None:
            nonlocal pending, server_write
            if pending is not None:
                status, headers = pending
                pending = None
                server_write = start_response(status, headers)

        def write(data: bytes) -> None:
            # The legacy write() callable: headers go out first.
            flush()
            if server_write is None:
                raise RuntimeError("write() called before start_response()")
            server_write(data)

        def held_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            nonlocal pending
            if exc_info is not None and server_write is not None:
                raise exc_info[1].with_traceback(exc_info[2])
            pending = (status, headers)
            return write

        app_iter: Iterable[bytes] | None = None
        try:
            app_iter = self.app(environ, held_start_response)
            for chunk in app_iter:
                if chunk:
                    flush()
                    yield chunk
            flush()
        except Exception as e:
            if server_write is not None or not self.is_enabled():
                raise
            status, headers, body = self._error_response(e, RequestInfo.from_environ(environ))
            start_response(status, headers)
            if environ.get("REQUEST_METHOD") != "HEAD":
                yield body
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()

    # -- ASGI ----------------------------------------------------------------------------

    async def asgi(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Any],
        send: Callable[[dict[str, Any]], Any],
    ) -> None:
        """The ASGI side: run the app, and send the page instead if it raises before replying."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        pending_start: dict[str, Any] | None = None
        replied = False

        async def guarded_send(message: dict[str, Any]) -> None:
            # Hold back the response start until the first body chunk, so an error
            # raised in between can still be answered with the page.
            nonlocal pending_start, replied
            if message["type"] == "http.response.start":
                pending_start = message
                return
            if pending_start is not None:
                start, pending_start = pending_start, None
                replied = True
                await send(start)
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        except Exception as e:
            if replied or not self.is_enabled():
                raise
            status, headers, body = self._error_response(e, RequestInfo.from_scope(scope))
            await send(
                {
                    "type": "http.response.start",
                    "status": int(status.split(" ", 1)[0]),
                    "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers],
                }
            )
            await send(
                {
                    "type": "http.response.body",
                    "body": b"" if scope.get("method") == "HEAD" else body,
                }
            )
            return
        if pending_start is not None:
            # The app started a response and never sent a body message.
            await send(pending_start)

    # -- shared --------------------------------------------------------------------------

    def _error_response(
        self, exc: BaseException, info: RequestInfo
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        self._log(exc, info)
        if not self.is_allowed(info.client):
            return "500 INTERNAL SERVER ERROR", list(_PLAIN_HEADERS), _PLAIN_500
        try:
            page = render_debug_page(exc, info).encode("utf-8")
        except Exception:  # pragma: no cover - a last resort if rendering itself breaks
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            return "500 INTERNAL SERVER ERROR", list(_PLAIN_HEADERS), text.encode("utf-8")
        headers = [*_PAGE_HEADERS, ("Content-Length", str(len(page)))]
        return "500 INTERNAL SERVER ERROR", headers, page

    def _log(self, exc: BaseException, info: RequestInfo) -> None:
        logger = self._erlen_app.logger if self._erlen_app is not None else _logger
        logger.error(
            "Exception on request [%s %s]",
            info.method,
            info.url,
            exc_info=(type(exc), exc, exc.__traceback__),
        )


def parse_allow(allow: str | Sequence[str]) -> tuple[bool, list[Network]]:
    """Parse an allow list: ``(everyone allowed, networks)``; raise ``ValueError`` if invalid."""
    items = allow.replace(",", " ").split() if isinstance(allow, str) else list(allow)
    networks: list[Network] = []
    for item in items:
        item = item.strip()
        if item == "*":
            return True, []
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(
                    f"Cannot allow {item!r} to see the debugging page: give IP addresses"
                    " or networks such as '192.168.1.0/24', or '*'."
                ) from None
    return False, networks


def _parse_ip(address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _find_erlen_app(app: Any) -> Any:
    """Find the Erlen app inside *app*: itself, its bound method's owner, or a wrapped ``.app``."""
    from ..app import Erlen

    for _ in range(16):
        if isinstance(app, Erlen):
            return app
        owner = getattr(app, "__self__", None)
        if isinstance(owner, Erlen):
            return owner
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


# -- rendering ---------------------------------------------------------------------------------


class _Repr(reprlib.Repr):
    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = 240
        self.maxother = 240
        self.maxlong = 80
        for name in ("maxlist", "maxtuple", "maxset", "maxfrozenset", "maxdeque", "maxdict"):
            setattr(self, name, 20)

    def repr_instance(self, x: Any, level: int) -> str:
        try:
            text = repr(x)
        except Exception as e:
            return f"<repr of {type(x).__name__} failed: {type(e).__name__}: {e}>"
        if len(text) > self.maxother:
            text = text[: self.maxother - 3] + "..."
        return text


def safe_repr(value: Any) -> str:
    """Return a short ``repr`` of *value* that never raises."""
    try:
        return _Repr().repr(value)
    except Exception as e:
        return f"<repr of {type(value).__name__} failed: {type(e).__name__}: {e}>"


def _library_roots() -> tuple[str, ...]:
    # Erlen's own package (this module lives in erlen/middleware/).
    roots = {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            roots.add(os.path.realpath(paths[key]))
    roots.add(os.path.realpath(os.path.dirname(os.__file__)))
    return tuple(sorted(root + os.sep for root in roots))


def _is_library(filename: str) -> bool:
    if filename.startswith("<"):
        return True
    real = os.path.realpath(filename)
    return real.startswith(_library_roots()) or f"{os.sep}site-packages{os.sep}" in real


def _secrets(info: RequestInfo) -> list[str]:
    """Values of redacted headers, which must not surface through locals either."""
    found: set[str] = set()
    for name, value in info.headers:
        if name.lower() not in REDACTED_HEADERS:
            continue
        found.add(value)
        if name.lower() == "cookie":
            for part in value.split(";"):
                found.add(part.partition("=")[2].strip())
        else:
            found.add(value.partition(" ")[2].strip())
    # Short values would blot out ordinary text.
    return sorted((v for v in found if len(v) >= 6), key=len, reverse=True)


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, _REDACTED)
    return text


def _exception_chain(exc: BaseException) -> list[tuple[BaseException, str | None]]:
    """The chain oldest first, each with the sentence that links it to the next one."""
    chain: list[tuple[BaseException, str | None]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link: str | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            link = "The above exception was the direct cause of the following exception:"
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            link = "During handling of the above exception, another exception occurred:"
            current = current.__context__
        else:
            current = None
    # Walking from the newest, each link was stored on the older exception it leads
    # from: reversed, every entry carries the sentence shown after it.
    chain.reverse()
    return chain


def _frames(tb: TracebackType | None) -> list[tuple[FrameType, int]]:
    # The middleware's own frame is where the error was caught, not part of the story.
    return [
        (frame, lineno)
        for frame, lineno in traceback.walk_tb(tb)
        if frame.f_code.co_filename != __file__
    ]


def _render_frame(frame: FrameType, lineno: int, secrets: Sequence[str]) -> str:
    code = frame.f_code
    filename = code.co_filename
    library = _is_library(filename)
    esc = html.escape
    where = (
        f'File <b>"{esc(filename)}"</b>, line <b>{lineno}</b>, in <code>{esc(code.co_name)}</code>'
    )
    # Library frames (stdlib, site-packages, Erlen) fold up so the app's own frames stand out.
    if library:
        parts = [f'<details class="frame lib"><summary class="where">{where}</summary>']
    else:
        parts = [f'<div class="frame"><div class="where">{where}</div>']
    linecache.checkcache(filename)
    lines = linecache.getlines(filename, frame.f_globals)
    if lines:
        first = max(1, lineno - CONTEXT_LINES)
        last = min(len(lines), lineno + CONTEXT_LINES)
        rows = []
        for n in range(first, last + 1):
            cls = ' class="current"' if n == lineno else ""
            text = esc(lines[n - 1].rstrip("\r\n"))
            rows.append(f'<span{cls}><span class="ln">{n:>5}</span> {text}</span>')
        parts.append(f'<pre class="source">{"".join(rows)}</pre>')
    else:
        parts.append('<p class="nosource">Source not available.</p>')

    if code.co_name == "<module>":
        parts.append('<p class="nosource">Module-level frame: globals are not listed.</p>')
    else:
        names = sorted(frame.f_locals)
        if names:
            rows = []
            for name in names[:MAX_LOCALS]:
                value = _scrub(safe_repr(frame.f_locals[name]), secrets)
                rows.append(f"<tr><th>{esc(name)}</th><td><pre>{esc(value)}</pre></td></tr>")
            if len(names) > MAX_LOCALS:
                rows.append(f"<tr><td colspan=2>… {len(names) - MAX_LOCALS} more</td></tr>")
            parts.append(
                f"<details class=locals open><summary>Local variables ({len(names)})"
                f'</summary><table class="vars">{"".join(rows)}</table></details>'
            )
        else:
            parts.append('<p class="nosource">No local variables.</p>')
    parts.append("</details>" if library else "</div>")
    return "".join(parts)


def render_debug_page(exc: BaseException, info: RequestInfo) -> str:
    """Render the debugging page for *exc* raised while serving the request *info*."""
    esc = html.escape
    secrets = _secrets(info)
    title = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    body: list[str] = []
    for error, link in _exception_chain(exc):
        message = _scrub(str(error), secrets)
        notes = getattr(error, "__notes__", None) or []
        name = type(error).__qualname__
        module = type(error).__module__
        if module not in ("builtins", "__main__"):
            name = f"{module}.{name}"
        body.append('<section class="exception">')
        body.append(f"<h2>{esc(name)}</h2>")
        if message:
            body.append(f'<pre class="message">{esc(message)}</pre>')
        for note in notes:
            body.append(f'<pre class="note">{esc(_scrub(str(note), secrets))}</pre>')
        frames = _frames(error.__traceback__)
        if len(frames) > MAX_FRAMES:
            skipped = len(frames) - MAX_FRAMES
            body.append(f'<p class="nosource">{skipped} outer frames are not shown.</p>')
            frames = frames[-MAX_FRAMES:]
        body.append('<p class="hint">Traceback (most recent call last):</p>')
        body.extend(_render_frame(frame, lineno, secrets) for frame, lineno in frames)
        body.append("</section>")
        if link:
            body.append(f'<p class="link">{esc(link)}</p>')

    app_frames = [f for f in _frames(exc.__traceback__) if not _is_library(f[0].f_code.co_filename)]
    origin = ""
    if app_frames:
        frame, lineno = app_frames[-1]
        origin = (
            f'<p class="origin">In your code: {esc(frame.f_code.co_filename)}, line {lineno},'
            f" in {esc(frame.f_code.co_name)}</p>"
        )
    headers = "".join(
        f"<tr><th>{esc(k)}</th><td>"
        f"{_REDACTED if k.lower() in REDACTED_HEADERS else esc(_scrub(v, secrets))}</td></tr>"
        for k, v in info.headers
    )
    plain = _scrub("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)), secrets)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(_scrub(title, secrets))[:200]} // Erlen debugger</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>{esc(_scrub(title, secrets))}</h1>
{origin}
<p class="request">{esc(info.method)} <a href="{esc(info.url, quote=True)}">{esc(_scrub(info.url, secrets))}</a></p>
</header>
<main>
{"".join(body)}
<section class="req">
<h2>Request</h2>
<table class="vars">
<tr><th>Method</th><td>{esc(info.method)}</td></tr>
<tr><th>URL</th><td>{esc(_scrub(info.url, secrets))}</td></tr>
<tr><th>Client</th><td>{esc(info.client or "unknown")}</td></tr>
</table>
<h3>Headers</h3>
<table class="vars">{headers}</table>
</section>
<details class="plain"><summary>Plain-text traceback</summary><pre>{esc(plain)}</pre></details>
</main>
<footer>
Erlen debug mode. This page shows source code and variable values, so it is served only to
this machine (or addresses allowed by ERLEN_DEBUG_ALLOW). It cannot run code.
Never turn debug mode on in production.
</footer>
</body>
</html>
"""


_CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d232a;background:#fafafa}
header{background:#8a1c1c;color:#fff;padding:1em 1.5em}
header h1{font-size:1.35em;margin:0 0 .3em;word-break:break-word}
header a{color:#ffe3e3}
header p{margin:.2em 0}
main{padding:1em 1.5em}
h2{font-size:1.15em;margin:1.2em 0 .3em;color:#8a1c1c}
pre{margin:0;white-space:pre-wrap;word-break:break-word;font:13px/1.4 ui-monospace,Menlo,Consolas,monospace}
.message{font-size:14px;background:#fff1f1;border-left:4px solid #c0392b;padding:.5em .8em}
.note{color:#555;padding:.2em .8em}
.hint,.link{color:#555;font-style:italic}
.frame{background:#fff;border:1px solid #ddd;border-radius:4px;margin:.6em 0;padding:.5em .8em}
.frame.lib{background:#f6f6f6}
.frame.lib>summary{color:#666;margin:0}
.where{font-size:13px;margin-bottom:.3em}
.source{background:#f4f4f4;padding:.3em 0}
.source>span{display:block;padding:0 .5em}
.source .current{background:#ffe08a;font-weight:bold}
.ln{color:#999}
.nosource{color:#777;font-size:13px;margin:.3em 0}
.vars{border-collapse:collapse;font-size:13px;width:100%}
.vars th{width:1%;text-align:left;vertical-align:top;padding:.15em .8em .15em 0;white-space:nowrap;font-family:ui-monospace,monospace}
.vars td{padding:.15em 0;word-break:break-all}
details summary{cursor:pointer;color:#444;font-size:13px;margin:.3em 0}
footer{color:#666;font-size:12px;padding:1em 1.5em;border-top:1px solid #ddd}
"""


mark_coroutine_function(DebugMiddleware.__call__)

__all__ = ["DebugMiddleware", "RequestInfo", "parse_allow", "render_debug_page", "safe_repr"]
