"""Tests for erlen.routing.adapter and Werkzeug's routing API on Map: rule factories, bind,
bind_to_environ, MapAdapter, and Erlen.create_url_adapter. Werkzeug's own Map is the oracle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flask
import pytest
import werkzeug.routing as wz
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.test import EnvironBuilder

import erlen
from erlen import Erlen
from erlen.routing import Map, MapAdapter, RequestRedirect, Rule


def outcome(call: Callable[[], Any]) -> Any:
    """What a match or build gives: its value, or the exception's kind and details."""
    try:
        rv = call()
    except RequestRedirect as e:
        return ("redirect", e.new_url)
    except wz.RequestRedirect as e:
        return ("redirect", e.new_url)
    except MethodNotAllowed as e:
        return ("405", sorted(e.valid_methods or ()))
    except wz.WebsocketMismatch:
        return ("websocket mismatch",)
    except NotFound:
        return ("404",)
    except wz.BuildError:
        return ("build error",)
    if isinstance(rv, tuple) and len(rv) == 2 and not isinstance(rv[0], str):
        rule, values = rv
        return (rule.rule, rule.endpoint, values)
    return rv


def both(factories: Callable[[], list[Any]], **options: Any) -> tuple[Map, wz.Map]:
    """The same rules (made twice: Werkzeug binds rules to one map) in Erlen's and Werkzeug's map."""
    ours = Map(**options)
    for factory in factories():
        ours.add(factory)
    return ours, wz.Map(factories(), **options)


# -- rules and rule factories ----------------------------------------------------------------


def werkzeug_factories() -> list[Any]:
    return [
        wz.Rule("/", endpoint="index"),
        wz.Submount(
            "/shop",
            [
                wz.Rule("/", endpoint="shop"),
                wz.Rule("/item/<int:id>", endpoint="item", methods=["GET", "POST"]),
                wz.Rule("/old/<int:id>", endpoint="old", redirect_to="item/<id>"),
            ],
        ),
        wz.EndpointPrefix(
            "blog.",
            [
                wz.Rule("/blog/", endpoint="index", defaults={"page": 1}),
                wz.Rule("/blog/page/<int:page>", endpoint="index"),
                wz.Rule("/blog/<path:slug>", endpoint="post", strict_slashes=False),
            ],
        ),
        wz.Subdomain("api", [wz.Rule("/v1", endpoint="api")]),
        wz.RuleTemplate([wz.Rule("/${kind}/list", endpoint="${kind}_list")])(kind="user"),
        wz.Rule("/ws", endpoint="ws", websocket=True),
        wz.Rule("/built", endpoint="built", build_only=True),
    ]


PATHS = [
    "/",
    "/shop",
    "/shop/",
    "/shop/item/3",
    "/shop/item/x",
    "/shop/old/4",
    "/blog/",
    "/blog/page/1",
    "/blog/page/2",
    "/blog/a/b/",
    "/v1",
    "/user/list",
    "/ws",
    "/built",
    "/missing",
    "//shop//item/3",
]


@pytest.mark.parametrize("subdomain", ["", "api"])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_werkzeug_factories_match_like_werkzeug(subdomain: str, method: str) -> None:
    ours, theirs = both(werkzeug_factories)
    a = ours.bind("example.com", "/app", subdomain=subdomain, query_args="q=1")
    b = theirs.bind("example.com", "/app", subdomain=subdomain, query_args="q=1")
    assert isinstance(a, MapAdapter)
    for path in PATHS:
        for rule in (False, True):
            ours_rv = outcome(lambda: a.match(path, method, return_rule=rule))  # noqa: B023
            theirs_rv = outcome(lambda: b.match(path, method, return_rule=rule))  # noqa: B023
            assert ours_rv == theirs_rv, (path, rule)
        assert a.test(path, method) is b.test(path, method), path
        assert sorted(a.allowed_methods(path)) == sorted(b.allowed_methods(path)), path


def test_added_werkzeug_rules_become_erlen_rules_with_their_options() -> None:
    url_map = Map()
    source = wz.Rule(
        "/x/<int:id>",
        endpoint="x",
        methods=["GET"],
        defaults={"page": 1},
        strict_slashes=False,
        merge_slashes=False,
    )
    source.provide_automatic_options = True  # type: ignore[attr-defined]
    source.custom_flag = "kept"  # type: ignore[attr-defined]
    url_map.add(source)
    (rule,) = url_map.iter_rules()
    assert type(rule) is Rule
    assert rule.map is url_map
    assert (rule.rule, rule.endpoint, rule.defaults) == ("/x/<int:id>", "x", {"page": 1})
    assert rule.methods == {"GET", "HEAD"}
    assert rule.strict_slashes is False and rule.merge_slashes is False
    assert rule.provide_automatic_options is True
    assert rule.custom_flag == "kept"  # type: ignore[attr-defined]
    assert rule.arguments == {"id", "page"}
    # The Werkzeug rule itself is left unbound and unchanged.
    assert source.map is None


