"""Background work, run by Celery: a saved post's digest, then the new post's announcement.

With a broker configured (``ERLENBLOG_CELERY__broker_url``) a worker process runs the tasks::

    cd examples/blog && celery -A erlenblog.worker worker --loglevel INFO

and the request that publishes a post returns at once. Without one (plain ``make run``)
Celery runs them eagerly, inside that request, so the app needs no broker in development.
"""

from __future__ import annotations

import os
import re
from typing import Any

from celery import shared_task  # type: ignore[import-untyped]  # Celery has no type hints

from erlen import Erlen, current_app
from erlen.contrib.celery import celery_init_app

from . import notify, posts
from .extensions import db
from .live import publish_from_sync
from .models import Post, PostDigest

#: Silent reading speed of an adult reader.
WORDS_PER_MINUTE = 220
EXCERPT_LENGTH = 240
_SPACE = re.compile(r"\s+")


def init_app(app: Erlen) -> None:
    """Make the app's Celery app from ``CELERY`` (a dict of Celery settings)."""
    settings = app.config["CELERY"] = dict(app.config.get("CELERY") or {})
    if not settings.get("broker_url") and not os.environ.get("CELERY_BROKER_URL"):
        settings.setdefault("task_always_eager", True)  # on purpose: no broker, no worker
    else:
        # Celery's keys in Redis start with the app's prefix too, like every other key.
        keys = {"global_keyprefix": app.config["REDIS_PREFIX"] + "celery:"}
        settings.setdefault("broker_transport_options", keys)
        settings.setdefault("result_backend_transport_options", keys)
        if not app.config.get("REDIS_URL"):
            app.logger.warning(
                "A Celery broker without REDIS_URL: the worker's announcements of new posts"
                " reach no page (set REDIS_URL so that the worker and the web processes"
                " share the hub)."
            )
    celery_init_app(app)


def excerpt(text: str, length: int = EXCERPT_LENGTH) -> str:
    """The start of ``text`` on one line, cut at a word boundary, with an ellipsis if cut."""
    flat = _SPACE.sub(" ", text).strip()
    if len(flat) <= length:
        return flat
    cut = flat[: length - 1].rsplit(" ", 1)[0] or flat[: length - 1]
    return cut.rstrip(" .,;:") + "…"


@shared_task(ignore_result=False)  # type: ignore[untyped-decorator]
def prepare_post(post_id: int, url: str | None = None) -> dict[str, Any] | None:
    """Save a post's digest (words, reading time, excerpt); with ``url``, announce the post.

    ``url`` is the post's page, built by the view (a worker has no request to build it
    from). Returns the digest, or None when the post was deleted before the task ran.
    """
    post = db.session.get(Post, post_id)
    if post is None:
        return None
    words = len(post.body.split())
    digest = post.digest
    if digest is None:
        digest = post.digest = PostDigest()
    digest.words = words
    digest.reading_minutes = max(1, -(-words // WORDS_PER_MINUTE))
    digest.excerpt = excerpt(post.body)
    db.session.commit()
    posts.index_changed()  # the cached index pages predate the digest
    current_app.logger.info("Post %d: %d words, digest saved.", post_id, words)
    if url is not None:
        publish_from_sync(
            notify.ROOM,
            {
                "id": post.id,
                "title": post.title,
                "author": post.author.username,
                "url": url,
                "excerpt": digest.excerpt,
                "reading_minutes": digest.reading_minutes,
            },
        )
    return {"post": post_id, "words": words, "reading_minutes": digest.reading_minutes}
