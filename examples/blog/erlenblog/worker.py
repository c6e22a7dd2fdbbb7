"""The Celery worker's entry point: ``celery -A erlenblog.worker worker`` (from examples/blog).

It builds the app as a web process does (same instance folder, config file and
``ERLENBLOG_*`` variables), so every task runs with the app's settings and database.
"""

from __future__ import annotations

from typing import Any

from celery.signals import worker_process_init  # type: ignore[import-untyped]

from . import create_app
from .extensions import db

erlen_app = create_app()
#: What ``celery -A erlenblog.worker`` finds: the app's Celery app.
celery_app = erlen_app.extensions["celery"]


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _own_connections(**_: Any) -> None:
    """Drop the database connections a pool process inherited from the parent.

    ``create_app`` opened some (to create the tables) before Celery's default pool forked;
    two processes must never share one.
    """
    with erlen_app.app_context():
        db.engine.dispose(close=False)