def test_werkzeug_factories_take_erlen_rules() -> None:
    url_map = Map()
    url_map.add(wz.Submount("/p", [wz.EndpointPrefix("e.", [Rule("/x", "x", methods=["PUT"])])]))
    (rule,) = url_map.iter_rules()
    assert (rule.rule, rule.endpoint, rule.methods) == ("/p/x", "e.x", {"PUT"})
    assert url_map.match("/p/x", "PUT") == (rule, {})


def test_erlen_rule_is_its_own_factory_and_copies_unbound() -> None:
    url_map = Map()
    rule = Rule("/a/<name>", "a", methods=["POST"], defaults={"v": 1}, subdomain="s")
    rule.provide_automatic_options = False
    url_map.add(rule)
    assert list(rule.get_rules(url_map)) == [rule]
    copy = rule.empty()
    assert copy is not rule and copy.map is None
    assert (copy.rule, copy.endpoint, copy.methods, copy.defaults, copy.subdomain) == (
        "/a/<name>",
        "a",
        {"POST"},
        {"v": 1},
        "s",
    )
    assert copy.defaults is not rule.defaults
    assert copy.provide_automatic_options is False


def test_adding_something_else_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="rule factory"):
        Map().add("/x")  # type: ignore[arg-type]


# -- the adapter: matching and building ------------------------------------------------------


def building_factories() -> list[Any]:
    return [
        wz.Rule("/", endpoint="index"),
        wz.Rule("/user/<name>", endpoint="user"),
        wz.Rule("/page/<int:n>", endpoint="page", methods=["POST"]),
        wz.Rule("/page/<int:n>", endpoint="page", methods=["GET"], defaults={"kind": "get"}),
        wz.Rule("/", endpoint="sub", subdomain="<tenant>"),
        wz.Rule("/api", endpoint="api", subdomain="api"),
        wz.Rule("/socket", endpoint="socket", websocket=True),
    ]


BUILDS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("index", {}, {}),
    ("index", {"q": "a b", "none": None}, {}),
    ("index", {}, {"force_external": True}),
    ("index", {}, {"force_external": True, "url_scheme": "https"}),
    ("index", {"x": "1"}, {"append_unknown": False}),
    ("user", {"name": "zoë"}, {}),
    ("user", {}, {}),
    ("page", {"n": 2}, {}),
    ("page", {"n": 2}, {"method": "POST"}),
    ("page", {"n": 2, "kind": "get"}, {"method": "GET"}),
    ("sub", {"tenant": "acme"}, {}),
    ("api", {}, {}),
    ("api", {}, {"url_scheme": ""}),
    ("socket", {}, {}),
    ("socket", {}, {"url_scheme": "https"}),
    ("missing", {}, {}),
]


@pytest.mark.parametrize("subdomain", ["", "api"])
@pytest.mark.parametrize(("endpoint", "values", "options"), BUILDS)
def test_build_like_werkzeug(
    subdomain: str, endpoint: str, values: dict[str, Any], options: dict[str, Any]
) -> None:
    ours, theirs = both(building_factories)
    a = ours.bind("example.com:8080", "/root", subdomain=subdomain)
    b = theirs.bind("example.com:8080", "/root", subdomain=subdomain)
    expected = outcome(lambda: b.build(endpoint, values, **options))
    assert outcome(lambda: a.build(endpoint, values, **options)) == expected


def test_build_takes_a_multidict() -> None:
    ours, theirs = both(building_factories)
    values = MultiDict([("name", "a"), ("tag", "x"), ("tag", "y")])
    a, b = ours.bind("h"), theirs.bind("h")
    assert a.build("user", values) == b.build("user", values) == "/user/a?tag=x&tag=y"


