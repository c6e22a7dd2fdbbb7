"""ProxyFix (erlen.middleware.proxy_fix) in process, through both doors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

# -- ProxyFix in process, both doors ---------------------------------------------------------------


def proxy_app() -> Any:
    from erlen import Erlen, jsonify, request, url_for

    app = Erlen("proxied_in_process")

    @app.route("/info")
    def info() -> Any:
        return jsonify(
            remote_addr=request.remote_addr,
            scheme=request.scheme,
            host=request.host,
            url=request.url,
            root=request.root_path,
            external=url_for("info", _external=True),
        )

    return app


def call_info(
    protocol: str, wrap: Callable[[Any], Any], headers: dict[str, str], path: str = "/info"
) -> dict[str, Any]:
    app = proxy_app()
    if protocol == "wsgi":
        app.wsgi_app = wrap(app.wsgi_app)
        transport: Any = httpx.WSGITransport(app=app, remote_addr="10.0.0.2")
        with httpx.Client(transport=transport, base_url="http://backend:8000") as client:
            return dict(client.get(path, headers=headers).json())
    app.asgi_app = wrap(app.asgi_app)

    async def go() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=app, client=("10.0.0.2", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://backend:8000") as c:
            return dict((await c.get(path, headers=headers)).json())

    return asyncio.run(go())


def test_proxy_fix_defaults_trust_one_proxy_for_for_and_proto(protocol: str) -> None:
    from erlen.middleware.proxy_fix import ProxyFix

    headers = {
        "X-Forwarded-For": "6.6.6.6, 203.0.113.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.example",
    }
    info = call_info(protocol, ProxyFix, headers)
    assert info["remote_addr"] == "203.0.113.7"
    assert info["scheme"] == "https"
    # x_host is 0 by default: the Host header stays.
    assert info["host"] == "backend:8000"


def test_proxy_fix_without_headers_changes_nothing(protocol: str) -> None:
    from erlen.middleware.proxy_fix import ProxyFix

    info = call_info(protocol, ProxyFix, {})
    assert (info["remote_addr"], info["scheme"], info["host"]) == (
        "10.0.0.2",
        "http",
        "backend:8000",
    )


def test_proxy_fix_two_hops_and_too_few_values(protocol: str) -> None:
    from erlen.middleware.proxy_fix import ProxyFix

    def two(app: Any) -> ProxyFix:
        return ProxyFix(app, x_for=2, x_proto=2)

    info = call_info(protocol, two, {"X-Forwarded-For": "1.1.1.1, 2.2.2.2, 3.3.3.3"})
    assert info["remote_addr"] == "2.2.2.2"
    # Fewer values than trusted proxies: someone skipped a proxy; ignore the header.
    info = call_info(protocol, two, {"X-Forwarded-For": "3.3.3.3", "X-Forwarded-Proto": "https"})
    assert info["remote_addr"] == "10.0.0.2"
    assert info["scheme"] == "http"


def test_proxy_fix_host_port_and_prefix(protocol: str) -> None:
    from erlen.middleware.proxy_fix import ProxyFix

    def everything(app: Any) -> ProxyFix:
        return ProxyFix(app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)

    headers = {
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "example.com",
        "X-Forwarded-Port": "8443",
        "X-Forwarded-Prefix": "/shop/",
    }
    info = call_info(protocol, everything, headers)
    assert info["host"] == "example.com:8443"
    assert info["root"] == "/shop"
    assert info["url"] == "https://example.com:8443/shop/info"
    assert info["external"] == "https://example.com:8443/shop/info"
    headers["X-Forwarded-Port"] = "443"
    assert call_info(protocol, everything, headers)["url"] == "https://example.com/shop/info"


def test_proxy_fix_ignores_nonsense_values(protocol: str) -> None:
    from erlen.middleware.proxy_fix import ProxyFix

    def fix(app: Any) -> ProxyFix:
        return ProxyFix(app, x_proto=1, x_port=1)

    info = call_info(protocol, fix, {"X-Forwarded-Proto": "gopher", "X-Forwarded-Port": "eighty"})
    assert info["scheme"] == "http"
    assert info["host"] == "backend:8000"


def test_proxy_fix_keeps_the_originals_in_the_environ() -> None:
    from erlen.middleware.proxy_fix import ORIGINAL_KEY, ProxyFix

    seen: dict[str, Any] = {}

    def inner(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        start_response("204 No Content", [])
        return []

    environ = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.7"}
    ProxyFix(inner)(environ, lambda *a: None)
    assert seen["REMOTE_ADDR"] == "203.0.113.7"
    assert seen[ORIGINAL_KEY]["REMOTE_ADDR"] == "10.0.0.2"


def test_proxy_fix_websocket_scope_and_lifespan() -> None:
    from erlen.middleware.proxy_fix import ProxyFix

    scopes: list[dict[str, Any]] = []

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scopes.append(scope)

    fix = ProxyFix(inner, x_for=1, x_proto=1)
    ws = {
        "type": "websocket",
        "scheme": "ws",
        "path": "/ws",
        "headers": [(b"x-forwarded-proto", b"https"), (b"x-forwarded-for", b"203.0.113.7")],
        "client": ("10.0.0.2", 1),
    }
    lifespan = {"type": "lifespan"}

    async def go() -> None:
        await fix(ws, None, None)
        await fix(lifespan, None, None)

    asyncio.run(go())
    assert scopes[0]["scheme"] == "wss"
    assert scopes[0]["client"] == ("203.0.113.7", 0)
    assert ws["scheme"] == "ws", "the caller's scope is not changed"
    assert scopes[1] is lifespan


def test_proxy_fix_arguments() -> None:
    from erlen.middleware.proxy_fix import ProxyFix

    with pytest.raises(ValueError, match="x_for must be 0 or more"):
        ProxyFix(None, x_for=-1)
    with pytest.raises(TypeError):
        ProxyFix(None)(1)
