"""The request object through both doors, compared with Flask where the behaviour is Flask's."""

from __future__ import annotations

import io
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from werkzeug.datastructures import FileStorage, MultiDict

import erlen
from erlen import Erlen, request


def _describe(mod: ModuleType) -> dict[str, Any]:
    req = mod.request
    return {
        "method": req.method,
        "scheme": req.scheme,
        "host": req.host,
        "path": req.path,
        "full_path": req.full_path,
        "url": req.url,
        "base_url": req.base_url,
        "url_root": req.url_root,
        "root_path": req.root_path,
        "script_root": req.script_root,
        "host_url": req.host_url,
        "args": req.args.to_dict(flat=False),
        "query_string": req.query_string.decode("latin-1"),
        "remote_addr": req.remote_addr,
        "content_type": req.content_type,
        "mimetype": req.mimetype,
        "mimetype_params": req.mimetype_params,
        "content_length": req.content_length,
        "is_json": req.is_json,
        "is_secure": req.is_secure,
        "endpoint": req.endpoint,
        "blueprint": req.blueprint,
        "view_args": req.view_args,
        "url_rule": str(req.url_rule),
        "cookies": req.cookies.to_dict(),
        "header_x": req.headers.get("x-custom"),
        "header_X": req.headers.get("X-CUSTOM"),
        "accept_best": req.accept_mimetypes.best,
        "accepts_json": req.accept_mimetypes.accept_json,
        "accept_html_quality": req.accept_mimetypes["text/html"],
        "authorization": (
            None
            if req.authorization is None
            else [
                req.authorization.type,
                req.authorization.username,
                req.authorization.password,
                req.authorization.token,
            ]
        ),
        "user_agent": req.user_agent.string,
        "referrer": req.referrer,
        "access_route": req.access_route,
    }


