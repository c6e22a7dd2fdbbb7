"""Find the real PostgreSQL, Redis and MariaDB servers that ``.ci/services.sh`` starts.

The script exports ``ERLEN_TEST_POSTGRES_URL``, ``ERLEN_TEST_REDIS_URL`` and
``ERLEN_TEST_MYSQL_URL``; a test that needs a server skips when its variable is unset
(run ``source .ci/services.sh`` to get them locally). Each test works in its own
PostgreSQL schema, its own MySQL database and under its own Redis key prefix, so
concurrent runs against the same servers do not collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

POSTGRES_ENV = "ERLEN_TEST_POSTGRES_URL"
REDIS_ENV = "ERLEN_TEST_REDIS_URL"
MYSQL_ENV = "ERLEN_TEST_MYSQL_URL"


def postgres_url() -> str:
    """Return the test PostgreSQL URL (``postgresql+psycopg://...``), or skip the test."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"no PostgreSQL: set {POSTGRES_ENV} (source .ci/services.sh)")
    return url


def redis_url() -> str:
    """Return the test Redis URL, or skip the test."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"no Redis: set {REDIS_ENV} (source .ci/services.sh)")
    return url


def unique_name(prefix: str) -> str:
    """Return a name no other test (or concurrent run) uses."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """Create a fresh schema, yield its name, then drop it with everything in it."""
    import sqlalchemy as sa

    schema = unique_name("erlen_t_")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        yield schema
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def psycopg_search_path(schema: str) -> dict[str, Any]:
    """Engine options that put psycopg connections (sync and async) in ``schema``."""
    return {"connect_args": {"options": f"-csearch_path={schema}"}}


def asyncpg_search_path(schema: str) -> dict[str, Any]:
    """Engine options that put asyncpg connections in ``schema``."""
    return {"connect_args": {"server_settings": {"search_path": schema}}}


@contextmanager
def redis_prefix(url: str) -> Iterator[tuple[Any, str]]:
    """Yield a Redis client and a unique key prefix; delete the prefix's keys afterwards."""
    import redis

    client = redis.Redis.from_url(url)
    prefix = unique_name("erlen-test:") + ":"
    try:
        yield client, prefix
    finally:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


def mysql_url() -> str:
    """Return the test MySQL/MariaDB URL (``mysql+pymysql://...``), or skip the test."""
    url = os.environ.get(MYSQL_ENV)
    if not url:
        pytest.skip(f"no MySQL/MariaDB: set {MYSQL_ENV} (source .ci/services.sh)")
    return url


@contextmanager
def mysql_database(url: str) -> Iterator[str]:
    """Create a fresh utf8mb4 database, yield a URL to it, then drop it with its tables.

    MySQL's schemas are databases: the URL differs from *url* in its database name only
    (``erlen_t_...``, which the test user may create).
    """
    import sqlalchemy as sa

    name = unique_name("erlen_t_")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
            )
        yield sa.make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        engine.dispose()
