"""Tests for erlen.json.tag, checked against Flask's tagged serializer."""

from __future__ import annotations

import hashlib
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import flask
import pytest
from flask.json.tag import TaggedJSONSerializer as FlaskSerializer
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from markupsafe import Markup

from erlen.globals import _cv_app
from erlen.json.provider import DefaultJSONProvider
from erlen.json.tag import JSONTag, PassDict, TaggedJSONSerializer, TagTuple


class HTML:
    def __html__(self) -> str:
        return "<em>hi</em>"


NOW = datetime(2024, 3, 4, 5, 6, 7, tzinfo=timezone.utc)

VALUES: list[Any] = [
    "text",
    "é😀",
    0,
    -12,
    2**70,
    1.5,
    True,
    None,
    [1, "a", None],
    [],
    {},
    (),
    (1, (2, "x")),
    b"\x00\xffbytes",
    b"",
    Markup("<b>bold</b>"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    NOW,
    {" t": "looks like a tag"},
    {" di": {" t": [1]}},
    {"a": {" b": "x"}, "b": [(1, b"2"), {" m": 3}]},
    {"user_id": 42, "_flashes": [("message", "Saved")], "csrf": "abc", "_fresh": True},
    [{" u": "not really"}, {" d": 5}],
    # Flat dicts (what a session usually is) take a shorter way; the same text.
    {"count": 2},
    {"b": 1, "a": "é😀", "c": None, "d": True, "e": "\x7f<>&'\""},
    {"big": 2**70, "small": -(2**63) - 1},
    {"ratio": 0.1, "huge": 1e300, "tiny": 5e-324, "eps": 1e-07, "big": 1e16},
    {" t": 1},
    {" t": 1, " u": 2},
    {"_permanent": True, "user_id": "42", "_fresh": False},
]


class FakeApp:
    debug = False

    def __init__(self) -> None:
        self.json = DefaultJSONProvider(self)  # type: ignore[arg-type]


@contextmanager
def erlen_app_context() -> Iterator[None]:
    app = FakeApp()
    token = _cv_app.set(SimpleNamespace(app=app))  # type: ignore[arg-type]
    try:
        yield
    finally:
        _cv_app.reset(token)


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_round_trip(value: Any) -> None:
    s = TaggedJSONSerializer()
    assert s.loads(s.dumps(value)) == value


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_same_text_as_flask_without_app(value: Any) -> None:
    assert TaggedJSONSerializer().dumps(value) == FlaskSerializer().dumps(value)


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_same_text_as_flask_inside_app(value: Any) -> None:
    # Inside an app both go through the app's provider (sorted keys).
    with flask.Flask(__name__).app_context():
        expected = FlaskSerializer().dumps(value)
    with erlen_app_context():
        assert TaggedJSONSerializer().dumps(value) == expected


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_reads_what_flask_writes_and_back(value: Any) -> None:
    ours, theirs = TaggedJSONSerializer(), FlaskSerializer()
    assert ours.loads(theirs.dumps(value)) == value
    assert theirs.loads(ours.dumps(value)) == value


class SortlessProvider(DefaultJSONProvider):
    sort_keys = False


class ShoutingProvider(DefaultJSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return super().dumps(obj, **kwargs).upper()


FLAT = [{"b": 1, "a": "é", "c": None}, {"count": 2}, {1: "int key", 2: "x"}]


@pytest.mark.parametrize("value", FLAT, ids=repr)
@pytest.mark.parametrize(
    "setting", ["sort_keys=False", "ensure_ascii=False", "subclass", "dumps overridden"]
)
def test_flat_dicts_follow_the_apps_provider(value: Any, setting: str) -> None:
    # The short way for flat dicts must write what the app's provider writes.
    flask_app = flask.Flask(__name__)
    fake = FakeApp()
    if setting == "sort_keys=False":
        flask_app.json.sort_keys = False  # type: ignore[attr-defined]
        fake.json.sort_keys = False
    elif setting == "ensure_ascii=False":
        flask_app.json.ensure_ascii = False  # type: ignore[attr-defined]
        fake.json.ensure_ascii = False
    elif setting == "subclass":
        flask_app.json.sort_keys = False  # type: ignore[attr-defined]
        fake.json = SortlessProvider(fake)  # type: ignore[arg-type]
    with flask_app.app_context():
        expected = FlaskSerializer().dumps(value)
    if setting == "dumps overridden":
        expected = expected.upper()
        fake.json = ShoutingProvider(fake)  # type: ignore[arg-type]
    token = _cv_app.set(SimpleNamespace(app=fake))  # type: ignore[arg-type]
    try:
        assert TaggedJSONSerializer().dumps(value) == expected
    finally:
        _cv_app.reset(token)


def test_provider_methods_set_on_the_instance_are_used() -> None:
    fake = FakeApp()
    fake.json.dumps = lambda obj, **kwargs: "DUMPED"  # type: ignore[method-assign]
    fake.json.loads = lambda s, **kwargs: {"loaded": True}  # type: ignore[method-assign]
    token = _cv_app.set(SimpleNamespace(app=fake))  # type: ignore[arg-type]
    try:
        assert TaggedJSONSerializer().dumps({"count": 2}) == "DUMPED"
        assert TaggedJSONSerializer().loads('{"count": 2}') == {"loaded": True}
    finally:
        _cv_app.reset(token)


def test_types_survive() -> None:
    s = TaggedJSONSerializer()
    value = {"t": (1, 2), "b": b"x", "m": Markup("<i>"), "u": uuid.uuid4(), "d": NOW}
    back = s.loads(s.dumps(value))
    assert {k: type(v) for k, v in back.items()} == {k: type(v) for k, v in value.items()}


def test_wire_format() -> None:
    s = TaggedJSONSerializer()
    u = uuid.UUID(int=255)
    assert s.dumps((1, b"hi")) == '{" t":[1,{" b":"aGk="}]}'
    assert s.dumps({" t": 1}) == '{" di":{" t__":1}}'
    assert s.dumps(u) == '{" u":"000000000000000000000000000000ff"}'
    assert s.dumps(HTML()) == '{" m":"<em>hi</em>"}'
    assert s.dumps(NOW) == '{" d":"Mon, 04 Mar 2024 05:06:07 GMT"}'


def test_datetime_is_whole_seconds_in_utc() -> None:
    s = TaggedJSONSerializer()
    local = datetime(2024, 3, 4, 7, 6, 7, 999, tzinfo=timezone(timedelta(hours=2)))
    assert s.loads(s.dumps(local)) == NOW
    assert s.loads(s.dumps(local)).tzinfo == timezone.utc


def test_html_objects_load_as_markup() -> None:
    s = TaggedJSONSerializer()
    back = s.loads(s.dumps(HTML()))
    assert type(back) is Markup
    assert back == "<em>hi</em>"


def test_untag_leaves_untagged_objects() -> None:
    s = TaggedJSONSerializer()
    assert s.untag({"a": 1, "b": 2}) == {"a": 1, "b": 2}
    assert s.untag({"unknown": 1}) == {"unknown": 1}
    assert s.untag({" t": [1]}) == (1,)


def test_signed_cookies_interoperate_with_flask() -> None:
    app = flask.Flask(__name__)
    app.secret_key = "s3cret"
    flask_signer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert flask_signer is not None
    ours = URLSafeTimedSerializer(
        "s3cret",
        salt="cookie-session",
        serializer=TaggedJSONSerializer(),
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1},
    )
    session = {"user_id": 7, "cart": (1, 2), "token": b"\x01", "seen": NOW, "_flashes": []}
    with app.app_context():
        cookie = flask_signer.dumps(session)
    with erlen_app_context():
        assert ours.loads(cookie) == session
        mine = ours.dumps(session)
    with app.app_context():
        assert flask_signer.loads(mine) == session


class TagOrderedDict(JSONTag):
    __slots__ = ()
    key = " od"

    def check(self, value: Any) -> bool:
        return isinstance(value, OrderedDict)

    def to_json(self, value: Any) -> Any:
        return [[k, self.serializer.tag(v)] for k, v in value.items()]

    def to_python(self, value: Any) -> Any:
        return OrderedDict(value)


def test_register_custom_tag_before_dict() -> None:
    s = TaggedJSONSerializer()
    s.register(TagOrderedDict, index=0)
    value = OrderedDict([("b", (1,)), ("a", 2)])
    text = s.dumps(value)
    assert text == '{" od":[["b",{" t":[1]}],["a",2]]}'
    back = s.loads(text)
    assert type(back) is OrderedDict
    assert list(back.items()) == [("b", (1,)), ("a", 2)]
    # Appended last, a tag for a dict subclass is never reached.
    late = TaggedJSONSerializer()
    late.register(TagOrderedDict)
    assert late.dumps(value) == '{"b":{" t":[1]},"a":2}'


def test_custom_tag_can_claim_plain_strings() -> None:
    class TagAt(JSONTag):
        __slots__ = ()
        key = " @"

        def check(self, value: Any) -> bool:
            return isinstance(value, str) and value.startswith("@")

        def to_json(self, value: Any) -> Any:
            return value[1:]

        def to_python(self, value: Any) -> Any:
            return "@" + value

    s = TaggedJSONSerializer()
    s.register(TagAt, index=0)
    assert s.dumps(["@me", "you"]) == '[{" @":"me"},"you"]'
    assert s.loads(s.dumps(["@me", "you"])) == ["@me", "you"]


def test_register_duplicate_key() -> None:
    s = TaggedJSONSerializer()
    with pytest.raises(KeyError, match="' t' is already registered"):
        s.register(TagTuple)

    class ListTuple(TagTuple):
        __slots__ = ()

        def to_python(self, value: Any) -> Any:
            return list(value)

    s.register(ListTuple, force=True)
    assert s.loads(s.dumps((1, 2))) == [1, 2]
    # Keyless tags are only added to the order.
    before = dict(s.tags)
    s.register(PassDict)
    assert s.tags == before


def test_default_tag_order_matches_flask() -> None:
    assert [c.__name__ for c in TaggedJSONSerializer.default_tags] == [
        c.__name__ for c in FlaskSerializer.default_tags
    ]
    assert sorted(TaggedJSONSerializer().tags) == sorted(FlaskSerializer().tags)


def test_base_tag_is_abstract() -> None:
    tag = JSONTag(TaggedJSONSerializer())
    for method in (tag.check, tag.to_json, tag.to_python):
        with pytest.raises(NotImplementedError):
            method(1)