def test_build_under_host_matching_like_werkzeug() -> None:
    def factories() -> list[Any]:
        return [
            wz.Rule("/", endpoint="index", host="example.com"),
            wz.Rule("/", endpoint="shop", host="shop.example.com"),
            wz.Rule("/<page>", endpoint="user", host="<user>.people.com"),
        ]

    ours, theirs = both(factories, host_matching=True)
    a, b = ours.bind("example.com"), theirs.bind("example.com")
    for endpoint, values in [("index", {}), ("shop", {}), ("user", {"user": "bo", "page": "p"})]:
        assert a.build(endpoint, values) == b.build(endpoint, values)
    for host in ["example.com", "shop.example.com", "bo.people.com", "other.com"]:
        a, b = ours.bind(host), theirs.bind(host)
        assert outcome(a.match) == outcome(b.match), host
    with pytest.raises(RuntimeError, match="host matching"):
        ours.bind("example.com", subdomain="x")


def test_websocket_mismatch_like_werkzeug() -> None:
    ours, theirs = both(building_factories)
    for scheme in ["http", "ws"]:
        a, b = ours.bind("h", url_scheme=scheme), theirs.bind("h", url_scheme=scheme)
        assert a.websocket is b.websocket
        for path in ["/", "/socket", "/nope"]:
            ours_rv = outcome(lambda: a.match(path))  # noqa: B023
            assert ours_rv == outcome(lambda: b.match(path)), (scheme, path)  # noqa: B023


def test_dispatch_calls_the_view_or_returns_the_error() -> None:
    url_map = Map([Rule("/u/<name>", "user"), Rule("/dir/", "dir")])
    adapter = url_map.bind("example.com")
    seen: list[tuple[str, dict[str, Any]]] = []

    def view(endpoint: str, values: dict[str, Any]) -> str:
        seen.append((endpoint, values))
        return "answer"

    assert adapter.dispatch(view, "/u/ann") == "answer"
    assert seen == [("user", {"name": "ann"})]
    redirect = adapter.dispatch(view, "/dir")
    assert isinstance(redirect, RequestRedirect)
    assert redirect.new_url == "http://example.com/dir/"
    with pytest.raises(NotFound):
        adapter.dispatch(view, "/missing")
    assert isinstance(adapter.dispatch(view, "/missing", catch_http_exceptions=True), NotFound)


def test_bind_defaults_and_idna() -> None:
    url_map = Map([Rule("/", "index")], default_subdomain="www")
    adapter = url_map.bind("BÜCHER.example:8000")
    assert adapter.server_name == "xn--bcher-kva.example:8000"
    assert (adapter.script_name, adapter.path_info, adapter.subdomain) == ("/", "/", "www")
    assert adapter.get_host(None) == "www.xn--bcher-kva.example:8000"
    assert adapter.match() == ("index", {})


# -- bind_to_environ -------------------------------------------------------------------------


def environ(url: str, script_root: str = "", **kwargs: Any) -> dict[str, Any]:
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    path, _, query = path.partition("?")
    if query:
        kwargs["query_string"] = query
    base_url = f"{scheme}://{host}{script_root}"
    return EnvironBuilder("/" + path, base_url=base_url, **kwargs).get_environ()


@pytest.mark.parametrize(
    ("url", "server_name", "kwargs"),
    [
        ("http://example.com/app/x/3?q=1", None, {"script_root": "/app"}),
        ("http://api.example.com/x/3", "example.com", {}),
        ("http://a.b.example.com:8080/x/3", "example.com:8080", {}),
        ("http://example.com/x/3", "example.com:80", {}),
        ("https://example.com/x/3", "example.com:443", {}),
        ("http://example.com/x", None, {"method": "POST"}),
        ("http://example.com/dir", None, {"query_string": "a=1"}),
        (
            "http://example.com/socket",
            None,
            {"headers": {"Upgrade": "websocket", "Connection": "keep-alive, Upgrade"}},
        ),
    ],
)
def test_bind_to_environ_like_werkzeug(
    url: str, server_name: str | None, kwargs: dict[str, Any]
) -> None:
    def factories() -> list[Any]:
        return [
            wz.Rule("/x/<int:n>", endpoint="x"),
            wz.Rule("/x", endpoint="x_post", methods=["POST"]),
            wz.Rule("/dir/", endpoint="dir"),
            wz.Rule("/socket", endpoint="socket", websocket=True),
        ]

    ours, theirs = both(factories)
    env = environ(url, **kwargs)
    a = ours.bind_to_environ(env, server_name=server_name)
    b = theirs.bind_to_environ(env, server_name=server_name)
    fields = ("server_name", "script_name", "subdomain", "url_scheme", "path_info")
    assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
    assert (a.default_method, a.websocket) == (b.default_method, b.websocket)
    assert outcome(a.match) == outcome(b.match)
    # A request is taken as well as its environ.
    request = erlen.Request(env)
    c = ours.bind_to_environ(request, server_name=server_name)
    assert [getattr(c, f) for f in fields] == [getattr(b, f) for f in fields]
    assert outcome(c.match) == outcome(b.match)


