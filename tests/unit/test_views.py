"""Class-based views, checked against Flask's ``flask.views``."""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

import flask
import pytest

import erlen
from erlen import Erlen
from erlen.views import MethodView, View


def app_class(mod: ModuleType) -> Any:
    return mod.Flask if mod is flask else mod.Erlen


def observe(
    build: Callable[[ModuleType, Any], Any], requests: list[str], protocol: str
) -> list[tuple[int, str, str | None]]:
    """Send the same requests to the Flask and the Erlen app; compare status, body, Allow."""
    seen: dict[str, list[tuple[int, str, str | None]]] = {}
    for mod in (flask, erlen):
        views = importlib.import_module(f"{mod.__name__}.views")
        app = build(mod, views)
        client = app.test_client() if mod is flask else app.test_client(asgi=protocol == "asgi")
        rows = []
        for req in requests:
            method, _, path = req.rpartition(" ")
            resp = client.open(path, method=method or "GET")
            allow = resp.headers.get("Allow")
            # Werkzeug lists a 405's methods in set order; compare them sorted.
            allow = ", ".join(sorted(allow.split(", "))) if allow else None
            rows.append((resp.status_code, resp.get_data(as_text=True), allow))
        seen[mod.__name__] = rows
    assert seen["erlen"] == seen["flask"]
    return seen["erlen"]


def build_views(mod: ModuleType, views: Any) -> Any:
    app = app_class(mod)(__name__)
    created: list[int] = []

    class Greeting(views.View):
        """Greets."""

        methods = ["GET", "POST"]

        def __init__(self, greeting: str) -> None:
            created.append(1)
            self.greeting = greeting

        def dispatch_request(self, name: str) -> str:
            return f"{self.greeting} {name} {mod.request.method} n={len(created)}"

    class Shared(views.View):
        init_every_request = False

        def __init__(self) -> None:
            self.calls = 0

        def dispatch_request(self) -> str:
            self.calls += 1
            return f"calls={self.calls}"

    def tag(label: str) -> Callable[[Any], Any]:
        def decorator(f: Any) -> Any:
            @functools.wraps(f)
            def wrapper(**kwargs: Any) -> Any:
                return f"{label}({f.__name__}:{f(**kwargs)})"

            return wrapper

        return decorator

    class Decorated(views.View):
        decorators = [tag("inner"), tag("outer")]

        def dispatch_request(self) -> str:
            return "body"

    class Items(views.MethodView):
        def get(self, id: int | None = None) -> str:
            return f"get {id}"

        def post(self) -> str:
            return f"post {mod.request.form.get('x')}"

    class MoreItems(Items):
        def delete(self, id: int) -> str:
            return f"delete {id}"

    class Explicit(views.MethodView):
        methods = ["GET"]

        def get(self) -> str:
            return "explicit get"

        def post(self) -> str:
            return "never routed"

    class NoOptions(views.MethodView):
        provide_automatic_options = False

        def get(self) -> str:
            return "x"

    app.add_url_rule("/greet/<name>", view_func=Greeting.as_view("greet", "Hello"))
    app.add_url_rule("/shared", view_func=Shared.as_view("shared"))
    app.add_url_rule("/decorated", view_func=Decorated.as_view("decorated"))
    items = Items.as_view("items")
    app.add_url_rule("/items", view_func=items)
    app.add_url_rule("/items/<int:id>", view_func=items, methods=["GET"])
    app.add_url_rule("/more/<int:id>", view_func=MoreItems.as_view("more"))
    app.add_url_rule("/explicit", view_func=Explicit.as_view("explicit"))
    app.add_url_rule("/no-options", view_func=NoOptions.as_view("no_options"))

    @app.route("/meta")
    def meta() -> str:
        fn = app.view_functions["greet"]
        return repr(
            (
                fn.__name__,
                fn.__doc__,
                fn.view_class.__name__,
                sorted(fn.methods),
                sorted(Items.methods),
                sorted(MoreItems.methods),
                app.view_functions["decorated"].__name__,
            )
        )

    return app


def test_views_match_flask(protocol: str) -> None:
    rows = observe(
        build_views,
        [
            "/greet/ann",
            "POST /greet/bob",
            "PUT /greet/x",
            "/shared",
            "/shared",
            "/decorated",
            "/items",
            "POST /items",
            "HEAD /items",
            "OPTIONS /items",
            "DELETE /items",
            "/items/3",
            "/more/4",
            "DELETE /more/4",
            "OPTIONS /more/4",
            "/explicit",
            "POST /explicit",
            "OPTIONS /no-options",
            "/meta",
        ],
        protocol,
    )
    assert rows[0][:2] == (200, "Hello ann GET n=1")
    assert rows[1][:2] == (200, "Hello bob POST n=2")
    assert rows[2][0] == 405
    assert [r[1] for r in rows[3:5]] == ["calls=1", "calls=2"]
    assert rows[5][1] == "outer(decorated:inner(decorated:body))"
    assert rows[8][:2] == (200, "")
    assert rows[9][2] == "GET, HEAD, OPTIONS, POST"
    assert rows[13][1] == "delete 4"
    assert rows[16][0] == 405
    assert rows[17][0] == 405
    assert rows[18][1] == (
        "('greet', 'Greets.', 'Greeting', ['GET', 'POST'], ['GET', 'POST'],"
        " ['DELETE', 'GET', 'POST'], 'decorated')"
    )