def _describe_app(mod: ModuleType, cls: type) -> Any:
    app = cls(__name__)

    @app.route("/d/<name>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    def describe(name: str) -> Any:
        return _describe(mod)

    @app.route("/")
    def root() -> Any:
        return _describe(mod)

    bp = mod.Blueprint("bp", __name__, url_prefix="/bp")

    @bp.route("/x/<int:n>")
    def bx(n: int) -> Any:
        return _describe(mod)

    app.register_blueprint(bp)
    return app


DESCRIBE_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/", {}),
    ("GET", "/d/x?a=1&a=2&b=&c=%C3%A9&d=a+b", {}),
    ("GET", "/d/%C3%A9t%C3%A9?q=%E2%82%AC", {}),
    ("GET", "/d/sp%20ace", {"base_url": "https://example.test:8443/mount/"}),
    ("GET", "/bp/x/7", {"base_url": "http://example.test/"}),
    ("POST", "/d/post", {"data": "a=1&b=2", "content_type": "application/x-www-form-urlencoded"}),
    ("PUT", "/d/j", {"json": {"a": 1}}),
    (
        "PATCH",
        "/d/ct",
        {"data": b"{}", "content_type": "application/vnd.api+json; charset=UTF-8"},
    ),
    (
        "GET",
        "/d/h",
        {
            "headers": {
                "X-Custom": "yes",
                "Accept": "text/html;q=0.5, application/json",
                "Authorization": "Basic dXNlcjpwYXNz",
                "Referer": "http://ref.test/",
                "User-Agent": "agent/1.0",
                "X-Forwarded-For": "10.0.0.1, 10.0.0.2",
                "Cookie": 'a=1; b=two%20words; c="quoted"',
            }
        },
    ),
    ("GET", "/d/bearer", {"headers": {"Authorization": "Bearer tok.en"}}),
    ("DELETE", "/d/empty?", {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), DESCRIBE_REQUESTS)
def test_request_attributes_match_flask(
    oracle: Any, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    o = oracle(_describe_app)
    f, e = o.check(method, path, compare_body=False, **kwargs)
    fj, ej = f.get_json(), e.get_json()
    if "User-Agent" not in kwargs.get("headers", {}):
        # The clients' default User-Agent differs (Werkzeug/x vs Erlen's); not the request's job.
        del fj["user_agent"], ej["user_agent"]
    assert ej == fj


def test_args_type_conversion_and_getlist(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/")
    def index() -> Any:
        args = request.args
        return {
            "page": args.get("page", type=int),
            "bad": args.get("bad", type=int),
            "missing": args.get("missing", 5, type=int),
            "tags": args.getlist("tag"),
            "ints": args.getlist("n", type=int),
            "first": args["tag"],
            "type": type(args).__name__,
        }

    r = client(app).get("/?page=3&bad=x&tag=a&tag=b&n=1&n=x&n=2")
    assert r.json == {
        "page": 3,
        "bad": None,
        "missing": 5,
        "tags": ["a", "b"],
        "ints": [1, 2],
        "first": "a",
        "type": "ImmutableMultiDict",
    }


def test_parameter_storage_class_is_honoured_for_args_and_form(client: Any) -> None:
    """A request class asking for mutable MultiDicts gets them, as in Flask."""
    from werkzeug.datastructures import MultiDict

    class MutableRequest(erlen.Request):
        parameter_storage_class = MultiDict

    app = Erlen(__name__)
    app.request_class = MutableRequest

    @app.post("/")
    def index() -> Any:
        request.args.add("extra", "1")
        return {
            "args": type(request.args).__name__,
            "form": type(request.form).__name__,
            "values": request.args.getlist("a") + request.args.getlist("extra"),
            "name": request.form["name"],
        }

    r = client(app).post("/?a=x&a=y", data={"name": "erlen"})
    assert r.json == {
        "args": "MultiDict",
        "form": "MultiDict",
        "values": ["x", "y", "1"],
        "name": "erlen",
    }


def test_missing_arg_key_is_400(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/")
    def index() -> str:
        return request.args["required"]

    r = client(app).get("/")
    assert r.status_code == 400


def test_query_string_argument_of_client(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/")
    def index() -> Any:
        return request.args.to_dict(flat=False)

    c = client(app)
    assert c.get("/", query_string={"a": "1", "b": ["x", "y"]}).json == {
        "a": ["1"],
        "b": ["x", "y"],
    }
    assert c.get("/", query_string="z=%20").json == {"z": [" "]}


def test_form_values_and_data(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/", methods=["GET", "POST"])
    def index() -> Any:
        return {
            "form": request.form.to_dict(flat=False),
            "values": request.values.to_dict(flat=False),
            "data": request.data.decode(),
            "get_data": request.get_data(as_text=True),
        }

    c = client(app)
    r = c.post("/?q=1&a=query", data={"a": "form", "b": ["1", "2"]})
    assert r.json == {
        "form": {"a": ["form"], "b": ["1", "2"]},
        "values": {"q": ["1"], "a": ["query", "form"], "b": ["1", "2"]},
        "data": "",
        "get_data": "",
    }
    r = c.post("/", data=b"raw bytes", content_type="text/plain")
    assert r.json == {"form": {}, "values": {}, "data": "raw bytes", "get_data": "raw bytes"}
    # GET: values ignores the form (Flask 2.3+).
    r = c.get("/?x=1", data="a=1", content_type="application/x-www-form-urlencoded")
    assert r.json["values"] == {"x": ["1"]}


def test_get_data_before_form(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/", methods=["POST"])
    def index() -> Any:
        raw = request.get_data()
        return {"raw": raw.decode(), "form": request.form.to_dict()}

    r = client(app).post("/", data={"k": "v w"})
    assert r.json == {"raw": "k=v+w", "form": {"k": "v w"}}


def test_stream_reads_body(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/", methods=["POST"])
    def index() -> str:
        return request.stream.read().decode()

    assert client(app).post("/", data=b"streamed body").text == "streamed body"


def test_files_upload_and_save(client: Any, tmp_path: Path) -> None:
    app = Erlen(__name__)
    saved: dict[str, bytes] = {}

    @app.route("/upload", methods=["POST"])
    def upload() -> Any:
        out = {}
        for key, storage in request.files.items(multi=True):
            assert isinstance(storage, FileStorage)
            target = tmp_path / f"{key}-{storage.filename}"
            storage.save(target)
            saved[key] = target.read_bytes()
            out.setdefault(key, []).append(
                [storage.filename, storage.mimetype, target.stat().st_size]
            )
        return {"files": out, "form": request.form.to_dict()}

    big = b"x" * (600 * 1024)  # over Werkzeug's in-memory threshold: spooled to disk
    with client(app).post(
        "/upload",
        data={
            "field": "value",
            "small": (io.BytesIO(b"hello"), "hello.txt"),
            "big": (io.BytesIO(big), "big.bin", "application/octet-stream"),
        },
        # Werkzeug's client closes its spooled request body with the response only when
        # following redirects; without it the temporary file leaks (a ResourceWarning).
        follow_redirects=True,
    ) as r:
        assert r.status_code == 200, r.text
    assert r.json == {
        "files": {
            "small": [["hello.txt", "text/plain", 5]],
            "big": [["big.bin", "application/octet-stream", len(big)]],
        },
        "form": {"field": "value"},
    }
    assert saved["small"] == b"hello"
    assert saved["big"] == big


def test_files_multiple_same_field(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/", methods=["POST"])
    def index() -> Any:
        return [f.read().decode() for f in request.files.getlist("f")]

    data = MultiDict([("f", (io.BytesIO(b"one"), "1.txt")), ("f", (io.BytesIO(b"two"), "2.txt"))])
    assert client(app).post("/", data=data).json == ["one", "two"]


# -- JSON --------------------------------------------------------------------------------------


def _json_app(mod: ModuleType, cls: type) -> Any:
    app = cls(__name__)

    @app.route("/json", methods=["POST"])
    def as_json() -> Any:
        return {"json": mod.request.json}

    @app.route("/get_json", methods=["POST"])
    def get_json() -> Any:
        return {"v": mod.request.get_json()}

    @app.route("/force", methods=["POST"])
    def force() -> Any:
        return {"v": mod.request.get_json(force=True)}

    @app.route("/silent", methods=["POST"])
    def silent() -> Any:
        return {"v": mod.request.get_json(silent=True)}

    @app.route("/force_silent", methods=["POST"])
    def force_silent() -> Any:
        return {"v": mod.request.get_json(force=True, silent=True)}

    return app


JSON_CASES: list[tuple[str, dict[str, Any]]] = [
    ("/json", {"json": {"a": [1, 2]}}),
    ("/json", {"data": b"[1, 2", "content_type": "application/json"}),
    ("/json", {"data": b'{"a": 1}', "content_type": "text/plain"}),
    ("/json", {"data": b'{"a": 1}'}),
    ("/json", {"data": b'"x"', "content_type": "application/problem+json"}),
    ("/get_json", {"json": None}),
    ("/get_json", {"data": b"", "content_type": "application/json"}),
    ("/force", {"data": b'{"a": 1}', "content_type": "text/plain"}),
    ("/force", {"data": b"nope", "content_type": "text/plain"}),
    ("/silent", {"data": b"nope", "content_type": "application/json"}),
    ("/silent", {"data": b'{"a": 1}', "content_type": "text/plain"}),
    ("/silent", {"json": [True]}),
    ("/force_silent", {"data": b"nope"}),
    ("/force_silent", {"data": b"[3]"}),
    ("/json", {"data": b'{"a": "\xff"}', "content_type": "application/json"}),
]


@pytest.mark.parametrize(("path", "kwargs"), JSON_CASES)
def test_json_matches_flask(oracle: Any, path: str, kwargs: dict[str, Any]) -> None:
    o = oracle(_json_app)
    # Error page wording may differ; the status and successful bodies must not.
    f, e = o.check("POST", path, compare_body=False, **kwargs)
    if f.status_code == 200:
        assert e.get_json() == f.get_json()


def test_json_errors_are_400_and_415(client: Any) -> None:
    app = _json_app(erlen, Erlen)
    c = client(app)
    assert c.post("/json", data="{bad", content_type="application/json").status_code == 400
    assert c.post("/json", data="{}", content_type="text/plain").status_code == 415
    assert c.post("/json", json={"ok": 1}).json == {"json": {"ok": 1}}


def test_get_json_is_cached(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/", methods=["POST"])
    def index() -> Any:
        first = request.get_json()
        second = request.get_json()
        return {"same": first is second, "data": request.get_data(as_text=True)}

    assert client(app).post("/", json={"a": 1}).json == {"same": True, "data": '{"a": 1}'}


def test_request_class_outside_dispatch() -> None:
    app = Erlen(__name__)
    with app.test_request_context("/p/q?x=1", method="POST", json={"k": "v"}, headers={"X-A": "b"}):
        assert request.method == "POST"
        assert request.path == "/p/q"
        assert request.args["x"] == "1"
        assert request.get_json() == {"k": "v"}
        assert request.headers["x-a"] == "b"
        assert request.is_json
        assert request.content_length == len(b'{"k": "v"}')


def test_request_from_environ_like_werkzeug() -> None:
    from werkzeug.test import EnvironBuilder

    env = EnvironBuilder("/a?b=c", method="PUT", data="x=1").get_environ()
    req = erlen.Request(env)
    assert req.method == "PUT"
    assert req.path == "/a"
    assert req.args["b"] == "c"
    assert req.environ is env


def test_remote_addr(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/")
    def index() -> str:
        return str(request.remote_addr)

    c = client(app)
    assert c.get("/").text == "127.0.0.1"
    assert c.get("/", environ_base={"REMOTE_ADDR": "10.1.2.3"}).text == "10.1.2.3"
    # A builder or an environ the caller made gets the client's defaults, as in Flask.
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(path="/")
    try:
        assert c.open(builder).text == "127.0.0.1"
        environ = builder.get_environ()
        environ.pop("REMOTE_ADDR", None)
        c.environ_base["REMOTE_ADDR"] = "127.0.0.2"
        assert c.open(environ).text == "127.0.0.2"
    finally:
        builder.close()


def test_headers_are_case_insensitive_and_multi(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/")
    def index() -> Any:
        h = request.headers
        return {
            "lower": h["x-thing"],
            "upper": h["X-THING"],
            "get_int": h.get("X-Num", type=int),
            "contains": "x-thing" in h,
            "missing": h.get("X-Missing"),
        }

    r = client(app).get("/", headers={"X-Thing": "v", "X-Num": "12"})
    assert r.json == {"lower": "v", "upper": "v", "get_int": 12, "contains": True, "missing": None}


def test_missing_header_key_is_400(client: Any) -> None:
    """Flask answers 500 under WSGI (KeyError from EnvironHeaders); Erlen 400 on both doors."""
    app = Erlen(__name__)

    @app.route("/")
    def index() -> str:
        return request.headers["X-Required"]

    assert client(app).get("/").status_code == 400


def test_endpoint_view_args_url_rule(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/item/<int:n>", endpoint="the_item")
    def item(n: int) -> Any:
        rule = request.url_rule
        assert rule is not None
        return {
            "endpoint": request.endpoint,
            "view_args": request.view_args,
            "rule": rule.rule,
            "methods": sorted(rule.methods or ()),
        }

    assert client(app).get("/item/4").json == {
        "endpoint": "the_item",
        "view_args": {"n": 4},
        "rule": "/item/<int:n>",
        "methods": ["GET", "HEAD", "OPTIONS"],
    }


def test_404_request_has_no_endpoint(client: Any) -> None:
    app = Erlen(__name__)
    seen: list[Any] = []

    @app.before_request
    def before() -> None:
        seen.append((request.endpoint, request.url_rule, request.view_args))

    assert client(app).get("/nope").status_code == 404
    assert seen == [(None, None, None)]


# -- limits -----------------------------------------------------------------------------------


def _limits_app(mod: ModuleType, cls: type) -> Any:
    app = cls(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1000
    app.config["MAX_FORM_MEMORY_SIZE"] = 100
    app.config["MAX_FORM_PARTS"] = 5

    @app.route("/data", methods=["POST"])
    def data() -> str:
        return str(len(mod.request.get_data()))

    @app.route("/form", methods=["POST"])
    def form() -> str:
        return str(sorted(mod.request.form))

    @app.route("/files", methods=["POST"])
    def files() -> str:
        return str(sorted(mod.request.files))

    @app.route("/json", methods=["POST"])
    def as_json() -> str:
        return str(mod.request.json)

    @app.route("/ignore", methods=["POST"])
    def ignore() -> str:
        return "did not read"

    return app


def _mp(n: int) -> dict[str, Any]:
    return {f"f{i}": (io.BytesIO(b"x"), f"{i}.txt") for i in range(n)}


LIMIT_CASES: list[tuple[str, dict[str, Any]]] = [
    ("/data", {"data": b"x" * 1000}),
    ("/data", {"data": b"x" * 1001}),
    ("/json", {"data": b"[" + b"1," * 600 + b"1]", "content_type": "application/json"}),
    ("/form", {"data": {"a": "x" * 99}}),
    ("/form", {"data": {"a": "x" * 200}}),
    ("/form", {"data": {str(i): "v" for i in range(3)}, "content_type": "multipart/form-data"}),
    ("/form", {"data": {str(i): "v" for i in range(8)}, "content_type": "multipart/form-data"}),
    ("/files", {"data": _mp(2)}),
    ("/files", {"data": _mp(7)}),
    ("/files", {"data": {"big": (io.BytesIO(b"y" * 2000), "big.txt")}}),
]


@pytest.mark.parametrize(("path", "kwargs"), LIMIT_CASES)
def test_limits_match_flask(oracle: Any, path: str, kwargs: dict[str, Any]) -> None:
    o = oracle(_limits_app)
    # Rebuild file objects for the second request (the first one consumed them).
    raw = kwargs.get("data")
    f = o.flask_client.open(path, method="POST", **_fresh(kwargs))
    e = o.erlen_client.open(path, method="POST", **_fresh(kwargs))
    assert e.status_code == f.status_code, (path, e.status_code, f.status_code, e.data[:200])
    if f.status_code == 200:
        assert e.data == f.data
    assert raw is not None


def _fresh(kwargs: dict[str, Any]) -> dict[str, Any]:
    data = kwargs.get("data")
    if isinstance(data, dict):
        new = {}
        for k, v in data.items():
            if isinstance(v, tuple):
                stream = v[0]
                stream.seek(0)
                new[k] = (io.BytesIO(stream.read()), *v[1:])
            else:
                new[k] = v
        return {**kwargs, "data": new}
    return kwargs


def test_max_content_length_413_both_doors(client: Any) -> None:
    app = _limits_app(erlen, Erlen)
    c = client(app)
    assert c.post("/data", data=b"x" * 1001).status_code == 413
    assert c.post("/data", data=b"x" * 1000).text == "1000"
    # Like Flask, MAX_FORM_MEMORY_SIZE limits multipart fields (urlencoded forms are
    # limited by MAX_CONTENT_LENGTH only).
    assert (
        c.post("/form", data={"a": "x" * 200}, content_type="multipart/form-data").status_code
        == 413
    )
    assert c.post("/files", data=_mp(7)).status_code == 413
    assert c.post("/form", data={"a": "ok"}).text == "['a']"


def test_max_content_length_per_request(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/", methods=["POST"])
    def index() -> str:
        request.max_content_length = 4
        return request.get_data(as_text=True)

    c = client(app)
    assert c.post("/", data=b"abcd").text == "abcd"
    assert c.post("/", data=b"abcde").status_code == 413


def _host_app(mod: ModuleType, cls: type) -> Any:
    app = cls(__name__)

    @app.route("/")
    def index() -> Any:
        return {"host": mod.request.host, "url": mod.request.url, "root": mod.request.url_root}

    @app.route("/slash/")
    def slash() -> str:
        return "slash"

    return app


@pytest.mark.parametrize(
    "host",
    [
        "example.test",
        "example.test:80",
        "example.test:8080",
        "EXAMPLE.test",
        "127.0.0.1:5000",
        "[::1]:8000",
        "evil.test/<script>",
        "a b",
        "bad_host",
        "example.test:99999",
    ],
)
def test_host_validated_like_flask(oracle: Any, host: str) -> None:
    o = oracle(_host_app)
    headers = {"Host": host}
    f, _ = o.check("GET", "/", headers=headers)
    # A strict-slash redirect puts the host in Location: never an invalid one.
    if f.json["host"]:
        o.check("GET", "/slash", headers=headers)
    else:
        # No valid host: Flask sends "http:///slash/", which browsers read as the host
        # "slash"; Erlen's redirect never names a host the location did not have.
        _, e = o.check("GET", "/slash", headers=headers, headers_to_compare=())
        assert e.headers["Location"] == "http:/slash/"


@pytest.mark.parametrize(
    "host", ["good.test", "good.test:8443", "evil.test", "a.sub.test", "sub.test", "x.good.test"]
)
def test_trusted_hosts_like_flask(oracle: Any, host: str) -> None:
    def build(mod: ModuleType, cls: type) -> Any:
        app = _host_app(mod, cls)
        app.config["TRUSTED_HOSTS"] = ["good.test", ".sub.test"]
        return app

    o = oracle(build)
    o.check("GET", "/", base_url=f"http://{host}", compare_body=False)


def test_untrusted_host_is_400(client: Any) -> None:
    app = _host_app(erlen, Erlen)
    app.config["TRUSTED_HOSTS"] = ["good.test"]
    c = client(app)
    assert c.get("/", base_url="http://good.test").json["host"] == "good.test"
    assert c.get("/", base_url="http://evil.test").status_code == 400


def test_parsing_is_lazy_and_cached(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/", methods=["POST"])
    def index() -> Any:
        return {
            "args": request.args is request.args,
            "form": request.form is request.form,
            "files": request.files is request.files,
            "cookies": request.cookies is request.cookies,
            "headers": request.headers is request.headers,
            "accept": request.accept_mimetypes is request.accept_mimetypes,
        }

    r = client(app).post("/?a=1", data={"f": "v"}, headers={"Cookie": "c=1"})
    assert r.json == dict.fromkeys(("args", "form", "files", "cookies", "headers", "accept"), True)


def test_body_not_read_unless_asked(client: Any) -> None:
    """A view that never touches the body still answers (the body is drained or ignored)."""
    app = Erlen(__name__)

    @app.route("/", methods=["POST"])
    def index() -> str:
        return "ignored the body"

    c = client(app)
    assert c.post("/", data=b"x" * 10_000).text == "ignored the body"
    assert c.post("/", data={"a": "b"}).text == "ignored the body"


def _cookie_app(mod: ModuleType, cls: type) -> Any:
    app = cls(__name__)

    @app.route("/")
    def index() -> Any:
        return mod.jsonify(sorted(mod.request.cookies.items(multi=True)))

    return app


@pytest.mark.parametrize(
    "header",
    [
        "a=1",
        "a=1; b=2; a=3",
        "a=b=c; d=",
        "a=1;b=2",
        " a = 1 ; b",
        'q="x \\"y\\" \\101"; z=1',
        "a=1,b=2; c=%41",
        "=x; ;; a=1",
        "k=caf\xc3\xa9; \xe9=\xff",  # UTF-8 and invalid UTF-8 bytes, as the server passes them
    ],
)
def test_cookies_like_flask(oracle: Any, header: str) -> None:
    """Plain and quirky Cookie headers parse as in Flask; no byte makes one fail."""
    o = oracle(_cookie_app)
    o.check("GET", "/", environ_base={"HTTP_COOKIE": header})


def test_body_limits_outside_an_app_context_are_werkzeugs() -> None:
    # A request used without an app (Request(environ) in a script or a test) keeps
    # Werkzeug's form limits instead of none; in an app context the config applies.
    from werkzeug.wrappers import Request as WerkzeugRequest

    from erlen import Request

    ours, theirs = Request({}), WerkzeugRequest({})
    for name in ("max_content_length", "max_form_memory_size", "max_form_parts"):
        assert getattr(ours, name) == getattr(theirs, name)
    app = Erlen(__name__)
    app.config["MAX_FORM_PARTS"] = 3
    with app.app_context():
        assert ours.max_form_parts == 3
    ours.max_form_parts = 4
    assert ours.max_form_parts == 4


@pytest.mark.parametrize("path_info", ["create", "a/b"])
def test_path_info_without_its_slash_reads_as_flask(path_info: str) -> None:
    """Middleware may move the slash into SCRIPT_NAME; the request path keeps one."""
    import flask

    def read(mod: ModuleType, cls: type) -> list[str]:
        app = cls(__name__)

        @app.route("/<path:anything>")
        @app.route("/")
        def show(anything: str = "") -> Any:
            req = mod.request
            return mod.jsonify([req.path, req.full_path, req.script_root, req.url])

        inner = app.wsgi_app

        def strip_slash(environ: dict[str, Any], start_response: Any) -> Any:
            environ["SCRIPT_NAME"] = "/"
            environ["PATH_INFO"] = path_info
            return inner(environ, start_response)

        app.wsgi_app = strip_slash  # type: ignore[method-assign]
        result: list[str] = app.test_client().get("/ignored").get_json()
        return result

    expected = read(flask, flask.Flask)
    assert expected[0] == "/" + path_info
    assert read(erlen, Erlen) == expected


def test_from_values_keeps_the_order_the_doors_pass_by_position() -> None:
    """erlen.wsgi and erlen.asgi call Request.from_values with positional arguments (faster on
    CPython 3.11): its parameters must keep this order."""
    import inspect

    from erlen.request import Request

    assert list(inspect.signature(Request.from_values).parameters) == [
        "method",
        "path",
        "query_string",
        "scheme",
        "root_path",
        "headers",
        "raw_headers",
        "host",
        "server",
        "remote_addr",
        "body",
        "body_terminated",
        "body_receiver",
        "has_cookie_header",
        "environ",
        "scope",
        "raw_header_map",
    ]


@pytest.mark.parametrize(
    "pairs",
    [
        [(b"content-type", b"text/plain"), (b"content-type", b"application/json; charset=utf-8")],
        [(b"content-length", b"3"), (b"content-length", b"5"), (b"cookie", b"a=1")],
        [(b"cookie", b"a=1"), (b"cookie", b"b=2"), (b"content-type", b"Application/JSON")],
        [(b"host", b"h"), (b"content-type", b"multipart/form-data; boundary=x")],
        [(b"host", b"h"), (b"cookie", b"a=1; b=2")],  # one Cookie, no name twice: from the map
        [],
    ],
)
def test_content_headers_read_alike_from_the_door_map_and_the_raw_pairs(pairs: Any) -> None:
    """The ASGI door hands the request ``dict(raw_headers)``; a content header read from it
    answers as a scan of the pairs does, and as the parsed headers do."""
    from erlen.asgi import request_from_scope
    from erlen.request import Request

    scope = {"type": "http", "method": "POST", "path": "/", "headers": pairs}
    mapped = request_from_scope(Request, scope, None)
    assert mapped._raw_header_map == dict(pairs)
    scanned = Request.from_values("POST", "/", raw_headers=pairs)
    parsed = Request.from_values("POST", "/", raw_headers=pairs)
    headers = parsed.headers  # built: read from the Headers object from here on
    # The WSGI door, given the headers as a WSGI server merges them (see _merge_raw_headers).
    from erlen.wsgi import request_from_environ

    environ: dict[str, Any] = {"REQUEST_METHOD": "POST", "PATH_INFO": "/"}
    for name, value in headers:
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    wsgi = request_from_environ(Request, environ)
    for req in (mapped, scanned, parsed, wsgi):
        assert req.content_type == headers.get("Content-Type")
        assert req.content_length == headers.get("Content-Length", type=int)
        assert req.mimetype == scanned.mimetype
        assert req.mimetype_params == scanned.mimetype_params
        assert req.is_json == scanned.is_json
        assert req.cookies == parsed.cookies


def test_raw_header_names_are_title_cased_through_a_bounded_cache() -> None:
    import importlib

    request_module = importlib.import_module("erlen.request")  # (erlen.request is the proxy)

    raw = [(f"x-name-{i}".encode(), b"v") for i in range(600)] + [(b"x-\xe9t\xe9", b"w")]
    merged = request_module._merge_raw_headers(raw)
    assert merged == [(k.decode("latin-1").title(), v.decode("latin-1")) for k, v in raw]
    assert len(request_module._header_titles) <= 512
    # Read again (from the cache where it holds them): the same names.
    assert request_module._merge_raw_headers(raw) == merged


_BROWSER_PAIRS = [
    (b"host", b"example.com"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64)"),
    (b"accept", b"text/html,*/*;q=0.8"),
    (b"accept-language", b"en-US,en;q=0.9"),
    (b"content-length", b"12"),
    (b"x-\xe9t\xe9", b"caf\xe9"),  # not a token name, but servers may pass one on
    (b"cookie", b"session=abc; theme=dark"),
]


@pytest.mark.parametrize(
    "pairs",
    [
        _BROWSER_PAIRS,  # each name once, lower case: read from the door's map
        [*_BROWSER_PAIRS, (b"accept", b"application/json")],  # repeated: joined with ","
        [*_BROWSER_PAIRS, (b"cookie", b"b=2")],  # HTTP/2 splits Cookie: joined with "; "
        [(b"Host", b"example.com"), (b"X-Custom", b"1")],  # names a middleware did not lower
        [(b"x-a", b"1"), (b"X-A", b"2")],  # the same name in two cases
        [(b"content-type", b"text/plain"), (b"Content-Type", b"application/json")],
        [(b"\xc9tag", b"1")],  # a latin-1 capital: read through the merged list
        [(b"x-1", b""), (b"1", b"2")],
    ],
)
def test_asgi_headers_answer_as_the_merged_headers(pairs: Any) -> None:
    """Under ASGI, request.headers reads the raw pairs on demand; every read answers as the
    Werkzeug ``Headers`` of the merged pairs (what a WSGI server hands Flask) does."""
    import importlib

    from werkzeug.datastructures import Headers
    from werkzeug.exceptions import BadRequestKeyError

    from erlen.asgi import request_from_scope
    from erlen.request import Request

    request_module = importlib.import_module("erlen.request")
    expected = Headers(request_module._merge_raw_headers(pairs))

    def fresh() -> Any:
        scope = {"type": "http", "method": "GET", "path": "/", "headers": list(pairs)}
        return request_from_scope(Request, scope, None).headers

    names = {k.decode("latin-1") for k, _ in pairs}
    keys = sorted(names | {n.upper() for n in names} | {n.title() for n in names})
    keys += ["Missing", "", "K", "\u212a", "\xc4", "\u0130", "X-\xc9T\xc9"]
    for key in keys:
        headers = fresh()  # each read on a view that has not built its list yet
        assert headers.get(key) == expected.get(key), key
        assert fresh().get(key, "d", type=len) == expected.get(key, "d", type=len)
        assert (key in fresh()) is (key in expected)
        try:
            want = expected[key]
        except BadRequestKeyError:
            with pytest.raises(BadRequestKeyError):
                fresh()[key]
        else:
            assert fresh()[key] == want
        assert fresh().getlist(key) == expected.getlist(key)
    assert fresh().get("Content-Length", type=int) == expected.get("Content-Length", type=int)
    headers = fresh()
    assert isinstance(headers, Headers)
    assert list(headers) == list(expected) and len(headers) == len(expected)
    assert headers == expected and expected == headers and fresh() == fresh()
    assert headers != Headers([("X-Other", "1")])
    assert str(fresh()) == str(expected)
    assert fresh()[0:1] == expected[0:1] if pairs else True
    copied = fresh().copy()
    assert type(copied) is Headers and copied == expected
    # Writes go to the merged list; reads after them see them.
    headers = fresh()
    assert headers.get("Host") == expected.get("Host")
    headers["Host"] = "changed.example"
    headers.add("X-Added", "yes")
    assert headers.get("host") == "changed.example" and headers["X-Added"] == "yes"
    del headers["X-Added"]
    assert "X-Added" not in headers


@pytest.mark.parametrize("door", ["wsgi", "asgi"])
def test_header_reads_in_a_view_agree_on_both_doors(door: str) -> None:
    app = Erlen(__name__)

    @app.route("/")
    def show() -> dict[str, Any]:
        return {
            "agent": request.headers.get("User-Agent"),
            "lang": request.headers["accept-language"],
            "missing": request.headers.get("X-Requested-With", "none"),
            "has_auth": "Authorization" in request.headers,
            "accept": request.headers.getlist("Accept"),
        }

    headers = [
        ("User-Agent", "Mozilla/5.0"),
        ("Accept-Language", "de"),
        ("Accept", "text/html"),
        ("Accept", "*/*"),
    ]
    data = app.test_client(asgi=door == "asgi").get("/", headers=headers).get_json()
    assert data == {
        "agent": "Mozilla/5.0",
        "lang": "de",
        "missing": "none",
        "has_auth": False,
        "accept": ["text/html, */*"],  # the test client joins repeated headers so
    }


def test_url_properties_and_values_are_worked_out_once() -> None:
    # As Werkzeug's cached properties: request.url quotes and unquotes the whole URL.
    app = Erlen(__name__)
    with app.test_request_context("/a b/c?q=1&q=2", base_url="http://example.com/root/"):
        assert request.url == "http://example.com/root/a%20b/c?q=1&q=2"
        assert request.url is request.url
        assert request.base_url is request.base_url == "http://example.com/root/a%20b/c"
        assert request.root_url is request.url_root == "http://example.com/root/"
        assert request.host_url is request.host_url == "http://example.com/"
        assert request.full_path is request.full_path == "/a b/c?q=1&q=2"
        assert request.values is request.values
        assert request.values.getlist("q") == ["1", "2"]


def test_url_properties_are_worked_out_once_on_both_doors(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/a b/c")
    def page() -> dict[str, Any]:
        return {
            "url": request.url,
            "same": request.url is request.url and request.values is request.values,
            "q": request.values.getlist("q"),
        }

    rv = client(app).get("/a%20b/c?q=1&q=2")
    assert rv.get_json() == {
        "url": "http://localhost/a%20b/c?q=1&q=2",
        "same": True,
        "q": ["1", "2"],
    }