def test_bind_to_environ_warns_when_the_host_is_not_under_the_server_name() -> None:
    url_map = Map([Rule("/", "index")])
    with pytest.warns(UserWarning, match="doesn't match configured server name") as caught:
        adapter = url_map.bind_to_environ(environ("http://other.org/"), server_name="example.com")
    assert adapter.subdomain == "<invalid>"
    # Attributed to the line that called bind_to_environ, as Werkzeug's warning is.
    assert caught[0].filename == __file__
    with pytest.raises(NotFound):
        adapter.match()


# -- Erlen.create_url_adapter ----------------------------------------------------------------


def test_create_url_adapter_without_a_request_needs_server_name() -> None:
    app = Erlen(__name__)
    app.add_url_rule("/a/<int:n>", "a", lambda n: "")
    assert app.create_url_adapter(None) is None
    app.config.update(
        SERVER_NAME="example.com", APPLICATION_ROOT="/root", PREFERRED_URL_SCHEME="https"
    )
    adapter = app.create_url_adapter(None)
    assert adapter is not None
    assert adapter.build("a", {"n": 1}) == "/root/a/1"
    assert adapter.build("a", {"n": 1}, force_external=True) == "https://example.com/root/a/1"


def _adapter_app(mod: Any, options: dict[str, Any], config: dict[str, Any]) -> Any:
    app = (mod.Flask if mod is flask else mod.Erlen)(__name__, **options)
    app.config.update(config)
    host = {"host": "<h>.test"} if options.get("host_matching") else {}
    sub = {} if options.get("host_matching") else {"subdomain": "<tenant>"}

    @app.route("/item/<int:n>", methods=["GET", "PUT"], **host)
    def item(n: int, h: str = "") -> Any:
        req = mod.request
        adapter = mod.current_app.create_url_adapter(req._get_current_object())
        endpoint, values = adapter.match()
        return {
            "match": [endpoint, values],
            "allowed": sorted(adapter.allowed_methods()),
            "build": adapter.build("item", {"n": n + 1, **({"h": h} if h else {})}),
            "external": adapter.build(
                "item", {"n": 1, **({"h": h} if h else {})}, force_external=True
            ),
            "other": outcome(lambda: adapter.build("tenant", {"tenant": "acme"})),
            "slash": outcome(lambda: adapter.match("/dir")),
        }

    @app.route("/dir/", **host)
    def directory(h: str = "") -> str:
        return ""

    @app.route("/t", endpoint="tenant", **sub, **host)
    def tenant(tenant: str = "", h: str = "") -> str:
        return ""

    return app


@pytest.mark.parametrize(
    ("options", "config", "base"),
    [
        ({}, {}, "http://localhost"),
        ({}, {"SERVER_NAME": "example.com"}, "http://example.com"),
        ({"subdomain_matching": True}, {"SERVER_NAME": "example.com"}, "http://example.com"),
        ({"host_matching": True, "static_host": "s.test"}, {}, "http://a.test"),
    ],
)
def test_create_url_adapter_in_a_request_like_flask(
    options: dict[str, Any], config: dict[str, Any], base: str, protocol: str
) -> None:
    answers = []
    for mod in (flask, erlen):
        app = _adapter_app(mod, options, config)
        client = app.test_client() if mod is flask else app.test_client(asgi=protocol == "asgi")
        rv = client.get("/item/4?x=1", base_url=base)
        assert rv.status_code == 200, rv.data
        answers.append(rv.get_json())
    assert answers[1] == answers[0]
    assert answers[1]["match"][0] == "item"


def test_create_url_adapter_refuses_an_untrusted_host() -> None:
    app = Erlen(__name__)
    app.config["TRUSTED_HOSTS"] = ["good.test"]
    with app.test_request_context("/", base_url="http://good.test"):
        assert app.create_url_adapter(erlen.request._get_current_object()) is not None  # type: ignore[attr-defined]
    with app.test_request_context("/", base_url="http://evil.test"):
        with pytest.raises(HTTPException) as info:
            app.create_url_adapter(erlen.request._get_current_object())  # type: ignore[attr-defined]
        assert info.value.code == 400
