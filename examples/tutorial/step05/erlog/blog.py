"""The blog's pages: list, read, write, change and delete posts."""

from sqlalchemy import select

from erlen import Blueprint, flash, redirect, render_template, request, url_for

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
def create():
    if request.method == "POST":
        title = request.form["title"].strip()
        if not title:
            flash("A post needs a title.")
        else:
            post = Post(title=title, body=request.form["body"])
            db.session.add(post)
            db.session.commit()
            return redirect(url_for(".show_post", post_id=post.id))
    return render_template("blog/form.html", post=None)


@bp.route("/posts/<int:post_id>/edit", methods=["GET", "POST"])
def edit(post_id):
    post = db.get_or_404(Post, post_id)
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
def delete(post_id):
    db.session.delete(db.get_or_404(Post, post_id))
    db.session.commit()
    flash("The post was deleted.")
    return redirect(url_for(".index"))
