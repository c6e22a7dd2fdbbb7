"""WSGI middleware on ``app.wsgi_app`` under a real uvicorn, compared with gunicorn.

The app wraps its WSGI callable in Werkzeug's ProxyFix and a prefix middleware, as a Flask
app behind nginx does; uvicorn serves it through the ASGI door (erlen.wsgi_bridge), gunicorn
through the WSGI door, and both must give the same answers.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import httpx

from support import TIMEOUT, serve

APP_SOURCE = textwrap.dedent(
    """
    from werkzeug.middleware.proxy_fix import ProxyFix

    from erlen import Erlen, jsonify, request, url_for

    app = Erlen(__name__)


    @app.route("/info")
    def info():
        return jsonify(
            remote_addr=request.remote_addr,
            scheme=request.scheme,
            host=request.host,
            path=request.path,
            script_root=request.script_root,
            external=url_for("info", _external=True),
        )


    @app.route("/stream")
    def stream():
        return app.response_class(f"{i}\\n" for i in range(3))


    class Prefix:
        def __init__(self, app, prefix):
            self.app = app
            self.prefix = prefix

        def __call__(self, environ, start_response):
            path = environ["PATH_INFO"]
            if path.startswith(self.prefix):
                environ["SCRIPT_NAME"] += self.prefix
                environ["PATH_INFO"] = path[len(self.prefix):]
            return self.app(environ, start_response)


    app.wsgi_app = Prefix(app.wsgi_app, "/shop")
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    """
)

FORWARDED = {
    "X-Forwarded-For": "6.6.6.6, 203.0.113.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "shop.example",
}


def test_proxy_fix_and_a_prefix_middleware_under_uvicorn_as_under_gunicorn(
    tmp_path: Path,
) -> None:
    (tmp_path / "bridged_app.py").write_text(APP_SOURCE)
    answers = {}
    # uvicorn would apply X-Forwarded-For/-Proto from 127.0.0.1 itself: leave it to ProxyFix.
    for kind, extra in (("uvicorn", ("--no-proxy-headers",)), ("gunicorn", ())):
        with (
            serve(kind, tmp_path, "bridged_app:app", *extra) as base,
            httpx.Client(base_url=base, timeout=TIMEOUT) as client,
        ):
            info = client.get("/shop/info", headers=FORWARDED)
            stream = client.get("/shop/stream")
            answers[kind] = (info.status_code, info.json(), stream.status_code, stream.text)
    assert answers["uvicorn"] == answers["gunicorn"]
    status, info, stream_status, stream_text = answers["uvicorn"]
    assert status == 200
    assert info == {
        "remote_addr": "203.0.113.9",
        "scheme": "https",
        "host": "shop.example",
        "path": "/info",
        "script_root": "/shop",
        "external": "https://shop.example/shop/info",
    }
    assert (stream_status, stream_text) == (200, "0\n1\n2\n")
