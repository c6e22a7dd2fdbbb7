"""Tests for erlen.routing.

Werkzeug's own router is the oracle for precedence: the same rules are registered on both maps
and every path must produce the same outcome (match and values, redirect target, 405 with the
same methods, or 404).
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import pytest
import werkzeug.routing as wz
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed as WzMethodNotAllowed
from werkzeug.exceptions import NotFound as WzNotFound

from erlen.routing import (
    DEFAULT_CONVERTERS,
    AnyConverter,
    BaseConverter,
    BuildError,
    FloatConverter,
    IntegerConverter,
    Map,
    MethodNotAllowed,
    NotFound,
    PathConverter,
    RequestRedirect,
    RoutingException,
    Rule,
    UnicodeConverter,
    UUIDConverter,
    ValidationError,
)

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


# -- converters ------------------------------------------------------------------------------


def test_default_converters_registry() -> None:
    assert DEFAULT_CONVERTERS["default"] is UnicodeConverter
    assert DEFAULT_CONVERTERS["string"] is UnicodeConverter
    assert DEFAULT_CONVERTERS["int"] is IntegerConverter
    assert DEFAULT_CONVERTERS["float"] is FloatConverter
    assert DEFAULT_CONVERTERS["path"] is PathConverter
    assert DEFAULT_CONVERTERS["uuid"] is UUIDConverter
    assert DEFAULT_CONVERTERS["any"] is AnyConverter
    m = Map(converters={"int": UnicodeConverter})
    assert m.converters["int"] is UnicodeConverter
    assert DEFAULT_CONVERTERS["int"] is IntegerConverter


def test_converter_weights_follow_werkzeug() -> None:
    m = Map()
    assert IntegerConverter(m).weight == wz.IntegerConverter.weight == 50
    assert FloatConverter(m).weight == 50
    assert UUIDConverter(m).weight == wz.UUIDConverter.weight == 100
    assert PathConverter(m).weight == 200
    assert UnicodeConverter(m).weight == 100
    assert PathConverter.part_isolating is False
    assert UnicodeConverter.part_isolating is True


@pytest.mark.parametrize(
    ("rule", "path", "expected"),
    [
        ("/<name>", "/bob", {"name": "bob"}),
        ("/<string:name>", "/a b", {"name": "a b"}),
        ("/<string(length=2):code>", "/de", {"code": "de"}),
        ("/<string(length=2):code>", "/deu", None),
        ("/<string(minlength=3):s>", "/ab", None),
        ("/<string(minlength=3):s>", "/abc", {"s": "abc"}),
        ("/<string(maxlength=3):s>", "/abcd", None),
        ("/<string(maxlength=3):s>", "/abc", {"s": "abc"}),
        ("/<string(2, 3):s>", "/abc", {"s": "abc"}),
        ("/<string(2, 3):s>", "/a", None),
        ("/<int:n>", "/42", {"n": 42}),
        ("/<int:n>", "/-1", None),
        ("/<int:n>", "/4.2", None),
        ("/<int:n>", "/x", None),
        ("/<int:n>", "/\u00b2", None),
        ("/<int(signed=True):n>", "/-7", {"n": -7}),
        ("/<int(fixed_digits=4):n>", "/0042", {"n": 42}),
        ("/<int(fixed_digits=4):n>", "/42", None),
        ("/<int(min=1, max=10):n>", "/10", {"n": 10}),
        ("/<int(min=1, max=10):n>", "/11", None),
        ("/<int(min=1, max=10):n>", "/0", None),
        ("/<float:x>", "/1.5", {"x": 1.5}),
        ("/<float:x>", "/1", None),
        ("/<float:x>", "/-1.5", None),
        ("/<float(signed=True):x>", "/-1.5", {"x": -1.5}),
        ("/<float(max=2.0):x>", "/2.5", None),
        ("/<float(min=0.5):x>", "/0.25", None),
        ("/<any(about, help):page>", "/help", {"page": "help"}),
        ("/<any(about, help):page>", "/other", None),
        ("/<any('a,b', c):page>", "/a,b", {"page": "a,b"}),
        ("/<path:p>", "/a/b/c", {"p": "a/b/c"}),
        ("/<path:p>", "/a", {"p": "a"}),
        ("/files/<path:p>", "/files/", None),
    ],
)
def test_converters_match(rule: str, path: str, expected: dict[str, Any] | None) -> None:
    m = make_map([(rule, "e", {})])
    if expected is None:
        with pytest.raises(NotFound):
            m.match(path)
    else:
        assert match(m, path) == ("e", expected)


def test_uuid_converter() -> None:
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")
    m = make_map([("/<uuid:u>", "e", {})])
    assert match(m, f"/{value}") == ("e", {"u": value})
    assert match(m, f"/{str(value).upper()}") == ("e", {"u": value})
    with pytest.raises(NotFound):
        m.match("/12345678-1234-5678-1234-56781234567")
    assert m.build("e", {"u": value})[0] == f"/{value}"


def test_int_converter_matches_unicode_digits_like_werkzeug() -> None:
    specs: list[RuleSpec] = [("/<int:n>", "e", {})]
    assert outcome(make_map(specs), "/\u0661\u0662") == wz_outcome(make_wz_map(specs), "/١٢")
    assert outcome(make_map(specs), "/١٢") == ("match", "e", {"n": 12})


def test_converter_to_url() -> None:
    m = make_map(
        [
            ("/i/<int(fixed_digits=3):n>", "i", {}),
            ("/f/<float:x>", "f", {}),
            ("/a/<any(about, help):p>", "a", {}),
            ("/p/<path:p>", "p", {}),
            ("/s/<s>", "s", {}),
        ]
    )
    assert m.build("i", {"n": 7})[0] == "/i/007"
    assert m.build("f", {"x": 1.5})[0] == "/f/1.5"
    assert m.build("a", {"p": "help"})[0] == "/a/help"
    with pytest.raises(ValueError, match="not one of"):
        m.build("a", {"p": "nope"})
    assert m.build("p", {"p": "a b/c"})[0] == "/p/a%20b/c"
    assert m.build("s", {"s": "a/b?c#d"})[0] == "/s/a/b%3Fc%23d"
    assert m.build("s", {"s": b"caf\xc3\xa9"})[0] == "/s/caf%C3%A9"
    assert m.build("s", {"s": "!$&'()*+,:;=@-._~"})[0] == "/s/!$&'()*+,:;=@-._~"


def test_base_converter_to_url_equals_quote() -> None:
    from urllib.parse import quote

    conv = BaseConverter(Map())
    for text in ["abc", "a-b_c.d~", "a b", "ä", "x/y", "%", "\n", "", "a+b", "'\"", "<>", "1"]:
        assert conv.to_url(text) == quote(text, safe="!$&'()*+,/:;=@")
    assert conv.to_url(12) == "12"


def test_part_isolating_is_derived_from_regex() -> None:
    class Slashy(BaseConverter):
        regex = "[a-z/]+"

    class Plain(BaseConverter):
        regex = "[a-z]+"

    class Explicit(BaseConverter):
        regex = "[a-z/]+"
        part_isolating = True

    assert Slashy.part_isolating is False
    assert Plain.part_isolating is True
    assert Explicit.part_isolating is True
    m = Map([Rule("/x/<slashy:v>", endpoint="e")], converters={"slashy": Slashy})
    assert match(m, "/x/a/b") == ("e", {"v": "a/b"})


# -- custom converters -----------------------------------------------------------------------


class ListConverter(BaseConverter):
    """The example from Flask's documentation."""

    def to_python(self, value: str) -> list[str]:
        return value.split(",")

    def to_url(self, value: Any) -> str:
        return ",".join(super(ListConverter, self).to_url(v) for v in value)


