"""Tests for erlen.json: output is checked byte for byte against Flask's provider."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import functools
import io
import json
import math
import random
import struct
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, NamedTuple

import flask
import pytest
from flask.json.provider import DefaultJSONProvider as FlaskProvider
from markupsafe import Markup

import erlen.json
import erlen.json.provider as provider_module
from erlen.globals import _cv_app
from erlen.json.provider import DefaultJSONProvider, JSONProvider

# -- helpers -----------------------------------------------------------------


class FakeResponse:
    def __init__(self, body: str | bytes, mimetype: str | None = None) -> None:
        self.data = body.encode() if isinstance(body, str) else body
        self.mimetype = mimetype


class FakeApp:
    """The parts of an app a provider uses."""

    response_class = FakeResponse

    def __init__(self, debug: bool = False) -> None:
        self.debug = debug
        self.json: JSONProvider = DefaultJSONProvider(self)  # type: ignore[arg-type]


@contextmanager
def app_context(app: Any) -> Iterator[None]:
    token = _cv_app.set(SimpleNamespace(app=app))  # type: ignore[arg-type]
    try:
        yield
    finally:
        _cv_app.reset(token)


@pytest.fixture(params=["orjson", "stdlib"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with orjson available and again with the stdlib path only."""
    if request.param == "orjson":
        pytest.importorskip("orjson")
    else:
        monkeypatch.setattr(provider_module, "_orjson_dumps", None)
        monkeypatch.setattr(provider_module, "_orjson_loads", None)
    return str(request.param)


class OrjsonCalls(list[Any]):
    """The objects the provider handed to orjson, and those orjson rejected."""

    def __init__(self) -> None:
        super().__init__()
        self.rejected: list[Any] = []


@pytest.fixture
def orjson_calls(monkeypatch: pytest.MonkeyPatch) -> OrjsonCalls:
    """Record the objects the provider hands to orjson."""
    orjson = pytest.importorskip("orjson")
    calls = OrjsonCalls()

    def spy(obj: Any, **kwargs: Any) -> bytes:
        calls.append(obj)
        try:
            return orjson.dumps(obj, **kwargs)  # type: ignore[no-any-return]
        except Exception:
            calls.rejected.append(obj)
            raise

    monkeypatch.setattr(provider_module, "_orjson_dumps", spy)
    return calls


def outcome(fn: Callable[[], Any]) -> Any:
    """Return fn's result, or the type and message of the error it raises."""
    try:
        return fn()
    except Exception as e:
        return (type(e), str(e))


def flask_provider(**attrs: Any) -> FlaskProvider:
    app = flask.Flask("oracle")
    for name, value in attrs.items():
        setattr(app.json, name, value)
    app.json.__dict__["_keep_app"] = app  # the provider only holds a weak proxy
    return app.json  # type: ignore[return-value]


def erlen_provider(**attrs: Any) -> DefaultJSONProvider:
    app = FakeApp()
    for name, value in attrs.items():
        setattr(app.json, name, value)
    app.json.__dict__["_keep_app"] = app
    return app.json  # type: ignore[return-value]


def assert_same(obj: Any, **attrs: Any) -> None:
    """Check dumps() in every layout and response() against Flask."""
    ours, theirs = erlen_provider(**attrs), flask_provider(**attrs)
    for kwargs in ({}, {"separators": (",", ":")}, {"indent": 2}):
        expected = outcome(functools.partial(theirs.dumps, obj, **kwargs))
        assert outcome(functools.partial(ours.dumps, obj, **kwargs)) == expected, kwargs
    for debug in (False, True):
        ours._app.debug = debug
        theirs._app.debug = debug
        expected = outcome(lambda: theirs.response(obj).get_data())
        assert outcome(lambda: ours.response(obj).data) == expected, debug


# -- values ------------------------------------------------------------------


@dataclasses.dataclass
class Point:
    x: float
    y: Any


