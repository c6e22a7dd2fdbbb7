"""ihatemoney's own WSGI entry point, unchanged, with an async view and a WebSocket beside it.

Served in compat mode (``ERLEN_FLASK_COMPAT=1``): ``ihatemoney.wsgi.application`` is then
an Erlen app, so Erlen's additions go on that same object. Nothing in the ihatemoney
package is changed; the two routes below read what the app itself keeps: the session its
login writes (``session["projects"]``) and its Flask-SQLAlchemy models.
"""

from __future__ import annotations

import asyncio
from typing import Any

from flask import abort, jsonify, session
from ihatemoney.models import Project, db
from ihatemoney.wsgi import application as app

import erlen
from erlen import websocket

assert isinstance(app, erlen.Erlen), "serve this module with ERLEN_FLASK_COMPAT=1"


def _project_of_session(project_id: str) -> Project | None:
    if project_id not in session.get("projects", {}):
        return None
    return Project.query.get(project_id)


@app.get("/_erlen/summary/<project_id>")
async def summary(project_id: str) -> Any:
    """An ``async def`` view: the logged-in project's members and bill count."""
    await asyncio.sleep(0)  # really suspends: the view runs as a coroutine
    project = _project_of_session(project_id)
    if project is None:
        abort(403)
    members = sorted(m.name for m in project.members)
    return jsonify(project=project.name, members=members, bills=project.get_bills().count())


@app.websocket("/_erlen/ws/<project_id>")
async def live(project_id: str) -> Any:
    """A WebSocket for a logged-in project: answers each message with the member list."""
    project = _project_of_session(project_id)
    if project is None:
        return "Log in to this project first.", 403
    name = project.name
    # The connection may stay open long: end the database session between messages (its
    # identity map and transaction would otherwise keep what it read first).
    db.session.remove()
    await websocket.accept()
    async for message in websocket:
        members = sorted(m.name for m in Project.query.get(project_id).members)
        db.session.remove()
        await websocket.send_json({"project": name, "echo": message, "members": members})
