"""The Map: registering rules, compiling the matcher, matching paths and building URLs."""

from __future__ import annotations

import sys
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from werkzeug.exceptions import BadHost, MethodNotAllowed, NotFound

from .adapter import MapAdapter, _request_values
from .compiled import EMPTY_WALK, Walk, compile_walk
from .converters import _PATH_SAFE, DEFAULT_CONVERTERS
from .exceptions import BuildError, RequestRedirect, _SlashRequired
from .matcher import _Edge, _finish_node, _Matched, _Node, _static_entry, _StaticTable
from .rules import _ABSOLUTE_URL_RE, _MULTI_SLASH_RE, _VARIABLE_RE, Rule, _build_key

if TYPE_CHECKING:
    from werkzeug.routing import RuleFactory

_NO_VALUES: Mapping[str, Any] = {}


def bare_server_name(server_name: str, scheme: str) -> str:
    """*server_name* lowercased and without the scheme's standard port, as hosts are written."""
    server_name = server_name.lower()
    if scheme in ("http", "ws") and server_name.endswith(":80"):
        return server_name[:-3]
    if scheme in ("https", "wss") and server_name.endswith(":443"):
        return server_name[:-4]
    return server_name


def subdomain_under(host: str, server_name: str, warn: bool = True, stacklevel: int = 1) -> str:
    """What *host* has in front of *server_name* (``""`` for the server name itself).

    Both are compared as Werkzeug does when a map is bound to a request: by their dotted
    labels, ports included. A host that is not under *server_name* gets the subdomain
    ``"<invalid>"``, which no rule has, and (with *warn*) a ``UserWarning`` attributed to
    the caller *stacklevel* frames up (``1``: the function that called this one).
    """
    have = host.split(".")
    want = server_name.split(".")
    if have[-len(want) :] == want:
        return ".".join(part for part in have[: -len(want)] if part)
    if warn:
        _warn_from_caller(
            f"Current server name {host!r} doesn't match configured server name {server_name!r}",
            stacklevel + 1,
        )
    return "<invalid>"


def _warn_from_caller(message: str, stacklevel: int) -> None:
    """Warn as ``warnings.warn(message, stacklevel=stacklevel)`` would, from the caller's module.

    In compat mode a module of Erlen's is also a ``flask.*`` module (``erlen.app`` is
    ``flask.app``): the warning then carries Flask's module name, so that a filter written for
    Flask (``filterwarnings("ignore", ..., module="flask.app")``) matches it as it did there.
    """
    frame = sys._getframe(stacklevel)  # 0 is this function, 1 its caller
    module = str(frame.f_globals.get("__name__", ""))
    compat = sys.modules.get("erlen.flask_compat")
    if compat is not None and compat.is_active():
        module = compat.flask_module_name(module)
    registry = frame.f_globals.setdefault("__warningregistry__", {})
    warnings.warn_explicit(
        message, UserWarning, frame.f_code.co_filename, frame.f_lineno, module, registry
    )


