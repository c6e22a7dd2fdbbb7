"""Changes made after the first request: directly on the registries, or through setup methods."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from werkzeug.exceptions import NotFound

from erlen import Blueprint, Erlen, Response
from erlen.scaffold import RegistryDict, RegistryList


def _app() -> Erlen:
    app = Erlen(__name__)
    bp = Blueprint("bp", __name__, url_prefix="/bp")

    @app.route("/")
    def index() -> str:
        return "index"

    @bp.route("/view")
    def view() -> str:
        return "bp view"

    app.register_blueprint(bp)
    return app


def _mark(name: str) -> Any:
    def after(response: Response) -> Response:
        response.headers[f"X-{name}"] = "1"
        return response

    return after


def test_after_request_appended_to_the_registry_takes_effect(client: Any) -> None:
    app = _app()
    c = client(app)
    assert "X-Late" not in c.get("/").headers
    app.after_request_funcs[None].append(_mark("Late"))
    assert c.get("/").headers["X-Late"] == "1"
    app.after_request_funcs[None].clear()
    assert "X-Late" not in c.get("/").headers


def test_blueprint_entries_and_new_keys_take_effect(client: Any) -> None:
    app = _app()
    c = client(app)
    c.get("/bp/view")
    app.after_request_funcs["bp"].insert(0, _mark("Bp"))
    app.before_request_funcs["bp"] = [lambda: "stopped by bp"]
    assert c.get("/").data == b"index"
    rv = c.get("/bp/view")
    assert rv.data == b"stopped by bp"
    assert rv.headers["X-Bp"] == "1"
    del app.before_request_funcs["bp"]
    assert c.get("/bp/view").data == b"bp view"


def test_url_value_preprocessor_added_directly_takes_effect(client: Any) -> None:
    app = _app()
    seen: list[Any] = []
    c = client(app)
    c.get("/")
    app.url_value_preprocessors.setdefault(None, []).append(lambda e, v: seen.append(e))
    c.get("/")
    assert seen == ["index"]


def test_view_function_replaced_in_the_registry_takes_effect(client: Any) -> None:
    app = _app()
    c = client(app)
    assert c.get("/").data == b"index"
    app.view_functions["index"] = lambda: "replaced"
    assert c.get("/").data == b"replaced"


def test_error_handler_set_directly_takes_effect(client: Any) -> None:
    app = _app()
    c = client(app)
    assert c.get("/missing").status_code == 404
    app.error_handler_spec[None][404][NotFound] = lambda e: ("custom", 404)
    assert c.get("/missing").data == b"custom"
    # A whole level assigned as a plain dict is converted, so it is watched too.
    app.error_handler_spec["bp"] = {404: {}}
    app.error_handler_spec["bp"][404][NotFound] = lambda e: ("bp custom", 404)
    assert c.get("/bp/missing").data == b"custom"  # not a bp endpoint: app's handler
    app.error_handler_spec[None][404].pop(NotFound)
    assert c.get("/missing").data != b"custom"


def test_registry_attribute_reassigned_is_watched(client: Any) -> None:
    app = _app()
    c = client(app)
    c.get("/")
    app.after_request_funcs = defaultdict(list)
    assert isinstance(app.after_request_funcs, RegistryDict)
    app.after_request_funcs[None].append(_mark("New"))
    assert c.get("/").headers["X-New"] == "1"


def test_registries_look_like_flasks() -> None:
    app = Erlen(__name__)
    assert isinstance(app.before_request_funcs, defaultdict)
    assert app.before_request_funcs["nothing"] == []
    assert isinstance(app.before_request_funcs["nothing"], RegistryList)
    assert app.error_handler_spec[None][None] == {}
    with pytest.raises(KeyError):
        app.view_functions["nothing"]
    assert type(app.before_request_funcs.copy()) is defaultdict
    assert type(app.before_request_funcs["x"].copy()) is list


def test_reading_a_missing_key_keeps_the_plans() -> None:
    app = _app()
    with app.test_client() as c:
        c.get("/")
    assert app._plans
    app.before_request_funcs["unknown"]  # defaultdict read: inserts [], changes nothing
    assert app._plans
    app.before_request_funcs["unknown"].append(lambda: None)
    assert not app._plans


def test_setup_method_after_first_request_raises_in_debug(client: Any) -> None:
    app = _app()
    app.debug = True
    client(app).get("/")
    with pytest.raises(AssertionError, match="setup method 'add_url_rule'"):
        app.add_url_rule("/late", endpoint="late")
    with pytest.raises(AssertionError, match="setup method 'before_request'"):
        app.before_request(lambda: None)
    with pytest.raises(AssertionError, match="setup method 'register_blueprint'"):
        app.register_blueprint(Blueprint("late", __name__))
    assert "late" not in app.view_functions
    assert not app.before_request_funcs[None]
    # Direct changes to the registries stay allowed, as in Flask.
    app.before_request_funcs[None].append(lambda: "direct")
    assert client(app).get("/").data == b"direct"


def test_setup_method_after_first_request_is_accepted_outside_debug(client: Any) -> None:
    app = _app()
    c = client(app)
    c.get("/")
    app.add_url_rule("/late", "late", lambda: "late")
    assert c.get("/late").data == b"late"


def test_blueprint_setup_method_after_registration_leaves_no_trace() -> None:
    bp = Blueprint("bp", __name__)
    Erlen(__name__).register_blueprint(bp)
    with pytest.raises(AssertionError, match="setup method 'before_request'"):
        bp.before_request(lambda: None)
    assert not bp.before_request_funcs[None]
    with pytest.raises(AssertionError, match="setup method 'add_url_rule'"):
        bp.add_url_rule("/x", "x", lambda: "x")