def test_list_converter_from_flask_docs() -> None:
    m = Map()
    m.converters["list"] = ListConverter
    m.add(Rule("/tags/<list:tags>", endpoint="tags"))
    assert match(m, "/tags/a,b,c") == ("tags", {"tags": ["a", "b", "c"]})
    assert m.build("tags", {"tags": ["x y", "z"]})[0] == "/tags/x%20y,z"


def test_converter_registered_after_map_creation_is_seen_by_later_rules() -> None:
    m = Map([Rule("/", endpoint="index")])
    with pytest.raises(LookupError):
        m.add(Rule("/<list:x>", endpoint="x"))
    m.converters["list"] = ListConverter
    m.add(Rule("/<list:x>", endpoint="x"))
    assert match(m, "/1,2") == ("x", {"x": ["1", "2"]})


class EvenConverter(BaseConverter):
    regex = r"\d+"
    weight = 50

    def to_python(self, value: str) -> int:
        number = int(value)
        if number % 2:
            raise ValidationError()
        return number

    def to_url(self, value: Any) -> str:
        if int(value) % 2:
            raise ValidationError()
        return str(value)


def test_validation_error_makes_the_next_rule_match() -> None:
    m = Map(
        [Rule("/n/<even:n>", endpoint="even"), Rule("/n/<int:n>", endpoint="any")],
        converters={"even": EvenConverter},
    )
    assert match(m, "/n/4") == ("even", {"n": 4})
    assert match(m, "/n/5") == ("any", {"n": 5})


