"""Erlog, step 3: pages rendered from Jinja templates, with a shared layout."""

from erlen import Erlen, abort, render_template

app = Erlen(__name__)

POSTS = [
    {"id": 1, "title": "Hello, Erlog", "body": "The first post of a small blog."},
    {"id": 2, "title": "Templates", "body": "Pages now come from templates/."},
]


@app.route("/")
def index():
    return render_template("index.html", posts=POSTS)


@app.route("/posts/<int:post_id>")
def show_post(post_id):
    post = next((p for p in POSTS if p["id"] == post_id), None)
    if post is None:
        abort(404)
    return render_template("post.html", post=post)
