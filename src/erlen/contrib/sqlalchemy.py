"""SQLAlchemy 2.x for Erlen apps, with the API Flask-SQLAlchemy users know.

``db = SQLAlchemy(app)`` gives an engine built from ``SQLALCHEMY_DATABASE_URI``
(a SQLite file ``app.db`` in the instance folder by default), a declarative base
``db.Model``, a session ``db.session`` that belongs to the current app context and
is removed when the context ends (rolled back first when it ends with an error),
the ``get_or_404`` / ``first_or_404`` / ``one_or_404`` / ``paginate`` helpers, and
``erlen db create`` / ``erlen db drop``.

Async views use ``db.async_session``: an ``AsyncSession`` on an async engine derived
from the same URI (``sqlite`` -> ``sqlite+aiosqlite``, ``postgresql`` ->
``postgresql+asyncpg`` or async psycopg, ``mysql`` -> ``mysql+aiomysql`` or asyncmy),
also scoped to the app context and closed at teardown. There is one async engine per
event loop: the server's loop under ASGI, each worker thread's loop under WSGI.

MySQL and MariaDB URLs get ``charset=utf8mb4`` and ``pool_recycle=7200`` unless they
say otherwise, as with Flask-SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import re
import types
import weakref
from collections.abc import Callable, Coroutine, Iterator, Mapping
from math import ceil
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

import click
import sqlalchemy as sa
import sqlalchemy.event
import sqlalchemy.exc
import sqlalchemy.ext.asyncio as sa_async
import sqlalchemy.orm as sa_orm

from ..cli import AppGroup
from ..globals import app_ctx, get_app_context, get_request_context
from ..helpers import abort
from . import LoopLocal, close_per_loop

if TYPE_CHECKING:
    from ..app import Erlen

_O = TypeVar("_O")

#: What ``SQLALCHEMY_DATABASE_URI`` defaults to, relative to the instance folder.
DEFAULT_DATABASE = "app.db"


# -- sessions --------------------------------------------------------------------------------


def _get_or_404(session: Any, entity: Any, ident: Any, description: str | None) -> Any:
    """``session.get(entity, ident)``, or 404 when there is no such row.

    A key out of the column's range (SQLite's driver raises ``OverflowError``,
    PostgreSQL a ``DataError`` that also aborts the transaction, rolled back here)
    cannot name a row either: a 404, not a 500.
    """
    try:
        value = session.get(entity, ident)
    except (OverflowError, sa.exc.DataError, sa.exc.DBAPIError) as e:
        if not _out_of_range(e):
            raise
        session.rollback()
        value = None
    if value is None:
        abort(404, description=description)
    return value


def _out_of_range(e: BaseException) -> bool:
    """Whether a failed lookup failed because its key is out of the column's range."""
    if isinstance(e, (OverflowError, sa.exc.DataError)):
        return True
    # asyncpg reports it as an error of the query's argument, before the query runs.
    cause = getattr(e, "orig", None) or e.__cause__
    text = str(cause or e).lower()
    return isinstance(cause, OverflowError) or "out of range" in text


class Session(sa_orm.Session):
    """The ORM session behind ``db.session``: bound to the current app's engine."""

    def __init__(self, db: SQLAlchemy, **kwargs: Any) -> None:
        if kwargs.get("bind") is None:  # sessionmaker passes bind=None
            kwargs["bind"] = db.engine
        super().__init__(**kwargs)
        self._erlen_db = db


class AsyncSession(sa_async.AsyncSession):
    """The session behind ``db.async_session``: bound to this loop's async engine."""

    def __init__(self, db: SQLAlchemy, **kwargs: Any) -> None:
        if kwargs.get("bind") is None:
            kwargs["bind"] = db.async_engine
        super().__init__(**kwargs)
        self._erlen_db = db