class Color(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    HIGH = 3


class Mode(str, enum.Enum):
    FAST = "fast"


class Pair(NamedTuple):
    a: Any
    b: Any


class HTML:
    def __html__(self) -> str:
        return "<b>é</b>"


class LoudStr(str):
    def __str__(self) -> str:
        return "LOUD"


class LoudInt(int):
    def __repr__(self) -> str:
        return "LOUD"


class LoudFloat(float):
    def __repr__(self) -> str:
        return "LOUD"


class ReversedList(list[Any]):
    def __iter__(self) -> Iterator[Any]:
        return reversed(list(list.__iter__(self)))


class UpperDict(dict[str, Any]):
    def items(self) -> Any:
        return [(k.upper(), v) for k, v in dict.items(self)]


SPECIAL_FLOATS = [
    0.0,
    -0.0,
    1.0,
    0.1,
    1e-4,
    9.99e-5,
    1e-7,
    5e-324,
    1e15,
    9999999999999998.0,
    1e16,
    1.5e16,
    1e22,
    1.7976931348623157e308,
    -2.5e-5,
    math.nan,
    math.inf,
    -math.inf,
]

STRINGS = [
    "",
    "plain",
    'quote " backslash \\ slash /',
    "".join(map(chr, range(0x20))),
    "del \x7f",
    "é ü ñ",
    "€ 中文 \u2028 \u2029",
    "astral 😀 \U0010ffff",
    "lone \ud800 surrogate",
    "<script>&</script>",
]

ordered = collections.OrderedDict([("b", 1), ("a", 2), ("c", 3)])
ordered.move_to_end("b")

SPECIAL_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    2**63,
    2**64,
    -(2**64) - 1,
    10**40,
    *SPECIAL_FLOATS,
    *STRINGS,
    decimal.Decimal("1.10"),
    decimal.Decimal("NaN"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    datetime.date(2024, 2, 29),
    datetime.datetime(2024, 1, 2, 3, 4, 5, 678),
    datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
    datetime.time(1, 2),
    Point(1.5, [1, "a", None]),
    Point(math.nan, {"k": 1e-9}),
    Markup("<i>ok</i>"),
    HTML(),
    Color.RED,
    Level.HIGH,
    Mode.FAST,
    Pair(1, "x"),
    LoudStr("quiet"),
    LoudInt(7),
    LoudFloat(2.5),
    LoudFloat(math.nan),
    ReversedList([1, 2, 3]),
    UpperDict(a=1, b=2),
    ordered,
    collections.defaultdict(int, {"z": 1, "a": 2}),
    collections.OrderedDict([("f", math.nan), ("e", Color.RED)]),
    collections.OrderedDict([("f", 1e-9)]),
    collections.Counter("hello"),
    b"bytes",
    object(),
    {1: "int key", 2: "two"},
    {"a": 1, 2: "mixed keys"},
    {None: 1, True: 2, 1.5: 3},
    {LoudStr("k"): 1},
    (1, (2, (3,))),
    [[], {}, [[]], [{}]],
    {"nested": {"deeper": {"deepest": [1.5, "x", None, {"e": 1e300}]}}},
]


@pytest.mark.parametrize("value", SPECIAL_VALUES, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("sort_keys", [True, False])
@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_special_values_match_flask(
    backend: str, value: Any, sort_keys: bool, ensure_ascii: bool
) -> None:
    attrs = {"sort_keys": sort_keys, "ensure_ascii": ensure_ascii}
    assert_same(value, **attrs)
    # Nested one level down, and next to plain values.
    assert_same({"v": value, "s": "é", "n": None, "f": 1.25}, **attrs)
    assert_same([value, "x", 1], **attrs)


def random_float(rng: random.Random) -> float:
    if rng.random() < 0.5:
        return float(struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0])
    return rng.uniform(-1, 1) * 10.0 ** rng.randint(-8, 20)


def random_str(rng: random.Random) -> str:
    alphabet = "abcXYZ019 _-/\\\"'\n\t\x00\x1f\x7f\x80éß€中😀\u2028"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))


