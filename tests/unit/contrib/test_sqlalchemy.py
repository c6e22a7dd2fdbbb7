"""erlen.contrib.sqlalchemy on SQLite and on real PostgreSQL and MariaDB servers, through both
doors."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

import services
from erlen import Erlen, request
from erlen.concurrency import thread_loop
from erlen.contrib.sqlalchemy import Pagination, SQLAlchemy, async_url, camel_to_snake_case
from support import asgi_request


class Conflict(Exception):
    """A domain error the app handles (a 409), raised after rows were flushed."""


class Blog:
    """A small app with authors and posts, and a fresh-connection view of its database."""

    def __init__(self, tmp_path: Path, config: dict[str, Any]) -> None:
        app = Erlen(__name__, instance_path=str(tmp_path / "instance"))
        app.config.update(config, PROPAGATE_EXCEPTIONS=False)
        db = SQLAlchemy(app)
        self.app, self.db, self.config = app, db, config

        class Author(db.Model):
            id: Mapped[int] = mapped_column(primary_key=True)
            name: Mapped[str] = mapped_column(String(80), unique=True)
            posts: Mapped[list[Post]] = relationship(back_populates="author")

        class Post(db.Model):
            id: Mapped[int] = mapped_column(primary_key=True)
            title: Mapped[str] = mapped_column(String(200))
            author_id: Mapped[int] = mapped_column(ForeignKey("author.id"))
            author: Mapped[Author] = relationship(back_populates="posts")

        self.Author, self.Post = Author, Post

        def page_json(page: Pagination) -> dict[str, Any]:
            return {
                "names": [a.name for a in page.items],
                "page": page.page,
                "per_page": page.per_page,
                "pages": page.pages,
                "total": page.total,
                "has_prev": page.has_prev,
                "has_next": page.has_next,
                "prev_num": page.prev_num,
                "next_num": page.next_num,
            }

        @app.errorhandler(Conflict)
        def conflict(e: Conflict) -> Any:
            return "conflict", 409

        @app.post("/authors")
        def create_author() -> Any:
            author = Author(name=request.form["name"])
            db.session.add(author)
            db.session.commit()
            return {"id": author.id}, 201

        @app.get("/authors/<int:id>")
        def get_author(id: int) -> Any:
            author = db.get_or_404(Author, id)
            return {"name": author.name, "posts": [p.title for p in author.posts]}

        @app.put("/authors/<int:id>")
        def rename_author(id: int) -> Any:
            db.get_or_404(Author, id).name = request.form["name"]
            db.session.commit()
            return {"ok": True}

        @app.delete("/authors/<int:id>")
        def delete_author(id: int) -> Any:
            db.session.delete(db.get_or_404(Author, id))
            db.session.commit()
            return "", 204

        @app.post("/authors/<int:id>/posts")
        def add_post(id: int) -> Any:
            db.session.add(Post(title=request.form["title"], author=db.get_or_404(Author, id)))
            db.session.commit()
            return "", 201

        @app.get("/authors")
        def list_authors() -> Any:
            return page_json(db.paginate(select(Author).order_by(Author.id), max_per_page=30))

        @app.get("/lenient")
        def lenient() -> Any:
            return page_json(db.paginate(select(Author).order_by(Author.id), error_out=False))

        @app.get("/by-name/<name>")
        def by_name(name: str) -> Any:
            return db.first_or_404(select(Author).where(Author.name == name)).name

        @app.get("/one/<prefix>")
        def one(prefix: str) -> Any:
            return db.one_or_404(select(Author).where(Author.name.startswith(prefix))).name

        @app.post("/half-written")
        def half_written() -> Any:
            author = Author(name=request.form["name"])
            db.session.add(author)
            db.session.flush()
            db.session.add(Post(title="draft", author=author))
            db.session.flush()  # both INSERTs have run in the transaction
            raise RuntimeError("boom after the INSERTs")

        @app.post("/duplicate")
        def duplicate() -> Any:
            author = Author(name=request.form["name"])
            db.session.add_all([author, Post(title="first", author=author)])
            db.session.flush()
            db.session.add(Author(name=request.form["existing"]))
            db.session.commit()  # IntegrityError: the name is taken
            return "unreachable"

        @app.post("/conflict")
        def conflicting() -> Any:
            db.session.add(Author(name=request.form["name"]))
            db.session.flush()
            raise Conflict()

        # -- async views: db.async_session -------------------------------------------------

        @app.post("/async/authors")
        async def async_create() -> Any:
            author = Author(name=request.form["name"])
            db.async_session.add(author)
            await db.async_session.commit()
            return {"id": author.id}, 201

        @app.get("/async/authors/<int:id>")
        async def async_get(id: int) -> Any:
            return {"name": (await db.aget_or_404(Author, id)).name}

        @app.get("/async/by-name/<name>")
        async def async_by_name(name: str) -> Any:
            return (await db.afirst_or_404(select(Author).where(Author.name == name))).name

        @app.get("/async/one/<prefix>")
        async def async_one(prefix: str) -> Any:
            stmt = select(Author).where(Author.name.startswith(prefix))
            return (await db.aone_or_404(stmt)).name

        @app.get("/async/authors")
        async def async_list() -> Any:
            return page_json(await db.apaginate(select(Author).order_by(Author.id)))

        @app.post("/async/half-written")
        async def async_half_written() -> Any:
            author = Author(name=request.form["name"])
            db.async_session.add(author)
            await db.async_session.flush()
            db.async_session.add(Post(title="draft", author_id=author.id))
            await db.async_session.flush()
            raise RuntimeError("boom after the async INSERTs")

    def count(self, table: str, where: str = "") -> int:
        """Count rows through a brand-new connection (not the app's pool)."""
        with self.app.app_context():
            url = self.db.engine.url
        options = self.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool, **options)
        try:
            with engine.connect() as conn:
                sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
                return int(conn.execute(sa.text(sql)).scalar_one())
        finally:
            engine.dispose()

    def run_async(self, func: Any) -> Any:
        """Run ``await func()`` in an app context on the loop the test client uses."""

        async def run() -> Any:
            with self.app.app_context():
                return await func()

        return thread_loop().run_until_complete(run())


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def db_config(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Config for the default SQLite file, a fresh schema on the real PostgreSQL, or a fresh
    database on the real MySQL/MariaDB (PyMySQL; aiomysql for the async session)."""
    if request.param == "sqlite":
        yield {}
        return
    if request.param == "mysql":
        with services.mysql_database(services.mysql_url()) as url:
            yield {"SQLALCHEMY_DATABASE_URI": url}
        return
    url = services.postgres_url()
    with services.postgres_schema(url) as schema:
        yield {
            "SQLALCHEMY_DATABASE_URI": url,
            "SQLALCHEMY_ENGINE_OPTIONS": services.psycopg_search_path(schema),
        }


@pytest.fixture
def blog(db_config: dict[str, Any], tmp_path: Path) -> Iterator[Blog]:
    b = Blog(tmp_path, db_config)
    with b.app.app_context():
        b.db.create_all()
    yield b
    with b.app.app_context():
        b.db.drop_all()
        b.db.dispose()


# -- CRUD and the 404 helpers ------------------------------------------------------------------


def test_crud_through_views(blog: Blog, client: Any) -> None:
    c = client(blog.app)
    r = c.post("/authors", data={"name": "ada"})
    assert r.status_code == 201
    ada = r.json["id"]
    assert c.post(f"/authors/{ada}/posts", data={"title": "Notes"}).status_code == 201
    assert c.get(f"/authors/{ada}").json == {"name": "ada", "posts": ["Notes"]}
    assert c.put(f"/authors/{ada}", data={"name": "lovelace"}).json == {"ok": True}
    assert c.get(f"/authors/{ada}").json["name"] == "lovelace"
    assert blog.count("author", "name = 'lovelace'") == 1
    gid = c.post("/authors", data={"name": "grace"}).json["id"]
    assert c.get("/by-name/grace").data == b"grace"
    assert c.delete(f"/authors/{gid}").status_code == 204
    assert c.get(f"/authors/{gid}").status_code == 404
    assert blog.count("author") == 1


def test_404_helpers(blog: Blog, client: Any) -> None:
    c = client(blog.app)
    assert c.get("/authors/1").status_code == 404
    assert c.get("/by-name/nobody").status_code == 404
    c.post("/authors", data={"name": "ann"})
    c.post("/authors", data={"name": "anna"})
    c.post("/authors", data={"name": "bob"})
    assert c.get("/one/b").data == b"bob"
    assert c.get("/one/an").status_code == 404  # two rows
    assert c.get("/one/z").status_code == 404  # none
    with blog.app.test_request_context():
        assert blog.Author.query.get_or_404(3).name == "bob"
        assert blog.Author.query.filter_by(name="ann").first_or_404().name == "ann"
        with pytest.raises(Exception) as info:
            blog.Author.query.filter_by(name="zed").one_or_404()
        assert getattr(info.value, "code", None) == 404


def test_a_key_out_of_the_columns_range_is_a_404(blog: Blog, client: Any) -> None:
    """An id past 64 bits from the URL names no row: 404, and the session works on."""
    c = client(blog.app)
    assert c.get(f"/authors/{2**70}").status_code == 404
    assert c.get(f"/async/authors/{2**70}").status_code == 404
    c.post("/authors", data={"name": "ann"})
    assert c.get("/authors/1").status_code == 200


# -- rollback: nothing half-written ------------------------------------------------------------


def test_sql_error_in_request_rolls_back(blog: Blog, client: Any) -> None:
    c = client(blog.app)
    c.post("/authors", data={"name": "taken"})
    r = c.post("/duplicate", data={"name": "newcomer", "existing": "taken"})
    assert r.status_code == 500
    # A later request commits on a pooled connection: a leaked transaction would go with it.
    assert c.post("/authors", data={"name": "after"}).status_code == 201
    assert blog.count("author", "name = 'newcomer'") == 0
    assert blog.count("post") == 0
    assert blog.count("author") == 2


def test_error_after_flush_rolls_back(blog: Blog, client: Any) -> None:
    c = client(blog.app)
    assert c.post("/half-written", data={"name": "ghost"}).status_code == 500
    assert c.post("/authors", data={"name": "after"}).status_code == 201
    assert blog.count("author", "name = 'ghost'") == 0
    assert blog.count("post") == 0


def test_handled_error_still_writes_nothing(blog: Blog, client: Any) -> None:
    c = client(blog.app)
    assert c.post("/conflict", data={"name": "ghost"}).status_code == 409
    assert c.post("/authors", data={"name": "after"}).status_code == 201
    assert blog.count("author", "name = 'ghost'") == 0


def test_teardown_with_error_rolls_back_outside_requests(blog: Blog) -> None:
    ctx = blog.app.app_context()
    ctx.push()
    blog.db.session.add(blog.Author(name="ghost"))
    blog.db.session.flush()
    ctx.pop(RuntimeError("failed job"))
    with blog.app.app_context():
        blog.db.session.add(blog.Author(name="after"))
        blog.db.session.commit()
    assert blog.count("author") == 1


# -- pagination --------------------------------------------------------------------------------


def test_pagination(blog: Blog, client: Any) -> None:
    with blog.app.app_context():
        blog.db.session.add_all(blog.Author(name=f"a{i:02}") for i in range(45))
        blog.db.session.commit()
    c = client(blog.app)
    first = c.get("/authors").json
    assert first["names"][:2] == ["a00", "a01"] and len(first["names"]) == 20
    assert (first["page"], first["pages"], first["total"]) == (1, 3, 45)
    assert (first["has_prev"], first["has_next"], first["prev_num"], first["next_num"]) == (
        False,
        True,
        None,
        2,
    )
    last = c.get("/authors?page=3").json
    assert last["names"] == [f"a{i}" for i in range(40, 45)]
    assert (last["has_next"], last["next_num"], last["prev_num"]) == (False, None, 2)
    assert c.get("/authors?page=2&per_page=10").json["names"][0] == "a10"
    assert c.get("/authors?per_page=500").json["per_page"] == 30  # max_per_page
    for bad in ("page=4", "page=0", "page=-1", "page=abc", "per_page=0", "per_page=x"):
        assert c.get(f"/authors?{bad}").status_code == 404, bad
    lenient = c.get("/lenient?page=9").json
    assert lenient["names"] == [] and lenient["page"] == 9
    assert c.get("/lenient?page=abc").json["page"] == 1
    assert c.get("/async/authors?page=3").json["names"] == [f"a{i}" for i in range(40, 45)]
    assert c.get("/async/authors?page=4").status_code == 404


def test_pagination_neighbours_and_legacy_query(blog: Blog) -> None:
    with blog.app.app_context():
        blog.db.session.add_all(blog.Author(name=f"a{i:02}") for i in range(25))
        blog.db.session.commit()
        page = blog.db.paginate(select(blog.Author).order_by(blog.Author.id), per_page=10)
        nxt = page.next()
        assert [a.name for a in nxt][:1] == ["a10"] and nxt.total == 25
        assert (nxt.first, nxt.last) == (11, 20)
        assert nxt.prev().items == page.items
        legacy = blog.Author.query.order_by(blog.Author.id).paginate(page=3, per_page=10)
        assert [a.name for a in legacy.items] == [f"a{i}" for i in range(20, 25)]
        assert legacy.total == 25 and not legacy.has_next
        assert list(legacy.iter_pages()) == [1, 2, 3]


def test_iter_pages_matches_flask_sqlalchemy() -> None:
    fsa = pytest.importorskip("flask_sqlalchemy.pagination")

    class Oracle(fsa.Pagination):  # type: ignore[misc, name-defined]
        def _query_items(self) -> list[Any]:
            return [0]

        def _query_count(self) -> int:
            return int(self._query_args["total"])

    for total in range(0, 130, 7):
        # Pages in range: past the end (a 404 by default) Flask-SQLAlchemy drops the right edge.
        for page in range(1, max(1, -(-total // 10)) + 1):
            for kw in ({}, {"left_edge": 1, "right_edge": 0, "left_current": 0}):
                ours = Pagination(items=[0], page=page, per_page=10, total=total)
                theirs = Oracle(page=page, per_page=10, total=total)
                assert list(ours.iter_pages(**kw)) == list(theirs.iter_pages(**kw)), (total, page)


# -- the async session -------------------------------------------------------------------------


def test_async_views_crud(blog: Blog, client: Any) -> None:
    c = client(blog.app)
    r = c.post("/async/authors", data={"name": "ada"})
    assert r.status_code == 201
    assert c.get(f"/async/authors/{r.json['id']}").json == {"name": "ada"}
    assert c.get(f"/authors/{r.json['id']}").json["name"] == "ada"  # the sync session sees it
    assert c.get("/async/authors/99").status_code == 404
    assert c.get("/async/by-name/ada").data == b"ada"
    assert c.get("/async/by-name/bob").status_code == 404
    assert c.get("/async/one/a").data == b"ada"
    assert c.get("/async/one/q").status_code == 404
    assert blog.count("author") == 1


def test_async_error_rolls_back(blog: Blog, client: Any) -> None:
    c = client(blog.app)
    assert c.post("/async/half-written", data={"name": "ghost"}).status_code == 500
    assert c.post("/async/authors", data={"name": "after"}).status_code == 201
    assert blog.count("author", "name = 'ghost'") == 0
    assert blog.count("post") == 0
    # Closed at teardown: no connection stays checked out of the async pool.
    assert blog.run_async(lambda: _checked_out(blog)) == 0


async def _checked_out(blog: Blog) -> int:
    return int(blog.db.async_engine.pool.checkedout())  # type: ignore[attr-defined]


def test_async_sessions_are_per_request(blog: Blog) -> None:
    """Two requests in flight at once on the ASGI loop get two sessions."""
    arrived: list[int] = []
    both_in = asyncio.Event()

    @blog.app.get("/async/who")
    async def who() -> Any:
        session = blog.db.async_session()
        await session.execute(select(1))
        arrived.append(id(session))
        if len(arrived) == 2:
            both_in.set()
        await asyncio.wait_for(both_in.wait(), 10)
        return {"session": id(session), "same": session is blog.db.async_session()}

    async def two() -> list[Any]:
        return list(
            await asyncio.gather(
                asgi_request(blog.app, "GET", "/async/who"),
                asgi_request(blog.app, "GET", "/async/who"),
            )
        )

    results = thread_loop().run_until_complete(two())
    assert [status for status, _, _ in results] == [200, 200]
    assert len(set(arrived)) == 2
    assert blog.run_async(lambda: _checked_out(blog)) == 0


@contextmanager
def async_driver_config(driver: str) -> Iterator[dict[str, Any]]:
    """Config whose async engine uses *driver* on a fresh schema or database."""
    if driver == "aiomysql":
        with services.mysql_database(services.mysql_url()) as url:
            # mysql+pymysql: the async URL is derived (mysql+aiomysql).
            yield {"SQLALCHEMY_DATABASE_URI": url}
        return
    url = services.postgres_url()
    async_uri = sa.make_url(url).set(drivername="postgresql+asyncpg")
    with services.postgres_schema(url) as schema:
        yield {
            "SQLALCHEMY_DATABASE_URI": url,
            "SQLALCHEMY_ENGINE_OPTIONS": services.psycopg_search_path(schema),
            "SQLALCHEMY_ASYNC_DATABASE_URI": async_uri.render_as_string(hide_password=False),
            "SQLALCHEMY_ASYNC_ENGINE_OPTIONS": services.asyncpg_search_path(schema),
        }


@pytest.mark.parametrize("driver", ["asyncpg", "aiomysql"])
def test_async_driver(driver: str, tmp_path: Path, protocol: str) -> None:
    with async_driver_config(driver) as config:
        b = Blog(tmp_path, config)
        with b.app.app_context():
            b.db.create_all()
        try:
            c = b.app.test_client(asgi=protocol == "asgi")
            r = c.post("/async/authors", data={"name": "ada"})
            assert r.status_code == 201
            assert c.post("/async/half-written", data={"name": "ghost"}).status_code == 500
            assert b.count("author") == 1
            assert b.run_async(lambda: _driver(b)) == driver
        finally:
            with b.app.app_context():
                b.db.dispose()


async def _driver(blog: Blog) -> str:
    return str(blog.db.async_engine.url.get_driver_name())


# -- CLI ---------------------------------------------------------------------------------------


def test_cli_create_and_drop(db_config: dict[str, Any], tmp_path: Path) -> None:
    b = Blog(tmp_path, db_config)
    runner = b.app.test_cli_runner()

    def tables() -> set[str]:
        with b.app.app_context():
            return set(sa.inspect(b.db.engine).get_table_names())

    result = runner.invoke(args=["db", "create"])
    assert result.exit_code == 0, result.output
    assert "Created the tables" in result.output and "erlen:erlen@" not in result.output
    assert {"author", "post"} <= tables()
    assert runner.invoke(args=["db", "drop"], input="n\n").exit_code == 1  # asks first
    assert {"author", "post"} <= tables()
    result = runner.invoke(args=["db", "drop", "--yes"])
    assert result.exit_code == 0, result.output
    assert not {"author", "post"} & tables()
    with b.app.app_context():
        b.db.dispose()


# -- scoping, configuration and the model base (SQLite) ------------------------------------------


def _app(tmp_path: Path, **config: Any) -> Erlen:
    app = Erlen(__name__, instance_path=str(tmp_path / "instance"))
    app.config.update(config)
    return app


def test_session_belongs_to_the_app_context(tmp_path: Path) -> None:
    app = _app(tmp_path)
    db = SQLAlchemy(app)
    with pytest.raises(RuntimeError, match="application context"):
        db.session()
    with app.app_context():
        first = db.session()
        assert db.session() is first
        with app.app_context():
            assert db.session() is not first  # a nested context has its own
        assert db.session() is first
    with app.app_context():
        assert not db.session.registry.has()  # removed at teardown
        assert db.session() is not first
    seen: list[Any] = []

    def worker() -> None:
        with app.app_context():
            seen.append(db.session())

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen[0] is not seen[1]
    with app.app_context():
        db.dispose()


def test_not_registered(tmp_path: Path) -> None:
    db = SQLAlchemy()
    with _app(tmp_path).app_context(), pytest.raises(RuntimeError, match="init_app"):
        db.engine  # noqa: B018 - the property raises
    app = _app(tmp_path)
    db.init_app(app)
    with pytest.raises(RuntimeError, match="already registered"):
        SQLAlchemy(app)


def test_default_database_is_app_db_in_the_instance_folder(tmp_path: Path) -> None:
    app = _app(tmp_path)
    db = SQLAlchemy(app)
    instance = tmp_path / "instance"
    assert instance.is_dir()  # created as needed

    class Note(db.Model):
        id: Mapped[int] = mapped_column(primary_key=True)

    with app.app_context():
        assert db.engine.url.database == str(instance / "app.db")
        db.create_all()
        db.dispose()
    with sqlite3.connect(instance / "app.db") as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("note",)]
    conn.close()


def test_relative_sqlite_path_and_engine_options(tmp_path: Path) -> None:
    app = _app(
        tmp_path,
        SQLALCHEMY_DATABASE_URI="sqlite:///data/site.db",
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        SQLALCHEMY_ECHO=True,
    )
    (tmp_path / "instance" / "data").mkdir(parents=True)
    db = SQLAlchemy(app, engine_options={"pool_pre_ping": False, "pool_size": 3})
    with app.app_context():
        engine = db.engine
        assert engine.url.database == str(tmp_path / "instance" / "data" / "site.db")
        assert engine.pool._pre_ping is True  # type: ignore[attr-defined]  # config wins
        assert engine.pool.size() == 3  # type: ignore[attr-defined]  # constructor default kept
        assert engine.echo is True
        assert "site.db" in repr(db)
        db.dispose()


@pytest.mark.parametrize(
    ("sync_pool", "async_pool"),
    [
        (sa.pool.NullPool, sa.pool.NullPool),  # behind PgBouncer: no pool anywhere
        (sa.pool.QueuePool, sa.pool.AsyncAdaptedQueuePool),  # a sync-only pool is not reused
    ],
)
def test_async_engine_pool_class(tmp_path: Path, sync_pool: type, async_pool: type) -> None:
    app = _app(tmp_path, SQLALCHEMY_ENGINE_OPTIONS={"poolclass": sync_pool})
    db = SQLAlchemy(app)

    async def pools() -> tuple[type, type]:
        with app.app_context():
            return type(db.engine.pool), type(db.async_engine.pool)

    assert thread_loop().run_until_complete(pools()) == (sync_pool, async_pool)
    with app.app_context():
        db.dispose()


def test_memory_sqlite_is_shared_with_worker_threads(tmp_path: Path, client: Any) -> None:
    app = _app(tmp_path, SQLALCHEMY_DATABASE_URI="sqlite://")
    db = SQLAlchemy(app)

    class Item(db.Model):
        id: Mapped[int] = mapped_column(primary_key=True)

    @app.post("/items")
    def add() -> Any:  # under ASGI a sync view runs in a worker thread
        db.session.add(Item())
        db.session.commit()
        return str(db.session.scalar(select(sa.func.count()).select_from(Item)))

    with app.app_context():
        db.create_all()
    c = client(app)
    assert c.post("/items").data == b"1"
    assert c.post("/items").data == b"2"
    with app.app_context():
        assert db.session.scalar(select(sa.func.count()).select_from(Item)) == 2
        db.dispose()


def test_table_names_and_inheritance(tmp_path: Path) -> None:
    db = SQLAlchemy(_app(tmp_path))

    class UserProfile(db.Model):
        id: Mapped[int] = mapped_column(primary_key=True)
        kind: Mapped[str] = mapped_column(String(20))
        __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "user"}

    class Admin(UserProfile):  # single-table: no primary key of its own
        __mapper_args__ = {"polymorphic_identity": "admin"}

    class Robot(UserProfile):  # joined-table: its own primary key
        id: Mapped[int] = mapped_column(ForeignKey("user_profile.id"), primary_key=True)
        __mapper_args__ = {"polymorphic_identity": "robot"}

    class HTTPLog(db.Model):
        __tablename__ = "access_log"
        id = db.Column(db.Integer, primary_key=True)

    tags = db.Table("tags", db.Column("name", db.String(20), primary_key=True))

    assert UserProfile.__table__.name == "user_profile"
    assert Admin.__table__ is UserProfile.__table__
    assert Robot.__table__.name == "robot"
    assert HTTPLog.__table__.name == "access_log"
    assert set(db.metadata.tables) == {"user_profile", "robot", "access_log", "tags"}
    assert tags.metadata is db.metadata
    assert db.select is sa.select and db.relationship is sa.orm.relationship
    with pytest.raises(AttributeError):
        db.no_such_name  # noqa: B018
    assert [
        camel_to_snake_case(n) for n in ("User", "HTTPLog", "OAuth2Token", "already_snake")
    ] == [
        "user",
        "http_log",
        "o_auth2_token",
        "already_snake",
    ]


def test_custom_declarative_base_and_metadata(tmp_path: Path) -> None:
    class Base(DeclarativeBase):
        metadata = sa.MetaData(naming_convention={"pk": "pk_%(table_name)s"})

    app = _app(tmp_path)
    db = SQLAlchemy(app, model_class=Base)

    class Thing(db.Model):
        id: Mapped[int] = mapped_column(primary_key=True)

    assert issubclass(Thing, Base) and db.metadata is Base.metadata
    assert Thing.__table__.primary_key.name == "pk_thing"
    meta = sa.MetaData(schema="other")
    db2 = SQLAlchemy(metadata=meta)

    class Other(db2.Model):
        id: Mapped[int] = mapped_column(primary_key=True)

    assert Other.__table__.schema == "other" and db2.metadata is meta
    with pytest.raises(ValueError, match="DeclarativeBase"):
        SQLAlchemy(model_class=Base, metadata=meta)
    with app.app_context():
        thing = Thing(id=7)
        assert repr(thing).startswith("<Thing (transient")
        db.create_all()
        db.session.add(thing)
        assert repr(thing).startswith("<Thing (pending")
        db.session.commit()
        assert repr(thing) == "<Thing 7>"
        shell = app.make_shell_context()
        assert shell["db"] is db and shell["Thing"] is Thing
        db.dispose()


def test_async_url() -> None:
    def conv(url: str) -> str:
        return async_url(sa.make_url(url)).drivername

    assert conv("sqlite:///x.db") == "sqlite+aiosqlite"
    assert conv("sqlite+pysqlite:///x.db") == "sqlite+aiosqlite"
    assert conv("postgresql://u@h/db") == "postgresql+asyncpg"
    assert conv("postgresql+psycopg2://u@h/db") == "postgresql+asyncpg"
    assert conv("postgresql+psycopg://u@h/db") == "postgresql+psycopg"  # psycopg 3 is async too
    assert conv("postgresql+asyncpg://u@h/db") == "postgresql+asyncpg"
    with pytest.raises(RuntimeError, match="SQLALCHEMY_ASYNC_DATABASE_URI"):
        conv("mssql+pyodbc://u@h/db")


def test_lifespan_shutdown_disposes_the_async_engine(tmp_path: Path) -> None:
    app = _app(tmp_path)
    db = SQLAlchemy(app)

    @app.get("/")
    async def index() -> Any:
        return str((await db.async_session.execute(select(1))).scalar_one())

    async def serve() -> tuple[list[str], bool, bool]:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        events: list[str] = []

        async def send(message: dict[str, Any]) -> None:
            events.append(message["type"])

        server = asyncio.ensure_future(app({"type": "lifespan"}, inbox.get, send))
        await inbox.put({"type": "lifespan.startup"})
        status, _, body = await asgi_request(app, "GET", "/")
        assert (status, body) == (200, b"1")
        with app.app_context():
            made = app.extensions["sqlalchemy"].async_engines.peek() is not None
        await inbox.put({"type": "lifespan.shutdown"})
        await server
        with app.app_context():
            gone = app.extensions["sqlalchemy"].async_engines.peek() is None
        return events, made, gone

    events, made, gone = thread_loop().run_until_complete(serve())
    assert events == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert made and gone


# -- docs/database.md runs as written ---------------------------------------------------------

DOC = Path(__file__).resolve().parents[3] / "docs" / "database.md"


def doc_block(name: str) -> str:
    """Return the python block of docs/database.md whose first line is ``# name``."""
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S):
        if block.startswith(f"# {name}\n"):
            return str(block)
    raise LookupError(f"docs/database.md has no block starting with '# {name}'")


