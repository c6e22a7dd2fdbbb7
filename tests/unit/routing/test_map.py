"""Tests for erlen.routing.map: domains, defaults and redirects, building URLs, the registries."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from erlen.routing import BuildError, Map, NotFound, RequestRedirect, Rule
from routing_support import (
    BUILD_SPECS,
    RuleSpec,
    make_map,
    make_wz_map,
    match,
    outcome,
    wz_outcome,
)

# -- domains ---------------------------------------------------------------------------------


def test_subdomain_matching_like_werkzeug() -> None:
    specs: list[RuleSpec] = [
        ("/", "root", {}),
        ("/", "user_home", {"subdomain": "<user>"}),
        ("/x", "team", {"subdomain": "<user>.<team>"}),
        ("/x", "api_x", {"subdomain": "api"}),
        ("/only-main", "main", {}),
    ]
    ours, theirs = make_map(specs), make_wz_map(specs)
    for subdomain in ["", "alice", "a.b", "api"]:
        for path in ["/", "/x", "/only-main"]:
            expected = wz_outcome(theirs, path, subdomain=subdomain)
            assert outcome(ours, path, subdomain=subdomain) == expected, (subdomain, path)
    assert match(ours, "/", subdomain="alice") == ("user_home", {"user": "alice"})
    assert match(ours, "/x", subdomain="api") == ("api_x", {})
    # No subdomain given: the map's default subdomain applies.
    assert match(ours, "/") == ("root", {})
    with pytest.raises(NotFound):
        ours.match("/x")


def test_default_subdomain() -> None:
    m = Map(
        [Rule("/", endpoint="www"), Rule("/", endpoint="api", subdomain="api")],
        default_subdomain="www",
    )
    assert m.iter_rules("www").__next__().subdomain == "www"
    assert match(m, "/") == ("www", {})
    assert match(m, "/", subdomain="www") == ("www", {})
    assert match(m, "/", subdomain="api") == ("api", {})
    with pytest.raises(NotFound):
        m.match("/", subdomain="")


def test_host_matching_like_werkzeug() -> None:
    specs: list[RuleSpec] = [
        ("/", "main", {"host": "example.com"}),
        ("/", "user", {"host": "<user>.example.com"}),
        ("/p/<int:n>", "page", {"host": "<user>.example.com"}),
        ("/static", "static", {"host": "example.com"}),
        ("/nohost", "nohost", {}),
    ]
    ours, theirs = make_map(specs, host_matching=True), make_wz_map(specs, host_matching=True)
    for host in ["example.com", "bob.example.com", "other.org"]:
        for path in ["/", "/p/3", "/static", "/nohost"]:
            expected = wz_outcome(theirs, path, host=host)
            assert outcome(ours, path, host=host) == expected, (host, path)
    assert match(ours, "/p/3", host="bob.example.com") == ("page", {"user": "bob", "n": 3})
    assert match(ours, "/", host="example.com") == ("main", {})
    # Subdomains are ignored when matching hosts.
    assert match(ours, "/", host="example.com", subdomain="zzz") == ("main", {})


def test_switching_host_matching_after_adding_rules_recompiles() -> None:
    m = Map([Rule("/", endpoint="h", host="example.com")])
    assert match(m, "/", host="elsewhere") == ("h", {})
    m.host_matching = True
    assert m.host_matching is True
    assert match(m, "/", host="example.com") == ("h", {})
    with pytest.raises(NotFound):
        m.match("/", host="elsewhere")


# -- defaults and redirects ------------------------------------------------------------------


def test_defaults_are_merged_into_values() -> None:
    m = make_map(
        [("/", "index", {"defaults": {"page": 1}}), ("/u/<name>", "u", {"defaults": {"x": "y"}})]
    )
    assert match(m, "/") == ("index", {"page": 1})
    assert match(m, "/u/bob") == ("u", {"name": "bob", "x": "y"})
    # Each match returns a fresh dict.
    _, values = m.match("/")
    values["page"] = 5
    assert match(m, "/") == ("index", {"page": 1})


def test_redirect_defaults() -> None:
    specs: list[RuleSpec] = [
        ("/page/", "page", {"defaults": {"page": 1}}),
        ("/page/<int:page>", "page", {}),
    ]
    m = make_map(specs)
    with pytest.raises(RequestRedirect) as info:
        m.match("/page/1")
    assert info.value.new_url == "/page/"
    assert match(m, "/page/2") == ("page", {"page": 2})
    assert match(m, "/page/") == ("page", {"page": 1})
    off = make_map(specs, redirect_defaults=False)
    assert match(off, "/page/1") == ("page", {"page": 1})


def test_alias_redirects_to_canonical_rule() -> None:
    m = make_map([("/new/<int:n>", "n", {}), ("/old/<int:n>", "n", {"alias": True})])
    with pytest.raises(RequestRedirect) as info:
        m.match("/old/3")
    assert info.value.new_url == "/new/3"
    assert m.build("n", {"n": 4})[0] == "/new/4"


def test_redirect_to() -> None:
    def to_new(map: Map, slug: str) -> str:
        assert isinstance(map, Map)
        return f"/new/{slug.upper()}"

    m = make_map(
        [
            ("/new/<slug>", "n", {}),
            ("/old/<slug>", "o", {"redirect_to": "new/<slug>"}),
            ("/abs", "a", {"redirect_to": "https://example.org/x"}),
            ("/fn/<slug>", "f", {"redirect_to": to_new}),
        ]
    )
    with pytest.raises(RequestRedirect) as info:
        m.match("/old/hi there")
    assert info.value.new_url == "/new/hi%20there"
    with pytest.raises(RequestRedirect) as info:
        m.match("/abs")
    assert info.value.new_url == "https://example.org/x"
    with pytest.raises(RequestRedirect) as info:
        m.match("/fn/a")
    assert info.value.new_url == "/new/A"


# -- building --------------------------------------------------------------------------------


BUILD_CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("index", {}, None),
    ("index", {"q": "a b", "n": 1}, None),
    ("index", {"q": ["x", "y"], "z": None, "t": ("a", None, "b")}, None),
    ("index", {"weird": "&=?/#%+"}, None),
    ("user", {"name": "bob"}, None),
    ("user", {"name": "ä ö/?#"}, None),
    ("user", {"name": "x", "next": "/a?b=c"}, None),
    ("u", {"name": "x"}, None),
    ("u", {"name": "x", "page": 1}, None),
    ("u", {"name": "x", "page": 2}, None),
    ("u", {"name": "x", "page": 2, "q": 1}, None),
    ("p", {}, None),
    ("p", {}, "POST"),
    ("p", {}, "GET"),
    ("files", {"filename": "css/a b.css"}, None),
    ("unicode", {"x": "ß"}, None),
    ("mixed", {"n": 3}, None),
]


@pytest.mark.parametrize(("endpoint", "values", "method"), BUILD_CASES)
def test_build_matches_werkzeug(endpoint: str, values: dict[str, Any], method: str | None) -> None:
    ours = make_map(BUILD_SPECS)
    theirs = make_wz_map(BUILD_SPECS).bind("example.com")
    path, rule = ours.build(endpoint, values, method)
    assert path == theirs.build(endpoint, values, method)
    assert rule.endpoint == endpoint


def test_build_examples() -> None:
    m = make_map(BUILD_SPECS)
    assert m.build("user", {"name": "bob", "q": [1, 2], "z": None}) == (
        "/user/bob?q=1&q=2",
        m._rules_by_endpoint["user"][0],
    )
    assert m.build("u", {"name": "x", "page": 1})[0] == "/u/x"
    assert m.build("u", {"name": "x", "page": 3})[0] == "/u/x/3"
    assert m.build("p")[0] == "/g"
    assert m.build("p", method="POST")[0] == "/p"
    assert m.build("index", {"b": 2, "a": 1})[0] == "/?b=2&a=1"
    assert m.build("index", {"q": "x"}, append_unknown=False)[0] == "/"
    with pytest.raises(BuildError):
        m.build("user", {"name": None})


def test_a_build_without_values_follows_the_map() -> None:
    # Such builds are remembered until the map compiles again: a rule added since, or
    # host matching switched on, is seen by the next build.
    m = Map([Rule("/a", endpoint="e")])
    assert m.build("e") == ("/a", m._rules_by_endpoint["e"][0])
    assert m.build("e") == m.build("e", {})
    m.add(Rule("/b", endpoint="e", defaults={"page": 1}))  # more defaults: built first
    assert m.build("e")[0] == "/b"
    assert m.build("e", {"page": 2})[0] == "/a?page=2"  # values are never remembered
    assert m.build("e", {"x": 1})[0] == "/b?x=1"
    m.add(Rule("/h", endpoint="h", host="example.com"))
    assert m.build("h")[1].host == "example.com"
    m.host_matching = True
    assert m.build("h")[0] == "/h"
    m.add(Rule("/h2", endpoint="h", host="example.org", defaults={"p": 1}))
    assert m.build("h")[1].host == "example.org"


def test_build_accepts_multidict() -> None:
    m = make_map(BUILD_SPECS)
    values = MultiDict([("name", "bob"), ("q", "1"), ("q", "2")])
    assert m.build("user", values)[0] == "/user/bob?q=1&q=2"


def test_build_does_not_mutate_values() -> None:
    m = make_map(BUILD_SPECS)
    values = {"name": "x", "z": None}
    m.build("user", values)
    assert values == {"name": "x", "z": None}


def test_build_only_rule_builds_but_never_matches() -> None:
    m = make_map([("/b/<x>", "b", {"build_only": True})])
    assert m.build("b", {"x": 1})[0] == "/b/1"
    with pytest.raises(NotFound):
        m.match("/b/1")


def test_build_host_for_subdomains_and_hosts() -> None:
    m = make_map(
        [
            ("/", "user", {"subdomain": "<user>"}),
            ("/api", "api", {"subdomain": "api"}),
            ("/", "i", {}),
        ]
    )
    path, rule = m.build("user", {"user": "bob", "q": 1})
    assert (path, m.build_host(rule, {"user": "bob", "q": 1})) == ("/?q=1", "bob")
    path, rule = m.build("api")
    assert (path, m.build_host(rule)) == ("/api", "api")
    assert m.build_host(m.build("i")[1]) == ""
    h = make_map(
        [("/", "u", {"host": "<user>.example.com"}), ("/", "main", {"host": "example.com"})],
        host_matching=True,
    )
    path, rule = h.build("u", {"user": "ann"})
    assert (path, h.build_host(rule, {"user": "ann"})) == ("/", "ann.example.com")
    assert h.build_host(h.build("main")[1]) == "example.com"


# -- registries ------------------------------------------------------------------------------


def test_map_registries() -> None:
    a = Rule("/a", "a")
    b1 = Rule("/b", "b")
    b2 = Rule("/b/<x>", "b")
    m = Map([a, b1, b2])
    assert m._rules == [a, b1, b2]
    assert list(m.iter_rules()) == [a, b1, b2]
    # Build order: more arguments first.
    assert list(m.iter_rules("b")) == [b2, b1]
    assert m._rules_by_endpoint == {"a": [a], "b": [b2, b1]}
    assert m.is_endpoint_expecting("b", "x")
    assert not m.is_endpoint_expecting("a", "x")
    assert m.strict_slashes is True and m.default_subdomain == "" and m.host_matching is False


def test_rules_added_after_matching_are_seen() -> None:
    m = Map([Rule("/a", "a")])
    assert match(m, "/a") == ("a", {})
    with pytest.raises(NotFound):
        m.match("/b/1")
    m.add(Rule("/b/<int:n>", "b"))
    assert match(m, "/b/1") == ("b", {"n": 1})
