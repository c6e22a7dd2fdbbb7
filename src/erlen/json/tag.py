"""Tagged JSON: lossless JSON for the types a session holds beyond plain JSON.

A value JSON cannot represent is written as a one-key object whose key is a
tag, ``{" t": [1, 2]}`` for the tuple ``(1, 2)``. The tags and layout are the
ones Flask uses, so a session cookie written by a Flask app reads back here
and the other way round. The signed-cookie session uses this serializer;
register a :class:`JSONTag` subclass to support another type::

    class TagFrozenset(JSONTag):
        __slots__ = ()
        key = " fs"

        def check(self, value):
            return isinstance(value, frozenset)

        def to_json(self, value):
            return [self.serializer.tag(item) for item in value]

        def to_python(self, value):
            return frozenset(value)

    app.session_interface.serializer.register(TagFrozenset)
"""

from __future__ import annotations

from base64 import b64decode, b64encode
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from markupsafe import Markup
from werkzeug.http import http_date, parse_date

from . import _dumps_flat, _loads_plain, dumps


class JSONTag:
    """Describe how one type is tagged: subclass, set :attr:`key`, implement the methods."""

    __slots__ = ("serializer",)

    #: The tag written as the object key. Empty for helpers that only
    #: transform a value during tagging and are never looked up on loading.
    key: str = ""

    def __init__(self, serializer: TaggedJSONSerializer) -> None:
        """Bind the tag to the serializer that uses it."""
        self.serializer = serializer

    def check(self, value: Any) -> bool:
        """Return whether this tag handles ``value``."""
        raise NotImplementedError

    def to_json(self, value: Any) -> Any:
        """Convert ``value`` to a JSON-compatible value; the tag is added by :meth:`JSONTag.tag`."""
        raise NotImplementedError

    def to_python(self, value: Any) -> Any:
        """Convert the JSON value found under the tag back to the Python type."""
        raise NotImplementedError

    def tag(self, value: Any) -> Any:
        """Return ``value`` converted and wrapped in its tag object."""
        return {self.key: self.to_json(value)}


class TagDict(JSONTag):
    """Tag a one-item dict whose key is itself a tag, so it is not mistaken for one.

    The key is written with a ``__`` suffix that loading removes.
    """

    __slots__ = ()
    key = " di"

    def check(self, value: Any) -> bool:
        return (
            isinstance(value, dict)
            and len(value) == 1
            and next(iter(value)) in self.serializer.tags
        )

    def to_json(self, value: Any) -> Any:
        ((k, v),) = value.items()
        return {f"{k}__": self.serializer.tag(v)}

    def to_python(self, value: Any) -> Any:
        ((k, v),) = value.items()
        return {k[:-2]: v}


class PassDict(JSONTag):
    """Tag the values of a dict; the dict itself stays a JSON object."""

    __slots__ = ()

    def check(self, value: Any) -> bool:
        return isinstance(value, dict)

    def to_json(self, value: Any) -> Any:
        # JSON keys are always strings, so only the values need tagging.
        tag = self.serializer.tag
        return {k: tag(v) for k, v in value.items()}

    tag = to_json


class TagTuple(JSONTag):
    """Tag a tuple, written as a list."""

    __slots__ = ()
    key = " t"

    def check(self, value: Any) -> bool:
        return isinstance(value, tuple)

    def to_json(self, value: Any) -> Any:
        tag = self.serializer.tag
        return [tag(item) for item in value]

    def to_python(self, value: Any) -> Any:
        return tuple(value)


class PassList(JSONTag):
    """Tag the items of a list; the list itself stays a JSON array."""

    __slots__ = ()

    def check(self, value: Any) -> bool:
        return isinstance(value, list)

    def to_json(self, value: Any) -> Any:
        tag = self.serializer.tag
        return [tag(item) for item in value]

    tag = to_json


class TagBytes(JSONTag):
    """Tag bytes, written as base64."""

    __slots__ = ()
    key = " b"

    def check(self, value: Any) -> bool:
        return isinstance(value, bytes)

    def to_json(self, value: Any) -> Any:
        return b64encode(value).decode("ascii")

    def to_python(self, value: Any) -> Any:
        return b64decode(value)


class TagMarkup(JSONTag):
    """Tag anything with an ``__html__`` method by that HTML; loads as ``Markup``."""

    __slots__ = ()
    key = " m"

    def check(self, value: Any) -> bool:
        return callable(getattr(value, "__html__", None))

    def to_json(self, value: Any) -> Any:
        return str(value.__html__())

    def to_python(self, value: Any) -> Any:
        return Markup(value)


