"""Erlog, a small blog: the application factory."""

from erlen import Erlen

from .extensions import csrf, db, login_manager


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
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"  # where login_required sends visitors
    csrf.init_app(app)

    from . import auth, blog

    app.register_blueprint(auth.bp)
    app.register_blueprint(blog.bp)
    return app
