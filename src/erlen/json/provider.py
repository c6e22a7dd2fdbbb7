"""JSON providers: the object behind ``app.json``, ``jsonify`` and JSON responses.

:class:`DefaultJSONProvider` produces exactly the bytes Flask's provider does.
When :mod:`orjson` is installed it is used for the two shapes responses need
(compact and two-space indented), but only for values where its output is known
to match :mod:`json` byte for byte; everything else takes the standard library
path, so the output never depends on whether orjson is present.
"""

from __future__ import annotations

import dataclasses
import decimal
import enum
import gc
import importlib
import json
import logging
import re
import uuid
import weakref
from collections.abc import Callable
from datetime import date
from typing import IO, TYPE_CHECKING, Any, AnyStr, cast

from werkzeug.http import http_date

from ..response import complete_response

if TYPE_CHECKING:
    from ..app import Erlen
    from ..response import Response


_log = logging.getLogger("erlen.json")

# What the provider uses of orjson; all there since orjson 3.9 (Fragment is the newest).
_ORJSON_NAMES = (
    "dumps",
    "loads",
    "JSONDecodeError",
    "Fragment",
    "OPT_APPEND_NEWLINE",
    "OPT_INDENT_2",
    "OPT_PASSTHROUGH_DATACLASS",
    "OPT_PASSTHROUGH_DATETIME",
    "OPT_PASSTHROUGH_SUBCLASS",
    "OPT_SORT_KEYS",
)
_PROBE = {"b": [1, "\u00e9", None, True, 0.5], "a": {}}


