"""Reverse routing: ``url_for`` inside and outside requests, compared with Flask."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import flask
import pytest

import erlen
from erlen import Erlen


def _build_app(mod: ModuleType, cls: type) -> Any:
    app = cls(__name__)

    @app.route("/")
    def index() -> str:
        return "index"

    @app.route("/user/<name>")
    def user(name: str) -> str:
        return name

    @app.route("/post/<int:id>", methods=["GET", "POST"])
    def post(id: int) -> str:
        return str(id)

    @app.route("/only-post", methods=["POST"])
    def only_post() -> str:
        return "p"

    @app.route("/files/<path:p>")
    def files(p: str) -> str:
        return p

    @app.route("/page/", defaults={"n": 1})
    @app.route("/page/<int:n>")
    def page(n: int) -> str:
        return str(n)

    bp = mod.Blueprint("bp", __name__, url_prefix="/bp")

    @bp.route("/a")
    def a() -> str:
        return mod.url_for(".b") + " " + mod.url_for("index") + " " + mod.url_for("bp.a")

    @bp.route("/b")
    def b() -> str:
        return "b"

    app.register_blueprint(bp)
    return app


URL_FOR_CASES: list[tuple[str, dict[str, Any]]] = [
    ("index", {}),
    ("user", {"name": "alice"}),
    ("user", {"name": "a b/é?&#"}),
    ("user", {"name": "x", "page": 2, "q": "a b"}),
    ("user", {"name": "x", "tags": ["a", "b"], "none": None}),
    ("post", {"id": 42}),
    ("post", {"id": 42, "_method": "POST"}),
    ("only_post", {"_method": "POST"}),
    ("files", {"p": "a/b c/d.txt"}),
    ("page", {}),
    ("page", {"n": 1}),
    ("page", {"n": 3}),
    ("index", {"_external": True}),
    ("index", {"_external": True, "_scheme": "https"}),
    ("user", {"name": "z", "_anchor": "sec tion/1"}),
    ("user", {"name": "z", "_anchor": "top", "_external": True, "x": 1}),
    ("bp.a", {}),
    ("bp.b", {"_external": True}),
]


@pytest.mark.parametrize(("endpoint", "values"), URL_FOR_CASES)
@pytest.mark.parametrize(
    "ctx_kwargs",
    [{}, {"base_url": "https://example.test:8443/mount"}, {"base_url": "http://h.test/"}],
)
def test_url_for_in_request_matches_flask(
    endpoint: str, values: dict[str, Any], ctx_kwargs: dict[str, Any]
) -> None:
    results = []
    for mod, cls in ((flask, flask.Flask), (erlen, Erlen)):
        app = _build_app(mod, cls)
        with app.test_request_context("/", **ctx_kwargs):
            results.append(mod.url_for(endpoint, **values))
    assert results[1] == results[0]


@pytest.mark.parametrize(("endpoint", "values"), URL_FOR_CASES)
@pytest.mark.parametrize(
    "config",
    [
        {"SERVER_NAME": "example.test"},
        {"SERVER_NAME": "example.test:8080", "PREFERRED_URL_SCHEME": "https"},
        {"SERVER_NAME": "example.test", "APPLICATION_ROOT": "/root/"},
    ],
)
def test_url_for_outside_request_matches_flask(
    endpoint: str, values: dict[str, Any], config: dict[str, Any]
) -> None:
    results = []
    for mod, cls in ((flask, flask.Flask), (erlen, Erlen)):
        app = _build_app(mod, cls)
        app.config.update(config)
        with app.app_context():
            results.append(mod.url_for(endpoint, **values))
    assert results[1] == results[0]


def test_url_for_outside_request_without_server_name() -> None:
    app = _build_app(erlen, Erlen)
    with app.app_context(), pytest.raises(RuntimeError, match="SERVER_NAME"):
        erlen.url_for("index")
    with pytest.raises(RuntimeError, match="application context"):
        erlen.url_for("index")


def test_url_for_scheme_requires_external() -> None:
    app = _build_app(erlen, Erlen)
    with app.test_request_context(), pytest.raises(ValueError, match="_external"):
        erlen.url_for("index", _scheme="https", _external=False)


def test_url_for_relative_in_blueprint(client: Any) -> None:
    app = _build_app(erlen, Erlen)
    assert client(app).get("/bp/a").text == "/bp/b / /bp/a"


def test_url_for_in_view_under_script_name(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/here")
    def here() -> str:
        return erlen.url_for("here") + " " + erlen.url_for("here", _external=True)

    r = client(app).get("/here", base_url="http://example.test/app")
    assert r.text == "/app/here http://example.test/app/here"


def _errors(mod: ModuleType, cls: type) -> list[str]:
    app = _build_app(mod, cls)
    out = []
    with app.test_request_context():
        for endpoint, values in [
            ("user", {}),
            ("nope", {}),
            ("usr", {"name": "x"}),
            ("only_post", {"_method": "GET"}),
            ("post", {"id": "notint"}),
        ]:
            with pytest.raises(mod.routing.BuildError if mod is erlen else Exception) as info:
                mod.url_for(endpoint, **values)
            out.append(str(info.value))
    return out


def test_build_error_names_endpoint_and_missing_values() -> None:
    app = _build_app(erlen, Erlen)
    with app.test_request_context():
        with pytest.raises(erlen.routing.BuildError) as info:
            erlen.url_for("user")
        message = str(info.value)
        assert "'user'" in message
        assert "name" in message
        with pytest.raises(LookupError) as info2:
            erlen.url_for("usr", name="x")
        assert "'usr'" in str(info2.value)
        assert "Did you mean 'user'" in str(info2.value)
        with pytest.raises(erlen.routing.BuildError) as info3:
            erlen.url_for("only_post", _method="GET")
        assert "POST" in str(info3.value)


def test_build_error_like_flask() -> None:
    from werkzeug.routing import BuildError as WBuildError

    flask_app = _build_app(flask, flask.Flask)
    with flask_app.test_request_context():
        flask_msgs = []
        for endpoint, values in [("user", {}), ("usr", {"name": "x"})]:
            with pytest.raises(WBuildError) as info:
                flask.url_for(endpoint, **values)
            flask_msgs.append(str(info.value))
    app = _build_app(erlen, Erlen)
    with app.test_request_context():
        for (endpoint, values), expected in zip(
            [("user", {}), ("usr", {"name": "x"})], flask_msgs, strict=True
        ):
            with pytest.raises(erlen.routing.BuildError) as info:
                erlen.url_for(endpoint, **values)
            # Same first sentence naming the endpoint; hints may be worded differently.
            assert str(info.value).split(".")[0] == expected.split(".")[0]


def test_url_build_error_handlers() -> None:
    app = _build_app(erlen, Erlen)

    def handler(error: Exception, endpoint: str, values: dict[str, Any]) -> str | None:
        if endpoint == "external.thing":
            return "https://other.test/thing"
        return None

    app.url_build_error_handlers.append(handler)
    with app.test_request_context():
        assert erlen.url_for("external.thing") == "https://other.test/thing"
        with pytest.raises(erlen.routing.BuildError):
            erlen.url_for("still.missing")


def _lang_app(mod: ModuleType, cls: type) -> Any:
    app = cls(__name__)
    seen: list[Any] = []
    app.config["seen"] = seen

    @app.url_defaults
    def add_lang(endpoint: str, values: dict[str, Any]) -> None:
        if "lang" in values or not hasattr(mod.g, "lang"):
            return
        if app.url_map.is_endpoint_expecting(endpoint, "lang"):
            values["lang"] = mod.g.lang

    @app.url_value_preprocessor
    def pull_lang(endpoint: str | None, values: dict[str, Any] | None) -> None:
        seen.append((endpoint, dict(values or {})))
        mod.g.lang = values.pop("lang", None) if values else None

    @app.route("/<lang>/about")
    def about() -> str:
        return f"about {mod.g.lang} -> {mod.url_for('about')} {mod.url_for('about', lang='fr')}"

    @app.route("/plain")
    def plain() -> str:
        return f"plain {mod.g.lang!r}"

    return app


@pytest.mark.parametrize("path", ["/de/about", "/plain", "/xx/nothing"])
def test_url_defaults_and_value_preprocessor_match_flask(oracle: Any, path: str) -> None:
    o = oracle(_lang_app)
    o.check("GET", path)


def test_url_value_preprocessor_sees_endpoint_and_values(client: Any) -> None:
    app = _lang_app(erlen, Erlen)
    r = client(app).get("/de/about")
    assert r.text == "about de -> /de/about /fr/about"
    assert app.config["seen"] == [("about", {"lang": "de"})]


def test_blueprint_url_defaults_and_preprocessors(client: Any) -> None:
    app = Erlen(__name__)
    bp = erlen.Blueprint("shop", __name__, url_prefix="/<shop>")
    calls: list[str] = []

    @bp.url_defaults
    def shop_default(endpoint: str, values: dict[str, Any]) -> None:
        calls.append(f"defaults {endpoint}")
        values.setdefault("shop", erlen.g.shop)

    @bp.url_value_preprocessor
    def shop_pre(endpoint: str | None, values: dict[str, Any] | None) -> None:
        calls.append(f"pre {endpoint}")
        erlen.g.shop = values.pop("shop") if values else None

    @bp.route("/item/<int:i>")
    def item(i: int) -> str:
        return f"{erlen.g.shop} {i} {erlen.url_for('.item', i=i + 1)}"

    app.register_blueprint(bp)
    assert client(app).get("/acme/item/1").text == "acme 1 /acme/item/2"
    assert calls == ["pre shop.item", "defaults shop.item"]


Builder = Callable[[ModuleType, type], Any]


def test_url_for_in_request_uses_request_scheme_and_host() -> None:
    app = _build_app(erlen, Erlen)
    with app.test_request_context("/", base_url="https://secure.test:9000"):
        assert erlen.url_for("index", _external=True) == "https://secure.test:9000/"
        assert erlen.url_for("index", _scheme="http", _external=True) == "http://secure.test:9000/"


def test_build_errors_are_werkzeugs_for_flask_code(protocol: str) -> None:
    # Flask apps catch ``werkzeug.routing.BuildError`` around url_for, and the 308 for a
    # missing trailing slash is Werkzeug's RequestRedirect: Erlen's are subclasses.
    import werkzeug.routing

    app = Erlen(__name__)

    @app.route("/folder/")
    def folder() -> str:
        return "folder"

    @app.route("/link")
    def link() -> str:
        try:
            return erlen.url_for("missing")
        except werkzeug.routing.BuildError as e:
            return f"no url for {e.endpoint}"

    seen: list[Any] = []

    @app.before_request
    def note_routing_exception() -> None:
        seen.append(erlen.request.routing_exception)

    client = app.test_client(asgi=protocol == "asgi")
    assert client.get("/link").get_data(as_text=True) == "no url for missing"
    moved = client.get("/folder")
    assert (moved.status_code, moved.headers["Location"]) == (308, "http://localhost/folder/")
    assert isinstance(seen[-1], werkzeug.routing.RequestRedirect)
    with app.test_request_context(), pytest.raises(werkzeug.routing.RoutingException):
        erlen.url_for("missing")


@pytest.mark.parametrize("mod", [flask, erlen], ids=["flask", "erlen"])
def test_url_for_goes_through_an_overridden_app_url_for(mod: ModuleType) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    base = mod.Flask if mod is flask else mod.Erlen

    class App(base):  # type: ignore[misc,valid-type]
        def url_for(self, endpoint: str, /, **kwargs: Any) -> str:
            calls.append((endpoint, {k: v for k, v in kwargs.items() if v is not None}))
            return str(super().url_for(endpoint, **kwargs))

    app = App(__name__)
    app.add_url_rule("/p/<int:pid>", "page", lambda pid: "")
    with app.test_request_context("/"):
        assert mod.url_for("page", pid=1) == "/p/1"
        assert (
            mod.url_for("page", pid=2, _anchor="top", _external=True) == "http://localhost/p/2#top"
        )
    assert calls == [
        ("page", {"pid": 1}),
        ("page", {"pid": 2, "_anchor": "top", "_external": True}),
    ]
