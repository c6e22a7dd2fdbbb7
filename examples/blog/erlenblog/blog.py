"""The posts: a paginated, cached index; a page per post; writing, editing and deleting."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from erlen import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from erlen.contrib.auth import current_user, login_required

from . import posts
from .extensions import cache, db
from .models import Post

bp = Blueprint("blog", __name__)


def _personal() -> bool:
    # The cached copy is the anonymous page: anyone logged in, or with a message
    # waiting to be shown, gets a fresh one.
    return bool(current_user.is_authenticated or session.get("_flashes"))


@bp.route("/")
@cache.cached(timeout=60, key_prefix=posts.index_key, unless=_personal)
def index() -> str:
    """List the posts, newest first, a page at a time (``?page=2``)."""
    page = db.paginate(
        select(Post).order_by(Post.created.desc(), Post.id.desc()),
        per_page=current_app.config["POSTS_PER_PAGE"],
    )
    return render_template("blog/index.html", page=page)


@bp.route("/posts/<int:post_id>")
def detail(post_id: int) -> str:
    """Show one post."""
    return render_template("blog/detail.html", post=db.get_or_404(Post, post_id))


def _form(heading: str, post: Post | None = None) -> str:
    return render_template(
        "blog/form.html",
        heading=heading,
        post=post,
        allowed=posts.ALLOWED_EXTENSIONS,
        title_max=posts.TITLE_MAX,
    )


@bp.route("/posts/new", methods=["GET", "POST"])
@login_required
def create() -> Any:
    """Write a post, with an optional attachment."""
    if request.method == "POST":
        try:
            post = posts.create(
                current_user._get_current_object(),
                request.form.get("title", ""),
                request.form.get("body", ""),
                request.files.get("attachment"),
            )
        except posts.Invalid as e:
            flash(str(e), "error")
        else:
            flash("Your post is published.")
            return redirect(url_for("blog.detail", post_id=post.id))
    return _form("New post")


def _own_post(post_id: int) -> Post:
    post = db.get_or_404(Post, post_id)
    if post.author_id != current_user.id:
        abort(403, "Only the author can change this post.")
    return post


@bp.route("/posts/<int:post_id>/edit", methods=["GET", "POST"])
@login_required
def update(post_id: int) -> Any:
    """Edit one of your posts."""
    post = _own_post(post_id)
    if request.method == "POST":
        try:
            posts.update(
                post,
                request.form.get("title", ""),
                request.form.get("body", ""),
                request.files.get("attachment"),
            )
        except posts.Invalid as e:
            flash(str(e), "error")
        else:
            flash("Your post is saved.")
            return redirect(url_for("blog.detail", post_id=post.id))
    return _form("Edit post", post)


@bp.post("/posts/<int:post_id>/delete")
@login_required
def delete(post_id: int) -> Any:
    """Delete one of your posts."""
    posts.delete(_own_post(post_id))
    flash("The post is deleted.")
    return redirect(url_for("blog.index"))


@bp.route("/posts/<int:post_id>/files/<path:name>")
def download(post_id: int, name: str) -> Any:
    """Send a post's attachment: images inline, anything else as a download."""
    post = db.get_or_404(Post, post_id)
    if post.attachment != name:
        abort(404)
    return send_from_directory(
        posts.folder_of(post), name, as_attachment=not post.attachment_is_image
    )
