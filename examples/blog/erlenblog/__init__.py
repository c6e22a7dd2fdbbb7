"""Erlenblog: a community blog with live chat, the example application of Erlen.

``create_app()`` builds the app (the ``erlen`` command finds it)::

    erlen --app examples/blog/erlenblog run

The first start creates the instance folder (``ERLENBLOG_INSTANCE_PATH``, or
``examples/blog/instance``) with a secret key, the SQLite database and the uploads folder.
Settings come from ``instance/config.py`` and from ``ERLENBLOG_*`` environment variables
(``ERLENBLOG_SQLALCHEMY_DATABASE_URI``, ``ERLENBLOG_REDIS_URL`` ...). Background work goes
through Celery (``erlenblog.tasks``): give it a broker with ``ERLENBLOG_CELERY__broker_url``
and start ``celery -A erlenblog.worker worker``; without one it runs inside the request.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import Any

import click
import sqlalchemy.exc

from erlen import Erlen
from erlen.cli import with_appcontext
from erlen.typed import OpenAPI

from . import errors, live, tasks
from .extensions import cache, csrf, db, limiter, login_manager, security_headers, token_auth

DEFAULTS: dict[str, Any] = {
    # A relative SQLite path is relative to the instance folder.
    "SQLALCHEMY_DATABASE_URI": "sqlite:///erlenblog.sqlite",
    # Create missing tables at start-up (turn off when a migration tool owns the schema).
    "AUTO_CREATE_TABLES": True,
    "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,
    "POSTS_PER_PAGE": 5,
    "API_MAX_PER_PAGE": 50,
    "API_TOKEN_MAX_AGE": 30 * 86400,
    "CHAT_HISTORY": 50,
    # Events kept per hub room: chat history, and what a reconnecting notification stream
    # replays (a browser away for longer gets a "reset" event).
    "HUB_HISTORY": 1000,
    "CHAT_MAX_LENGTH": 500,
    # Set a Redis URL to share sessions, chat, notifications, cache and rate limits between
    # processes; every key and channel the app uses there starts with REDIS_PREFIX.
    "REDIS_URL": None,
    "REDIS_PREFIX": "erlenblog:",
    "SESSION_COOKIE_SAMESITE": "Lax",
    "CACHE_TYPE": "simple",
    # The API's OpenAPI document and its interactive page (erlen.typed.OpenAPI).
    "OPENAPI_URL": "/api/openapi.json",
    "OPENAPI_DOCS_URL": "/api/docs",
}


def create_app(test_config: Mapping[str, Any] | None = None) -> Erlen:
    """Build the app; ``test_config`` replaces the instance and environment settings."""
    # examples/blog/instance: next to the package, as Flask places an instance folder.
    instance_path = os.environ.get("ERLENBLOG_INSTANCE_PATH") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "instance"
    )
    app = Erlen(
        __name__, instance_path=os.path.abspath(instance_path), instance_relative_config=True
    )
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("ERLENBLOG")
    else:
        app.config.from_mapping(test_config)
    app.config.setdefault("UPLOAD_FOLDER", os.path.join(app.instance_path, "uploads"))
    os.makedirs(app.config["UPLOAD_FOLDER"], exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret_key(app.instance_path)
    _use_redis(app)

    db.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.api_blueprints.add("api")
    token_auth.init_app(app)
    csrf.init_app(app)
    cache.init_app(app)
    limiter.init_app(app)
    security_headers.init_app(app)
    live.init_app(app)
    tasks.init_app(app)
    errors.init_app(app)

    from . import api, auth, blog, chat, notify

    app.register_blueprint(auth.bp)
    app.register_blueprint(blog.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(chat.bp)
    app.register_blueprint(notify.bp)
    csrf.exempt(api.bp)  # token-authenticated: a browser never adds the header by itself
    OpenAPI(app, title="Erlenblog API", version="1.0", blueprints=["api"])  # not the HTML pages

    app.cli.add_command(init_db_command)
    if app.config["AUTO_CREATE_TABLES"]:
        with app.app_context():
            _create_tables()
    return app


def _create_tables() -> None:
    """Create missing tables; several workers starting at once may race to do it."""
    try:
        db.create_all()
    except sqlalchemy.exc.DatabaseError:
        db.session.remove()
        db.create_all()  # the other worker won: this time every table is found


def _instance_secret_key(instance_path: str) -> str:
    """Read the instance's secret key, making one on the first start (shared by workers)."""
    os.makedirs(instance_path, exist_ok=True)
    path = os.path.join(instance_path, "secret_key")
    try:
        # O_EXCL: when several workers start at once, exactly one writes the key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path, encoding="ascii") as f:
            key = f.read().strip()
        if key:
            return key
        raise RuntimeError(f"{path} is empty: delete it to make a new key.") from None
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key)
    return key


def _use_redis(app: Erlen) -> None:
    """With ``REDIS_URL``, keep sessions, cache and rate limits in Redis too."""
    url = app.config.get("REDIS_URL")
    if not url:
        return
    import redis

    from erlen.contrib.auth import RedisRevocationStore
    from erlen.contrib.redis_session import RedisSessionInterface

    prefix = app.config["REDIS_PREFIX"]
    client = redis.Redis.from_url(url)
    app.session_interface = RedisSessionInterface(client, key_prefix=prefix + "session:")
    # Logged-out session ids, so that a copied cookie fails at every worker.
    login_manager.revocation_store = RedisRevocationStore(client, prefix=prefix + "revoked:")
    app.config["CACHE_TYPE"] = "redis"
    app.config.setdefault("CACHE_REDIS_URL", url)
    app.config.setdefault("CACHE_KEY_PREFIX", prefix + "cache:")
    app.config.setdefault("RATELIMIT_STORAGE_URI", url)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", prefix + "ratelimit")


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create the database tables that don't exist yet."""
    db.create_all()
    click.echo(f"Initialized the database: {db.engine.url.render_as_string()}")
