"""URL routing: rules, converters, the matcher and URL building.

A :class:`Map` holds :class:`Rule` objects. Matching follows Werkzeug's precedence exactly, so a
Flask application routes the same way on Erlen, but it is organised for speed:

* Rules without variables are found with one dictionary lookup keyed by domain and path, then
  by method; that lookup is tried first.
* Every other rule lives in a trie of path segments. A node maps static segments to children
  and keeps a short list of dynamic edges, sorted by Werkzeug's weighting: one compiled regex
  (``fullmatch``) per segment, covering mixed segments such as ``<name>.json``. A converter that
  can match ``/`` (``path``) makes its edge consume the rest of the path. The walk backtracks,
  so the cost depends on the depth of the path, not on the number of rules.

The compiled structures are rebuilt lazily after :meth:`Map.add`; matching only reads them, so
one map can serve many threads and tasks at once.
"""

from __future__ import annotations

import difflib
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import BuildError as _WerkzeugBuildError
from werkzeug.routing import RequestRedirect as _WerkzeugRequestRedirect
from werkzeug.routing import RoutingException as _WerkzeugRoutingException

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = [
    "DEFAULT_CONVERTERS",
    "AnyConverter",
    "BaseConverter",
    "BuildError",
    "FloatConverter",
    "IntegerConverter",
    "Map",
    "MethodNotAllowed",
    "NotFound",
    "PathConverter",
    "RequestRedirect",
    "RoutingException",
    "Rule",
    "UUIDConverter",
    "UnicodeConverter",
    "ValidationError",
]

# The WHATWG "path segment" and "query" percent-encode sets, as Werkzeug uses them, so URLs
# built here are byte-identical to Flask's.
_PATH_SAFE = "!$&'()*+,/:;=@"
_QUERY_SAFE = "!$'()*,/:;?@"
# Text that quote(text, safe=_PATH_SAFE) returns unchanged.
_PATH_SAFE_RE = re.compile(r"[A-Za-z0-9_.~!$&'()*+,/:;=@-]*")


# -- exceptions ------------------------------------------------------------------------------


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

    code = 308

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


# -- converters ------------------------------------------------------------------------------


class ValidationError(ValueError):
    """Signal from a converter that a value does not fit, so the rule does not match or build."""


class BaseConverter:
    """Turn one URL variable into a Python value and back.

    Subclasses set ``regex`` (what the variable matches in the URL), ``weight`` (lower is tried
    first among dynamic alternatives) and override :meth:`to_python` / :meth:`to_url`. The map
    constructs converters as ``cls(map, *args, **kwargs)`` with the arguments written in the rule.
    """

    regex: str = "[^/]+"
    weight: int = 100
    part_isolating: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A class that brings its own regex matches across slashes if that regex names "/",
        # unless it says otherwise.
        if "regex" in cls.__dict__ and "part_isolating" not in cls.__dict__:
            cls.part_isolating = "/" not in cls.regex

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        self.map = map

    def to_python(self, value: str) -> Any:
        """Return the Python value for the matched text; raise ``ValueError`` to reject it."""
        return value

    def to_url(self, value: Any) -> str:
        """Return *value* percent-encoded for use in a URL path."""
        text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
        # PERF: most values need no escaping; checking that is several times cheaper than quote().
        if text.isascii() and (text.isalnum() or _PATH_SAFE_RE.fullmatch(text)):
            return text
        return quote(text, safe=_PATH_SAFE)


class UnicodeConverter(BaseConverter):
    """Match one path segment, optionally limited in length (the ``string``/default converter)."""

    def __init__(
        self,
        map: Map,
        minlength: int = 1,
        maxlength: int | None = None,
        length: int | None = None,
    ) -> None:
        super().__init__(map)
        if length is not None:
            self.regex = f"[^/]{{{int(length)}}}"
        elif int(minlength) == 1 and maxlength is None:
            # PERF: the plain form lets the matcher test a segment without running a regex.
            self.regex = "[^/]+"
        else:
            upper = "" if maxlength is None else str(int(maxlength))
            self.regex = f"[^/]{{{int(minlength)},{upper}}}"


