"""Erlog, step 2: routes with variables, HTTP methods, and URLs built with url_for."""

from markupsafe import escape

from erlen import Erlen, redirect, request, url_for

app = Erlen(__name__)


@app.route("/")
def index():
    hello = url_for("hello", name="Ada")
    post = url_for("show_post", post_id=1)
    search = url_for("search", q="erlen")
    return (
        "<h1>Erlog</h1>"
        f'<p><a href="{hello}">Say hello</a> · <a href="{post}">Read post 1</a>'
        f' · <a href="{search}">Search</a></p>'
    )


@app.route("/hello/<name>")
def hello(name):
    return f"Hello, {escape(name)}!"  # escape what a visitor typed before it becomes HTML


@app.route("/posts/<int:post_id>")
def show_post(post_id):
    return f"Post number {post_id}"


@app.get("/search")
def search():
    words = request.args.get("q", "")
    return f"You searched for: {escape(words)}"


@app.route("/about/")
def about():
    return "Erlog is a small blog written with Erlen."


@app.route("/greet", methods=["GET", "POST"])
def greet():
    if request.method == "POST":
        return redirect(url_for("hello", name=request.form["name"]))
    return '<form method="post"><input name="name"><button>Greet me</button></form>'