def test_plain_value_error_from_to_python_also_rejects() -> None:
    class Strict(BaseConverter):
        def to_python(self, value: str) -> str:
            if value != "ok":
                raise ValueError(value)
            return value

    m = Map([Rule("/<strict:v>", endpoint="strict")], converters={"strict": Strict})
    assert match(m, "/ok") == ("strict", {"v": "ok"})
    with pytest.raises(NotFound):
        m.match("/no")


def test_validation_error_in_to_url_tries_the_next_rule() -> None:
    m = Map(
        [Rule("/even/<even:n>", endpoint="n"), Rule("/odd/<int:n>", endpoint="n")],
        converters={"even": EvenConverter},
    )
    assert m.build("n", {"n": 4})[0] == "/even/4"
    assert m.build("n", {"n": 3})[0] == "/odd/3"


def test_werkzeug_converter_subclass_works() -> None:
    class WzList(wz.BaseConverter):
        def to_python(self, value: str) -> list[str]:
            return value.split("+")

        def to_url(self, value: Any) -> str:
            return "+".join(str(v) for v in value)

    class WzEven(wz.BaseConverter):
        regex = r"\d+"

        def to_python(self, value: str) -> int:
            if int(value) % 2:
                raise wz.ValidationError()
            return int(value)

        def to_url(self, value: Any) -> str:
            if int(value) % 2:
                raise wz.ValidationError()
            return str(value)

    m = Map(
        [
            Rule("/l/<wzlist:items>", endpoint="l"),
            Rule("/e/<wzeven:n>", endpoint="n"),
            Rule("/o/<int:n>", endpoint="n"),
            Rule("/e/<n>", endpoint="fallback"),
        ],
        converters={"wzlist": WzList, "wzeven": WzEven},
    )
    assert match(m, "/l/a+b") == ("l", {"items": ["a", "b"]})
    assert m.build("l", {"items": [1, 2]})[0] == "/l/1+2"
    assert match(m, "/e/2") == ("n", {"n": 2})
    assert match(m, "/e/3") == ("fallback", {"n": "3"})
    assert m.build("n", {"n": 3})[0] == "/o/3"


def test_converter_arguments_are_parsed_as_literals() -> None:
    seen: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    class Recorder(BaseConverter):
        def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
            super().__init__(map)
            seen.append((args, kwargs))

    m = Map(converters={"rec": Recorder})
    m.add(Rule("/<rec(1, 2.5, 'x,y', \"q\", True, False, None, word, n=-3, s='a b'):v>", "e"))
    m.add(Rule("/a/<rec():v>", "e2"))
    assert seen == [
        ((1, 2.5, "x,y", "q", True, False, None, "word"), {"n": -3, "s": "a b"}),
        ((), {}),
    ]


# -- precedence: werkzeug as the oracle ------------------------------------------------------