class TagUUID(JSONTag):
    """Tag a :class:`~uuid.UUID`, written as 32 hex digits."""

    __slots__ = ()
    key = " u"

    def check(self, value: Any) -> bool:
        return isinstance(value, UUID)

    def to_json(self, value: Any) -> Any:
        return value.hex

    def to_python(self, value: Any) -> Any:
        return UUID(value)


class TagDateTime(JSONTag):
    """Tag a :class:`~datetime.datetime`, written as an HTTP date (whole seconds, UTC)."""

    __slots__ = ()
    key = " d"

    def check(self, value: Any) -> bool:
        return isinstance(value, datetime)

    def to_json(self, value: Any) -> Any:
        return http_date(value)

    def to_python(self, value: Any) -> Any:
        return parse_date(value)


# Values no default tag touches; tag() returns them as they are.
_UNTAGGED: frozenset[type] = frozenset({str, int, float, bool, type(None)})
# Those that JSON encoders write alike, with no scan (float formatting differs).
_FLAT: frozenset[type] = frozenset({str, int, bool, type(None)})


class TaggedJSONSerializer:
    """Serialize to compact JSON, tagging dicts, tuples, bytes, Markup, UUIDs and datetimes.

    Used as the intermediate serializer of an :class:`itsdangerous.Serializer`.
    """

    __slots__ = ("_only_defaults", "order", "tags")

    #: Tag classes registered, in this order, on every new serializer.
    default_tags: ClassVar[list[type[JSONTag]]] = [
        TagDict,
        PassDict,
        TagTuple,
        PassList,
        TagBytes,
        TagMarkup,
        TagUUID,
        TagDateTime,
    ]

    def __init__(self) -> None:
        """Create a serializer with :attr:`default_tags` registered."""
        self.tags: dict[str, JSONTag] = {}
        self.order: list[JSONTag] = []
        for cls in self.default_tags:
            self.register(cls)
        self._only_defaults = [type(t) for t in self.order] == TaggedJSONSerializer.default_tags

    def register(
        self, tag_class: type[JSONTag], force: bool = False, index: int | None = None
    ) -> None:
        """Add an instance of ``tag_class``, at ``index`` in the checking order or last.

        Raise ``KeyError`` if its key is taken, unless ``force`` replaces the old tag.
        """
        tag = tag_class(self)
        key = tag.key
        if key:
            if key in self.tags and not force:
                raise KeyError(f"Tag '{key}' is already registered.")
            self.tags[key] = tag
        if index is None:
            self.order.append(tag)
        else:
            self.order.insert(index, tag)
        self._only_defaults = False

    def tag(self, value: Any) -> Any:
        """Return ``value`` in its tagged, JSON-compatible form."""
        # PERF: with only the default tags, plain scalars (most session values)
        # cannot match any tag, so skip asking each one.
        if self._only_defaults and type(value) in _UNTAGGED:
            return value
        for tag in self.order:
            if tag.check(value):
                return tag.tag(value)
        return value

    def untag(self, value: dict[str, Any]) -> Any:
        """Return the Python value for a tagged object, or the object if it is not tagged."""
        if len(value) != 1:
            return value
        key = next(iter(value))
        tag = self.tags.get(key)
        if tag is None:
            return value
        return tag.to_python(value[key])

    def _untag_scan(self, value: Any) -> Any:
        # Children first, so a tag's to_python() receives converted values.
        if isinstance(value, dict):
            return self.untag({k: self._untag_scan(v) for k, v in value.items()})
        if isinstance(value, list):
            return [self._untag_scan(item) for item in value]
        return value

    def _is_flat(self, value: dict[Any, Any], types: frozenset[type]) -> bool:
        """Tell whether tagging leaves the dict ``value`` as it is (and untagging too).

        True for a dict whose values are of ``types``, unless it has one key and that
        key is a tag's: what a session usually holds.
        """
        if len(value) == 1 and next(iter(value)) in self.tags:
            return False
        for item in value.values():
            if type(item) not in types:
                return False
        return True

    def dumps(self, value: Any) -> str:
        """Tag ``value`` and serialize it as compact JSON."""
        # PERF: a flat session dict needs no tagging (nor a scan of its values).
        if self._only_defaults and type(value) is dict and self._is_flat(value, _FLAT):
            return _dumps_flat(value)
        return dumps(self.tag(value), separators=(",", ":"))

    def loads(self, value: str | bytes) -> Any:
        """Parse JSON and turn tagged objects back into their Python types."""
        data = _loads_plain(value)
        # PERF: nothing to untag in a flat dict, whatever tags are registered.
        if type(data) is dict and self._is_flat(data, _UNTAGGED):
            return data
        return self._untag_scan(data)