def _app_ctx_scope() -> object:
    """Key sessions by the current app context object (not its ``id``, which is reused)."""
    # Outside an app context the proxy raises Flask's "outside of application context" error.
    ctx: object = app_ctx._get_current_object()  # type: ignore[attr-defined]
    return ctx


# -- pagination --------------------------------------------------------------------------------


def _page_args(
    page: int | None, per_page: int | None, max_per_page: int | None, error_out: bool
) -> tuple[int, int]:
    """Resolve ``page`` and ``per_page``: arguments, else the query string, else 1 and 20."""
    req_ctx = get_request_context()
    args = req_ctx.request.args if req_ctx is not None else None

    def from_args(name: str, explicit: int | None, default: int) -> int:
        if explicit is not None:
            return explicit
        if args is None:
            return default
        try:
            return int(args.get(name, default))
        except (TypeError, ValueError):
            if error_out:
                abort(404)
            return default

    page = from_args("page", page, 1)
    per_page = from_args("per_page", per_page, 20)
    if max_per_page is not None:
        per_page = min(per_page, max_per_page)
    if page < 1:
        if error_out:
            abort(404)
        page = 1
    if per_page < 1:
        if error_out:
            abort(404)
        per_page = 20
    return page, per_page


class Pagination:
    """One page of results: ``items`` plus what a page navigation widget needs.

    Made by :meth:`SQLAlchemy.paginate` (or ``Model.query.paginate``); iterating
    over it iterates over ``items``.
    """

    def __init__(
        self,
        *,
        items: list[Any],
        page: int,
        per_page: int,
        total: int | None,
        max_per_page: int | None = None,
        fetch: Callable[[int, int, bool], Pagination] | None = None,
    ) -> None:
        #: The items on this page.
        self.items = items
        #: The current page number, from 1.
        self.page = page
        #: The maximum number of items on a page.
        self.per_page = per_page
        #: The number of items on all pages (None when counting was turned off).
        self.total = total
        #: The cap that was applied to ``per_page``.
        self.max_per_page = max_per_page
        self._fetch = fetch

    @property
    def pages(self) -> int:
        """Return the number of pages (0 when there is nothing)."""
        if not self.total:
            return 0
        return ceil(self.total / self.per_page)

    @property
    def first(self) -> int:
        """Return the 1-based number of the first item on this page (0 when empty)."""
        return (self.page - 1) * self.per_page + 1 if self.items else 0

    @property
    def last(self) -> int:
        """Return the 1-based number of the last item on this page (0 when empty)."""
        return self.first + len(self.items) - 1 if self.items else 0

    @property
    def has_prev(self) -> bool:
        """Tell whether a previous page exists."""
        return self.page > 1

    @property
    def has_next(self) -> bool:
        """Tell whether a next page exists."""
        return self.page < self.pages

    @property
    def prev_num(self) -> int | None:
        """Return the previous page number, or None on the first page."""
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        """Return the next page number, or None on the last page."""
        return self.page + 1 if self.has_next else None

    def prev(self, *, error_out: bool = False) -> Pagination:
        """Query the previous page."""
        return self._neighbour(self.page - 1, error_out)

    def next(self, *, error_out: bool = False) -> Pagination:
        """Query the next page."""
        return self._neighbour(self.page + 1, error_out)

    def _neighbour(self, page: int, error_out: bool) -> Pagination:
        if self._fetch is None:
            raise RuntimeError("This pagination was not made from a query.")
        other = self._fetch(page, self.per_page, error_out)
        other.total = self.total
        return other

    def iter_pages(
        self,
        *,
        left_edge: int = 2,
        left_current: int = 2,
        right_current: int = 4,
        right_edge: int = 2,
    ) -> Iterator[int | None]:
        """Yield the page numbers to show in a widget, with None where pages are skipped.

        With 20 pages on page 7: ``1, 2, None, 5, 6, 7, 8, 9, 10, 11, None, 19, 20``.
        A trailing None means that pages after the last number are skipped.
        """
        pages = self.pages
        shown = [
            n
            for n in range(1, pages + 1)
            if n <= left_edge
            or self.page - left_current <= n <= self.page + right_current
            or n > pages - right_edge
        ]
        previous = 0
        for n in shown:
            if n > previous + 1:
                yield None
            yield n
            previous = n
        if previous < pages:
            yield None

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __repr__(self) -> str:
        return f"<Pagination page={self.page} per_page={self.per_page} total={self.total}>"


