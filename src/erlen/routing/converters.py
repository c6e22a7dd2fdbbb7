"""URL converters: the base class, the built-in converters and the default registry."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from werkzeug.routing import converters as _werkzeug

if TYPE_CHECKING:
    from .map import Map

# The WHATWG "path segment" and "query" percent-encode sets, as Werkzeug uses them, so URLs
# built here are byte-identical to Flask's.
_PATH_SAFE = "!$&'()*+,/:;=@"
_QUERY_SAFE = "!$'()*,/:;?@"
# Text that quote(text, safe=_PATH_SAFE) returns unchanged.
_PATH_SAFE_RE = re.compile(r"[A-Za-z0-9_.~!$&'()*+,/:;=@-]*")


class ValidationError(ValueError):
    """Signal from a converter that a value does not fit, so the rule does not match or build."""


class BaseConverter(_werkzeug.BaseConverter):
    """Turn one URL variable into a Python value and back.

    Subclasses set ``regex`` (what the variable matches in the URL), ``weight`` (lower is tried
    first among dynamic alternatives) and override :meth:`to_python` / :meth:`to_url`. The map
    constructs converters as ``cls(map, *args, **kwargs)`` with the arguments written in the rule.

    Each built-in converter also derives from Werkzeug's converter of the same name, so code
    that looks converters up by Werkzeug's classes (OpenAPI plugins walking ``__mro__``)
    recognises them; their behaviour is Erlen's own.
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
        self.map = map  # type: ignore[assignment]  # Erlen's Map, where Werkzeug's types its own

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


class UnicodeConverter(BaseConverter, _werkzeug.UnicodeConverter):
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
        else:
            # Werkzeug's spelling ("[^/]{1,}" by default), which OpenAPI plugins parse for
            # the bounds; the matcher still tests a plain segment without a regex.
            upper = "" if maxlength is None else str(int(maxlength))
            self.regex = f"[^/]{{{int(minlength)},{upper}}}"


class PathConverter(BaseConverter, _werkzeug.PathConverter):
    """Match the rest of the path, slashes included (but not starting with one)."""

    regex = "[^/].*?"
    weight = 200
    part_isolating = False


class AnyConverter(BaseConverter, _werkzeug.AnyConverter):
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


class _NumberConverter(BaseConverter, _werkzeug.NumberConverter):
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
        # Werkzeug types these as int; a float converter's bounds are floats there too.
        self.min = min  # type: ignore[assignment]
        self.max = max  # type: ignore[assignment]
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


class IntegerConverter(_NumberConverter, _werkzeug.IntegerConverter):
    """Match an unsigned (or, with ``signed=True``, signed) integer: ``<int(min=1):id>``."""

    regex = r"\d+"


class FloatConverter(_NumberConverter, _werkzeug.FloatConverter):
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


class UUIDConverter(BaseConverter, _werkzeug.UUIDConverter):
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