def random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth < 4 and roll < 0.2:
        return {random_str(rng): random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}
    if depth < 4 and roll < 0.3:
        items = [random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
        return items if rng.random() < 0.8 else tuple(items)
    if roll < 0.45:
        return random_str(rng)
    if roll < 0.6:
        return rng.choice([rng.randint(-1000, 1000), rng.getrandbits(70) - 2**69])
    if roll < 0.75:
        return random_float(rng)
    if roll < 0.85:
        return rng.choice([True, False, None])
    return rng.choice(
        [
            decimal.Decimal("3.14"),
            uuid.UUID(int=rng.getrandbits(128)),
            datetime.datetime(2020, 5, 17, 10, 0, 1),
            datetime.date(1999, 12, 31),
            Markup("<b>x</b>"),
            Point(rng.random(), "p"),
            Level.HIGH,
            Mode.FAST,
            LoudInt(4),
        ]
    )


@pytest.mark.parametrize("seed", range(4))
def test_random_structures_match_flask(backend: str, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(150):
        value = random_value(rng)
        assert_same(value, sort_keys=rng.random() < 0.7, ensure_ascii=rng.random() < 0.7)


def test_floats_in_fast_range_match_repr(orjson_calls: OrjsonCalls) -> None:
    rng = random.Random(1234)
    floats = [random_float(rng) for _ in range(20_000)]
    floats += [rng.uniform(-1e16, 1e16) for _ in range(5_000)]
    floats += [round(rng.uniform(-1000, 1000), rng.randint(0, 6)) for _ in range(5_000)]
    usable = [f for f in floats if f == 0.0 or 1e-4 <= abs(f) < 1e16]
    ours = erlen_provider()
    assert ours.dumps(usable, separators=(",", ":")) == json.dumps(usable, separators=(",", ":"))
    assert orjson_calls, "floats in the safe range should take the orjson path"


def test_orjson_serves_common_responses(orjson_calls: OrjsonCalls) -> None:
    p = erlen_provider()
    body = {"id": 1, "name": "Ann", "ok": True, "note": None}
    assert p.response(body).data == flask_provider().response(body).get_data()
    assert orjson_calls == [body]
    nested = {"items": [{"price": 9.99, "tags": ["a", "b"], "when": datetime.date(2024, 1, 1)}]}
    assert p.response(nested).data == flask_provider().response(nested).get_data()
    assert orjson_calls[-1] is nested
    text = {"greeting": "grüß dich 😀"}
    assert p.dumps(text, separators=(",", ":")) == json.dumps(
        text, separators=(",", ":"), sort_keys=True
    )
    assert orjson_calls[-1] is text
    subclasses = [Markup("<b>"), LoudStr("s"), LoudInt(3), LoudFloat(0.5), Pair(1, 2), ordered]
    assert p.response(subclasses).data == flask_provider().response(subclasses).get_data()
    assert orjson_calls[-1] is subclasses
    assert orjson_calls.rejected == []


def test_numpy_scalars_match_flask(backend: str) -> None:
    np = pytest.importorskip("numpy")
    # float64 subclasses float, so json encodes it natively; the others go to default.
    for value in ([np.float64(1.5), np.float64(1e-9)], [np.float64("nan")], [np.int64(1)]):
        assert_same(value)


def test_orjson_not_tried_beyond_its_depth(orjson_calls: OrjsonCalls) -> None:
    value: Any = 1
    for _ in range(300):
        value = {"k": [value]}
    assert erlen_provider().response(value).data == flask_provider().response(value).get_data()
    assert orjson_calls == []


@pytest.mark.parametrize(
    ("value", "tried"),
    [
        ({"f": math.nan}, False),
        ([1e-7], False),
        ({"deep": [{"x": 1e16}]}, False),
        ({"e": Color.RED}, False),
        ([Level.HIGH], False),
        ({"u": uuid.UUID(int=1), "sub": LoudFloat(math.inf)}, True),
        ({"big": 2**64}, True),
        ({1: "non-str key"}, True),
        # Small containers are settled by a direct loop, larger or deeper ones by the walk.
        ({"a": [1, {"b": [None, True, ("x",)]}]}, True),
        ({"a": [1, {"b": [None, Color.RED]}]}, False),
        ([*range(100), [Level.HIGH]], False),
        ({"k": [*range(100), 1e-7]}, False),
        ({"d": [[[[[[[[[[[1e300]]]]]]]]]]]}, False),
        ([LoudStr("x"), {"n": 2**64}], True),
    ],
    ids=repr,
)
def test_orjson_skipped_or_rejected_for_unsafe_values(
    orjson_calls: OrjsonCalls, value: Any, tried: bool
) -> None:
    ours, theirs = erlen_provider(), flask_provider()
    assert outcome(lambda: ours.response(value).data) == outcome(
        lambda: theirs.response(value).get_data()
    )
    assert bool(orjson_calls) is tried


def test_uuid_goes_through_a_custom_default(backend: str) -> None:
    def hex_uuid(o: Any) -> Any:
        return o.hex if isinstance(o, uuid.UUID) else provider_module._default(o)

    value = {"id": uuid.UUID(int=1), "n": 1}
    ours, theirs = erlen_provider(default=hex_uuid), flask_provider(default=hex_uuid)
    assert ours.response(value).data == theirs.response(value).get_data()
    assert ours.response(value).data == b'{"id":"00000000000000000000000000000001","n":1}\n'


def test_default_is_used_instead_of_orjson_natives(backend: str) -> None:
    def by_name(o: Any) -> Any:
        if isinstance(o, enum.Enum):
            return o.name
        if isinstance(o, uuid.UUID):
            return o.hex
        return provider_module._default(o)

    ours = erlen_provider(default=by_name)
    theirs = flask_provider(default=by_name)
    value = {"c": Color.RED, "l": [Level.HIGH], "m": Mode.FAST, "u": uuid.UUID(int=1)}
    assert ours.response(value).data == theirs.response(value).get_data()
    assert b'"RED"' in ours.response(value).data
    assert b'"00000000000000000000000000000001"' in ours.response(value).data


def test_settings_changed_after_creation_apply(backend: str) -> None:
    p = erlen_provider()
    value = {"b": "é", "a": 1}
    assert p.dumps(value) == '{"a": 1, "b": "\\u00e9"}'
    p.sort_keys = False
    p.ensure_ascii = False
    assert p.dumps(value) == '{"b": "é", "a": 1}'
    assert p.response(value).data == '{"b":"é","a":1}\n'.encode()


def test_subclass_attributes_and_default_method(backend: str) -> None:
    class Ours(DefaultJSONProvider):
        sort_keys = False

        def default(self, o: Any) -> Any:
            if isinstance(o, set):
                return sorted(o)
            return super().default(o)

    class Theirs(FlaskProvider):
        sort_keys = False

        def default(self, o: Any) -> Any:
            if isinstance(o, set):
                return sorted(o)
            return super().default(o)

    app = FakeApp()
    app.json = Ours(app)  # type: ignore[arg-type]
    fapp = flask.Flask("oracle")
    fapp.json = Theirs(fapp)
    value = {"z": {3, 1, 2}, "a": [Point(1.0, {2, 1})]}
    assert app.json.response(value).data == fapp.json.response(value).get_data()
    assert app.json.dumps(value) == fapp.json.dumps(value)


def test_subclass_dumps_is_used_by_response() -> None:
    class Shouting(DefaultJSONProvider):
        def dumps(self, obj: Any, **kwargs: Any) -> str:
            return super().dumps(obj, **kwargs).upper()

    app = FakeApp()
    app.json = Shouting(app)  # type: ignore[arg-type]
    assert app.json.response({"a": "b"}).data == b'{"A":"B"}\n'
    app.debug = True
    assert app.json.response({"a": "b"}).data == b'{\n  "A": "B"\n}\n'


def test_response_layout_follows_compact_and_debug(backend: str) -> None:
    app = FakeApp()
    p = app.json
    assert isinstance(p, DefaultJSONProvider)
    value = {"a": [1, 2]}
    compact = b'{"a":[1,2]}\n'
    indented = b'{\n  "a": [\n    1,\n    2\n  ]\n}\n'
    assert p.response(value).data == compact
    app.debug = True
    assert p.response(value).data == indented
    p.compact = True
    assert p.response(value).data == compact
    app.debug = False
    p.compact = False
    assert p.response(value).data == indented


def test_response_arguments_and_mimetype(backend: str) -> None:
    p = erlen_provider()
    assert p.response().data == b"null\n"
    assert p.response(1, "a").data == b'[1,"a"]\n'
    assert p.response([1]).data == b"[1]\n"
    assert p.response(b=2, a=1).data == b'{"a":1,"b":2}\n'
    assert p.response(None).data == b"null\n"
    assert p.response({}).mimetype == "application/json"
    p.mimetype = "application/vnd.api+json"
    assert p.response({}).mimetype == "application/vnd.api+json"
    with pytest.raises(TypeError, match="either args or kwargs"):
        p.response(1, a=2)


def test_base_provider_needs_dumps_and_loads() -> None:
    class Minimal(JSONProvider):
        def dumps(self, obj: Any, **kwargs: Any) -> str:
            return f"<{obj!r}>"

        def loads(self, s: str | bytes, **kwargs: Any) -> Any:
            return ("loaded", s)

    app = FakeApp()
    p = Minimal(app)  # type: ignore[arg-type]
    resp = p.response(1, 2)
    assert (resp.data, resp.mimetype) == (b"<(1, 2)>", "application/json")
    out = io.StringIO()
    p.dump({"a": 1}, out)
    assert out.getvalue() == "<{'a': 1}>"
    assert p.load(io.StringIO("x")) == ("loaded", "x")
    with pytest.raises(NotImplementedError):
        JSONProvider(app).dumps(1)  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError):
        JSONProvider(app).loads("1")  # type: ignore[arg-type]


def test_provider_holds_app_weakly() -> None:
    app = FakeApp()
    p = app.json
    del app
    with pytest.raises(ReferenceError):
        p.response({})


def test_circular_and_unserializable_errors_match_flask(backend: str) -> None:
    loop: list[Any] = []
    loop.append(loop)
    ours, theirs = erlen_provider(), flask_provider()
    for value in (loop, {"x": {1, 2}}, {"p": Point(1, object())}):
        for kwargs in ({}, {"separators": (",", ":")}, {"indent": 2}):
            expected = outcome(functools.partial(theirs.dumps, value, **kwargs))
            assert isinstance(expected, tuple)
            assert outcome(functools.partial(ours.dumps, value, **kwargs)) == expected


def test_deep_nesting_dumps_matches_flask(backend: str) -> None:
    value: Any = "leaf"
    for _ in range(300):
        value = [value]
    ours, theirs = erlen_provider(), flask_provider()
    assert ours.response(value).data == theirs.response(value).get_data()


def test_other_dumps_arguments_are_passed_to_json(backend: str) -> None:
    p = erlen_provider()
    value = {"b": [1, 2], "a": "é"}
    assert p.dumps(value, indent="\t") == flask_provider().dumps(value, indent="\t")
    assert p.dumps(value, separators=[",", ":"]) == flask_provider().dumps(
        value, separators=[",", ":"]
    )
    assert p.dumps(value, sort_keys=False, separators=(",", ":")) == '{"b":[1,2],"a":"\\u00e9"}'
    assert p.dumps(value, indent=4) == json.dumps(value, indent=4, sort_keys=True)


# -- loads -------------------------------------------------------------------


LOADS_DOCS: list[str | bytes] = [
    '{"a": [1, 2.5, null, true]}',
    b'{"a": "\\u00e9"}',
    "123456789012345678901234567890",  # beyond 64 bits: orjson would make a float
    b"[18446744073709551616, -9223372036854775809]",
    '{"n": 1.5e300, "m": -0.0, "k": 1e999}',  # 1e999: inf for json, refused by orjson
    "NaN",
    '["\\ud800 lone surrogate"]',
    "\ufeff[1]",  # a byte-order mark json.loads rejects in text
    b"\xef\xbb\xbf[1]",  # and accepts in bytes
    '{"a": 1, "a": 2}',
    ' \t\n[ "é\U0001f600" , {} ]\r\n',
    "[1,]",
    '"raw \x01 control"',
    b'"\xff not utf-8"',
    "[" * 500 + "]" * 500,
]


@pytest.mark.parametrize("doc", LOADS_DOCS, ids=lambda d: repr(d)[:40])
def test_loads_matches_json(doc: str | bytes, backend: str) -> None:
    p = erlen_provider()
    expected = outcome(lambda: json.loads(doc))
    assert repr(outcome(lambda: p.loads(doc))) == repr(expected)
    assert repr(outcome(lambda: erlen.json.loads(doc))) == repr(expected)


def test_loads_takes_orjsons_result_for_plain_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    orjson = pytest.importorskip("orjson")
    seen: list[str | bytes] = []

    def spy(doc: str | bytes) -> Any:
        seen.append(doc)
        return orjson.loads(doc)

    monkeypatch.setattr(provider_module, "_orjson_loads", spy)
    assert erlen_provider().loads(b'{"name": "erlen", "count": 41}') == {
        "name": "erlen",
        "count": 41,
    }
    assert erlen_provider().loads("[12345678901234567890]") == [12345678901234567890]
    assert seen == [b'{"name": "erlen", "count": 41}']


@pytest.mark.parametrize("as_bytes", [False, True])
def test_loads_deep_nesting_is_a_value_error(as_bytes: bool) -> None:
    doc: str | bytes = "[" * 100_000 + "]" * 100_000
    if as_bytes:
        doc = doc.encode()
    with pytest.raises(ValueError, match="nested too deeply") as info:
        erlen_provider().loads(doc)
    assert isinstance(info.value, json.JSONDecodeError)
    with pytest.raises(ValueError, match="nested too deeply"):
        erlen.json.loads(doc)
    with pytest.raises(ValueError, match="nested too deeply"):
        erlen.json.load(io.StringIO(doc if isinstance(doc, str) else doc.decode()))


def test_loads_invalid_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        erlen_provider().loads("{'single': 'quotes'}")


def test_loads_passes_arguments() -> None:
    p = erlen_provider()
    assert p.loads('{"a": 1.5}', parse_float=decimal.Decimal) == {"a": decimal.Decimal("1.5")}
    assert p.load(io.BytesIO(b"[1]")) == [1]


# -- module functions ---------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [{"b": datetime.date(2020, 1, 1), "a": uuid.UUID(int=3)}, ["é", 1.5], Point(1, 2)],
    ids=repr,
)
def test_module_functions_without_app_match_flask(backend: str, value: Any) -> None:
    assert _cv_app.get(None) is None
    for kwargs in ({}, {"separators": (",", ":")}, {"indent": 2}, {"sort_keys": True}):
        assert erlen.json.dumps(value, **kwargs) == flask.json.dumps(value, **kwargs)
        ours, theirs = io.StringIO(), io.StringIO()
        erlen.json.dump(value, ours, **kwargs)
        flask.json.dump(value, theirs, **kwargs)
        assert ours.getvalue() == theirs.getvalue()