# -- the legacy query API (Model.query) ---------------------------------------------------------


class Query(sa_orm.Query[_O]):
    """``Model.query``: SQLAlchemy's legacy query with the ``*_or_404`` helpers and paging."""

    def get_or_404(self, ident: Any, description: str | None = None) -> _O:
        """Return the row with this primary key, or end the request with 404."""
        # Session.get(): Query.get() is deprecated in SQLAlchemy 2.
        entity: Any = self.column_descriptions[0]["entity"]
        return cast("_O", _get_or_404(self.session, entity, ident, description))

    def first_or_404(self, description: str | None = None) -> _O:
        """Return the first result, or end the request with 404."""
        rv = self.first()
        if rv is None:
            abort(404, description=description)
        return rv

    def one_or_404(self, description: str | None = None) -> _O:
        """Return the only result, or end the request with 404 (none or several)."""
        try:
            return self.one()
        except (sa.exc.NoResultFound, sa.exc.MultipleResultsFound):
            abort(404, description=description)

    def paginate(
        self,
        *,
        page: int | None = None,
        per_page: int | None = None,
        max_per_page: int | None = None,
        error_out: bool = True,
        count: bool = True,
    ) -> Pagination:
        """Return one page of results (see :meth:`SQLAlchemy.paginate`)."""
        page, per_page = _page_args(page, per_page, max_per_page, error_out)

        def fetch(page: int, per_page: int, error_out: bool) -> Pagination:
            return self.paginate(
                page=page,
                per_page=per_page,
                max_per_page=max_per_page,
                error_out=error_out,
                count=False,
            )

        items = self.limit(per_page).offset((page - 1) * per_page).all()
        if not items and page != 1 and error_out:
            abort(404)
        total = self.order_by(None).count() if count else None
        return Pagination(
            items=items,
            page=page,
            per_page=per_page,
            total=total,
            max_per_page=max_per_page,
            fetch=fetch,
        )


class _QueryProperty:
    """``Model.query``: a query on the model in the current app context's session."""

    def __get__(self, obj: object, cls: Any) -> Any:
        return cls.query_class(cls, session=cls.__fsa__.session())


# -- the model base -----------------------------------------------------------------------------

_camel_boundary = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def camel_to_snake_case(name: str) -> str:
    """Turn a class name into a table name: ``UserProfile`` -> ``user_profile``."""
    return _camel_boundary.sub("_", name).lower()


def _declares_primary_key(namespace: Mapping[str, Any]) -> bool:
    for value in namespace.values():
        column = value.column if isinstance(value, sa_orm.MappedColumn) else value
        if isinstance(column, sa.Column) and column.primary_key:
            return True
    return False


def _wants_tablename(cls: type) -> bool:
    """Tell whether a model class needs a generated ``__tablename__``.

    Abstract classes, the base itself and classes that name their table don't. A
    subclass of a mapped model gets its own table only when it declares its own
    primary key (joined inheritance); otherwise it shares its parent's (single table).
    """
    d = cls.__dict__
    if d.get("__abstract__", False) or "__tablename__" in d or "__table__" in d:
        return False
    if any(
        base in cls.__bases__ for base in (sa_orm.DeclarativeBase, sa_orm.DeclarativeBaseNoMeta)
    ):
        return False
    parent_has_table = any(getattr(base, "__table__", None) is not None for base in cls.__mro__[1:])
    return not parent_has_table or _declares_primary_key(d)


