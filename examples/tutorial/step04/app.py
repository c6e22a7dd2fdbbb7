"""Erlog, step 4: posts stored with SQLAlchemy in a SQLite database."""

from datetime import datetime, timezone

from sqlalchemy import String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from erlen import Erlen, flash, redirect, render_template, request, url_for
from erlen.contrib.sqlalchemy import SQLAlchemy

app = Erlen(__name__)
app.config.from_mapping(
    SECRET_KEY="dev",  # signs the session cookie that carries flashed messages
    SQLALCHEMY_DATABASE_URI="sqlite:///erlog.sqlite",  # a file in the instance folder
)
app.config.from_prefixed_env()  # ERLEN_SECRET_KEY=... in the environment wins
db = SQLAlchemy(app)


def now():
    return datetime.now(timezone.utc)


class Post(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(default=now)


@app.route("/")
def index():
    posts = db.session.scalars(select(Post).order_by(Post.created.desc(), Post.id.desc()))
    return render_template("index.html", posts=posts)


@app.route("/posts/<int:post_id>")
def show_post(post_id):
    return render_template("post.html", post=db.get_or_404(Post, post_id))


@app.route("/new", methods=["GET", "POST"])
def create():
    if request.method == "POST":
        title = request.form["title"].strip()
        body = request.form["body"]
        if not title:
            flash("A post needs a title.")
        else:
            post = Post(title=title, body=body)
            db.session.add(post)
            db.session.commit()
            return redirect(url_for("show_post", post_id=post.id))
    return render_template("form.html", post=None)


@app.route("/posts/<int:post_id>/edit", methods=["GET", "POST"])
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
            return redirect(url_for("show_post", post_id=post.id))
    return render_template("form.html", post=post)


@app.post("/posts/<int:post_id>/delete")
def delete(post_id):
    db.session.delete(db.get_or_404(Post, post_id))
    db.session.commit()
    flash("The post was deleted.")
    return redirect(url_for("index"))
