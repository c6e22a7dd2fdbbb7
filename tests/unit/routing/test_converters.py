"""Tests for erlen.routing.converters: the built-in converters, custom ones and their arguments."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import werkzeug.routing as wz

from erlen.routing import (
    DEFAULT_CONVERTERS,
    AnyConverter,
    BaseConverter,
    FloatConverter,
    IntegerConverter,
    Map,
    NotFound,
    PathConverter,
    Rule,
    UnicodeConverter,
    UUIDConverter,
    ValidationError,
)
from routing_support import RuleSpec, make_map, make_wz_map, match, outcome, wz_outcome

# -- built-in converters ---------------------------------------------------------------------


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


# -- as Werkzeug's converters, for code that looks them up by class ------------------------


@pytest.mark.parametrize(
    ("name", "werkzeug_class"),
    [
        ("default", wz.UnicodeConverter),
        ("path", wz.PathConverter),
        ("any", wz.AnyConverter),
        ("int", wz.IntegerConverter),
        ("float", wz.FloatConverter),
        ("uuid", wz.UUIDConverter),
    ],
)
def test_builtin_converters_are_werkzeugs_by_class(name: str, werkzeug_class: type) -> None:
    """OpenAPI plugins (Flask-Smorest, apispec) map Werkzeug's classes along ``__mro__``."""
    assert werkzeug_class in DEFAULT_CONVERTERS[name].__mro__
    assert issubclass(DEFAULT_CONVERTERS[name], wz.BaseConverter)


@pytest.mark.parametrize(
    "args",
    [{}, {"minlength": 3}, {"maxlength": 5}, {"length": 4}, {"minlength": 2, "maxlength": 6}],
)
def test_unicode_regex_is_werkzeugs(args: dict[str, int]) -> None:
    """The length bounds are written as Werkzeug writes them (plugins parse ``{min,max}``)."""
    assert UnicodeConverter(Map(), **args).regex == wz.UnicodeConverter(wz.Map(), **args).regex
