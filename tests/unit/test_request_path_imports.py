"""No import statement runs on the request path of common requests.

An import statement inside a function runs the import machinery every time (a relative one
about 0.9 µs and 11,000 instructions, a fifth of a hello): the request path imports what it
uses once. Each request kind below is served once to warm up, then again with
``builtins.__import__`` counting; none may import anything (debug mode off).
"""

from __future__ import annotations

import builtins
from typing import Any

import pytest
from jinja2 import DictLoader

from erlen import Erlen, flash, g, redirect, render_template, request, session, url_for


def make_app() -> Erlen:
    app = Erlen(__name__)
    app.secret_key = "secret"

    @app.before_request
    def remember() -> None:
        g.client = request.remote_addr

    @app.after_request
    def header(response: Any) -> Any:
        response.headers["X-Frame-Options"] = "DENY"
        return response

    @app.route("/")
    def hello() -> str:
        return "hello"

    @app.post("/form")
    def form() -> str:
        return f"{request.form['name']} {request.form['count']}"

    @app.post("/json")
    def json_body() -> dict[str, Any]:
        data = request.get_json()
        return {"name": data["name"]}

    @app.route("/search")
    def search() -> str:
        return f"{request.args.get('q', '')} {request.args.get('page', 1, type=int)}"

    @app.route("/session")
    def counter() -> str:
        session["count"] = session.get("count", 0) + 1
        return str(session["count"])

    @app.route("/flash")
    def flash_and_go() -> Any:
        flash("saved")
        return redirect(url_for("hello"))

    @app.route("/environ")
    def environ() -> str:
        return str(request.environ["REQUEST_METHOD"])  # synthesised under ASGI

    # A loaded template (render_template_string compiles its source on every call).
    app.jinja_loader = DictLoader({"page.html": "{{ title }} {{ url_for('hello') }}"})

    @app.route("/page")
    def page() -> str:
        return render_template("page.html", title="Page")

    return app


REQUESTS = [
    ("GET", "/", {}),
    ("POST", "/form", {"data": {"name": "erlen", "count": "3"}}),
    ("POST", "/json", {"json": {"name": "erlen"}}),
    ("GET", "/search?q=x&page=2", {}),
    ("GET", "/session", {}),
    ("GET", "/flash", {}),
    ("GET", "/page", {}),
    ("GET", "/missing", {}),
    ("GET", "/search/", {}),
    ("GET", "/environ", {}),
]


@pytest.mark.parametrize(("method", "path", "options"), REQUESTS, ids=[r[1] for r in REQUESTS])
def test_no_import_per_request(
    method: str, path: str, options: dict[str, Any], protocol: str
) -> None:
    app = make_app()
    client = app.test_client(asgi=protocol == "asgi")
    # The test client itself may import: count only inside the app's own call, and only
    # once a request has been served with the wrapper in place (compiled plans and lazily
    # imported modules are once per app, not per request).
    seen: list[str] = []
    counting_on = False
    original = builtins.__import__

    def counting(name: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(name)
        return original(name, *args, **kwargs)

    def counted() -> Any:
        if counting_on:
            builtins.__import__ = counting

    if protocol == "wsgi":
        inner_wsgi = app.wsgi_app

        def counted_wsgi(environ: Any, start_response: Any) -> Any:
            counted()
            try:
                return list(inner_wsgi(environ, start_response))
            finally:
                builtins.__import__ = original

        app.wsgi_app = counted_wsgi  # type: ignore[method-assign]
    else:
        inner_asgi = app.asgi_app

        async def counted_asgi(scope: Any, receive: Any, send: Any) -> None:
            counted()
            try:
                await inner_asgi(scope, receive, send)
            finally:
                builtins.__import__ = original

        app.asgi_app = counted_asgi  # type: ignore[method-assign]
    first = client.open(path, method=method, **options)
    assert first.status_code in (200, 302, 404)
    counting_on = True
    second = client.open(path, method=method, **options)
    assert second.status_code == first.status_code
    assert seen == []