class _NameTables:
    """Give each model a ``__tablename__`` from its class name (before it is mapped)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if _wants_tablename(cls):
            setattr(cls, "__tablename__", camel_to_snake_case(cls.__name__))
        super().__init_subclass__(**kwargs)


class Model:
    """What every ``db.Model`` subclass gets: ``query`` and a readable ``repr``."""

    #: The :class:`SQLAlchemy` object the model belongs to.
    __fsa__: ClassVar[SQLAlchemy]
    #: The class of ``Model.query``.
    query_class: ClassVar[type[Query[Any]]] = Query
    #: A legacy query on this model in the current session (``User.query.get_or_404(1)``).
    query: ClassVar[Query[Any]] = _QueryProperty()  # type: ignore[assignment]

    def __repr__(self) -> str:
        state = sa.inspect(self)
        if state.transient:
            key = f"(transient {id(self)})"
        elif state.pending:
            key = f"(pending {id(self)})"
        else:
            identity = state.identity or ()
            key = ", ".join(str(v) for v in identity)
        return f"<{type(self).__name__} {key}>"


# -- engines ------------------------------------------------------------------------------------


def _is_memory_sqlite(url: sa.URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _engine_options(app: Erlen, base: Mapping[str, Any]) -> tuple[sa.URL, dict[str, Any]]:
    """Return the URL and ``create_engine`` options an app's config asks for."""
    config = app.config
    uri = config.get("SQLALCHEMY_DATABASE_URI") or f"sqlite:///{DEFAULT_DATABASE}"
    url = sa.make_url(uri)
    options = {**base, **(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})}
    if config.get("SQLALCHEMY_ECHO"):
        options.setdefault("echo", True)
    if url.get_backend_name() == "sqlite":
        if _is_memory_sqlite(url):
            # One shared connection: a sync view under ASGI runs in a worker thread and
            # must see the same in-memory database as everything else.
            options.setdefault("poolclass", sa.pool.StaticPool)
            connect_args = dict(options.get("connect_args") or {})
            connect_args.setdefault("check_same_thread", False)
            options["connect_args"] = connect_args
        elif not url.query.get("uri") and not os.path.isabs(url.database or ""):
            os.makedirs(app.instance_path, exist_ok=True)
            url = url.set(database=os.path.join(app.instance_path, url.database or ""))
    elif url.get_backend_name() in ("mysql", "mariadb"):
        # As Flask-SQLAlchemy does. The server closes connections idle for longer than its
        # wait_timeout (8 hours by default), and a pooled one then fails its next query
        # ("server has gone away"): replace them after 2 hours.
        if options.get("poolclass") in (None, sa.pool.QueuePool, sa.pool.AsyncAdaptedQueuePool):
            options.setdefault("pool_recycle", 7200)
        # MySQL's "utf8" holds 3 bytes per character at most: no emoji. Some drivers
        # (mysqlclient) take the client library's default otherwise.
        if "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
    return url, options


#: Async drivers to try for a backend whose URL names a sync driver, best first.
_ASYNC_DRIVERS: dict[str, tuple[tuple[str, str], ...]] = {
    "sqlite": (("aiosqlite", "aiosqlite"),),
    "postgresql": (("asyncpg", "asyncpg"), ("psycopg", "psycopg")),
    "mysql": (("aiomysql", "aiomysql"), ("asyncmy", "asyncmy")),
    "mariadb": (("aiomysql", "aiomysql"), ("asyncmy", "asyncmy")),
}
#: Drivers that are async already (psycopg 3 serves sync and async under one name).
_ASYNC_CAPABLE = {"aiosqlite", "asyncpg", "psycopg", "aiomysql", "asyncmy", "oracledb_async"}


