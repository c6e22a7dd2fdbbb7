"""The blog's pages: list, read, write, change and delete posts."""

from sqlalchemy import select

from erlen import Blueprint, abort, flash, redirect, render_template, request, url_for
from erlen.contrib.auth import current_user, login_required

from .extensions import db
from .models import Post

bp = Blueprint("blog", __name__)


@bp.route("/")
def index():
    posts = db.session.scalars(select(Post).order_by(Post.created.desc(), Post.id.desc()))
    return render_template("blog/index.html", posts=posts)


@bp.route("/posts/<int:post_id>")
def show_post(post_id):
    return render_template("blog/post.html", post=db.get_or_404(Post, post_id))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    if request.method == "POST":
        title = request.form["title"].strip()
        if not title:
            flash("A post needs a title.")
        else:
            post = Post(title=title, body=request.form["body"], author_id=current_user.id)
            db.session.add(post)
            db.session.commit()
            return redirect(url_for(".show_post", post_id=post.id))
    return render_template("blog/form.html", post=None)


def own_post(post_id):
    """The post, if the user who asks wrote it: 404 if there is none, else 403."""
    post = db.get_or_404(Post, post_id)
    if post.author_id != current_user.id:
        abort(403)
    return post


@bp.route("/posts/<int:post_id>/edit", methods=["GET", "POST"])
@login_required
def edit(post_id):
    post = own_post(post_id)
    if request.method == "POST":
        title = request.form["title"].strip()
        if not title:
            flash("A post needs a title.")
        else:
            post.title = title
            post.body = request.form["body"]
            db.session.commit()
            return redirect(url_for(".show_post", post_id=post.id))
    return render_template("blog/form.html", post=post)


@bp.post("/posts/<int:post_id>/delete")
@login_required
def delete(post_id):
    db.session.delete(own_post(post_id))
    db.session.commit()
    flash("The post was deleted.")
    return redirect(url_for(".index"))