def test_module_functions_delegate_to_current_app() -> None:
    calls: list[tuple[str, Any]] = []

    class Recording(JSONProvider):
        def dumps(self, obj: Any, **kwargs: Any) -> str:
            calls.append(("dumps", kwargs))
            return "D"

        def loads(self, s: str | bytes, **kwargs: Any) -> Any:
            calls.append(("loads", kwargs))
            return "L"

        def response(self, *args: Any, **kwargs: Any) -> Any:
            calls.append(("response", (args, kwargs)))
            return "R"

    app = FakeApp()
    app.json = Recording(app)  # type: ignore[arg-type]
    with app_context(app):
        assert erlen.json.dumps(1, indent=3) == "D"
        out = io.StringIO()
        erlen.json.dump(1, out)
        assert out.getvalue() == "D"
        assert erlen.json.loads("1", parse_int=str) == "L"
        assert erlen.json.load(io.StringIO("1")) == "L"
        assert erlen.json.jsonify(1, 2) == "R"
        assert erlen.json.jsonify(a=1) == "R"
    assert calls == [
        ("dumps", {"indent": 3}),
        ("dumps", {}),
        ("loads", {"parse_int": str}),
        ("loads", {}),
        ("response", ((1, 2), {})),
        ("response", ((), {"a": 1})),
    ]