def load_module(tmp_path: Path, name: str, source: str) -> Any:
    """Import ``source`` as a module from a file in ``tmp_path`` (its instance folder is there)."""
    module_name = f"docs_{name}_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{module_name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[module_name]
    return module


def test_docs_blog_example(
    db_config: dict[str, Any], tmp_path: Path, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in db_config.items():
        monkeypatch.setenv(f"ERLEN_{key}", json.dumps(value))
    blog = load_module(tmp_path, "blog", doc_block("blog.py"))
    app, db = blog.app, blog.db
    if not db_config:
        with app.app_context():
            assert db.engine.url.database == str(tmp_path / "instance" / "blog.db")
    result = app.test_cli_runner().invoke(args=["db", "create"])
    assert result.exit_code == 0, result.output
    try:
        c = client(app)
        ada = c.post("/users", data={"name": "ada"}).json["id"]
        c.post("/async/users", data={"name": "bob"})
        assert c.get("/users").json == {"names": ["ada", "bob"], "page": 1, "next": None}
        assert c.get("/users?page=2").status_code == 404
        assert c.get(f"/async/users/{ada}").json == {"name": "ada"}
        assert c.get("/async/users/99").status_code == 404
        assert c.post(f"/users/{ada}/posts", data={"title": ["a", "b"]}).status_code == 201
        assert c.post(f"/users/{ada}/posts", data={"title": ["c", "d", "c"]}).status_code == 400
        assert c.get(f"/users/{ada}").json == {"name": "ada", "posts": ["a", "b"]}
        assert c.get("/users/99").status_code == 404
    finally:
        result = app.test_cli_runner().invoke(args=["db", "drop", "--yes"])
        assert result.exit_code == 0, result.output
        with app.app_context():
            db.dispose()


@contextmanager
def database_url(backend: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """A URL on a fresh schema (PostgreSQL) or database (MySQL), and the engine options
    that reach it."""
    if backend == "mysql":
        with services.mysql_database(services.mysql_url()) as url:
            yield url, {}
        return
    url = services.postgres_url()
    with services.postgres_schema(url) as schema:
        yield url, services.psycopg_search_path(schema)


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_docs_production_settings(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "production.py").write_text(doc_block("production.py"), encoding="utf-8")
    with database_url(backend) as (url, options):
        monkeypatch.setenv("DATABASE_URL", url)
        app = Erlen(__name__, root_path=str(tmp_path), instance_path=str(tmp_path / "instance"))
        assert app.config.from_pyfile("production.py")
        app.config["SQLALCHEMY_ENGINE_OPTIONS"].update(options)
        db = SQLAlchemy(app)

        class Hit(db.Model):
            id: Mapped[int] = mapped_column(primary_key=True)

        @app.post("/hit")
        async def hit() -> Any:
            db.async_session.add(Hit())
            await db.async_session.commit()
            return "ok"

        with app.app_context():
            db.create_all()
            engine = db.engine
            assert engine.pool.size() == 5  # type: ignore[attr-defined]
            assert engine.pool._pre_ping is True  # type: ignore[attr-defined]
        c = app.test_client(asgi=True)
        for _ in range(12):  # more requests than the pool has connections
            assert c.post("/hit").data == b"ok"
        assert app.test_client().post("/hit").data == b"ok"
        with app.app_context():
            assert db.session.scalar(select(sa.func.count()).select_from(Hit)) == 13
            db.dispose()


# -- MySQL / MariaDB ----------------------------------------------------------------------------


def test_mysql_defaults(tmp_path: Path) -> None:
    """utf8mb4 and a pool recycled before the server's idle timeout, unless the app says."""
    with services.mysql_database(services.mysql_url()) as url:
        db = SQLAlchemy(app := _app(tmp_path, SQLALCHEMY_DATABASE_URI=url))
        with app.app_context():
            assert db.engine.url.query["charset"] == "utf8mb4"
            assert db.engine.pool._recycle == 7200  # type: ignore[attr-defined]
            db.dispose()
        own = _app(
            tmp_path,
            SQLALCHEMY_DATABASE_URI=url + "?charset=utf8",
            SQLALCHEMY_ENGINE_OPTIONS={"pool_recycle": 600},
        )
        db = SQLAlchemy(own)
        with own.app_context():
            assert db.engine.url.query["charset"] == "utf8"
            assert db.engine.pool._recycle == 600  # type: ignore[attr-defined]
            db.dispose()


def test_mysql_four_byte_characters_both_drivers(tmp_path: Path, protocol: str) -> None:
    """Emoji survive PyMySQL and aiomysql (MySQL's 3-byte "utf8" would refuse them)."""
    with services.mysql_database(services.mysql_url()) as url:
        b = Blog(tmp_path, {"SQLALCHEMY_DATABASE_URI": url})
        with b.app.app_context():
            b.db.create_all()
        try:
            c = b.app.test_client(asgi=protocol == "asgi")
            sync_id = c.post("/authors", data={"name": "ada \U0001f40d"}).json["id"]
            async_id = c.post("/async/authors", data={"name": "bob \U0001f680"}).json["id"]
            assert c.get(f"/async/authors/{sync_id}").json == {"name": "ada \U0001f40d"}
            assert c.get(f"/authors/{async_id}").json["name"] == "bob \U0001f680"
            assert b.run_async(lambda: _async_charset(b)) == "utf8mb4"
        finally:
            with b.app.app_context():
                b.db.drop_all()
                b.db.dispose()


async def _async_charset(blog: Blog) -> str:
    async with blog.db.async_engine.connect() as conn:
        return str((await conn.execute(sa.text("SELECT @@character_set_client"))).scalar_one())


def test_mysql_string_needs_a_length(tmp_path: Path) -> None:
    """A ``String`` without a length is fine on SQLite and PostgreSQL; MySQL says why not."""
    with services.mysql_database(services.mysql_url()) as url:
        app = _app(tmp_path, SQLALCHEMY_DATABASE_URI=url)
        db = SQLAlchemy(app)

        class Note(db.Model):
            id: Mapped[int] = mapped_column(primary_key=True)
            text: Mapped[str] = mapped_column(String)

        with app.app_context():
            with pytest.raises(sa.exc.CompileError, match="VARCHAR requires a length"):
                db.create_all()
            db.dispose()


AT_EXIT = """
import sys
import sqlalchemy as sa
from erlen import Erlen
from erlen.contrib.sqlalchemy import SQLAlchemy

app = Erlen(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = sys.argv[1]
db = SQLAlchemy(app)


@app.get("/")
async def one():
    return str((await db.async_session.execute(sa.text("SELECT 1"))).scalar_one())


assert app.test_client(asgi=True).get("/").data == b"1"
assert app.test_client().get("/").data == b"1"
"""


def test_mysql_async_pool_closed_at_exit() -> None:
    """The pools of the test client's loop and of this thread's loop close before the loops.

    Left to the garbage collector, aiomysql's connections print "Event loop is closed".
    """
    with services.mysql_database(services.mysql_url()) as url:
        done = subprocess.run(
            [sys.executable, "-c", AT_EXIT, url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
