"""Erlog, a small blog: the application factory."""

from erlen import Erlen

from .extensions import db


def create_app(test_config=None):
    """Create and configure an Erlog app; ``test_config`` replaces the instance config."""
    app = Erlen(__name__, instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY="dev",
        SQLALCHEMY_DATABASE_URI="sqlite:///erlog.sqlite",
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)  # instance/config.py, if there is one
        app.config.from_prefixed_env()
    else:
        app.config.from_mapping(test_config)

    db.init_app(app)

    from . import blog, models  # noqa: F401 - models registers the tables with db

    app.register_blueprint(blog.bp)
    return app