PRECEDENCE_CASES: list[tuple[list[RuleSpec], list[str]]] = [
    (
        [
            ("/user/<name>", "name", {}),
            ("/user/me", "me", {}),
            ("/user/<int:id>", "id", {}),
            ("/user/<uuid:u>", "uuid", {}),
        ],
        [
            "/user/me",
            "/user/12",
            "/user/bob",
            "/user/",
            "/user",
            "/user/12345678-1234-5678-1234-567812345678",
        ],
    ),
    (
        [
            ("/<path:p>", "path", {}),
            ("/<name>", "name", {}),
            ("/<float:f>", "float", {}),
            ("/<int:i>", "int", {}),
            ("/<any(a, b):a>", "any", {}),
        ],
        ["/1", "/1.5", "/a", "/c", "/x/y", "/", "/x/"],
    ),
    (
        [
            ("/<name>.json", "json", {}),
            ("/<name>.<ext>", "ext", {}),
            ("/<name>", "name", {}),
            ("/v<int:n>", "version", {}),
            ("/v<int:n>.<fmt>", "version_fmt", {}),
            ("/file-<a>-<b>", "dash", {}),
            ("/<a>-<b>", "dash2", {}),
        ],
        ["/x.json", "/a.b.json", "/x.xml", "/v2", "/v2.json", "/vx", "/file-a-b", "/a-b-c", "/x"],
    ),
    (
        [
            ("/static/<path:filename>", "static", {}),
            ("/<path:p>/edit", "edit", {}),
            ("/<path:p>", "page", {}),
            ("/a/<path:p>/b/<c>", "deep", {}),
            ("/d/<path:p>/", "dir", {}),
            ("/static/special", "special", {}),
        ],
        [
            "/static/css/a.css",
            "/static/special",
            "/x/y/edit",
            "/x/edit",
            "/edit",
            "/a/1/2/b/3",
            "/a/b/c",
            "/d/x/y",
            "/d/x/y/",
            "/d/",
            "/static/",
        ],
    ),
    (
        [
            ("/a/", "a_slash", {}),
            ("/b", "b", {}),
            ("/c/", "c_lenient", {"strict_slashes": False}),
            ("/d", "d_lenient", {"strict_slashes": False}),
            ("/e/<x>/", "e", {}),
            ("/f/<x>", "f", {}),
            ("/", "root", {}),
        ],
        ["/a", "/a/", "/b", "/b/", "/c", "/c/", "/d", "/d/", "/e/1", "/e/1/", "/f/1/", "/", ""],
    ),
    (
        [
            ("/<a>/x/y", "a", {}),
            ("/b/<c>/z", "b", {}),
            ("/b/<c>/<d>", "bd", {}),
            ("/<int:n>/x/<m>", "n", {}),
        ],
        ["/b/x/y", "/b/x/z", "/b/q/y", "/1/x/y", "/q/x/y"],
    ),
    (
        [
            ("/x", "x_get", {"methods": ["GET"]}),
            ("/x", "x_post", {"methods": ["POST"]}),
            ("/<a>", "a_put", {"methods": ["PUT"]}),
            ("/y/<int:n>", "y_get", {"methods": ["GET"]}),
            ("/y/<n>", "y_any", {}),
            ("/z/", "z_post", {"methods": ["POST"]}),
        ],
        ["/x", "/y/1", "/y/a", "/z", "/z/", "/q"],
    ),
    (
        [
            ("/a/b", "ab", {}),
            ("/a//c", "ac_raw", {"merge_slashes": False}),
            ("/<path:p>/end", "end", {}),
            ("/m//n", "mn", {}),
        ],
        ["/a//b", "/a/b", "/a//c", "/a/c", "//a/b", "/a///b/", "/x//y/end", "/m/n", "/m//n"],
    ),
    (
        [
            ("/page/", "page", {"defaults": {"page": 1}}),
            ("/page/<int:page>", "page", {}),
            ("/shop/<cat>/", "shop", {"defaults": {"n": 1}}),
            ("/shop/<cat>/<int:n>", "shop", {}),
        ],
        ["/page/", "/page/1", "/page/2", "/shop/x/", "/shop/x/1", "/shop/x/2"],
    ),
]


