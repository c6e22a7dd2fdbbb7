"""Erlog, step 1: the smallest Erlen application."""

from erlen import Erlen

app = Erlen(__name__)


@app.route("/")
def hello():
    return "Hello, World!"