class PathConverter(BaseConverter):
    """Match the rest of the path, slashes included (but not starting with one)."""

    regex = "[^/].*?"
    weight = 200
    part_isolating = False


class AnyConverter(BaseConverter):
    """Match exactly one of the given items, e.g. ``<any(about, help):page>``."""

    def __init__(self, map: Map, *items: str) -> None:
        super().__init__(map)
        self.items = set(items)
        self.regex = "(?:{})".format("|".join(re.escape(str(x)) for x in items))

    def to_url(self, value: Any) -> str:
        """Return *value* if it is one of the items; raise ``ValueError`` otherwise."""
        if value in self.items:
            return str(value)
        valid = ", ".join(f"'{item}'" for item in sorted(self.items))
        raise ValueError(f"'{value}' is not one of {valid}")


class _NumberConverter(BaseConverter):
    """Share range and sign handling between the int and float converters."""

    weight = 50
    num_convert: Callable[[Any], Any] = int

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: float | None = None,
        max: float | None = None,
        signed: bool = False,
    ) -> None:
        super().__init__(map)
        if signed:
            self.regex = "-?" + type(self).regex
        self.fixed_digits = fixed_digits
        self.min = min
        self.max = max
        self.signed = signed

    def to_python(self, value: str) -> Any:
        """Return the number; reject wrong digit counts and values out of range."""
        if self.fixed_digits and len(value) != self.fixed_digits:
            raise ValidationError()
        try:
            number = self.num_convert(value)
        except ValueError as e:
            raise ValidationError() from e
        if (self.min is not None and number < self.min) or (
            self.max is not None and number > self.max
        ):
            raise ValidationError()
        return number

    def to_url(self, value: Any) -> str:
        """Return the number as text, zero-padded to ``fixed_digits``."""
        text = str(self.num_convert(value))
        if self.fixed_digits:
            text = text.zfill(self.fixed_digits)
        return text


class IntegerConverter(_NumberConverter):
    """Match an unsigned (or, with ``signed=True``, signed) integer: ``<int(min=1):id>``."""

    regex = r"\d+"


class FloatConverter(_NumberConverter):
    """Match a float written with a decimal point: ``<float(signed=True):x>``."""

    regex = r"\d+\.\d+"
    num_convert = float

    def __init__(
        self,
        map: Map,
        min: float | None = None,
        max: float | None = None,
        signed: bool = False,
    ) -> None:
        super().__init__(map, min=min, max=max, signed=signed)


class UUIDConverter(BaseConverter):
    """Match a UUID in its canonical hex form and return a :class:`uuid.UUID`."""

    # Weight stays at the default 100, like Werkzeug's, so precedence against ``string`` falls
    # back to registration order exactly as it does in Flask.
    regex = r"[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}"

    def to_python(self, value: str) -> uuid.UUID:
        """Return the :class:`uuid.UUID`."""
        return uuid.UUID(value)

    def to_url(self, value: Any) -> str:
        """Return the UUID's canonical text."""
        return str(value)


#: Converter names available in every map; ``Map.converters`` starts as a copy.
DEFAULT_CONVERTERS: dict[str, type[Any]] = {
    "default": UnicodeConverter,
    "string": UnicodeConverter,
    "any": AnyConverter,
    "path": PathConverter,
    "int": IntegerConverter,
    "float": FloatConverter,
    "uuid": UUIDConverter,
}


def _is_validation_error(exc: BaseException) -> bool:
    # Werkzeug's ValidationError is a different class; recognising it by name keeps converters
    # written for Flask working without importing werkzeug.routing.
    return any(c.__name__ == "ValidationError" for c in type(exc).__mro__)


