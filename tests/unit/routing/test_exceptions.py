"""Tests for erlen.routing.exceptions: the redirect exception and BuildError's messages."""

from __future__ import annotations

import pytest
from werkzeug.exceptions import HTTPException

from erlen.routing import BuildError, RequestRedirect, RoutingException
from routing_support import BUILD_SPECS, make_map


def test_request_redirect_is_an_http_exception() -> None:
    exc = RequestRedirect("/a/")
    assert isinstance(exc, HTTPException)
    assert isinstance(exc, RoutingException)
    assert exc.code == 308
    assert exc.new_url == "/a/"
    assert ("Location", "/a/") in exc.get_headers()


def test_build_error_messages() -> None:
    m = make_map(BUILD_SPECS)
    with pytest.raises(BuildError) as info:
        m.build("user")
    assert (
        str(info.value)
        == "Could not build url for endpoint 'user'. Did you forget to specify values ['name']?"
    )
    assert isinstance(info.value, LookupError)
    assert info.value.endpoint == "user"
    with pytest.raises(BuildError) as info:
        m.build("usr", {"name": "x"})
    message = str(info.value)
    assert "'usr'" in message and "No rule is registered" in message
    assert "Did you mean 'user' instead?" in message
    with pytest.raises(BuildError) as info:
        m.build("p", method="PUT")
    assert "Did you mean to use methods" in str(info.value)
    assert "('PUT')" in str(info.value)
    with pytest.raises(BuildError) as info:
        m.build("nothing_like_it")
    assert "Did you mean" not in str(info.value)


def test_build_error_when_defaults_conflict() -> None:
    m = make_map([("/", "index", {"defaults": {"page": 1}})])
    with pytest.raises(BuildError) as info:
        m.build("index", {"page": 2})
    assert "['page']" in str(info.value)