def async_url(url: sa.URL) -> sa.URL:
    """Return the async form of a database URL (``sqlite`` -> ``sqlite+aiosqlite``)."""
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if "+" in url.drivername and driver in _ASYNC_CAPABLE:
        return url
    for module, name in _ASYNC_DRIVERS.get(backend, ()):
        if importlib.util.find_spec(module) is not None:
            return url.set(drivername=f"{backend}+{name}")
    raise RuntimeError(
        f"No async driver found for {url.drivername!r}. Install one (aiosqlite, asyncpg,"
        " psycopg, aiomysql) or set SQLALCHEMY_ASYNC_DATABASE_URI."
    )


#: Pool classes an async engine can use as well (others get the async default).
_ASYNC_SAFE_POOLS = (sa.pool.NullPool, sa.pool.StaticPool, sa.pool.AsyncAdaptedQueuePool)


class _State:
    """What :class:`SQLAlchemy` keeps per app: the engine, and the async engine per loop."""

    def __init__(self, db: SQLAlchemy, app: Erlen) -> None:
        self.url, options = _engine_options(app, db._engine_options)
        self.engine = sa.create_engine(self.url, **options)
        config = app.config
        async_uri = config.get("SQLALCHEMY_ASYNC_DATABASE_URI")
        self._async_url = sa.make_url(async_uri) if async_uri else None
        async_options = dict(options)
        poolclass = async_options.get("poolclass")
        if poolclass is not None and not issubclass(poolclass, _ASYNC_SAFE_POOLS):
            del async_options["poolclass"]  # QueuePool cannot serve an async engine
        async_options.update(config.get("SQLALCHEMY_ASYNC_ENGINE_OPTIONS") or {})
        self._async_options = async_options
        self.async_engines: LoopLocal[sa_async.AsyncEngine] = LoopLocal(self._make_async_engine)
        _states.add(self)

    def _make_async_engine(self) -> sa_async.AsyncEngine:
        url = self._async_url or async_url(self.url)
        engine = sa_async.create_async_engine(url, **self._async_options)
        _dispose_at_exit()
        return engine


_states: weakref.WeakSet[_State] = weakref.WeakSet()
_exit_hook: list[bool] = []


def _dispose_at_exit() -> None:
    """Register :func:`_dispose_async_engines` once, when the first async engine is made.

    atexit runs hooks last-registered first: registered now, after whatever started the
    engine's loop (a test client's loop thread stops itself at exit), it runs while that
    loop still runs.
    """
    if not _exit_hook:
        _exit_hook.append(True)
        atexit.register(_dispose_async_engines)


def _dispose_async_engines() -> None:
    """Close pooled async connections while their loops still exist.

    A loop running in another thread gets a bounded wait: left to the garbage collector
    after its loop closed, aiomysql's connections complain ("Event loop is closed").
    """
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for state in list(_states):
        for loop, engine in state.async_engines.items():
            if loop.is_running() and loop is not running:
                state.async_engines.discard(loop)
                future = asyncio.run_coroutine_threadsafe(engine.dispose(), loop)
                try:
                    future.result(timeout=5)
                except Exception:  # exiting: a failed close is no error to report
                    future.cancel()
        close_per_loop(state.async_engines, lambda engine: engine.dispose())


# -- the extension ------------------------------------------------------------------------------


