"""Signals sent by Erlen at the same points as Flask's (via blinker).

Senders check ``signal.receivers`` first, so a signal nobody listens to costs
one attribute test on the request path.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: Sent after a template was rendered, with ``template`` and ``context``; the sender is the app.
template_rendered = _signals.signal("template-rendered")
#: Sent before a template is rendered, with ``template`` and ``context`` (which receivers may
#: change); the sender is the app.
before_render_template = _signals.signal("before-render-template")
#: Sent when a request starts, before it is dispatched (the request context is pushed).
request_started = _signals.signal("request-started")
#: Sent after the response was made, with ``response``, before it is sent.
request_finished = _signals.signal("request-finished")
#: Sent when the request context is torn down, with ``exc`` (the unhandled error or ``None``).
request_tearing_down = _signals.signal("request-tearing-down")
#: Sent when an unhandled error reaches the app's error handling, with ``exception``.
got_request_exception = _signals.signal("got-request-exception")
#: Sent when the app context is torn down, with ``exc`` (the unhandled error or ``None``).
appcontext_tearing_down = _signals.signal("appcontext-tearing-down")
#: Sent when an app context is pushed; the sender is the app.
appcontext_pushed = _signals.signal("appcontext-pushed")
#: Sent when an app context is popped; the sender is the app.
appcontext_popped = _signals.signal("appcontext-popped")
#: Sent when :func:`erlen.flash` records a message, with ``message`` and ``category``.
message_flashed = _signals.signal("message-flashed")
#: Sent when a WebSocket handler starts (Erlen only: Flask has no WebSockets).
websocket_started = _signals.signal("websocket-started")
#: Sent when a WebSocket handler has returned or raised (Erlen only).
websocket_finished = _signals.signal("websocket-finished")

__all__ = [
    "appcontext_popped",
    "appcontext_pushed",
    "appcontext_tearing_down",
    "before_render_template",
    "got_request_exception",
    "message_flashed",
    "request_finished",
    "request_started",
    "request_tearing_down",
    "template_rendered",
    "websocket_finished",
    "websocket_started",
]
