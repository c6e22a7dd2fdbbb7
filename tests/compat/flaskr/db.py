import sqlite3
from datetime import datetime

import click

from erlen import current_app, g


def get_db():
    """Connect to the configured database, once per application context."""
    if "db" not in g:
        g.db = sqlite3.connect(current_app.config["DATABASE"], detect_types=sqlite3.PARSE_DECLTYPES)
        g.db.row_factory = sqlite3.Row
    return g.db


def close_db(e=None):
    """Close the connection, if this context opened one."""
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_db():
    """Drop the tables and create them again from schema.sql."""
    db = get_db()
    with current_app.open_resource("schema.sql") as f:
        db.executescript(f.read().decode("utf8"))


# Read TIMESTAMP columns as datetime objects (the sqlite3 default converter is deprecated).
sqlite3.register_converter("timestamp", lambda v: datetime.fromisoformat(v.decode()))


def init_app(app):
    """Close the database at the end of each request and add the init-db command."""
    app.teardown_appcontext(close_db)

    @app.cli.command("init-db")
    def init_db_command():
        """Clear the existing data and create new tables."""
        init_db()
        click.echo("Initialized the database.")