class SQLAlchemy:
    """Integrate SQLAlchemy with one or more apps: ``db = SQLAlchemy(app)``.

    ``model_class`` may be a ``DeclarativeBase`` subclass of your own (it becomes
    ``db.Model``'s base) or a plain mixin class. ``engine_options`` are defaults for
    ``create_engine`` that ``SQLALCHEMY_ENGINE_OPTIONS`` overrides; ``session_options``
    go to the session factory (``async_session_options`` to the async one, which
    defaults to ``expire_on_commit=False`` so that attributes stay readable after a
    commit without I/O).

    Names of ``sqlalchemy`` and ``sqlalchemy.orm`` are reachable as attributes
    (``db.Column``, ``db.select``, ``db.relationship``), as in Flask-SQLAlchemy.
    """

    def __init__(
        self,
        app: Erlen | None = None,
        *,
        metadata: sa.MetaData | None = None,
        model_class: type[Any] | None = None,
        query_class: type[Query[Any]] = Query,
        engine_options: Mapping[str, Any] | None = None,
        session_options: Mapping[str, Any] | None = None,
        async_session_options: Mapping[str, Any] | None = None,
        add_models_to_shell: bool = True,
    ) -> None:
        self._engine_options = dict(engine_options or {})
        self._add_models_to_shell = add_models_to_shell
        #: The class of ``Model.query``.
        self.Query = query_class
        #: The declarative base for models: ``class User(db.Model): ...``.
        self.Model: type[Any] = self._make_model(model_class, metadata, query_class)
        #: The metadata all models (and :meth:`Table`) register their tables in.
        self.metadata: sa.MetaData = self.Model.metadata
        factory = sa_orm.sessionmaker(class_=Session, db=self, **(session_options or {}))
        #: The ORM session of the current app context (removed when the context ends).
        self.session: sa_orm.scoped_session[Session] = sa_orm.scoped_session(
            factory, scopefunc=_app_ctx_scope
        )
        async_options = {"expire_on_commit": False, **(async_session_options or {})}
        async_factory = sa_async.async_sessionmaker(class_=AsyncSession, db=self, **async_options)
        #: The async session of the current app context, for async views (closed at teardown).
        self.async_session: sa_async.async_scoped_session[AsyncSession] = (
            sa_async.async_scoped_session(async_factory, scopefunc=_app_ctx_scope)
        )
        if app is not None:
            self.init_app(app)

    def _make_model(
        self,
        model_class: type[Any] | None,
        metadata: sa.MetaData | None,
        query_class: type[Query[Any]],
    ) -> type[Any]:
        namespace: dict[str, Any] = {"__fsa__": self, "query_class": query_class}
        bases: tuple[type, ...]
        if model_class is not None and issubclass(
            model_class, (sa_orm.DeclarativeBase, sa_orm.DeclarativeBaseNoMeta)
        ):
            if metadata is not None:
                raise ValueError("Pass metadata on your DeclarativeBase, not to SQLAlchemy().")
            namespace["__abstract__"] = True
            bases = (_NameTables, model_class, Model)
        else:
            if metadata is not None:
                namespace["metadata"] = metadata
            mixins = (model_class,) if model_class is not None else ()
            bases = (_NameTables, *mixins, Model, sa_orm.DeclarativeBase)
        return types.new_class("Model", bases, {}, lambda ns: ns.update(namespace))

    def init_app(self, app: Erlen) -> None:
        """Set up the engine for ``app`` from its config, and register teardown and commands."""
        if "sqlalchemy" in app.extensions:
            raise RuntimeError("A SQLAlchemy instance is already registered on this app.")
        app.extensions["sqlalchemy"] = _State(self, app)
        app.teardown_appcontext(self._teardown)
        app.after_serving(self._after_serving)
        if "db" not in app.cli.commands:
            app.cli.add_command(self._make_cli())
        if self._add_models_to_shell:
            app.shell_context_processor(self._shell_context)

    # -- state ------------------------------------------------------------------------------

    def _state(self) -> _State:
        state = app_ctx.app.extensions.get("sqlalchemy")
        if state is None:
            raise RuntimeError(
                "The current app is not registered with this SQLAlchemy instance."
                " Did you forget to call 'db.init_app(app)'?"
            )
        return cast(_State, state)

    @property
    def engine(self) -> sa.Engine:
        """The current app's engine."""
        return self._state().engine

    @property
    def async_engine(self) -> sa_async.AsyncEngine:
        """The current app's async engine for the running event loop."""
        return self._state().async_engines.get()

    # -- teardown ---------------------------------------------------------------------------

    def _teardown(self, exc: BaseException | None) -> Coroutine[Any, Any, None] | None:
        """End the context's sessions: roll back on an error, then close.

        An async session is closed by the returned coroutine, which the app awaits
        (on the server's loop under ASGI). A context that used no async session costs
        no coroutine.
        """
        scoped = self.session
        if scoped.registry.has():
            try:
                if exc is not None:
                    scoped.rollback()
            finally:
                scoped.remove()
        async_scoped = self.async_session
        if async_scoped.registry.has():
            session = async_scoped.registry()
            async_scoped.registry.clear()
            return _close_async_session(session, exc)
        return None

    async def _after_serving(self) -> None:
        """Dispose of the async engine's pool for the server's loop at shutdown."""
        state = self._state()
        engine = state.async_engines.peek()
        if engine is not None:
            import asyncio

            state.async_engines.discard(asyncio.get_running_loop())
            await engine.dispose()

    def dispose(self) -> None:
        """Close every pooled connection of the current app's engines (sync and async).

        The current context's session is removed first, so it cannot use a closed
        connection at teardown.
        """
        state = self._state()
        if self.session.registry.has():
            self.session.remove()
        state.engine.dispose()
        close_per_loop(state.async_engines, lambda engine: engine.dispose())

    # -- schema -----------------------------------------------------------------------------

    def Table(self, name: str, *args: Any, **kwargs: Any) -> sa.Table:
        """Define a table in :attr:`metadata` (``db.Table("tags", db.Column(...))``)."""
        return sa.Table(name, self.metadata, *args, **kwargs)

    def create_all(self) -> None:
        """Create the tables that don't exist yet (in an app context)."""
        self.metadata.create_all(bind=self.engine)

    def drop_all(self) -> None:
        """Drop every table of the models (in an app context)."""
        self.metadata.drop_all(bind=self.engine)

    # -- query helpers ----------------------------------------------------------------------

    def get_or_404(self, entity: type[_O], ident: Any, *, description: str | None = None) -> _O:
        """Return the row with this primary key, or end the request with 404.

        A key the database cannot even store (an id past 64 bits from the URL) is a 404
        too, not a database error.
        """
        return cast("_O", _get_or_404(self.session, entity, ident, description))

    def first_or_404(self, statement: sa.Select[Any], *, description: str | None = None) -> Any:
        """Return the first result's first column, or end the request with 404."""
        value = self.session.execute(statement).scalar()
        if value is None:
            abort(404, description=description)
        return value

    def one_or_404(self, statement: sa.Select[Any], *, description: str | None = None) -> Any:
        """Return the only result's first column, or 404 when there are none or several."""
        try:
            return self.session.execute(statement).scalar_one()
        except (sa.exc.NoResultFound, sa.exc.MultipleResultsFound):
            abort(404, description=description)

    def paginate(
        self,
        select: sa.Select[Any],
        *,
        page: int | None = None,
        per_page: int | None = None,
        max_per_page: int | None = None,
        error_out: bool = True,
        count: bool = True,
    ) -> Pagination:
        """Return one page of a ``select()``'s results.

        ``page`` and ``per_page`` default to the request's ``?page=`` and ``?per_page=``
        (else 1 and 20); ``max_per_page`` caps ``per_page``. With ``error_out``, a
        page past the end (other than page 1), a page or size below 1, or a value
        that is not a number ends the request with 404; without it they fall back to
        page 1 and 20 items. ``count=False`` skips the ``COUNT`` query.
        """
        page, per_page = _page_args(page, per_page, max_per_page, error_out)
        session = self.session

        def fetch(page: int, per_page: int, error_out: bool) -> Pagination:
            return self.paginate(
                select,
                page=page,
                per_page=per_page,
                max_per_page=max_per_page,
                error_out=error_out,
                count=False,
            )

        result = session.execute(select.limit(per_page).offset((page - 1) * per_page))
        items = list(result.unique().scalars())
        if not items and page != 1 and error_out:
            abort(404)
        total = int(session.execute(_count_of(select)).scalar_one()) if count else None
        return Pagination(
            items=items,
            page=page,
            per_page=per_page,
            total=total,
            max_per_page=max_per_page,
            fetch=fetch,
        )

    # -- async query helpers ----------------------------------------------------------------

    async def aget_or_404(
        self, entity: type[_O], ident: Any, *, description: str | None = None
    ) -> _O:
        """Like :meth:`get_or_404`, on :attr:`async_session` (a key out of range is a 404)."""
        session = self.async_session
        try:
            value = await session.get(entity, ident)
        except (OverflowError, sa.exc.DataError, sa.exc.DBAPIError) as e:
            if not _out_of_range(e):
                raise
            await session.rollback()
            value = None
        if value is None:
            abort(404, description=description)
        return value

    async def afirst_or_404(
        self, statement: sa.Select[Any], *, description: str | None = None
    ) -> Any:
        """Like :meth:`first_or_404`, on :attr:`async_session`."""
        value = (await self.async_session.execute(statement)).scalar()
        if value is None:
            abort(404, description=description)
        return value

    async def aone_or_404(
        self, statement: sa.Select[Any], *, description: str | None = None
    ) -> Any:
        """Like :meth:`one_or_404`, on :attr:`async_session`."""
        try:
            return (await self.async_session.execute(statement)).scalar_one()
        except (sa.exc.NoResultFound, sa.exc.MultipleResultsFound):
            abort(404, description=description)

    async def apaginate(
        self,
        select: sa.Select[Any],
        *,
        page: int | None = None,
        per_page: int | None = None,
        max_per_page: int | None = None,
        error_out: bool = True,
        count: bool = True,
    ) -> Pagination:
        """Like :meth:`paginate`, on :attr:`async_session` (``prev()``/``next()`` unavailable)."""
        page, per_page = _page_args(page, per_page, max_per_page, error_out)
        session = self.async_session
        result = await session.execute(select.limit(per_page).offset((page - 1) * per_page))
        items = list(result.unique().scalars())
        if not items and page != 1 and error_out:
            abort(404)
        total = int((await session.execute(_count_of(select))).scalar_one()) if count else None
        return Pagination(
            items=items, page=page, per_page=per_page, total=total, max_per_page=max_per_page
        )

    # -- CLI and shell ----------------------------------------------------------------------

    def _make_cli(self) -> click.Group:
        db = self

        @click.group("db", cls=AppGroup)
        def group() -> None:
            """Create or drop the database tables of the app's models."""

        @group.command("create")
        def create() -> None:
            """Create the tables that don't exist yet."""
            db.create_all()
            click.echo(f"Created the tables in {db.engine.url.render_as_string()}.")

        @group.command("drop")
        @click.confirmation_option(prompt="Drop every table, with its data?")
        def drop() -> None:
            """Drop every table of the models."""
            db.drop_all()
            click.echo(f"Dropped the tables in {db.engine.url.render_as_string()}.")

        return group

    def _shell_context(self) -> dict[str, Any]:
        namespace: dict[str, Any] = {"db": self}
        for mapper in self.Model.registry.mappers:
            cls = mapper.class_
            namespace.setdefault(cls.__name__, cls)
        return namespace

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("_"):
            for module in (sa, sa_orm):
                if hasattr(module, name):
                    return getattr(module, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        ctx = get_app_context()
        state = ctx.app.extensions.get("sqlalchemy") if ctx is not None else None
        url = state.url.render_as_string() if state is not None else "no app"
        return f"<{type(self).__name__} {url}>"


def _count_of(select: sa.Select[Any]) -> sa.Select[Any]:
    return sa.select(sa.func.count()).select_from(select.order_by(None).subquery())


async def _close_async_session(session: sa_async.AsyncSession, exc: BaseException | None) -> None:
    try:
        if exc is not None:
            await session.rollback()
    finally:
        await session.close()


__all__ = [
    "AsyncSession",
    "Model",
    "Pagination",
    "Query",
    "SQLAlchemy",
    "Session",
    "async_url",
    "camel_to_snake_case",
]
