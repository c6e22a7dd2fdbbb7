"""A small app written against Flask's API, served by real gunicorn, uvicorn, uWSGI and Apache
with mod_wsgi on loopback.

Each server runs once for the module (a subprocess on a free port, polled until it accepts
connections, always terminated). Every request is sent with httpx to both servers and
through the test client, and the answers must be the same.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from wsgi_servers import serve_wsgi

APP_SOURCE = textwrap.dedent(
    """
    import asyncio

    from erlen import Erlen as Flask
    from erlen import (
        Blueprint, abort, after_this_request, g, jsonify, make_response, redirect, request,
        session, url_for,
    )

    app = Flask(__name__)
    app.secret_key = "real server secret"
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024

    STARTED = []


    @app.before_serving
    def started():
        STARTED.append(True)


    @app.before_request
    def before():
        g.marker = "g-ok"
        if request.args.get("short") == "circuit":
            return "short-circuited", 203


    @app.after_request
    def after(response):
        response.headers["X-After"] = "yes"
        return response


    @app.route("/")
    def index():
        return "Hello, World!"


    @app.route("/user/<name>")
    def user(name):
        return {"name": name, "url": url_for("user", name=name), "g": g.marker}


    @app.route("/post/<int:post_id>", methods=["GET", "PUT"])
    def post(post_id):
        return jsonify(id=post_id, method=request.method)


    @app.post("/form")
    def form():
        files = {k: [f.filename, len(f.read())] for k, f in request.files.items()}
        return {"form": request.form.to_dict(flat=False), "files": files}


    @app.post("/json")
    def as_json():
        return {"json": request.get_json(), "is_json": request.is_json}


    @app.route("/echo", methods=["POST", "PUT", "PATCH", "DELETE"])
    def echo():
        return request.get_data(), 200, {"Content-Type": "application/octet-stream"}


    @app.route("/args")
    def args():
        return {
            "page": request.args.get("page", type=int),
            "tags": request.args.getlist("tag"),
            "full_path": request.full_path,
        }


    @app.route("/headers")
    def headers():
        return {
            "custom": request.headers.get("x-custom"),
            "accept_json": request.accept_mimetypes.accept_json,
            "cookie": request.cookies.get("flavour"),
            "auth": request.authorization.username if request.authorization else None,
        }


    @app.route("/cookie")
    def cookie():
        resp = make_response("cookie set")
        resp.set_cookie("flavour", "oat", httponly=True, samesite="Lax")
        return resp


    @app.route("/session")
    def show_session():
        session["n"] = session.get("n", 0) + 1
        return {"n": session["n"]}


    @app.route("/redirect")
    def go():
        return redirect(url_for("index"))


    @app.route("/slash/")
    def slash():
        return "slash"


    @app.route("/abort/<int:code>")
    def do_abort(code):
        abort(code)


    @app.errorhandler(404)
    def not_found(e):
        return {"error": "not found", "path": request.path}, 404


    @app.route("/tuple")
    def tuple_view():
        return "created", 201, {"X-Tuple": "1"}


    @app.route("/stream")
    def stream():
        def gen():
            for i in range(5):
                yield f"line {i}\\n"
        return gen(), {"Content-Type": "text/plain"}


    @app.route("/async")
    async def async_view():
        await asyncio.sleep(0)
        @after_this_request
        def add(response):
            response.headers["X-This-Request"] = "1"
            return response
        return {"async": True}


    @app.route("/astream")
    async def astream():
        async def gen():
            for i in range(3):
                await asyncio.sleep(0)
                yield f"chunk {i};"
        return gen()


    @app.route("/crash")
    def crash():
        raise RuntimeError("expected crash (logged by the test app)")


    bp = Blueprint("api", __name__, url_prefix="/api")


    @bp.route("/items/<int:item>")
    def item(item):
        return {"item": item, "self": url_for(".item", item=item)}


    app.register_blueprint(bp)
    app.logger.disabled = True
    """
)

REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/", {}),
    ("HEAD", "/", {}),
    ("OPTIONS", "/", {}),
    ("GET", "/?short=circuit", {}),
    ("GET", "/user/alice", {}),
    ("GET", "/user/%C3%A9l%C3%A8ve", {}),
    ("GET", "/post/7", {}),
    ("PUT", "/post/7", {}),
    ("POST", "/post/7", {}),
    ("GET", "/post/x", {}),
    ("POST", "/form", {"data": {"a": "1", "b": "two"}}),
    ("POST", "/form", {"files": {"up": ("up.txt", b"x" * 3000, "text/plain")}, "data": {"f": "v"}}),
    ("POST", "/json", {"json": {"k": [1, 2, 3]}}),
    ("POST", "/json", {"content": b"{bad", "headers": {"Content-Type": "application/json"}}),
    ("POST", "/json", {"content": b"{}", "headers": {"Content-Type": "text/plain"}}),
    ("POST", "/echo", {"content": b"raw \x00 bytes"}),
    ("PATCH", "/echo", {"content": b"p" * 50000}),
    ("POST", "/echo", {"content": b"big" * 30000}),
    ("GET", "/args?page=2&tag=a&tag=b&x=%20", {}),
    (
        "GET",
        "/headers",
        {
            "headers": {
                "X-Custom": "c",
                "Accept": "application/json",
                "Cookie": "flavour=choc",
                "Authorization": "Basic dXNlcjpwdw==",
            }
        },
    ),
    ("GET", "/cookie", {}),
    ("GET", "/session", {}),
    ("GET", "/redirect", {}),
    ("GET", "/slash", {}),
    ("GET", "/slash?keep=1", {}),
    ("GET", "/abort/403", {}),
    ("GET", "/abort/404", {}),
    ("GET", "/missing", {}),
    ("GET", "/tuple", {}),
    ("GET", "/stream", {}),
    ("GET", "/async", {}),
    ("GET", "/astream", {}),
    ("GET", "/crash", {}),
    ("GET", "/api/items/3", {}),
]

HEADERS = (
    "content-type",
    "location",
    "allow",
    "set-cookie",
    "x-after",
    "x-tuple",
    "x-this-request",
)


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("realserver_core")
    (path / "coreapp.py").write_text(APP_SOURCE)
    return path


@pytest.fixture(scope="module", params=["gunicorn+uvicorn", "uwsgi", "nginx+uwsgi", "mod_wsgi"])
def servers(
    request: pytest.FixtureRequest, app_dir: Path, real_server: Any
) -> Iterator[dict[str, str]]:
    """The app on gunicorn and uvicorn, on uWSGI (its HTTP router, or behind nginx), or on
    Apache with mod_wsgi, each as docs/deployment.md shows."""
    if request.param != "gunicorn+uvicorn":
        with serve_wsgi(request.param, app_dir, "coreapp:app") as base:
            yield {request.param: base}
        return
    serve = real_server
    with (
        serve("gunicorn", app_dir, "coreapp:app") as g,
        serve("uvicorn", app_dir, "coreapp:app") as u,
    ):
        yield {"gunicorn": g, "uvicorn": u}


@pytest.fixture(scope="module")
def local_app(app_dir: Path) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("coreapp_local", app_dir / "coreapp.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


#: The base URL the app is told about, where it is not the one requested: Debian's
#: uwsgi_params sends nginx's ``$host``, without the port (docs/deployment.md).
SEEN_AS = {"nginx+uwsgi": "http://127.0.0.1"}


def _client_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Translate httpx request arguments into test-client ones."""
    out: dict[str, Any] = {}
    if "headers" in kwargs:
        out["headers"] = kwargs["headers"]
        if "Content-Type" in kwargs["headers"]:
            out["content_type"] = kwargs["headers"]["Content-Type"]
    if "content" in kwargs:
        out["data"] = kwargs["content"]
    if "json" in kwargs:
        out["json"] = kwargs["json"]
    if "files" in kwargs:
        import io

        data = dict(kwargs.get("data", {}))
        for key, (name, content, _ctype) in kwargs["files"].items():
            data[key] = (io.BytesIO(content), name)
        out["data"] = data
    elif "data" in kwargs:
        out["data"] = kwargs["data"]
    return out


