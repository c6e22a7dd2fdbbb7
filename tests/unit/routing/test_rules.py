"""Tests for erlen.routing.rules: rule syntax, options, methods and binding to a map."""

from __future__ import annotations

import re

import pytest

from erlen.routing import BaseConverter, Map, Rule
from routing_support import make_map, match

# -- methods ---------------------------------------------------------------------------------


def test_head_is_added_to_get() -> None:
    rule = Rule("/x", endpoint="x", methods=["get"])
    assert rule.methods == {"GET", "HEAD"}
    assert Rule("/y", endpoint="y", methods=["POST"]).methods == {"POST"}
    assert Rule("/z", endpoint="z").methods is None
    m = Map([rule])
    assert match(m, "/x", "HEAD") == ("x", {})


def test_methods_as_string_is_rejected() -> None:
    with pytest.raises(TypeError):
        Rule("/x", endpoint="x", methods="GET")


def test_websocket_rules_only_take_get_methods() -> None:
    with pytest.raises(ValueError, match="WebSocket"):
        Rule("/ws", endpoint="ws", websocket=True, methods=["POST"])


# -- options taken from the map --------------------------------------------------------------


def test_merge_slashes_rule_defaults_come_from_map() -> None:
    m = make_map([("/a//b", "ab", {})])
    assert m._rules[0].merge_slashes is True
    assert match(m, "/a/b") == ("ab", {})
    assert m.build("ab")[0] == "/a/b"
    m = make_map([("/a//b", "ab", {})], merge_slashes=False)
    assert match(m, "/a//b") == ("ab", {})
    assert m.build("ab")[0] == "/a//b"


# -- rule syntax -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("no-slash", ValueError, "must start with a slash"),
        ("/<int:>", ValueError, "malformed"),
        ("/<>", ValueError, "malformed"),
        ("/x<", ValueError, "malformed"),
        ("/<foo:x>", LookupError, "'foo'"),
        ("/<a>/<a>", ValueError, "twice"),
        ("/<int(nope=1):x>", ValueError, "invalid arguments"),
        ("/<int(min=1, 2):x>", ValueError, "positional"),
        ("/<int(=):x>", ValueError, "cannot parse"),
    ],
)
def test_invalid_rules(text: str, error: type[Exception], message: str) -> None:
    m = Map()
    with pytest.raises(error, match=re.escape(message)):
        m.add(Rule(text, endpoint="e"))
    assert m._rules == []
    assert m._rules_by_endpoint == {}


def test_converter_with_broken_regex_fails_at_registration() -> None:
    class Broken(BaseConverter):
        regex = "[unclosed"

    m = Map(converters={"broken": Broken})
    with pytest.raises(ValueError, match="invalid regex"):
        m.add(Rule("/<broken:x>", endpoint="e"))


def test_rule_cannot_be_added_twice() -> None:
    rule = Rule("/", endpoint="e")
    Map([rule])
    with pytest.raises(RuntimeError):
        Map([rule])


def test_rule_attributes_and_repr() -> None:
    rule = Rule("/user/<int:id>", "user", methods=["GET"], defaults={"x": 1})
    assert repr(rule) == "<Rule '/user/<int:id>' (unbound) -> user>"
    m = Map([rule, Rule("/any", "any", subdomain="api")])
    assert rule.map is m
    assert rule.rule == str(rule) == "/user/<int:id>"
    assert rule.endpoint == "user"
    assert rule.arguments == {"id", "x"}
    assert rule.defaults == {"x": 1}
    assert rule.strict_slashes is True
    assert rule.subdomain == ""
    assert rule.host is None
    assert rule.websocket is False
    assert rule.redirect_to is None
    assert rule.provide_automatic_options is None
    assert repr(rule) == "<Rule '/user/<id>' (GET, HEAD) -> user>"
    assert repr(m._rules[1]) == "<Rule 'api|/any' -> any>"
    assert "<Rule '/user/<id>' (GET, HEAD) -> user>" in repr(m)
    rule.provide_automatic_options = True
    rule.extension_data = {"ok": True}  # type: ignore[attr-defined]