@pytest.mark.parametrize(("specs", "paths"), PRECEDENCE_CASES)
@pytest.mark.parametrize("method", ["GET", "POST", "HEAD", "DELETE"])
def test_precedence_matches_werkzeug(specs: list[RuleSpec], paths: list[str], method: str) -> None:
    ours, theirs = make_map(specs), make_wz_map(specs)
    for path in paths:
        assert outcome(ours, path, method) == wz_outcome(theirs, path, method), path


def test_precedence_cases_exercise_every_outcome() -> None:
    # Guards against an oracle table that only ever compares 404 with 404.
    kinds = set()
    for specs, paths in PRECEDENCE_CASES:
        ours = make_map(specs)
        for path in paths:
            for method in ("GET", "DELETE"):
                kinds.add(outcome(ours, path, method)[0])
    assert kinds == {"match", "redirect", "405", "404"}


_SEGMENTS = [
    "a",
    "b",
    "<v>",
    "<int:v>",
    "<path:v>",
    "<float:v>",
    "<any(a, b):v>",
    "<v>.json",
    "v<int:v>",
    "<string(length=1):v>",
    "<uuid:v>",
    "<v>-<w>",
    "c<path:v>",
]
_PATH_SEGMENTS = ["a", "b", "c", "1", "22", "2.5", "x.json", "v3", "", "a-b", "q", "cz/y", "a.json"]


def _random_rules(rng: random.Random) -> list[RuleSpec]:
    specs: list[RuleSpec] = []
    for idx in range(rng.randint(1, 8)):
        segments = []
        for n in range(rng.randint(0, 3)):
            seg = rng.choice(_SEGMENTS)
            segments.append(
                seg.replace(":v>", f":v{n}>").replace("<v>", f"<v{n}>").replace("<w>", f"<w{n}>")
            )
        text = "/" + "/".join(segments)
        if segments and rng.random() < 0.3:
            text += "/"
        kw: dict[str, Any] = {}
        methods = rng.choice([None, ["GET"], ["POST"], ["GET", "POST"], ["PUT"]])
        if methods:
            kw["methods"] = methods
        if rng.random() < 0.15:
            kw["strict_slashes"] = False
        specs.append((text, f"e{idx}", kw))
    return specs


def _random_path(rng: random.Random, specs: list[RuleSpec]) -> str:
    if rng.random() < 0.5:
        # Fill a registered rule's variables so that matches are frequent.
        samples = ["1", "a", "2.5", "x", "a/b", "12345678-1234-5678-1234-567812345678"]
        path = re.sub("<[^>]+>", lambda _: rng.choice(samples), rng.choice(specs)[0])
    else:
        path = "/" + "/".join(rng.choice(_PATH_SEGMENTS) for _ in range(rng.randint(0, 4)))
    if rng.random() < 0.2:
        path += "/"
    if rng.random() < 0.05:
        path = path.replace("/", "//", 1)
    return path


@pytest.mark.parametrize("seed", range(12))
def test_random_rule_sets_match_like_werkzeug(seed: int) -> None:
    rng = random.Random(seed)
    compared = 0
    for _ in range(25):
        specs = _random_rules(rng)
        map_kwargs: dict[str, Any] = {}
        if rng.random() < 0.2:
            map_kwargs["strict_slashes"] = False
        if rng.random() < 0.2:
            map_kwargs["merge_slashes"] = False
        try:
            theirs = make_wz_map(specs, **map_kwargs)
        except (ValueError, SyntaxError):
            # Werkzeug rejects the same variable twice with a SyntaxError; so do we, with ValueError.
            with pytest.raises(ValueError):
                make_map(specs, **map_kwargs)
            continue
        ours = make_map(specs, **map_kwargs)
        for _ in range(20):
            path = _random_path(rng, specs)
            method = rng.choice(["GET", "POST", "HEAD", "DELETE"])
            expected = wz_outcome(theirs, path, method)
            assert outcome(ours, path, method) == expected, (specs, map_kwargs, path, method)
            compared += 1
    assert compared > 200


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


