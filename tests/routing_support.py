"""Helpers the routing tests share: maps built from rule specs on Erlen and on Werkzeug.

Werkzeug's own router is the oracle for precedence: the same rules are registered on both maps
and every path must produce the same outcome (match and values, redirect target, 405 with the
same methods, or 404).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import werkzeug.routing as wz
from werkzeug.exceptions import MethodNotAllowed as WzMethodNotAllowed
from werkzeug.exceptions import NotFound as WzNotFound

from erlen.routing import Map, MethodNotAllowed, NotFound, RequestRedirect, Rule

RuleSpec = tuple[str, str, dict[str, Any]]
Outcome = tuple[Any, ...]


# -- helpers ---------------------------------------------------------------------------------


def make_map(specs: Iterable[RuleSpec], **map_kwargs: Any) -> Map:
    return Map([Rule(text, endpoint=endpoint, **kw) for text, endpoint, kw in specs], **map_kwargs)


def make_wz_map(specs: Iterable[RuleSpec], **map_kwargs: Any) -> wz.Map:
    return wz.Map(
        [wz.Rule(text, endpoint=endpoint, **kw) for text, endpoint, kw in specs], **map_kwargs
    )


def outcome(
    m: Map,
    path: str,
    method: str = "GET",
    subdomain: str | None = None,
    host: str | None = None,
) -> Outcome:
    try:
        rule, values = m.match(path, method, subdomain=subdomain, host=host)
    except RequestRedirect as e:
        return ("redirect", e.new_url)
    except MethodNotAllowed as e:
        return ("405", sorted(e.valid_methods or ()))
    except NotFound:
        return ("404",)
    return ("match", rule.endpoint, values)


def wz_outcome(
    m: wz.Map,
    path: str,
    method: str = "GET",
    subdomain: str | None = None,
    host: str | None = None,
) -> Outcome:
    adapter = m.bind(host or "example.com", subdomain=subdomain)
    try:
        rule, values = adapter.match(path, method, return_rule=True)
    except wz.RequestRedirect as e:
        return ("redirect", urlsplit(e.new_url).path)
    except WzMethodNotAllowed as e:
        return ("405", sorted(e.valid_methods or ()))
    except WzNotFound:
        return ("404",)
    return ("match", rule.endpoint, dict(values))


def match(m: Map, path: str, method: str = "GET", **kw: Any) -> tuple[str, dict[str, Any]]:
    rule, values = m.match(path, method, **kw)
    return rule.endpoint, values


# -- rules to build from (test_map and test_exceptions) --------------------------------------

BUILD_SPECS: list[RuleSpec] = [
    ("/", "index", {}),
    ("/user/<name>", "user", {}),
    ("/u/<name>", "u", {"defaults": {"page": 1}}),
    ("/u/<name>/<int:page>", "u", {}),
    ("/p", "p", {"methods": ["POST"]}),
    ("/g", "p", {"methods": ["GET"]}),
    ("/f/<path:filename>", "files", {}),
    ("/ü/<x>", "unicode", {}),
    ("/<int(fixed_digits=2):n>.json", "mixed", {}),
]
