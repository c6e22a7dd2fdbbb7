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

Werkzeug's routing API is answered too, for code written against it: :meth:`Map.add` takes
Werkzeug's rules and rule factories (``Submount``, ``EndpointPrefix``, ...) and turns them into
Erlen rules, and :meth:`Map.bind` / :meth:`Map.bind_to_environ` return a :class:`MapAdapter`.

The modules, each importing at run time only those listed before it: ``exceptions``,
``converters``, ``rules`` (rule parsing and :class:`Rule`), ``matcher`` (the trie and its walk),
``adapter`` (:class:`MapAdapter`) and ``map`` (:class:`Map`: matching and building). Import the
public names from here.
"""

from __future__ import annotations

from werkzeug.exceptions import MethodNotAllowed as MethodNotAllowed
from werkzeug.exceptions import NotFound as NotFound

from .adapter import MapAdapter as MapAdapter
from .converters import DEFAULT_CONVERTERS as DEFAULT_CONVERTERS
from .converters import AnyConverter as AnyConverter
from .converters import BaseConverter as BaseConverter
from .converters import FloatConverter as FloatConverter
from .converters import IntegerConverter as IntegerConverter
from .converters import PathConverter as PathConverter
from .converters import UnicodeConverter as UnicodeConverter
from .converters import UUIDConverter as UUIDConverter
from .converters import ValidationError as ValidationError
from .exceptions import BuildError as BuildError
from .exceptions import RequestRedirect as RequestRedirect
from .exceptions import RoutingException as RoutingException
from .map import Map as Map
from .rules import Rule as Rule

__all__ = [
    "DEFAULT_CONVERTERS",
    "AnyConverter",
    "BaseConverter",
    "BuildError",
    "FloatConverter",
    "IntegerConverter",
    "Map",
    "MapAdapter",
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
