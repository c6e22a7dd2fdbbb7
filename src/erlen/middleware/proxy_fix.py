"""Trust ``X-Forwarded-*`` headers set by a known number of reverse proxies.

Behind nginx the app sees nginx as the client, ``http`` as the scheme and nginx's
upstream address as the host. :class:`ProxyFix` restores what the visitor used, from the
headers the proxy adds, for WSGI and ASGI alike::

    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)   # every server
    app.asgi_app = ProxyFix(app.asgi_app, x_for=1, x_proto=1)   # ASGI only, WebSockets too

Wrapping ``wsgi_app`` covers both doors (under an ASGI server, HTTP requests then go
through :mod:`erlen.wsgi_bridge`); wrapping ``asgi_app`` instead keeps ASGI requests on
the direct path and covers WebSocket handshakes as well.

Each argument is the number of proxies trusted to set that header. A client can send
any header it likes, so only the last *n* values (those appended by your own proxies)
are used, and a header with fewer values than that is ignored. Only use it when the
app is reachable through the proxies alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from erlen.concurrency import mark_coroutine_function

#: Where the WSGI side keeps the values it replaced.
ORIGINAL_KEY = "erlen.proxy_fix.orig"


class ProxyFix:
    """Rewrite client address, scheme, host, port and prefix from ``X-Forwarded-*`` headers.

    :param app: a WSGI or ASGI app (``app.wsgi_app``, ``app.asgi_app`` or the Erlen app).
    :param x_for: proxies trusted for ``X-Forwarded-For`` (the client address).
    :param x_proto: proxies trusted for ``X-Forwarded-Proto`` (``https``).
    :param x_host: proxies trusted for ``X-Forwarded-Host``.
    :param x_port: proxies trusted for ``X-Forwarded-Port``.
    :param x_prefix: proxies trusted for ``X-Forwarded-Prefix`` (the mount path).

    The wrapper is called the way the wrapped app is: with ``(environ, start_response)``
    it rewrites the WSGI environ, with ``(scope, receive, send)`` the ASGI scope.
    """

    def __init__(
        self,
        app: Any,
        x_for: int = 1,
        x_proto: int = 1,
        x_host: int = 0,
        x_port: int = 0,
        x_prefix: int = 0,
    ) -> None:
        for name, value in (
            ("x_for", x_for),
            ("x_proto", x_proto),
            ("x_host", x_host),
            ("x_port", x_port),
            ("x_prefix", x_prefix),
        ):
            if value < 0:
                raise ValueError(f"{name} must be 0 or more, not {value}.")
        self.app = app
        self.x_for = x_for
        self.x_proto = x_proto
        self.x_host = x_host
        self.x_port = x_port
        self.x_prefix = x_prefix

    def __call__(self, *args: Any) -> Any:
        """Serve WSGI or ASGI, according to how the server calls the wrapper."""
        if len(args) == 2:
            return self.wsgi(*args)
        if len(args) == 3:
            return self.asgi(*args)
        raise TypeError("ProxyFix is called as a WSGI app (2 args) or an ASGI app (3 args).")

    def _trusted(self, value: str | None, trusted: int) -> str | None:
        """Return the value appended by the outermost trusted proxy, or None."""
        if not trusted or not value:
            return None
        values = [v.strip() for v in value.split(",")]
        if len(values) < trusted:
            return None
        return values[-trusted] or None

    def _forwarded(self, get: Callable[[str], str | None]) -> dict[str, str]:
        found: dict[str, str] = {}
        for key, header, trusted in (
            ("for", "x-forwarded-for", self.x_for),
            ("proto", "x-forwarded-proto", self.x_proto),
            ("host", "x-forwarded-host", self.x_host),
            ("port", "x-forwarded-port", self.x_port),
            ("prefix", "x-forwarded-prefix", self.x_prefix),
        ):
            value = self._trusted(get(header), trusted)
            if value is not None:
                found[key] = value
        if "proto" in found:
            found["proto"] = found["proto"].lower()
            if found["proto"] not in ("http", "https", "ws", "wss"):
                del found["proto"]
        if "port" in found and not found["port"].isdigit():
            del found["port"]
        if "prefix" in found:
            found["prefix"] = "/" + found["prefix"].strip("/") if found["prefix"] != "/" else ""
        return found

    # -- WSGI ----------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Rewrite the WSGI environ and call the app."""
        fwd = self._forwarded(lambda name: environ.get("HTTP_" + name.upper().replace("-", "_")))
        environ[ORIGINAL_KEY] = {
            key: environ.get(key)
            for key in (
                "REMOTE_ADDR",
                "wsgi.url_scheme",
                "HTTP_HOST",
                "SERVER_NAME",
                "SERVER_PORT",
                "SCRIPT_NAME",
            )
        }
        if "for" in fwd:
            environ["REMOTE_ADDR"] = fwd["for"]
        if "proto" in fwd:
            environ["wsgi.url_scheme"] = "https" if fwd["proto"] in ("https", "wss") else "http"
        if "host" in fwd:
            host = fwd["host"]
            environ["HTTP_HOST"] = host
            name, port = _split_host(host)
            environ["SERVER_NAME"] = name
            if port is not None:
                environ["SERVER_PORT"] = port
        if "port" in fwd:
            forwarded_port = fwd["port"]
            current_host = environ.get("HTTP_HOST")
            if current_host:
                environ["HTTP_HOST"] = _with_port(
                    current_host, forwarded_port, environ["wsgi.url_scheme"]
                )
            environ["SERVER_PORT"] = forwarded_port
        if "prefix" in fwd:
            environ["SCRIPT_NAME"] = fwd["prefix"]
        result: Iterable[bytes] = self.app(environ, start_response)
        return result

    # -- ASGI ----------------------------------------------------------------------------

    async def asgi(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Any],
        send: Callable[[dict[str, Any]], Any],
    ) -> None:
        """Rewrite a copy of the ASGI scope and call the app."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", ()))
        lookup: dict[str, str] = {}
        for key, value in headers:
            name = key.decode("latin-1").lower()
            text = value.decode("latin-1")
            # Repeated headers are one comma-separated list (RFC 9110, 5.3).
            lookup[name] = f"{lookup[name]}, {text}" if name in lookup else text
        fwd = self._forwarded(lookup.get)
        if not fwd:
            await self.app(scope, receive, send)
            return

        scope = dict(scope)
        websocket = scope["type"] == "websocket"
        if "for" in fwd:
            scope["client"] = (fwd["for"], 0)
        scheme = scope.get("scheme", "ws" if websocket else "http")
        if "proto" in fwd:
            secure = fwd["proto"] in ("https", "wss")
            scheme = ("wss" if secure else "ws") if websocket else ("https" if secure else "http")
            scope["scheme"] = scheme
        host = lookup.get("host")
        if "host" in fwd:
            host = fwd["host"]
            name, port = _split_host(host)
            scope["server"] = (name, int(port) if port else _default_port(scheme))
        if "port" in fwd:
            port_text = fwd["port"]
            if host:
                host = _with_port(host, port_text, scheme)
            server = scope.get("server") or (_split_host(host or "")[0], None)
            scope["server"] = (server[0], int(port_text))
        if host is not None and host != lookup.get("host"):
            headers = [(k, v) for k, v in headers if k.lower() != b"host"]
            headers.append((b"host", host.encode("latin-1")))
            scope["headers"] = headers
        if "prefix" in fwd:
            prefix = fwd["prefix"]
            # ASGI paths include root_path; the proxy stripped the prefix, so add it back.
            scope["root_path"] = prefix + scope.get("root_path", "")
            scope["path"] = prefix + scope["path"]
            if scope.get("raw_path") is not None:
                scope["raw_path"] = prefix.encode("utf-8") + scope["raw_path"]
        await self.app(scope, receive, send)


def _split_host(host: str) -> tuple[str, str | None]:
    """Split ``host[:port]`` (IPv6 hosts in brackets)."""
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1 :]
        return host[: end + 1], (rest[1:] if rest.startswith(":") and rest[1:].isdigit() else None)
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return name, port
    return host, None


def _default_port(scheme: str) -> int:
    return 443 if scheme in ("https", "wss") else 80


def _with_port(host: str, port: str, scheme: str) -> str:
    name = _split_host(host)[0]
    if int(port) == _default_port(scheme):
        return name
    return f"{name}:{port}"


mark_coroutine_function(ProxyFix.__call__)

__all__ = ["ProxyFix"]
