"""The routing exceptions: redirects, build errors and the trie walk's slash signal."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from werkzeug.routing import BuildError as _WerkzeugBuildError
from werkzeug.routing import RequestRedirect as _WerkzeugRequestRedirect
from werkzeug.routing import RoutingException as _WerkzeugRoutingException

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from .map import Map

# The routing exceptions subclass Werkzeug's, so that code written for Flask
# (``except werkzeug.routing.BuildError``) catches them.


class RoutingException(_WerkzeugRoutingException):
    """Base class for exceptions that routing raises to steer the request, not to report bugs."""


class RequestRedirect(_WerkzeugRequestRedirect, RoutingException):
    """Redirect the client to the canonical URL of the matched rule (308, method preserved).

    ``new_url`` is a percent-encoded path starting with ``/`` relative to the application root
    (the caller adds the script root and the query string), or an absolute URL when a rule's
    ``redirect_to`` produced one.
    """

    #: Whether the request's query string belongs on the new URL: true for the canonical URL
    #: of the same rule, false for a rule's ``redirect_to`` target (as in Werkzeug).
    keeps_query = True

    # The status (308, method preserved) is Werkzeug's class attribute, not set again here, so
    # that code changing ``werkzeug.routing.RequestRedirect.code`` changes Erlen's redirects too.

    def get_headers(
        self,
        environ: WSGIEnvironment | None = None,
        scope: dict[str, Any] | None = None,
    ) -> list[tuple[str, str]]:
        """Return the error page headers plus ``Location``."""
        headers = super().get_headers(environ, scope)
        headers.append(("Location", self.new_url))
        return headers


class BuildError(RoutingException, _WerkzeugBuildError):
    """Report that no rule of ``endpoint`` can build a URL from ``values`` (and ``method``)."""

    def __init__(
        self,
        endpoint: Any,
        values: Mapping[str, Any],
        method: str | None,
        map: Map | None = None,
    ) -> None:
        Exception.__init__(self, endpoint, values, method)
        self.endpoint = endpoint
        self.values = values
        self.method = method
        self.map = map
        self.adapter = None  # Werkzeug's attribute (its suggestions); the message uses ``map``

    def __str__(self) -> str:
        msg = [f"Could not build url for endpoint {self.endpoint!r}"]
        if self.method:
            msg.append(f" ({self.method!r})")
        if self.values:
            msg.append(f" with values {sorted(self.values)!r}")
        msg.append(".")
        if self.map is None:
            return "".join(msg)
        rules = self.map._rules_by_endpoint.get(self.endpoint)
        if not rules:
            msg.append(" No rule is registered for this endpoint.")
            names = [str(e) for e in self.map._rules_by_endpoint]
            close = difflib.get_close_matches(str(self.endpoint), names, n=1)
            if close:
                msg.append(f" Did you mean {close[0]!r} instead?")
            return "".join(msg)
        given = set(self.values)
        method = self.method
        # Describe the rule that came closest: one whose arguments cover the given values, then
        # one that accepts the method, in build order.
        rule = max(
            rules,
            key=lambda r: (
                given <= r.arguments,
                method is None or r.methods is None or method in r.methods,
            ),
        )
        if method and rule.methods is not None and method not in rule.methods:
            msg.append(f" Did you mean to use methods {sorted(rule.methods)!r}?")
        missing = rule.arguments - given
        if missing:
            msg.append(f" Did you forget to specify values {sorted(missing)!r}?")
        elif rule.defaults:
            clash = sorted(
                k for k, v in rule.defaults.items() if k in given and self.values[k] != v
            )
            if clash:
                msg.append(f" The values for {clash!r} differ from the rule's defaults.")
        return "".join(msg)


class _SlashRequired(Exception):
    """Unwind the trie walk: the path matches once a trailing slash is added."""