def test_method_not_allowed_lists_union_of_matching_rules() -> None:
    m = make_map(
        [
            ("/x", "get", {"methods": ["GET"]}),
            ("/x", "post", {"methods": ["POST", "OPTIONS"]}),
            ("/<a>", "put", {"methods": ["PUT"]}),
            ("/other", "other", {"methods": ["PATCH"]}),
        ]
    )
    with pytest.raises(MethodNotAllowed) as info:
        m.match("/x", "DELETE")
    assert info.value.valid_methods == ["GET", "HEAD", "OPTIONS", "POST", "PUT"]
    assert match(m, "/x", "PUT") == ("put", {"a": "x"})
    assert match(m, "/x", "POST") == ("post", {})
    with pytest.raises(MethodNotAllowed) as info:
        m.match("/y", "GET")
    assert info.value.valid_methods == ["PUT"]
    with pytest.raises(NotFound):
        m.match("/y/z", "GET")


def test_rule_without_methods_accepts_any_method() -> None:
    m = make_map([("/x", "x", {})])
    for method in ["GET", "POST", "BREW", "OPTIONS"]:
        assert match(m, "/x", method) == ("x", {})


def test_static_rule_with_wrong_method_falls_back_to_dynamic_rule() -> None:
    m = make_map(
        [("/x/new", "new", {"methods": ["GET"]}), ("/x/<id>", "item", {"methods": ["POST"]})]
    )
    assert match(m, "/x/new", "GET") == ("new", {})
    assert match(m, "/x/new", "POST") == ("item", {"id": "new"})


# -- slashes ---------------------------------------------------------------------------------


def test_strict_slashes_redirect() -> None:
    m = make_map([("/a/", "a", {}), ("/u/<name>/", "u", {}), ("/f/<path:p>/", "f", {})])
    for path, target in [
        ("/a", "/a/"),
        ("/u/x", "/u/x/"),
        ("/f/x/y", "/f/x/y/"),
        ("/u/ä b", "/u/%C3%A4%20b/"),
    ]:
        with pytest.raises(RequestRedirect) as info:
            m.match(path)
        assert info.value.new_url == target
        assert info.value.code == 308
    assert match(m, "/a/") == ("a", {})
    assert match(m, "/f/x/y/") == ("f", {"p": "x/y"})


def test_strict_slashes_off() -> None:
    m = make_map([("/a/", "a", {}), ("/b", "b", {})], strict_slashes=False)
    assert match(m, "/a") == ("a", {})
    assert match(m, "/a/") == ("a", {})
    assert match(m, "/b/") == ("b", {})
    m = make_map([("/a/", "a", {"strict_slashes": False}), ("/b", "b", {})])
    assert match(m, "/a") == ("a", {})
    with pytest.raises(NotFound):
        m.match("/b/")


def test_redirect_only_when_slash_rule_accepts_method() -> None:
    m = make_map([("/a/", "a", {"methods": ["POST"]})])
    with pytest.raises(RequestRedirect):
        m.match("/a", "POST")
    with pytest.raises(NotFound):
        m.match("/a", "GET")


def test_merge_slashes() -> None:
    m = make_map(
        [("/a/b", "ab", {}), ("/c/<x>/d", "c", {}), ("/raw//x", "raw", {"merge_slashes": False})]
    )
    for path, target in [("/a//b", "/a/b"), ("/a///b", "/a/b"), ("/c//1//d", "/c/1/d")]:
        with pytest.raises(RequestRedirect) as info:
            m.match(path)
        assert info.value.new_url == target
    assert match(m, "/raw//x") == ("raw", {})
    with pytest.raises(NotFound):
        m.match("/raw/x")
    # Leading slashes collapse without a redirect, as in Werkzeug.
    assert match(m, "//a/b") == ("ab", {})
    off = make_map([("/a/b", "ab", {})], merge_slashes=False)
    with pytest.raises(NotFound):
        off.match("/a//b")


def test_merge_slashes_rule_defaults_come_from_map() -> None:
    m = make_map([("/a//b", "ab", {})])
    assert m._rules[0].merge_slashes is True
    assert match(m, "/a/b") == ("ab", {})
    assert m.build("ab")[0] == "/a/b"
    m = make_map([("/a//b", "ab", {})], merge_slashes=False)
    assert match(m, "/a//b") == ("ab", {})
    assert m.build("ab")[0] == "/a//b"


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


