"""Rules: parsing URL patterns into trie parts, and the Rule class that compiles and builds them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from .converters import (
    _PATH_SAFE,
    _QUERY_SAFE,
    BaseConverter,
    _is_validation_error,
    _NumberConverter,
)

if TYPE_CHECKING:
    from .map import Map

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


#: Attributes of a Werkzeug rule that describe it or its binding: not copied onto an Erlen rule.
_WERKZEUG_RULE_STATE = frozenset(
    {
        "alias",
        "arguments",
        "build_only",
        "defaults",
        "endpoint",
        "host",
        "is_branch",
        "is_leaf",
        "map",
        "merge_slashes",
        "methods",
        "provide_automatic_options",
        "redirect_to",
        "rule",
        "strict_slashes",
        "subdomain",
        "websocket",
    }
)


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
        # An empty mapping stays one (a blueprint's rules have ``{}``), as in Werkzeug.
        self.defaults: dict[str, Any] | None = dict(defaults) if defaults is not None else None
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

    # -- rule factories (Werkzeug's protocol) -----------------------------------------------

    def get_rules(self, map: Map) -> Iterator[Rule]:
        """Yield this rule: a rule is its own factory (``Submount`` and friends call this)."""
        yield self

    def get_empty_kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments that make an unbound copy of this rule."""
        return {
            "endpoint": self.endpoint,
            "methods": self.methods,
            "defaults": dict(self.defaults) if self.defaults else None,
            "subdomain": self.subdomain,
            "host": self.host,
            "strict_slashes": self.strict_slashes,
            "redirect_to": self.redirect_to,
            "websocket": self.websocket,
            "build_only": self.build_only,
            "alias": self.alias,
            "merge_slashes": self.merge_slashes,
        }

    def empty(self) -> Rule:
        """Return an unbound copy of this rule (what Werkzeug's rule factories rewrite)."""
        rv = type(self)(self.rule, **self.get_empty_kwargs())
        rv.provide_automatic_options = self.provide_automatic_options
        return rv

    @classmethod
    def from_werkzeug(cls, rule: Any) -> Rule:
        """Return an unbound Erlen rule with the options of a Werkzeug ``Rule``.

        Public attributes that are not rule options (set on the rule by an extension, such
        as Flask's ``provide_automatic_options``) are carried over.
        """
        rv = cls(
            rule.rule,
            rule.endpoint,
            methods=rule.methods,
            defaults=rule.defaults,
            subdomain=rule.subdomain,
            host=rule.host,
            strict_slashes=rule.strict_slashes,
            redirect_to=rule.redirect_to,
            websocket=rule.websocket,
            build_only=rule.build_only,
            alias=rule.alias,
            merge_slashes=rule.merge_slashes,
        )
        rv.provide_automatic_options = getattr(rule, "provide_automatic_options", None)
        for name, value in vars(rule).items():
            if not name.startswith("_") and name not in _WERKZEUG_RULE_STATE:
                setattr(rv, name, value)
        return rv

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
