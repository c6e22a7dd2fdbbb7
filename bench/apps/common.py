"""What every benchmark app shares: the variant record, the data the scenarios use, fixed names.

App modules import only this module from the harness side, so that each of them stays a plain,
idiomatic app of its framework that a reader can compare with the framework's own documentation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

# 32 characters: Litestar's cookie session backend takes a 16, 24 or 32 byte secret.
SECRET_KEY = "bench-secret-key-0123456789abcde"
TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATE_NAME = "page.html"
TEMPLATE_CONTEXT: dict[str, Any] = {
    "title": "Bench page",
    "items": [{"name": f"item {i}", "value": i * 7} for i in range(10)],
}

# The main app registers these besides its scenario routes ("a path parameter with 100 other
# rules registered").
FILLER_STATIC = 50  # /page0 ... /page49
FILLER_DYNAMIC = 50  # /item0/<int:item_id> ... /item49/<int:item_id>

HELLO = "Hello, World!"
JSON_PAYLOAD: dict[str, Any] = {"message": HELLO, "ok": True, "items": [1, 2, 3]}

# The WebSocket apps (``create_websocket_app()`` in the Erlen and Starlette modules): an echo
# handler, and a room that every connection joins and whose messages go to every member, the
# sender too (as in a chat).  A member sends WS_JOINED once it is in the room.
WS_ECHO_PATH = "/ws/echo"
WS_ROOM_PATH = "/ws/room"
WS_ROOM = "bench"
WS_JOINED = "joined"

Protocol = Literal["wsgi", "asgi"]
Views = Literal["sync", "async"]


@dataclass(frozen=True)
class Variant:
    """One way of running a framework: its protocol door and the kind of views it uses.

    ``main()`` builds the app with every scenario route (and the filler rules); ``routes(n)``
    builds an app with exactly ``n`` dynamic rules ``/r{i}/<int:item_id>`` (nothing else).
    ``unsupported`` maps scenario names to the reason the framework cannot do them natively;
    ``unavailable`` says why the variant cannot run at all (an optional package is missing).
    ``hooks`` says the app has a before/after-request hook pair, which the harness checks for
    (the after-request hook sets ``X-Frame-Options: DENY``).
    """

    name: str
    framework: str
    protocol: Protocol
    views: Views
    main: Callable[[], Any]
    routes: Callable[[int], Any] | None = None
    unsupported: Mapping[str, str] = field(default_factory=dict)
    hooks: bool = False
    description: str = ""
    unavailable: str = ""  # why the variant cannot run at all here (a missing optional package)