class Map:
    """Hold the rules of an application; match request paths and build URLs.

    ``converters`` starts as a copy of :data:`DEFAULT_CONVERTERS` updated with *converters*;
    converters registered there are visible to rules added afterwards.
    """

    __slots__ = (
        "__dict__",
        "_builds",
        "_dirty",
        "_host_matching",
        "_lock",
        "_root",
        "_rules",
        "_rules_by_endpoint",
        "_static_http",
        "_static_ws",
        "_version",
        "_walk",
        "_websocket_rules",
        "converters",
        "default_subdomain",
        "merge_slashes",
        "redirect_defaults",
        "strict_slashes",
    )

    def __init__(
        self,
        rules: Iterable[Rule] | None = None,
        default_subdomain: str = "",
        strict_slashes: bool = True,
        merge_slashes: bool = True,
        redirect_defaults: bool = True,
        converters: Mapping[str, type[Any]] | None = None,
        host_matching: bool = False,
    ) -> None:
        self._rules: list[Rule] = []
        self._rules_by_endpoint: dict[Any, list[Rule]] = {}
        self.default_subdomain = default_subdomain
        self.strict_slashes = strict_slashes
        self.merge_slashes = merge_slashes
        self.redirect_defaults = redirect_defaults
        self.converters: dict[str, type[Any]] = dict(DEFAULT_CONVERTERS)
        if converters:
            self.converters.update(converters)
        self._host_matching = host_matching
        self._lock = threading.Lock()
        self._dirty = True
        self._version = 0
        self._websocket_rules = 0
        self._root = _Node()
        # The trie walk, written out for this map's trie when it compiles (see .compiled).
        self._walk: Walk = EMPTY_WALK
        self._static_http: _StaticTable = {}
        self._static_ws: _StaticTable = {}
        # What build() gave for an endpoint with no values and no method, until the map
        # compiles again (url_for("index"), a template's links).
        self._builds: dict[Any, tuple[str, Rule]] = {}
        for rule in rules or ():
            self.add(rule)

    @property
    def host_matching(self) -> bool:
        """Whether rules match against the full host instead of the subdomain."""
        return self._host_matching

    @host_matching.setter
    def host_matching(self, value: bool) -> None:
        self._host_matching = value
        self._version += 1
        self._dirty = True

    def __repr__(self) -> str:
        rules = "".join(f"\n    {rule!r}," for rule in self._rules)
        return f"{type(self).__name__}([{rules}\n])" if rules else f"{type(self).__name__}([])"

    def add(self, rulefactory: Rule | RuleFactory) -> None:
        """Bind a rule to this map and register it; it is compiled in at the next match.

        Werkzeug's rules and rule factories (``Submount``, ``EndpointPrefix``, ``Subdomain``,
        ``RuleTemplate``) are accepted too: each rule they produce is added as an Erlen
        :class:`Rule` with the same options.
        """
        if isinstance(rulefactory, Rule):
            self._add(rulefactory)
            return
        get_rules = getattr(rulefactory, "get_rules", None)
        if get_rules is None:
            raise TypeError(f"expected a Rule or a rule factory, got {type(rulefactory).__name__}")
        for rule in get_rules(self):
            self._add(rule if isinstance(rule, Rule) else Rule.from_werkzeug(rule))

    def _add(self, rule: Rule) -> None:
        rule.bind(self)
        self._rules.append(rule)
        rules = self._rules_by_endpoint.setdefault(rule.endpoint, [])
        rules.append(rule)
        rules.sort(key=_build_key)
        if rule.websocket:
            self._websocket_rules += 1
        self._version += 1
        self._dirty = True

    def _has_websocket_rules(self) -> bool:
        """Tell whether any WebSocket rule is registered (cheap; no scan)."""
        return self._websocket_rules > 0

    def iter_rules(self, endpoint: Any | None = None) -> Iterator[Rule]:
        """Iterate over all rules, or over those of *endpoint* in build order."""
        if endpoint is not None:
            return iter(self._rules_by_endpoint[endpoint])
        return iter(self._rules)

    def is_endpoint_expecting(self, endpoint: Any, *arguments: str) -> bool:
        """Return whether some rule of *endpoint* takes all of *arguments*."""
        wanted = set(arguments)
        return any(wanted <= rule.arguments for rule in self._rules_by_endpoint[endpoint])

    # -- binding (Werkzeug's MapAdapter API) ------------------------------------------------

    def bind(
        self,
        server_name: str,
        script_name: str | None = None,
        subdomain: str | None = None,
        url_scheme: str = "http",
        default_method: str = "GET",
        path_info: str | None = None,
        query_args: Mapping[str, Any] | str | None = None,
    ) -> MapAdapter:
        """Return a :class:`MapAdapter` that matches and builds URLs for *server_name*.

        *subdomain* defaults to ``default_subdomain`` (it must be left out under host
        matching); *script_name* and *path_info* default to ``"/"``. A ``ws`` or ``wss``
        *url_scheme* matches WebSocket rules only.
        """
        server_name = server_name.lower()
        if self._host_matching:
            if subdomain is not None:
                raise RuntimeError("host matching enabled and a subdomain was provided")
        elif subdomain is None:
            subdomain = self.default_subdomain
        name, colon, port = server_name.partition(":")
        try:
            # The port stays out of IDNA encoding, which would count it against label length.
            name = name.encode("idna").decode("ascii")
        except UnicodeError as e:
            raise BadHost() from e
        return MapAdapter(
            self,
            f"{name}{colon}{port}",
            "/" if script_name is None else script_name,
            subdomain,
            url_scheme,
            "/" if path_info is None else path_info,
            default_method,
            query_args,
        )

    def bind_to_environ(
        self,
        environ: Mapping[str, Any] | Any,
        server_name: str | None = None,
        subdomain: str | None = None,
    ) -> MapAdapter:
        """Return a :class:`MapAdapter` for the request described by *environ*.

        *environ* is a WSGI environ or a request (Erlen's or Werkzeug's). Without
        *server_name* the request's host is the server name; with it, and without
        *subdomain*, the subdomain is what the host has in front of *server_name*
        (``"<invalid>"``, with a warning, when the host is not under it).
        """
        where = _request_values(environ)
        host, scheme = where[0], where[1]
        server_name = host if server_name is None else bare_server_name(server_name, scheme)
        if subdomain is None and not self._host_matching:
            subdomain = subdomain_under(host, server_name, stacklevel=2)
        return self.bind(
            server_name, where[2], subdomain, scheme, where[4], where[3], query_args=where[5]
        )

    # -- compilation -------------------------------------------------------------------------

    def update(self) -> None:
        """Compile the matcher now instead of at the next match."""
        if self._dirty:
            self._compile()

    def _compile(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            # A rule added while compiling leaves the map dirty, so the next match recompiles.
            version = self._version
            root = _Node()
            static_nodes: dict[tuple[str, str], _Node] = {}
            for rule in list(self._rules):
                if rule._host_mode != self._host_matching:
                    rule._compile()
                rule._redirects = tuple(
                    r
                    for r in self._rules_by_endpoint[rule.endpoint][
                        : self._rules_by_endpoint[rule.endpoint].index(rule)
                    ]
                    if r._provides_defaults_for(rule)
                )
                rule._quick = not (
                    rule.defaults or rule.alias or rule.redirect_to is not None or rule._redirects
                )
                if rule.build_only:
                    continue
                node = root
                for spec in rule._parts:
                    if spec.static:
                        child = node.static.get(spec.text)
                        if child is None:
                            child = node.static[spec.text] = _Node()
                        node = child
                        continue
                    for edge in node.dynamic:
                        if edge.key == spec.key:
                            break
                    else:
                        edge = _Edge(spec)
                        node.dynamic.append(edge)
                    node = edge.node
                node.rules.append(rule)
                if all(spec.static for spec in rule._parts):
                    domain = rule._parts[0].text
                    path = "/" + "/".join(spec.text for spec in rule._parts[1:])
                    static_nodes[domain, path] = node
            _finish_node(root)
            static_http: _StaticTable = {}
            static_ws: _StaticTable = {}
            for (domain, path), node in static_nodes.items():
                for table, ws in ((static_http, False), (static_ws, True)):
                    entry = _static_entry(node.rules, ws)
                    if entry is not None:
                        table.setdefault(domain, {})[path] = entry
            self._root = root
            self._walk = compile_walk(root)
            self._static_http = static_http
            self._static_ws = static_ws
            self._builds = {}
            self._dirty = self._version != version

    # -- matching ----------------------------------------------------------------------------

    def match(
        self,
        path: str,
        method: str = "GET",
        subdomain: str | None = None,
        host: str | None = None,
        websocket: bool = False,
    ) -> tuple[Rule, dict[str, Any]]:
        """Return the rule matching *path* and its converted arguments (defaults included).

        *path* is the percent-decoded path; *method* must be upper-case. With host matching the
        rules match *host*; otherwise they match *subdomain*, which defaults to the map's
        ``default_subdomain``. A websocket request only matches ``websocket`` rules and an HTTP
        request never does.

        Raise :class:`~werkzeug.exceptions.NotFound`,
        :class:`~werkzeug.exceptions.MethodNotAllowed` (with ``valid_methods``) or
        :class:`RequestRedirect` (missing trailing slash, merged slashes, defaults, alias,
        ``redirect_to``).
        """
        rv = self._match(path, method, subdomain, host, websocket)
        if rv is None:
            raise NotFound()
        return rv

    def _match(
        self,
        path: str,
        method: str = "GET",
        subdomain: str | None = None,
        host: str | None = None,
        websocket: bool = False,
    ) -> tuple[Rule, dict[str, Any]] | None:
        """:meth:`match`, returning None where it raises ``NotFound`` (no exception to raise
        and catch for the app's common 404)."""
        if self._dirty:
            self._compile()
        if self._host_matching:
            domain = host or ""
        elif subdomain is None:
            domain = self.default_subdomain
        else:
            domain = subdomain
        if path[:2] == "//" or path[:1] != "/":
            # Leading slashes collapse silently, as in Werkzeug, so "//x" can't escape the root;
            # an empty path (the bare script root) redirects to "/" when "/" is routed.
            path = "/" + path.lstrip("/") if path else ""
        # PERF: a rule without variables is found with two dict lookups; only if it doesn't
        # accept the method does the trie get walked (to find another rule or report 405).
        table = (self._static_ws if websocket else self._static_http).get(domain)
        if table is not None:
            entry = table.get(path)
            if entry is not None:
                rule = entry[0].get(method) or entry[1]
                if rule is not None:
                    if rule._quick:
                        return rule, {}
                    return self._finish(rule, dict(rule.defaults or ()), method)
        parts = path.split("/")
        parts[0] = domain
        allowed: set[str] = set()
        try:
            rv = self._walk(parts, method, websocket, [], allowed)
        except _SlashRequired:
            raise RequestRedirect(quote(path + "/", safe=_PATH_SAFE)) from None
        if rv is None:
            if self.merge_slashes and "//" in path:
                merged = _MULTI_SLASH_RE.sub("/", path)
                parts = merged.split("/")
                parts[0] = domain
                try:
                    rv = self._walk(parts, method, websocket, [], allowed)
                except _SlashRequired:
                    raise RequestRedirect(quote(merged + "/", safe=_PATH_SAFE)) from None
                if rv is not None and rv[0].merge_slashes is not False:
                    raise RequestRedirect(quote(merged, safe=_PATH_SAFE))
            if allowed:
                raise MethodNotAllowed(valid_methods=sorted(allowed))
            return None
        if rv[0]._quick:
            return rv
        return self._finish(rv[0], rv[1], method)

    def _finish(self, rule: Rule, values: dict[str, Any], method: str) -> _Matched:
        """Apply the redirects a matched rule can ask for: alias, defaults, ``redirect_to``."""
        if self.redirect_defaults:
            if rule.alias:
                path, canonical = self.build(rule.endpoint, values, method, append_unknown=False)
                if canonical is not rule:
                    raise RequestRedirect(path)
            for other in rule._redirects:
                if other.suitable_for(values, method):
                    values.update(other.defaults or ())
                    built = other._build(values, True)
                    if built is not None:
                        raise RequestRedirect(built)
        target = rule.redirect_to
        if target is not None:
            if isinstance(target, str):
                url = _VARIABLE_RE.sub(
                    lambda m: rule._converters[m.group(1)].to_url(values[m.group(1)]), target
                )
            else:
                url = target(self, **values)
            if not _ABSOLUTE_URL_RE.match(url):
                # Relative targets are relative to the application root, as in Werkzeug.
                url = "/" + url.lstrip("/")
            redirect = RequestRedirect(url)
            redirect.keeps_query = False
            raise redirect
        return rule, values

    # -- building ----------------------------------------------------------------------------

    def build(
        self,
        endpoint: Any,
        values: Mapping[str, Any] | None = None,
        method: str | None = None,
        append_unknown: bool = True,
    ) -> tuple[str, Rule]:
        """Return the URL path for *endpoint* with *values*, and the rule that built it.

        The path is percent-encoded and has no scheme, host or script root. Values the rule
        doesn't consume become the query string (``None`` skipped, lists repeated, order kept)
        unless *append_unknown* is false. Among the endpoint's rules the first suitable one in
        build order wins: rules accepting ``GET`` first when *method* is ``None``, more
        arguments, then more defaults. A rule with a subdomain or host builds that part with
        :meth:`build_host`. Raise :class:`BuildError` when no rule fits.
        """
        if self._dirty:
            self._compile()
        if not values:
            if method is None:
                # PERF: a link without values is built once per compiled map.
                built = self._builds.get(endpoint)
                if built is not None:
                    return built
            values = _NO_VALUES
        elif type(values) is dict:
            # PERF: copy only when there is a None to drop; building never mutates values.
            for value in values.values():
                if value is None:
                    values = {k: v for k, v in values.items() if v is not None}
                    break
        elif hasattr(values, "getlist") and hasattr(values, "lists"):
            # A MultiDict: single values stay scalar, several become a list.
            values = {k: (v[0] if len(v) == 1 else v) for k, v in values.lists() if v}
        else:
            values = {k: v for k, v in values.items() if v is not None}
        rules = self._rules_by_endpoint.get(endpoint)
        if rules is not None:
            if method is None:
                for rule in rules:
                    if rule.suitable_for(values, "GET"):
                        path = rule._build(values, append_unknown)
                        if path is not None:
                            if values is _NO_VALUES and len(self._builds) < 4096:
                                self._builds[endpoint] = (path, rule)
                            return path, rule
            for rule in rules:
                if rule.suitable_for(values, method):
                    path = rule._build(values, append_unknown)
                    if path is not None:
                        return path, rule
        raise BuildError(endpoint, values, method, self)

    def build_host(self, rule: Rule, values: Mapping[str, Any] | None = None) -> str:
        """Return the domain part *rule* builds: the host under host matching, else the subdomain.

        Variables in it (``<user>.example.com``) are filled from *values*, as passed to
        :meth:`build`; an empty string means the rule has no subdomain (or host).
        """
        if not rule._domain_segs:
            return rule._domain_head
        return rule._build_domain(values or {})