# -- rule parsing ----------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
      (?P<slash>/)
    | (?P<static>[^</]+)
    | <
        (?:
          (?P<conv>[a-zA-Z_][a-zA-Z0-9_]*)
          (?:\((?P<args>.*?)\))?
          :
        )?
        (?P<var>[a-zA-Z_][a-zA-Z0-9_]*)
      >
    """,
    re.VERBOSE,
)

_ARG_RE = re.compile(
    r"""
    \s*
    (?:(?P<name>[a-zA-Z_]\w*)\s*=\s*)?
    (?:
        [uUrR]?(?P<quoted>"[^"]*"|'[^']*')
      | (?P<bare>[^\s,'"=()]+)
    )
    \s*(?:,|\Z)
    """,
    re.VERBOSE,
)

_CONSTANTS: dict[str, Any] = {"None": None, "True": True, "False": False}
_MULTI_SLASH_RE = re.compile("/{2,}")
_VARIABLE_RE = re.compile(r"<([^>]+)>")
_ABSOLUTE_URL_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:|//")


def _literal(text: str) -> Any:
    if text in _CONSTANTS:
        return _CONSTANTS[text]
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _parse_converter_args(text: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Parse ``1, max=10, "a,b", None`` into positional and keyword converter arguments."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _ARG_RE.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"cannot parse converter argument {text[pos:]!r}")
        quoted = m.group("quoted")
        value = quoted[1:-1] if quoted is not None else _literal(m.group("bare"))
        name = m.group("name")
        if name is None:
            if kwargs:
                raise ValueError(f"positional converter argument after keyword in {text!r}")
            args.append(value)
        else:
            kwargs[name] = value
        pos = m.end()
    return tuple(args), kwargs


# Kinds of dynamic trie edges, cheapest test first.
_K_NONEMPTY = 0  # one variable matching [^/]+: any non-empty segment
_K_DECIMAL = 1  # one variable matching \d+: str.isdecimal() is the same test
_K_SEGMENT = 2  # a regex over one segment
_K_FINAL = 3  # a regex over the rest of the path (a converter that can match "/")

_NONEMPTY_REGEXES = frozenset({"[^/]+", "[^/]{1,}"})


class _PartSpec:
    """One "/"-separated part of a parsed rule, as the trie needs it."""

    __slots__ = ("final", "key", "kind", "regex", "static", "suffixed", "text", "weight")

    def __init__(self) -> None:
        self.static = True
        self.text = ""
        self.regex = ""
        self.final = False
        self.suffixed = False
        self.kind = _K_SEGMENT
        self.weight: tuple[Any, ...] = ()
        self.key: tuple[Any, ...] = ()


def _make_part(tokens: list[tuple[str, Any]], final: bool, suffixed: bool) -> _PartSpec:
    spec = _PartSpec()
    if all(kind == "static" for kind, _ in tokens):
        spec.text = "".join(value for _, value in tokens)
        return spec
    spec.static = False
    spec.final = final
    spec.suffixed = suffixed
    regex: list[str] = []
    static_weights: list[tuple[int, int]] = []
    arg_weights: list[int] = []
    for kind, value in tokens:
        if kind == "static":
            static_weights.append((len(static_weights), -len(value)))
            regex.append(re.escape(value))
        elif kind == "slash":
            regex.append("/")
        else:
            conv_regex = value.regex
            if conv_regex in _NONEMPTY_REGEXES:
                # One spelling, so equivalent converters share a trie edge as Werkzeug's do.
                conv_regex = "[^/]+"
            regex.append(f"(?P<_{len(arg_weights)}>{conv_regex})")
            arg_weights.append(int(getattr(value, "weight", 100)))
    if suffixed:
        # The trailing slash after a slash-matching converter is optional in the regex so that
        # the walk can tell "needs a slash" (redirect) apart from "no match".
        regex.append("(?<!/)(?P<_s>/?)")
    spec.regex = "".join(regex)
    # Werkzeug's ordering: more static chunks, longer ones earlier, more variables, then lower
    # converter weights; ties keep registration order (the sort is stable).
    spec.weight = (
        -len(static_weights),
        tuple(static_weights),
        -len(arg_weights),
        tuple(arg_weights),
    )
    if final:
        spec.kind = _K_FINAL
    elif len(tokens) == 1:
        conv_regex = tokens[0][1].regex
        if conv_regex in _NONEMPTY_REGEXES:
            spec.kind = _K_NONEMPTY
        elif conv_regex == r"\d+":
            spec.kind = _K_DECIMAL
    spec.key = (spec.regex, final, suffixed, spec.weight)
    return spec


# -- rules -----------------------------------------------------------------------------------


def _build_key(rule: Rule) -> tuple[int, int, int]:
    # Werkzeug's build order: canonical before alias, more arguments, then more defaults.
    return (1 if rule.alias else 0, -len(rule.arguments), -len(rule.defaults or ()))


_BuildSegs = tuple[tuple[str, Callable[[Any], str], str], ...]


class Rule:
    """Map a URL pattern such as ``/user/<int:id>`` to an endpoint.

    ``methods`` is upper-cased (``HEAD`` joins ``GET``); ``None`` accepts any method.
    ``arguments`` holds the variable names plus the keys of ``defaults``, as in Werkzeug.
    ``build_only`` rules build URLs but never match; an ``alias`` rule matches and redirects to
    the endpoint's canonical URL. Options left as ``None`` take the map's value when added.
    """

    __slots__ = (
        "__dict__",
        "_build_head",
        "_build_segs",
        "_converters",
        "_domain_head",
        "_domain_segs",
        "_host_mode",
        "_parts",
        "_quick",
        "_redirects",
        "_required",
        "_to_python",
        "_trace",
        "alias",
        "arguments",
        "build_only",
        "defaults",
        "endpoint",
        "host",
        "map",
        "merge_slashes",
        "methods",
        "provide_automatic_options",
        "redirect_to",
        "rule",
        "strict_slashes",
        "subdomain",
        "websocket",
    )

    def __init__(
        self,
        string: str,
        endpoint: Any = None,
        *,
        methods: Iterable[str] | None = None,
        defaults: Mapping[str, Any] | None = None,
        subdomain: str | None = None,
        host: str | None = None,
        strict_slashes: bool | None = None,
        redirect_to: str | Callable[..., str] | None = None,
        websocket: bool = False,
        provide_automatic_options: bool | None = None,
        build_only: bool = False,
        alias: bool = False,
        merge_slashes: bool | None = None,
    ) -> None:
        if not string.startswith("/"):
            raise ValueError(f"URL rule {string!r} must start with a slash.")
        self.rule = string
        self.endpoint = endpoint
        method_set: frozenset[str] | None = None
        if methods is not None:
            if isinstance(methods, str):
                raise TypeError("'methods' should be a list of strings, not a string.")
            upper = {m.upper() for m in methods}
            if "GET" in upper:
                upper.add("HEAD")
            if websocket and upper - {"GET", "HEAD", "OPTIONS"}:
                raise ValueError("WebSocket rules can only use 'GET', 'HEAD', and 'OPTIONS'.")
            method_set = frozenset(upper)
        self.methods: frozenset[str] | None = method_set
        self.defaults: dict[str, Any] | None = dict(defaults) if defaults else None
        self.subdomain = subdomain
        self.host = host
        self.strict_slashes = strict_slashes
        self.merge_slashes = merge_slashes
        self.redirect_to = redirect_to
        self.websocket = websocket
        self.provide_automatic_options = provide_automatic_options
        self.build_only = build_only
        self.alias = alias
        self.map: Map | None = None
        self.arguments: set[str] = set(self.defaults or ())
        self._converters: dict[str, Any] = {}
        self._trace: list[tuple[bool, str]] = []
        self._parts: list[_PartSpec] = []
        self._to_python: Callable[[list[str]], dict[str, Any]] = _no_values
        self._required: tuple[str, ...] = ()
        self._build_head = ""
        self._build_segs: _BuildSegs = ()
        self._domain_head = ""
        self._domain_segs: _BuildSegs = ()
        self._host_mode = False
        self._quick = False
        self._redirects: tuple[Rule, ...] = ()

    def __repr__(self) -> str:
        if self.map is None:
            return f"<{type(self).__name__} {self.rule!r} (unbound) -> {self.endpoint}>"
        text = "".join(f"<{data}>" if dynamic else data for dynamic, data in self._trace)
        text = text.lstrip("|")
        methods = f" ({', '.join(sorted(self.methods))})" if self.methods is not None else ""
        return f"<{type(self).__name__} {text!r}{methods} -> {self.endpoint}>"

    def __str__(self) -> str:
        return self.rule

    # -- binding / compilation ---------------------------------------------------------------

    def bind(self, map: Map) -> None:
        """Attach the rule to *map*, fill unset options from it and compile it."""
        if self.map is not None:
            raise RuntimeError(f"url rule {self!r} is already bound to map {self.map!r}")
        self.map = map
        if self.strict_slashes is None:
            self.strict_slashes = map.strict_slashes
        if self.merge_slashes is None:
            self.merge_slashes = map.merge_slashes
        if self.subdomain is None:
            self.subdomain = map.default_subdomain
        try:
            self._compile()
        except BaseException:
            self.map = None
            raise

    def _compile(self) -> None:
        map = self.map
        assert map is not None, "rule not bound"
        self._host_mode = map._host_matching
        domain = (self.host or "") if self._host_mode else (self.subdomain or "")
        if "/" in domain:
            raise ValueError(f"host or subdomain {domain!r} of rule {self.rule!r} contains '/'")
        self._converters = {}
        self._trace = []
        self.arguments = set(self.defaults or ())
        parts = self._parse(domain) if domain else [_PartSpec()]
        bar = len(self._trace)
        self._trace.append((False, "|"))
        path = _MULTI_SLASH_RE.sub("/", self.rule) if self.merge_slashes else self.rule
        path_parts = self._parse(path)
        # Every path starts with "/", whose empty leading part the matcher skips.
        assert path_parts[0].static and not path_parts[0].text
        self._parts = parts + path_parts[1:]
        self._to_python = _values_factory(
            [(name, _fast_to_python(conv)) for name, conv in self._converters.items()],
            self.defaults,
        )
        defaults = self.defaults or {}
        self._required = tuple(a for a in self.arguments if a not in defaults)
        self._domain_head, self._domain_segs = self._build_plan(self._trace[:bar])
        self._build_head, self._build_segs = self._build_plan(self._trace[bar + 1 :])

    def _parse(self, text: str) -> list[_PartSpec]:
        map = self.map
        assert map is not None
        parts: list[_PartSpec] = []
        tokens: list[tuple[str, Any]] = []
        final = False
        pos = 0
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if m is None:
                raise ValueError(f"malformed url rule {text!r} at position {pos}")
            pos = m.end()
            if m.group("slash") is not None:
                self._trace.append((False, "/"))
                if final:
                    tokens.append(("slash", "/"))
                else:
                    parts.append(_make_part(tokens, False, False))
                    tokens = []
                continue
            static = m.group("static")
            if static is not None:
                self._trace.append((False, static))
                tokens.append(("static", static))
                continue
            name = m.group("var")
            if name in self._converters:
                raise ValueError(f"variable {name!r} appears twice in url rule {self.rule!r}")
            conv = self._make_converter(name, m.group("conv") or "default", m.group("args"))
            self._converters[name] = conv
            self.arguments.add(name)
            self._trace.append((True, name))
            tokens.append(("var", conv))
            isolating = getattr(conv, "part_isolating", None)
            if isolating is None:
                isolating = "/" not in conv.regex
            if not isolating:
                final = True
        if final and tokens and tokens[-1][0] == "slash":
            parts.append(_make_part(tokens[:-1], True, True))
            parts.append(_PartSpec())
        else:
            parts.append(_make_part(tokens, final, False))
        return parts

    def _make_converter(self, name: str, conv_name: str, arg_text: str | None) -> Any:
        map = self.map
        assert map is not None
        cls = map.converters.get(conv_name)
        if cls is None:
            raise LookupError(
                f"the converter {conv_name!r} used for {name!r} in url rule {self.rule!r}"
                " does not exist"
            )
        args, kwargs = _parse_converter_args(arg_text) if arg_text else ((), {})
        try:
            conv = cls(map, *args, **kwargs)
        except TypeError as e:
            raise ValueError(
                f"invalid arguments for converter {conv_name!r} in url rule {self.rule!r}: {e}"
            ) from e
        regex = getattr(conv, "regex", None)
        if not isinstance(regex, str):
            raise ValueError(f"converter {conv_name!r} has no 'regex' string")
        try:
            re.compile(regex)
        except re.error as e:
            # Surface a broken converter when the rule is added, not at the first request.
            raise ValueError(
                f"converter {conv_name!r} in url rule {self.rule!r} has an invalid regex: {e}"
            ) from e
        return conv

    def _build_plan(self, trace: list[tuple[bool, str]]) -> tuple[str, _BuildSegs]:
        defaults = self.defaults or {}
        head = ""
        segs: list[tuple[str, Callable[[Any], str], str]] = []
        for dynamic, data in trace:
            if dynamic and data not in defaults:
                segs.append((data, self._converters[data].to_url, ""))
                continue
            if dynamic:
                # A variable with a default can only build that default: fold it now.
                const = self._converters[data].to_url(defaults[data])
            else:
                const = quote(data, safe=_PATH_SAFE)
            if segs:
                name, to_url, tail = segs[-1]
                segs[-1] = (name, to_url, tail + const)
            else:
                head += const
        return head, tuple(segs)

    # -- building ----------------------------------------------------------------------------

    def suitable_for(self, values: Mapping[str, Any], method: str | None = None) -> bool:
        """Return whether this rule can build a URL from *values* (and *method*)."""
        if method is not None and self.methods is not None and method not in self.methods:
            return False
        for key in self._required:
            if key not in values:
                return False
        defaults = self.defaults
        if defaults:
            for key, value in defaults.items():
                if key in values and values[key] != value:
                    return False
        return True

    def _build(self, values: Mapping[str, Any], append_unknown: bool) -> str | None:
        path = self._build_head
        try:
            for name, to_url, tail in self._build_segs:
                path = path + to_url(values[name]) + tail
        except ValueError as e:
            if _is_validation_error(e):
                return None
            raise
        if append_unknown and values and not values.keys() <= self.arguments:
            query = _encode_query(values, self.arguments)
            if query:
                path = f"{path}?{query}"
        return path

    def _build_domain(self, values: Mapping[str, Any]) -> str:
        domain = self._domain_head
        for name, to_url, tail in self._domain_segs:
            domain = domain + to_url(values[name]) + tail
        return domain

    def _provides_defaults_for(self, rule: Rule) -> bool:
        return bool(
            not self.build_only
            and self.defaults
            and self.endpoint == rule.endpoint
            and self is not rule
            and self.arguments == rule.arguments
        )


def _fast_to_python(conv: Any) -> Callable[[str], Any] | None:
    """Return the cheapest callable equivalent to ``conv.to_python``, or None for the identity."""
    method = getattr(type(conv), "to_python", None)
    # PERF: don't call the base class's identity function at all.
    if method is BaseConverter.to_python:
        return None
    # PERF: an unconstrained int/float converter is just int()/float(); its regex guarantees
    # the text parses, so the range and digit checks of to_python have nothing to do.
    if (
        method is _NumberConverter.to_python
        and not conv.fixed_digits
        and conv.min is None
        and conv.max is None
    ):
        return conv.num_convert  # type: ignore[no-any-return]
    return conv.to_python  # type: ignore[no-any-return]


def _encode_query(values: Mapping[str, Any], consumed: set[str]) -> str:
    items: list[tuple[str, Any]] = []
    for key, value in values.items():
        if key in consumed:
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            items.extend((key, v) for v in value if v is not None)
        elif value is not None:
            items.append((key, value))
    return urlencode(items, safe=_QUERY_SAFE)


# -- the matcher -----------------------------------------------------------------------------


class _Node:
    """A trie state: static children, dynamic edges (sorted) and the rules ending here."""

    __slots__ = ("dynamic", "lenient", "linear", "rules", "slash", "static")

    def __init__(self) -> None:
        self.static: dict[str, _Node] = {}
        self.dynamic: list[_Edge] = []
        self.rules: list[Rule] = []
        self.slash: _Node | None = None
        self.lenient = False
        self.linear = True


class _Edge:
    """A dynamic transition: how to test a segment (or the rest of the path) and where it leads."""

    __slots__ = ("index", "indices", "key", "kind", "node", "pattern", "suffix", "weight")

    def __init__(self, spec: _PartSpec) -> None:
        self.key = spec.key
        self.weight = spec.weight
        self.kind = spec.kind
        self.pattern = re.compile(spec.regex)
        groups = self.pattern.groupindex
        self.indices = tuple(groups[f"_{i}"] for i in range(len(spec.weight[3])))
        self.index = self.indices[0] if len(self.indices) == 1 else 0
        self.suffix = groups["_s"] if spec.suffixed else 0
        self.node = _Node()


_Matched = tuple[Rule, dict[str, Any]]
_NO_VALUES: Mapping[str, Any] = {}
# Parts left after a final edge: nothing, or the empty part a trailing slash leaves.
_NO_PARTS: list[str] = []
_SLASH_PART: list[str] = [""]


def _no_values(values: list[str]) -> dict[str, Any]:
    return {}


def _values_factory(
    conv: list[tuple[str, Callable[[str], Any] | None]], defaults: dict[str, Any] | None
) -> Callable[[list[str]], dict[str, Any]]:
    """Return a function turning the matched texts into view arguments (defaults merged in).

    It raises ``ValueError`` when a converter rejects its text. Made once per rule so that a
    match makes one call with no per-variable bookkeeping.
    """
    if not conv:
        if defaults:
            return lambda values: dict(defaults)
        return _no_values
    if len(conv) == 1 and not defaults:
        # PERF: the common single-variable rule builds its dict in one expression.
        name, to_python = conv[0]
        if to_python is None:
            return lambda values: {name: values[0]}
        one = to_python
        return lambda values: {name: one(values[0])}

    def convert(values: list[str]) -> dict[str, Any]:
        result = {
            name: raw if to_python is None else to_python(raw)
            for (name, to_python), raw in zip(conv, values, strict=True)
        }
        if defaults:
            result.update(defaults)
        return result

    return convert


def _terminal(
    node: _Node, method: str, websocket: bool, values: list[str], allowed: set[str]
) -> _Matched | None:
    for rule in node.rules:
        if rule.websocket != websocket:
            continue
        methods = rule.methods
        if methods is not None and method not in methods:
            allowed.update(methods)
            continue
        try:
            return rule, rule._to_python(values)
        except ValueError:
            # The converter rejected its text: this rule doesn't match, try the next one.
            continue
    slash = node.slash
    if slash is not None:
        for rule in slash.rules:
            if rule.websocket != websocket:
                continue
            if rule.methods is None or method in rule.methods:
                if rule.strict_slashes:
                    raise _SlashRequired
                try:
                    return rule, rule._to_python(values)
                except ValueError:
                    continue
    return None


def _walk(
    node: _Node,
    parts: list[str],
    i: int,
    method: str,
    websocket: bool,
    values: list[str],
    allowed: set[str],
) -> _Matched | None:
    n = len(parts)
    # PERF: walk purely static stretches iteratively; recursion is only needed at nodes that
    # offer alternatives to backtrack through.
    while i < n and node.linear:
        child = node.static.get(parts[i])
        if child is None:
            return None
        node = child
        i += 1
    if i == n:
        return _terminal(node, method, websocket, values, allowed)
    part = parts[i]
    child = node.static.get(part)
    if child is not None:
        rv = _walk(child, parts, i + 1, method, websocket, values, allowed)
        if rv is not None:
            return rv
    if node.dynamic:
        mark = len(values)
        rest: str | None = None
        # PERF: after the last segment go straight to the end-of-path checks.
        last = i + 1 == n
        for edge in node.dynamic:
            kind = edge.kind
            # PERF: the two commonest converters are tested with string methods, not regexes.
            if kind == _K_NONEMPTY:
                if not part:
                    continue
                values.append(part)
                if last:
                    rv = _terminal(edge.node, method, websocket, values, allowed)
                else:
                    rv = _walk(edge.node, parts, i + 1, method, websocket, values, allowed)
            elif kind == _K_DECIMAL:
                if not part.isdecimal():
                    continue
                values.append(part)
                if last:
                    rv = _terminal(edge.node, method, websocket, values, allowed)
                else:
                    rv = _walk(edge.node, parts, i + 1, method, websocket, values, allowed)
            elif kind == _K_SEGMENT:
                m = edge.pattern.fullmatch(part)
                if m is None:
                    continue
                if edge.index:
                    values.append(m.group(edge.index))
                else:
                    values.extend(m.group(*edge.indices))
                if last:
                    rv = _terminal(edge.node, method, websocket, values, allowed)
                else:
                    rv = _walk(edge.node, parts, i + 1, method, websocket, values, allowed)
            else:
                if rest is None:
                    rest = "/".join(parts[i:])
                m = edge.pattern.fullmatch(rest)
                if m is None:
                    continue
                if edge.index:
                    values.append(m.group(edge.index))
                else:
                    values.extend(m.group(*edge.indices))
                tail = _NO_PARTS
                if edge.suffix and m.group(edge.suffix):
                    tail = _SLASH_PART
                rv = _walk(edge.node, tail, 0, method, websocket, values, allowed)
            if rv is not None:
                return rv
            del values[mark:]
    if node.lenient and not part and i == n - 1:
        # A trailing slash the rule doesn't have is fine when the rule isn't strict about it.
        for rule in node.rules:
            if rule.strict_slashes or rule.websocket != websocket:
                continue
            methods = rule.methods
            if methods is not None and method not in methods:
                allowed.update(methods)
                continue
            try:
                return rule, rule._to_python(values)
            except ValueError:
                continue
    return None


def _finish_node(node: _Node) -> None:
    # Stable sort: equal weights keep registration order, as in Werkzeug.
    node.dynamic.sort(key=lambda edge: edge.weight)
    node.slash = node.static.get("")
    node.lenient = any(not rule.strict_slashes for rule in node.rules)
    node.linear = not node.dynamic and not node.lenient
    for child in node.static.values():
        _finish_node(child)
    for edge in node.dynamic:
        _finish_node(edge.node)


# Static lookup entry: (first rule per explicitly listed method, first rule accepting any method).
_StaticEntry = tuple[dict[str, Rule], Rule | None]
_StaticTable = dict[str, dict[str, _StaticEntry]]


def _static_entry(rules: list[Rule], websocket: bool) -> _StaticEntry | None:
    candidates = [r for r in rules if r.websocket == websocket]
    if not candidates:
        return None
    named: set[str] = set()
    for rule in candidates:
        if rule.methods is not None:
            named |= rule.methods
    by_method: dict[str, Rule] = {}
    for method in named:
        for rule in candidates:
            if rule.methods is None or method in rule.methods:
                by_method[method] = rule
                break
    any_rule = next((r for r in candidates if r.methods is None), None)
    return by_method, any_rule


class Map:
    """Hold the rules of an application; match request paths and build URLs.

    ``converters`` starts as a copy of :data:`DEFAULT_CONVERTERS` updated with *converters*;
    converters registered there are visible to rules added afterwards.
    """

    __slots__ = (
        "__dict__",
        "_dirty",
        "_host_matching",
        "_lock",
        "_root",
        "_rules",
        "_rules_by_endpoint",
        "_static_http",
        "_static_ws",
        "_version",
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
        self._static_http: _StaticTable = {}
        self._static_ws: _StaticTable = {}
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

    def add(self, rule: Rule) -> None:
        """Bind *rule* to this map and register it; it is compiled in at the next match."""
        if not isinstance(rule, Rule):
            raise TypeError(f"expected a Rule, got {type(rule).__name__}")
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
            self._static_http = static_http
            self._static_ws = static_ws
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
            rv = _walk(self._root, parts, 0, method, websocket, [], allowed)
        except _SlashRequired:
            raise RequestRedirect(quote(path + "/", safe=_PATH_SAFE)) from None
        if rv is None:
            if self.merge_slashes and "//" in path:
                merged = _MULTI_SLASH_RE.sub("/", path)
                parts = merged.split("/")
                parts[0] = domain
                try:
                    rv = _walk(self._root, parts, 0, method, websocket, [], allowed)
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
            raise RequestRedirect(url)
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
