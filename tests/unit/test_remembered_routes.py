"""A static URL's match is remembered, and forgotten whenever it could be wrong.

``Erlen.begin_request`` reuses the rule and plan an earlier request to the same path and
method matched (a rule without variables); these tests change what decides a match after
the first request and check that the next answer is the router's, on both doors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from erlen import Erlen
from erlen.routing import Map


def _app() -> Erlen:
    app = Erlen(__name__)

    @app.route("/page")
    def page() -> str:
        return "page"

    return app


def test_a_remembered_url_answers_again_and_other_methods_still_get_405(
    client: Callable[..., Any],
) -> None:
    app = _app()
    c = client(app)
    assert c.get("/page").data == b"page"
    assert c.get("/page").data == b"page"
    assert c.post("/page").status_code == 405
    assert c.head("/page").status_code == 200
    assert app._routes_seen  # the second GET was served from what the first one matched


def test_a_rule_added_later_or_a_new_map_is_seen(client: Callable[..., Any]) -> None:
    app = _app()
    c = client(app)
    assert c.get("/page").data == b"page"
    # The same path, now also for POST: the map's version changed.
    app.add_url_rule("/page", "page_post", lambda: "posted", methods=["POST"])
    assert c.post("/page").data == b"posted"
    assert c.get("/page").data == b"page"
    # A replaced map is asked, not what the old one matched.
    app.url_map = Map()
    assert c.get("/page").status_code == 404


def test_view_functions_and_hooks_changed_later_take_effect(client: Callable[..., Any]) -> None:
    app = _app()
    c = client(app)
    assert c.get("/page").data == b"page"
    app.view_functions["page"] = lambda: "replaced"
    assert c.get("/page").data == b"replaced"
    app.after_request_funcs.setdefault(None, []).append(
        lambda response: (response.headers.__setitem__("X-After", "1"), response)[1]
    )
    assert c.get("/page").headers["X-After"] == "1"


def test_trusted_hosts_and_subdomains_set_later_are_checked(client: Callable[..., Any]) -> None:
    app = _app()
    c = client(app)
    assert c.get("/page", headers={"Host": "evil.example"}).status_code == 200
    app.config["TRUSTED_HOSTS"] = ["good.example"]
    assert c.get("/page", headers={"Host": "evil.example"}).status_code == 400
    assert c.get("/page", headers={"Host": "good.example"}).status_code == 200

    sub = Erlen(__name__, subdomain_matching=True)
    sub.add_url_rule("/page", "page", lambda: "main")
    sub.add_url_rule("/page", "api_page", lambda: "api", subdomain="api")
    sc = client(sub)
    assert sc.get("/page", headers={"Host": "api.site.test"}).data == b"main"  # no SERVER_NAME
    sub.config["SERVER_NAME"] = "site.test"
    assert sc.get("/page", headers={"Host": "api.site.test"}).data == b"api"
    assert sc.get("/page", headers={"Host": "site.test"}).data == b"main"


def test_host_matching_apps_match_by_host(client: Callable[..., Any]) -> None:
    app = Erlen(__name__, host_matching=True, static_host="static.test")
    app.add_url_rule("/", "a", lambda: "a", host="a.test")
    app.add_url_rule("/", "b", lambda: "b", host="b.test")
    c = client(app)
    for _ in range(2):
        assert c.get("/", headers={"Host": "a.test"}).data == b"a"
        assert c.get("/", headers={"Host": "b.test"}).data == b"b"


def test_what_is_remembered_is_bounded() -> None:
    app = Erlen(__name__)
    for i in range(1100):
        app.add_url_rule(f"/p{i}", f"p{i}", lambda: "x")
    c = app.test_client()
    for i in range(1100):
        assert c.get(f"/p{i}").status_code == 200
    assert len(app._routes_seen) == 1024


def test_a_default_subdomain_set_later_is_seen(client: Callable[..., Any]) -> None:
    app = Erlen(__name__)
    app.add_url_rule("/page", "main", lambda: "main")
    app.add_url_rule("/page", "api", lambda: "api", subdomain="api")
    c = client(app)
    assert c.get("/page").data == b"main"
    assert c.get("/page").data == b"main"
    app.url_map.default_subdomain = "api"
    assert c.get("/page").data == b"api"


def _trusted(config: Any) -> None:
    config["TRUSTED_HOSTS"] = ["good.example"]


def _trusted_by_update(config: Any) -> None:
    config.update(TRUSTED_HOSTS=["good.example"])


def _trusted_by_or(config: Any) -> None:
    config |= {"TRUSTED_HOSTS": ["good.example"]}


def _trusted_by_setdefault(config: Any) -> None:
    del config["TRUSTED_HOSTS"]
    config.setdefault("TRUSTED_HOSTS", ["good.example"])


def _trusted_by_from_mapping(config: Any) -> None:
    config.from_mapping(TRUSTED_HOSTS=["good.example"])


@pytest.mark.parametrize(
    "change",
    [
        _trusted,
        _trusted_by_update,
        _trusted_by_or,
        _trusted_by_setdefault,
        _trusted_by_from_mapping,
    ],
)
def test_every_way_of_changing_the_config_is_seen(
    client: Callable[..., Any], change: Callable[[Any], None]
) -> None:
    app = _app()
    c = client(app)
    for _ in range(2):
        assert c.get("/page", headers={"Host": "evil.example"}).status_code == 200
    version = app.config.version
    change(app.config)
    assert app.config.version != version
    assert c.get("/page", headers={"Host": "evil.example"}).status_code == 400
    # Popped again (or the whole config cleared and refilled): plain routing again.
    app.config.pop("TRUSTED_HOSTS")
    app.config["TRUSTED_HOSTS"] = None
    for _ in range(2):
        assert c.get("/page", headers={"Host": "evil.example"}).status_code == 200


def test_subdomain_matching_set_later_is_seen(client: Callable[..., Any]) -> None:
    app = Erlen(__name__)
    app.config["SERVER_NAME"] = "site.test"
    app.add_url_rule("/page", "page", lambda: "main")
    app.add_url_rule("/page", "api_page", lambda: "api", subdomain="api")
    c = client(app)
    for _ in range(2):
        assert c.get("/page", headers={"Host": "api.site.test"}).data == b"main"
    app.subdomain_matching = True
    assert c.get("/page", headers={"Host": "api.site.test"}).data == b"api"


def test_config_version_counts_changes() -> None:
    app = Erlen(__name__)
    config = app.config
    seen = {config.version}
    config["A"] = 1
    seen.add(config.version)
    config.update(B=2)
    seen.add(config.version)
    del config["A"]
    seen.add(config.version)
    config.popitem()
    seen.add(config.version)
    config.clear()
    seen.add(config.version)
    assert len(seen) == 6
    before = config.version
    assert config.get("MISSING") is None and "X" not in config
    assert config.version == before  # reads change nothing