def test_jsonify_uses_app_settings() -> None:
    app = FakeApp(debug=True)
    with app_context(app):
        resp = erlen.json.jsonify({"b": 1, "a": [None]})
    assert resp.data == b'{\n  "a": [\n    null\n  ],\n  "b": 1\n}\n'
    assert resp.mimetype == "application/json"


def test_jsonify_outside_app_context_raises() -> None:
    with pytest.raises(RuntimeError, match="application context"):
        erlen.json.jsonify({"a": 1})


def test_jsonify_matches_flask_on_a_real_app() -> None:
    from erlen import Erlen

    value = {"when": datetime.datetime(2024, 5, 6, 7, 8, 9), "items": [1, 2.5, "ü"]}
    app, fapp = Erlen(__name__), flask.Flask(__name__)
    with app.app_context(), fapp.app_context():
        ours, theirs = erlen.json.jsonify(value), flask.json.jsonify(value)
        assert ours.get_data() == theirs.get_data()
        assert ours.mimetype == theirs.mimetype
        assert erlen.json.dumps(value) == flask.json.dumps(value)


def test_json_provider_class_defaults_to_the_default_provider(client: Any) -> None:
    """``Erlen.json_provider_class`` is ``DefaultJSONProvider``, as Flask's is its own.

    Extensions read it from the app (Flask-JWT-Extended takes its ``default`` to encode
    claims) and subclass it; a subclass set on an app class makes that app's ``app.json``.
    """
    from erlen import Erlen

    assert Erlen.json_provider_class is DefaultJSONProvider
    assert flask.Flask.json_provider_class is FlaskProvider
    assert Erlen.json_provider_class.default(decimal.Decimal("1.5")) == "1.5"

    class SetsAsLists(DefaultJSONProvider):
        @staticmethod
        def default(o: Any) -> Any:
            return sorted(o) if isinstance(o, set) else DefaultJSONProvider.default(o)

    class App(Erlen):
        json_provider_class = SetsAsLists

    app = App(__name__)
    assert type(app.json) is SetsAsLists
    app.get("/")(lambda: {"s": {2, 1}})
    assert client(app).get("/").get_data() == b'{"s":[1,2]}\n'