def _orjson_unusable(orjson: Any) -> str | None:
    """Say why ``orjson`` cannot serve the provider, or None when it can.

    A cheap check at import: the names the provider uses, and one document
    written and read back as :mod:`json` would.
    """
    missing = [name for name in _ORJSON_NAMES if not hasattr(orjson, name)]
    if missing:
        return f"it has no {', '.join(missing)} (erlen[speed] needs orjson>=3.9)"
    if not isinstance(orjson.Fragment, type):
        return "orjson.Fragment is not a type"
    error = orjson.JSONDecodeError
    if not (isinstance(error, type) and issubclass(error, ValueError)):
        return "orjson.JSONDecodeError is not a ValueError subclass"
    opt = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
    out = orjson.dumps(_PROBE, option=opt)
    expected = json.dumps(_PROBE, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    if out != expected.encode():
        return f"orjson.dumps wrote {out!r} for a probe document"
    out = orjson.dumps(date(2000, 1, 2), default=str, option=orjson.OPT_PASSTHROUGH_DATETIME)
    if out != b'"2000-01-02"':
        return f"orjson.dumps wrote {out!r} for a passed-through date"
    if orjson.loads(expected.encode()) != _PROBE:
        return "orjson.loads misread a probe document"
    return None


def _load_orjson() -> Any:
    """Return :mod:`orjson` if it is installed and works as the provider needs, else None.

    An optional speed-up must never break ``import erlen``: a missing, too old or
    broken orjson is left out (saying why at debug level on the ``erlen.json``
    logger) and :mod:`json` does all the work.
    """
    # Imported by name so that type checking does not require orjson.
    try:
        orjson = importlib.import_module("orjson")
    except ModuleNotFoundError as e:
        if e.name != "orjson":
            _log.debug("orjson is not used (the json module is): importing it failed: %s", e)
        else:
            _log.debug("orjson is not used (the json module is): it is not installed")
        return None
    except Exception as e:  # an ImportError from a broken build, or any error of its own
        _log.debug(
            "orjson is not used (the json module is): importing it failed: %s: %s",
            type(e).__name__,
            e,
        )
        return None
    try:
        reason = _orjson_unusable(orjson)
    except Exception as e:
        reason = f"checking it failed: {type(e).__name__}: {e}"
    if reason is not None:
        try:
            version = str(orjson.__version__)
        except Exception:
            version = "of unknown version"
        _log.debug("orjson %s is not used (the json module is): %s", version, reason)
        return None
    return orjson


_orjson = _load_orjson()
#: ``orjson.dumps`` when orjson is importable; tests may set this to None.
_orjson_dumps: Callable[..., bytes] | None = None if _orjson is None else _orjson.dumps
#: ``orjson.loads`` when orjson is importable; tests may set this to None.
_orjson_loads: Callable[[str | bytes], Any] | None = None if _orjson is None else _orjson.loads
_orjson_decode_error: type[Exception] = json.JSONDecodeError
if _orjson is not None:
    _orjson_decode_error = _orjson.JSONDecodeError
# Types orjson serializes natively although :mod:`json` would hand them to ``default``.
_orjson_native: tuple[type, ...] = (enum.Enum,)
_OPT_BASE = _OPT_SORT = _OPT_INDENT = _OPT_NEWLINE = 0
if _orjson is not None:
    _orjson_native = (enum.Enum, _orjson.Fragment)
    # Send every type json would not encode natively to our ``default`` hook.
    _OPT_BASE = (
        _orjson.OPT_PASSTHROUGH_DATACLASS
        | _orjson.OPT_PASSTHROUGH_DATETIME
        | _orjson.OPT_PASSTHROUGH_SUBCLASS
    )
    _OPT_SORT = _orjson.OPT_SORT_KEYS
    _OPT_INDENT = _orjson.OPT_INDENT_2
    _OPT_NEWLINE = _orjson.OPT_APPEND_NEWLINE

_COMPACT = (",", ":")
# First bytes of the byte-order marks json.loads recognises (UTF-8, UTF-16, UTF-32).
_BOM_STARTS = (b"\xef", b"\xfe", b"\xff")
_CONTAINERS = frozenset({dict, list, tuple})
_WALKABLE = frozenset({str, int, bool, type(None), float}) | _CONTAINERS
# orjson refuses to nest deeper than 254 levels.
_MAX_DEPTH = 256
_get_referents = gc.get_referents
# Runs of characters that ``ensure_ascii`` escapes: all non-ASCII, and DEL.
_NEEDS_ASCII_ESCAPE = re.compile("[^\x00-\x7e]+")
_escape_ascii: Callable[[str], str] = json.encoder.encode_basestring_ascii


def _escape_match(m: re.Match[str]) -> str:
    return _escape_ascii(m.group())[1:-1]


class _Fallback(Exception):
    """Raised inside the orjson ``default`` hook to request the stdlib path."""


def _default(o: Any) -> Any:
    """Convert a value :mod:`json` cannot encode, as Flask's provider does."""
    if isinstance(o, date):
        return http_date(o)
    if isinstance(o, (decimal.Decimal, uuid.UUID)):
        return str(o)
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    if hasattr(o, "__html__"):
        return str(o.__html__())
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def _float_ok(x: float) -> bool:
    # orjson and repr() agree on every finite float between 1e-4 and 1e16 (a
    # differential test checks millions); outside it the exponent notation
    # differs ("1e-7" vs "1e-07"), and orjson writes NaN/Infinity as null.
    a = abs(x)
    return (1e-4 <= a < 1e16) or a == 0.0


def _plain(obj: dict[Any, Any] | list[Any] | tuple[Any, ...], depth: int) -> bool:
    """Tell whether a small container holds only strings, ints, bools, None and such containers.

    PERF: a direct loop for what responses usually are; anything else (floats,
    other types, deep nesting) answers False and is left to the level walk.
    """
    for v in obj.values() if type(obj) is dict else obj:
        t = type(v)
        if t is str or t is int or t is bool or v is None:
            continue
        if (
            (t is dict or t is list or t is tuple)
            and depth < 8
            and len(v) <= 64
            and _plain(v, depth + 1)
        ):
            continue
        return False
    return True


def _scan(obj: Any, uuid_ok: bool) -> bool:
    """Tell whether orjson encodes the natively handled parts of ``obj`` as json does.

    Values orjson hands to the ``default`` hook are checked by the hook instead.
    """
    # PERF: the common response is a small dict or list of strings, ints, bools,
    # None and such containers; settle it with a direct loop.
    t = type(obj)
    if t is dict or t is list or t is tuple:
        if len(obj) <= 64 and _plain(obj, 0):
            return True
    elif t is str or t is int or t is bool or obj is None:
        return True
    # PERF: otherwise walk the structure one nesting level at a time. The type
    # check runs in C (set(map(type, ...))), and gc.get_referents() collects the
    # items of every list, tuple and dict of a level in one call; both are a
    # few times cheaper per value than a recursive Python walk.
    level: list[Any] = [obj]
    depth = 0
    while level:
        types = set(map(type, level))
        if float in types:
            for v in level:
                if type(v) is float and not _float_ok(v):
                    return False
        if not types <= _WALKABLE:
            for t in types - _WALKABLE:
                if issubclass(t, uuid.UUID):
                    # orjson writes str(uuid) itself: equal only for a plain
                    # UUID with the stock default.
                    if not uuid_ok or t is not uuid.UUID:
                        return False
                elif issubclass(t, _orjson_native):
                    return False
            # Other types reach the hook; do not walk into them.
            level = [v for v in level if type(v) in _CONTAINERS]
        depth += 1
        if depth > _MAX_DEPTH:
            # Deeper than orjson goes, or circular: leave it to json.
            return False
        level = _get_referents(*level)
    return True


class _Codec:
    """Encoders for one (default, ensure_ascii, sort_keys) combination."""

    __slots__ = (
        "_compact",
        "_indent",
        "_opts",
        "_plain",
        "_uuid_ok",
        "default",
        "ensure_ascii",
        "key",
    )

    def __init__(self, default: Callable[[Any], Any], ensure_ascii: bool, sort_keys: bool) -> None:
        self.key = (default, ensure_ascii, sort_keys)
        self.default = default
        self.ensure_ascii = ensure_ascii
        # Reusing encoder objects gives the output json.dumps() would, without
        # building a JSONEncoder on every call.
        common: dict[str, Any] = {
            "default": default,
            "ensure_ascii": ensure_ascii,
            "sort_keys": sort_keys,
        }
        self._plain = json.JSONEncoder(**common)
        self._compact = json.JSONEncoder(separators=_COMPACT, **common)
        self._indent = json.JSONEncoder(indent=2, **common)
        opt = _OPT_BASE | (_OPT_SORT if sort_keys else 0)
        # Indexed [indent][newline].
        self._opts = (
            (opt, opt | _OPT_NEWLINE),
            (opt | _OPT_INDENT, opt | _OPT_INDENT | _OPT_NEWLINE),
        )
        self._uuid_ok = getattr(default, "__func__", default) is _default

    def dumps(self, obj: Any, kwargs: dict[str, Any]) -> str:
        """Serialize ``obj`` like ``json.dumps(obj, **kwargs)`` with this codec's defaults."""
        if not kwargs:
            return self._plain.encode(obj)
        if len(kwargs) == 1:
            if kwargs.get("separators") == _COMPACT:
                out = self.encode(obj, False, False)
                return out if type(out) is str else out.decode()  # type: ignore[union-attr]
            indent = kwargs.get("indent")
            if type(indent) is int and indent == 2:
                out = self.encode(obj, True, False)
                return out if type(out) is str else out.decode()  # type: ignore[union-attr]
        kwargs.setdefault("default", self.default)
        kwargs.setdefault("ensure_ascii", self.ensure_ascii)
        kwargs.setdefault("sort_keys", self.key[2])
        return json.dumps(obj, **kwargs)

    def encode(self, obj: Any, indent: bool, newline: bool) -> str | bytes:
        """Serialize compactly or with two-space indent, as bytes when orjson could."""
        if _orjson_dumps is not None:
            try:
                if _scan(obj, self._uuid_ok):
                    out = _orjson_dumps(obj, default=self._hook, option=self._opts[indent][newline])
                    if not self.ensure_ascii or (out.isascii() and 127 not in out):
                        return out
                    # Outside strings the output is plain ASCII, so escaping each
                    # non-ASCII run with json's own escaper gives json's output.
                    text = _NEEDS_ASCII_ESCAPE.sub(_escape_match, out.decode())
                    return text.encode("ascii")
            except Exception:
                # Whatever orjson rejects (big ints, lone surrogates, non-str
                # keys, a failing ``default``) is left to json, which then
                # raises or succeeds exactly as Flask would.
                pass
        s = (self._indent if indent else self._compact).encode(obj)
        return s + "\n" if newline else s

    def encode_flat(self, obj: dict[str, Any]) -> str:
        """``encode(obj, False, False)`` as text, for a dict of strings, ints, bools and None.

        PERF: such values need no scan (orjson writes them as json does) and no
        ``default`` hook; what orjson refuses (a big int, a non-string key) goes to
        :meth:`encode`.
        """
        if _orjson_dumps is not None:
            try:
                out = _orjson_dumps(obj, option=self._opts[0][0])
            except Exception:
                pass
            else:
                if not self.ensure_ascii or (out.isascii() and 127 not in out):
                    return out.decode()
        text = self.encode(obj, False, False)
        return text if type(text) is str else text.decode()  # type: ignore[union-attr]

    def _hook(self, o: Any) -> Any:
        # Mirror json's encoder: builtin subclasses are encoded by their builtin
        # base, everything else goes through ``default``.
        if isinstance(o, str):
            return str.__str__(o)
        if isinstance(o, int):
            return int.__int__(o)
        if isinstance(o, float):
            f = float.__float__(o)
            if not _float_ok(f):
                raise _Fallback
            return f
        # json's C encoder reads list and tuple items directly, its Python
        # (indent) encoder iterates; they agree unless __iter__ is overridden.
        if isinstance(o, list):
            if type(o).__iter__ is not list.__iter__:
                raise _Fallback
            rv: Any = list(list.__iter__(o))
        elif isinstance(o, tuple):
            if type(o).__iter__ is not tuple.__iter__:
                raise _Fallback
            rv = list(tuple.__iter__(o))
        elif isinstance(o, dict):
            items = list(o.items())
            rv = dict(items)
            if len(rv) != len(items):
                raise _Fallback
            if not _scan(rv, self._uuid_ok):
                raise _Fallback
            return rv
        else:
            rv = self.default(o)
        if not _scan(rv, self._uuid_ok):
            raise _Fallback
        return rv


class JSONProvider:
    """Provide JSON operations for an app; subclass to use another JSON library.

    Implement at least :meth:`dumps` and :meth:`loads`. Set an instance on
    ``app.json``, or a subclass on ``Erlen.json_provider_class``.
    """

    #: The mimetype :meth:`response` sets.
    mimetype = "application/json"

    def __init__(self, app: Erlen) -> None:
        # A weak proxy, so the provider does not keep its app alive.
        self._app: Erlen = cast("Erlen", weakref.proxy(app))

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialize ``obj`` as a JSON string."""
        raise NotImplementedError

    def dump(self, obj: Any, fp: IO[str], **kwargs: Any) -> None:
        """Serialize ``obj`` as JSON and write it to the text file ``fp``."""
        fp.write(self.dumps(obj, **kwargs))

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Deserialize JSON from text or UTF-8 bytes."""
        raise NotImplementedError

    def load(self, fp: IO[AnyStr], **kwargs: Any) -> Any:
        """Deserialize JSON read from the file ``fp``."""
        return self.loads(fp.read(), **kwargs)

    def _prepare_response_obj(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if args:
            if kwargs:
                raise TypeError("app.json.response() takes either args or kwargs, not both")
            return args[0] if len(args) == 1 else args
        return kwargs or None

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """Return a JSON response for one value, several (a list) or keyword arguments (a dict)."""
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(self.dumps(obj), mimetype=self.mimetype)


class DefaultJSONProvider(JSONProvider):
    """Provide JSON with the output of Flask's default provider, faster.

    Besides the JSON types it serializes dates and datetimes (as HTTP dates),
    :class:`~decimal.Decimal` and :class:`~uuid.UUID` (as strings), dataclasses
    and objects with an ``__html__`` method.
    """

    #: Convert an object :mod:`json` cannot serialize, or raise ``TypeError``.
    default: Callable[[Any], Any] = staticmethod(_default)
    #: Escape non-ASCII characters in the output.
    ensure_ascii = True
    #: Sort the keys of every dict; keys must then be mutually comparable.
    sort_keys = True
    #: Compact responses when True, indented when False; None: indented in debug mode.
    compact: bool | None = None
    #: The mimetype :meth:`response` sets.
    mimetype = "application/json"

    _subclass_dumps = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # response() may skip dumps() only while it is ours.
        cls._subclass_dumps = cls.dumps is not DefaultJSONProvider.dumps

    def __init__(self, app: Erlen) -> None:
        super().__init__(app)
        self._codec = _Codec(self.default, self.ensure_ascii, self.sort_keys)

    def _get_codec(self) -> _Codec:
        # The settings may be changed on the instance or class at any time
        # (``app.json.sort_keys = False`` is documented Flask usage).
        codec = self._codec
        if codec.key != (self.default, self.ensure_ascii, self.sort_keys):
            codec = self._codec = _Codec(self.default, self.ensure_ascii, self.sort_keys)
        return codec

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialize ``obj`` like :func:`json.dumps`, defaulting ``default``,
        ``ensure_ascii`` and ``sort_keys`` to this provider's attributes."""
        return self._get_codec().dumps(obj, kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Deserialize JSON like :func:`json.loads`; too deep nesting is a ``ValueError``."""
        return _loads(s, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """Return a JSON response, indented if :attr:`compact` is False or None in debug mode.

        Either positional or keyword arguments may be given, not both; none
        serializes ``None``.
        """
        obj = self._prepare_response_obj(args, kwargs)
        compact = self.compact
        indent = compact is False or (compact is None and self._app.debug)
        if self._subclass_dumps:
            if indent:
                body: str | bytes = f"{self.dumps(obj, indent=2)}\n"
            else:
                body = f"{self.dumps(obj, separators=_COMPACT)}\n"
        else:
            body = self._get_codec().encode(obj, indent, True)
        return complete_response(self._app.response_class, body, self.mimetype)


_decoder = json.JSONDecoder()
# 19 digits in a row: a number orjson might not read as json does (it turns an integer
# beyond 64 bits into a float). Such documents take json's path.
_LONG_DIGITS_TEXT = re.compile(r"[0-9]{19}")
_LONG_DIGITS_BYTES = re.compile(rb"[0-9]{19}")


def _loads(s: str | bytes, **kwargs: Any) -> Any:
    """Call :func:`json.loads`, turning a ``RecursionError`` into a decode error.

    PERF: with orjson installed, a document it parses is taken from it (about a fifth
    of json's time on a small body); whatever it refuses (invalid JSON, NaN, a lone
    surrogate, a byte-order mark, nesting beyond 1,024 levels) and any long number go
    through :mod:`json`, so the result and the errors are json's. (json's own depth
    limit depends on the caller's stack, about 990 levels: orjson may read a document
    a few levels deeper that json would refuse.)
    """
    if not kwargs and _orjson_loads is not None:
        t = type(s)
        if (t is bytes and _LONG_DIGITS_BYTES.search(s) is None) or (  # type: ignore[arg-type]
            t is str and _LONG_DIGITS_TEXT.search(s) is None  # type: ignore[arg-type]
        ):
            try:
                return _orjson_loads(s)
            except _orjson_decode_error:
                pass
    try:
        if not kwargs:
            # PERF: a request body is UTF-8 bytes; decode it and call the decoder
            # directly, skipping json.loads' encoding detection. A BOM, a NUL
            # (UTF-16/32) or invalid UTF-8 is left to json.loads.
            if type(s) is bytes and s[:1] not in _BOM_STARTS and b"\x00" not in s[:4]:
                try:
                    text = s.decode("utf-8")
                except UnicodeDecodeError:
                    pass
                else:
                    return _decoder.decode(text)
            elif type(s) is str and not s.startswith("\ufeff"):
                return _decoder.decode(s)
        return json.loads(s, **kwargs)
    except RecursionError:
        doc = s if isinstance(s, str) else bytes(s).decode("utf-8", "replace")
        raise json.JSONDecodeError("JSON is nested too deeply", doc, 0) from None
