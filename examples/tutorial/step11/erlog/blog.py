"""The blog's pages: list, read, write, change and delete posts, with a picture."""

import os
import shutil

from sqlalchemy import select
from werkzeug.utils import secure_filename

from erlen import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from erlen.contrib.auth import current_user, login_required

from .extensions import db
from .live import announce
from .models import Post

bp = Blueprint("blog", __name__)

PICTURE_TYPES = {"png", "jpg", "jpeg", "gif", "webp"}


@bp.route("/")
def index():
    posts = db.session.scalars(select(Post).order_by(Post.created.desc(), Post.id.desc()))
    return render_template("blog/index.html", posts=posts)


@bp.route("/posts/<int:post_id>")
def show_post(post_id):
    return render_template("blog/post.html", post=db.get_or_404(Post, post_id))


def form_is_valid():
    """Check the submitted post form; flash what is wrong."""
    picture = request.files.get("image")
    if not request.form["title"].strip():
        flash("A post needs a title.")
    elif picture and picture.filename and not is_picture(secure_filename(picture.filename)):
        flash("Only PNG, JPEG, GIF and WebP pictures can be attached.")
    else:
        return True
    return False


def is_picture(name):
    return name.rpartition(".")[2].lower() in PICTURE_TYPES


def folder_of(post):
    return os.path.join(current_app.config["UPLOAD_FOLDER"], str(post.id))


def save_picture(post):
    """Store the uploaded picture, if any, in the post's own folder."""
    picture = request.files.get("image")
    if picture and picture.filename:
        post.image = secure_filename(picture.filename)
        os.makedirs(folder_of(post), exist_ok=True)
        picture.save(os.path.join(folder_of(post), post.image))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    if request.method == "POST" and form_is_valid():
        title, body = request.form["title"].strip(), request.form["body"]
        post = Post(title=title, body=body, author_id=current_user.id)
        db.session.add(post)
        db.session.flush()  # the INSERT runs now: the post has its id, for its folder
        save_picture(post)
        db.session.commit()
        announce(post)
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
    if request.method == "POST" and form_is_valid():
        post.title = request.form["title"].strip()
        post.body = request.form["body"]
        save_picture(post)
        db.session.commit()
        return redirect(url_for(".show_post", post_id=post.id))
    return render_template("blog/form.html", post=post)


@bp.post("/posts/<int:post_id>/delete")
@login_required
def delete(post_id):
    post = own_post(post_id)
    db.session.delete(post)
    db.session.commit()
    shutil.rmtree(folder_of(post), ignore_errors=True)
    flash("The post was deleted.")
    return redirect(url_for(".index"))


@bp.route("/posts/<int:post_id>/image")
def image(post_id):
    post = db.get_or_404(Post, post_id)
    if post.image is None:
        abort(404)
    # send_from_directory refuses any name that would leave the folder.
    return send_from_directory(folder_of(post), post.image)
