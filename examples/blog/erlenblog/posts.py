"""What creating, changing and deleting a post involves, shared by the pages and the API.

Attachments live in ``UPLOAD_FOLDER/<post id>/<name>`` (the instance folder by default),
under a name made safe by ``secure_filename``; the database stores only the name.
"""

from __future__ import annotations

import os
import secrets
import shutil

from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from erlen import current_app, url_for

from . import tasks
from .extensions import cache, db
from .models import Post, User, utcnow

TITLE_MAX = 200
BODY_MAX = 20_000
ALLOWED_EXTENSIONS = ("csv", "gif", "jpeg", "jpg", "md", "pdf", "png", "txt", "webp")
# Every cached index page's key starts with this generation; a new one orphans them all.
INDEX_GENERATION = "erlenblog:index-generation"


class Invalid(ValueError):
    """What the user sent cannot be saved; the message says why."""


def validate(title: str, body: str) -> tuple[str, str]:
    """Return the stripped title and body, or raise :class:`Invalid`."""
    title, body = title.strip(), body.strip()
    if not title:
        raise Invalid("A post needs a title.")
    if len(title) > TITLE_MAX:
        raise Invalid(f"A title has at most {TITLE_MAX} characters.")
    if not body:
        raise Invalid("A post needs some text.")
    if len(body) > BODY_MAX:
        raise Invalid(f"A post has at most {BODY_MAX} characters.")
    return title, body


def attachment_name(file: FileStorage | None) -> str | None:
    """Return the safe name of an uploaded file (None if none was sent), or raise."""
    if file is None or not file.filename:
        return None
    name = secure_filename(file.filename)
    if not name or "." not in name:
        raise Invalid("The attachment needs a name with an extension.")
    if name.rpartition(".")[2].lower() not in ALLOWED_EXTENSIONS:
        raise Invalid(f"Attachments can be: {', '.join(ALLOWED_EXTENSIONS)}.")
    return name


def folder_of(post: Post) -> str:
    """The folder that holds a post's attachment."""
    return os.path.join(current_app.config["UPLOAD_FOLDER"], str(post.id))


def _store(post: Post, file: FileStorage, name: str) -> None:
    folder = folder_of(post)
    os.makedirs(folder, exist_ok=True)
    if post.attachment and post.attachment != name:
        _remove_file(folder, post.attachment)
    file.save(os.path.join(folder, name))
    post.attachment = name


def _remove_file(folder: str, name: str) -> None:
    try:
        os.remove(os.path.join(folder, name))
    except FileNotFoundError:
        pass


def create(author: User, title: str, body: str, file: FileStorage | None = None) -> Post:
    """Save a new post (and its attachment); a task then digests and announces it."""
    title, body = validate(title, body)
    name = attachment_name(file)
    post = Post(title=title, body=body, author=author)
    db.session.add(post)
    db.session.flush()  # the id names the attachment's folder
    if file is not None and name is not None:
        _store(post, file, name)
    db.session.commit()
    index_changed()
    # The digest and the announcement are a Celery task's (run here without a broker).
    tasks.prepare_post.delay(post.id, url_for("blog.detail", post_id=post.id))
    return post


def update(post: Post, title: str, body: str, file: FileStorage | None = None) -> Post:
    """Change a post's text and, if a file is given, replace its attachment."""
    post.title, post.body = validate(title, body)
    name = attachment_name(file)
    if file is not None and name is not None:
        _store(post, file, name)
    post.updated = utcnow()
    db.session.commit()
    index_changed()
    tasks.prepare_post.delay(post.id)  # a new digest for the new text
    return post


def delete(post: Post) -> None:
    """Delete a post and its attachment."""
    folder = folder_of(post)
    db.session.delete(post)
    db.session.commit()
    shutil.rmtree(folder, ignore_errors=True)
    index_changed()


def index_key() -> str:
    """The cache key of the index page for the current generation of posts."""
    generation = cache.get(INDEX_GENERATION)
    if generation is None:
        generation = secrets.token_hex(8)
        if not cache.add(INDEX_GENERATION, generation, timeout=0):
            generation = cache.get(INDEX_GENERATION) or generation
    return f"erlenblog:index:{generation}"


def index_changed() -> None:
    """Start a new generation: every cached index page is now out of reach (and expires)."""
    cache.set(INDEX_GENERATION, secrets.token_hex(8), timeout=0)
