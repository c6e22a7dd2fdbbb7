"""Flaskr, the blog of Flask's tutorial, ported to Erlen by changing its imports only."""

import os

from erlen import Erlen


def create_app(test_config=None):
    """Create and configure an instance of the application."""
    app = Erlen(__name__, instance_relative_config=True)
    app.config.from_mapping(
        # A default secret for development; override it when deploying.
        SECRET_KEY="dev",
        # The SQLite database lives in the instance folder.
        DATABASE=os.path.join(app.instance_path, "flaskr.sqlite"),
    )

    if test_config is None:
        # Load the instance config, if it exists, when not testing.
        app.config.from_pyfile("config.py", silent=True)
    else:
        app.config.from_mapping(test_config)

    # The instance folder holds the database.
    os.makedirs(app.instance_path, exist_ok=True)

    @app.route("/hello")
    def hello():
        return "Hello, World!"

    from . import db

    db.init_app(app)

    from . import auth, blog

    app.register_blueprint(auth.bp)
    app.register_blueprint(blog.bp)

    # The blog has no URL prefix, so its index is the site's index; "index" and
    # "blog.index" both name the same URL.
    app.add_url_rule("/", endpoint="index")

    return app
