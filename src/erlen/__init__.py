"""Erlen: Flask's API on one app object that is both a WSGI and an ASGI application."""

from __future__ import annotations

from typing import Any

from . import json as json
from .app import Erlen as Erlen
from .blueprints import Blueprint as Blueprint
from .config import Config as Config
from .ctx import after_this_request as after_this_request
from .ctx import copy_current_request_context as copy_current_request_context
from .ctx import has_app_context as has_app_context
from .ctx import has_request_context as has_request_context
from .globals import current_app as current_app
from .globals import g as g
from .globals import request as request
from .globals import session as session
from .helpers import abort as abort
from .helpers import flash as flash
from .helpers import get_flashed_messages as get_flashed_messages
from .helpers import get_template_attribute as get_template_attribute
from .helpers import make_response as make_response
from .helpers import nonblocking as nonblocking
from .helpers import redirect as redirect
from .helpers import send_file as send_file
from .helpers import send_from_directory as send_from_directory
from .helpers import stream_request_body as stream_request_body
from .helpers import stream_with_context as stream_with_context
from .helpers import url_for as url_for
from .json import jsonify as jsonify
from .request import Request as Request
from .response import Response as Response
from .signals import appcontext_popped as appcontext_popped
from .signals import appcontext_pushed as appcontext_pushed
from .signals import appcontext_tearing_down as appcontext_tearing_down
from .signals import before_render_template as before_render_template
from .signals import got_request_exception as got_request_exception
from .signals import message_flashed as message_flashed
from .signals import request_finished as request_finished
from .signals import request_started as request_started
from .signals import request_tearing_down as request_tearing_down
from .signals import template_rendered as template_rendered
from .templating import render_template as render_template
from .templating import render_template_string as render_template_string
from .templating import stream_template as stream_template
from .templating import stream_template_string as stream_template_string

__version__ = "0.1.0"

# Imported last so that the package attribute is the proxy, not the submodule of
# the same name (reach the module's names with `from erlen.websocket import ...`).
from .websocket import WebSocketDisconnect as WebSocketDisconnect
from .websocket import websocket as websocket

_LAZY = {
    "EventSourceResponse": (".sse", "EventSourceResponse"),
    "ServerSentEvent": (".sse", "ServerSentEvent"),
}


def __getattr__(name: str) -> Any:
    # Real-time names load their modules on first use, keeping `import erlen` fast.
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'erlen' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(target[0], __name__)
    value = getattr(module, target[1])
    # Not globals(): inside this package that name is the erlen.globals module.
    _namespace[name] = value
    return value


_namespace = vars()