def _normalise(headers: Any) -> dict[str, str]:
    out = {k: headers.get(k) for k in HEADERS if headers.get(k) is not None}
    cookie = out.get("set-cookie", "")
    if cookie.startswith("session="):
        # The signed session carries a timestamp: compare its attributes, not its value.
        out["set-cookie"] = "session=<signed>;" + cookie.split(";", 1)[1]
    return out


@pytest.mark.parametrize(("method", "path", "kwargs"), REQUESTS)
def test_real_servers_answer_like_test_client(
    servers: dict[str, str], local_app: Any, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    for name, base in servers.items():
        # Without a cookie jar the test client sends a Cookie header as given, like httpx; the
        # same base URL gives the same host in absolute URLs (redirects).
        tc = local_app.test_client(use_cookies=False).open(
            path, method=method, base_url=SEEN_AS.get(name, base), **_client_kwargs(kwargs)
        )
        expected_body = tc.data
        with httpx.Client(base_url=base, timeout=10.0) as http:
            r = http.request(method, path, **kwargs)
        where = f"{name}: {method} {path}"
        assert r.status_code == tc.status_code, f"{where}: {r.status_code} != {tc.status_code}"
        body = r.content
        if path == "/session":
            assert body == expected_body == b'{"n":1}\n', where
        else:
            assert body == expected_body, f"{where}: {body[:200]!r} != {expected_body[:200]!r}"
        assert _normalise(r.headers) == _normalise(tc.headers), where
        if method != "HEAD" and r.headers.get("content-length") is not None:
            assert int(r.headers["content-length"]) == len(body), where


def test_real_servers_keep_cookies_and_session(servers: dict[str, str]) -> None:
    for name, base in servers.items():
        with httpx.Client(base_url=base, timeout=10.0) as http:
            assert http.get("/session").json() == {"n": 1}, name
            assert http.get("/session").json() == {"n": 2}, name
            http.get("/cookie")
            assert http.get("/headers").json()["cookie"] == "oat", name


def test_real_servers_follow_redirects(servers: dict[str, str]) -> None:
    for name, base in servers.items():
        with httpx.Client(base_url=base, timeout=10.0, follow_redirects=True) as http:
            r = http.get("/redirect")
            assert (r.status_code, r.text) == (200, "Hello, World!"), name
            if name in SEEN_AS:  # an absolute URL without nginx's port: check, don't follow
                r = http.get("/slash?keep=1", follow_redirects=False)
                assert r.headers["location"] == f"{SEEN_AS[name]}/slash/?keep=1", name
                continue
            r = http.get("/slash?keep=1")
            assert (r.status_code, r.text, str(r.url)) == (200, "slash", f"{base}/slash/?keep=1")


def test_streams_arrive_in_pieces(servers: dict[str, str]) -> None:
    for name, base in servers.items():
        with httpx.Client(base_url=base, timeout=10.0) as http, http.stream("GET", "/stream") as r:
            assert r.headers.get("content-length") is None, name
            assert r.read() == b"".join(f"line {i}\n".encode() for i in range(5))


def test_uvicorn_ran_lifespan_startup(app_dir: Path, real_server: Any) -> None:
    """before_serving runs under uvicorn (the lifespan protocol) and the app answers."""
    serve = real_server
    source = (app_dir / "coreapp.py").read_text()
    (app_dir / "lifespanapp.py").write_text(
        source + "\n\n@app.route('/started')\ndef was_started():\n    return str(len(STARTED))\n"
    )
    with serve("uvicorn", app_dir, "lifespanapp:app") as base:
        assert httpx.get(f"{base}/started", timeout=10.0).text == "1"