def test_request_redirect_is_an_http_exception() -> None:
    exc = RequestRedirect("/a/")
    assert isinstance(exc, HTTPException)
    assert isinstance(exc, RoutingException)
    assert exc.code == 308
    assert exc.new_url == "/a/"
    assert ("Location", "/a/") in exc.get_headers()


# -- websocket -------------------------------------------------------------------------------


def test_websocket_and_http_rules_are_separate() -> None:
    m = make_map(
        [
            ("/ws", "ws", {"websocket": True, "methods": ["GET"]}),
            ("/both", "both_http", {}),
            ("/both", "both_ws", {"websocket": True}),
            ("/dyn/<x>", "dyn_ws", {"websocket": True}),
            ("/dyn/<x>", "dyn_http", {}),
        ]
    )
    assert m.match("/ws", websocket=True)[0].endpoint == "ws"
    with pytest.raises(NotFound):
        m.match("/ws")
    with pytest.raises(NotFound):
        m.match("/ws", "POST")
    assert match(m, "/both") == ("both_http", {})
    assert m.match("/both", websocket=True)[0].endpoint == "both_ws"
    assert match(m, "/dyn/1") == ("dyn_http", {"x": "1"})
    assert m.match("/dyn/1", websocket=True)[0].endpoint == "dyn_ws"
    with pytest.raises(NotFound):
        make_map([("/http", "h", {})]).match("/http", websocket=True)


def test_trailing_slash_redirect_respects_websocket_separation() -> None:
    m = make_map([("/ws/", "ws", {"websocket": True}), ("/http/", "http", {})])
    with pytest.raises(NotFound):
        m.match("/ws")
    with pytest.raises(RequestRedirect):
        m.match("/ws", websocket=True)
    with pytest.raises(NotFound):
        m.match("/http", websocket=True)
    with pytest.raises(RequestRedirect):
        m.match("/http")


def test_websocket_rules_only_take_get_methods() -> None:
    with pytest.raises(ValueError, match="WebSocket"):
        Rule("/ws", endpoint="ws", websocket=True, methods=["POST"])


# -- building --------------------------------------------------------------------------------

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


# -- scale -----------------------------------------------------------------------------------


def test_thousand_rule_map() -> None:
    specs: list[RuleSpec] = []
    for i in range(1000):
        specs.append((f"/r{i}/<int:id>", f"r{i}", {}))
        specs.append((f"/s{i}", f"s{i}", {}))
        specs.append((f"/t{i}/<name>/<path:rest>", f"t{i}", {}))
        specs.append((f"/u{i}/", f"u{i}", {"methods": ["POST"]}))
    m = make_map(specs)
    for i in [0, 1, 499, 998, 999]:
        assert match(m, f"/r{i}/{i}") == (f"r{i}", {"id": i})
        assert match(m, f"/s{i}") == (f"s{i}", {})
        assert match(m, f"/t{i}/x/a/b") == (f"t{i}", {"name": "x", "rest": "a/b"})
        assert match(m, f"/u{i}/", "POST") == (f"u{i}", {})
        assert outcome(m, f"/u{i}", "POST") == ("redirect", f"/u{i}/")
        assert outcome(m, f"/u{i}/", "GET") == ("405", ["POST"])
        for path in [f"/r{i}/x", f"/r{i}", f"/s{i}/", f"/t{i}/x", f"/r{i}/1/2"]:
            assert outcome(m, path) == ("404",), path
        assert m.build(f"r{i}", {"id": i})[0] == f"/r{i}/{i}"
    for path in ["/r1000/1", "/s1000", "/", "/x/y/z"]:
        assert outcome(m, path) == ("404",), path


def test_trie_does_not_scan_rules() -> None:
    # Structural check of the scalability claim: the node under "/r999" holds one edge.
    m = make_map([(f"/r{i}/<int:id>", f"r{i}", {}) for i in range(1000)])
    m.update()
    domain = m._root.static[""]
    assert len(domain.static) == 1000
    assert not domain.dynamic
    assert len(domain.static["r999"].dynamic) == 1