def test_async_handlers_match_flask(protocol: str) -> None:
    def build(mod: ModuleType, views: Any) -> Any:
        app = app_class(mod)(__name__)

        class AsyncView(views.View):
            async def dispatch_request(self, n: int) -> str:
                return f"async view {n} {mod.request.path}"

        class AllAsync(views.MethodView):
            async def get(self) -> str:
                return "async get"

            async def post(self) -> str:
                return "async post"

        class Mixed(views.MethodView):
            def get(self) -> str:
                return "sync get"

            async def post(self) -> str:
                return "async post"

        class SyncChildOfAsync(AllAsync):
            def put(self) -> str:
                return "sync put"

        class OwnDispatch(views.MethodView):
            async def get(self) -> str:
                return "unused"

            def dispatch_request(self, **kwargs: Any) -> str:
                return f"own dispatch {mod.request.method}"

        def guard(f: Any) -> Any:
            # A plain sync decorator, the kind Flask code uses on views.
            @functools.wraps(f)
            def wrapper(**kwargs: Any) -> Any:
                if mod.request.args.get("deny"):
                    return "denied", 403
                return f(**kwargs)

            return wrapper

        class Guarded(views.MethodView):
            decorators = [guard]

            async def get(self) -> str:
                return "guarded async get"

        app.add_url_rule("/view/<int:n>", view_func=AsyncView.as_view("view"))
        app.add_url_rule("/all", view_func=AllAsync.as_view("all"))
        app.add_url_rule("/mixed", view_func=Mixed.as_view("mixed"))
        app.add_url_rule("/child", view_func=SyncChildOfAsync.as_view("child"))
        app.add_url_rule("/own", view_func=OwnDispatch.as_view("own"))
        app.add_url_rule("/guarded", view_func=Guarded.as_view("guarded"))
        return app

    rows = observe(
        build,
        [
            "/view/5",
            "/all",
            "POST /all",
            "/mixed",
            "POST /mixed",
            "/child",
            "PUT /child",
            "/own",
            "POST /own",
            "/guarded",
            "/guarded?deny=1",
        ],
        protocol,
    )
    assert [r[1] for r in rows[:8] + rows[9:]] == [
        "async view 5 /view/5",
        "async get",
        "async post",
        "sync get",
        "async post",
        "async get",
        "sync put",
        "own dispatch GET",
        "guarded async get",
        "denied",
    ]
    assert rows[8][0] == 405  # OwnDispatch only declares GET


def test_view_without_dispatch_request_fails() -> None:
    app = Erlen(__name__)
    app.testing = True
    app.add_url_rule("/", view_func=View.as_view("bare"))
    with pytest.raises(NotImplementedError):
        app.test_client().get("/")


def test_method_view_methods_inference() -> None:
    class Base(MethodView):
        def get(self) -> str:
            return ""

    class Child(Base):
        def patch(self) -> str:
            return ""

    class Nothing(MethodView):
        pass

    assert Base.methods == {"GET"}
    assert Child.methods == {"GET", "PATCH"}
    assert Nothing.methods is None
    view = Child.as_view("child")
    assert view.methods == {"GET", "PATCH"}  # type: ignore[attr-defined]
    assert view.view_class is Child  # type: ignore[attr-defined]


def test_async_views_run_natively() -> None:
    class AllAsync(MethodView):
        async def get(self) -> str:
            return "a"

    class Mixed(AllAsync):
        def post(self) -> str:
            return "b"

    class Once(View):
        init_every_request = False

        async def dispatch_request(self) -> str:
            return "once"

    class Decorated(AllAsync):
        decorators = [lambda f: f]

    assert inspect.iscoroutinefunction(AllAsync.as_view("a"))
    assert inspect.iscoroutinefunction(Once.as_view("o"))
    assert not inspect.iscoroutinefunction(Mixed.as_view("m"))
    assert not inspect.iscoroutinefunction(Decorated.as_view("d"))


def test_init_every_request_false_async(protocol: str) -> None:
    class Counter(View):
        init_every_request = False

        def __init__(self) -> None:
            self.n = 0

        async def dispatch_request(self) -> str:
            self.n += 1
            return str(self.n)

    app = Erlen(__name__)
    app.add_url_rule("/", view_func=Counter.as_view("counter"))
    client = app.test_client(asgi=protocol == "asgi")
    assert [client.get("/").text for _ in range(3)] == ["1", "2", "3"]
