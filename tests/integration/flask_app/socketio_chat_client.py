"""Two python-socketio clients talk through ``socketio_chat`` on a real server.

``python socketio_chat_client.py URL TRANSPORT`` prints what they saw as JSON: the plain
HTTP page, each client's transport, welcome, join answer and the chat messages it received.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

import requests
import socketio

WAIT = 10.0


class Peer:
    """One client and what it received."""

    def __init__(self) -> None:
        self.client = socketio.Client(reconnection=False)
        self.welcome: dict[str, Any] = {}
        self.chats: list[dict[str, Any]] = []
        self.welcomed = threading.Event()
        self.chatted = threading.Event()
        self.client.on("welcome", self._on_welcome)
        self.client.on("chat", self._on_chat)

    def _on_welcome(self, data: dict[str, Any]) -> None:
        self.welcome = data
        self.welcomed.set()

    def _on_chat(self, data: dict[str, Any]) -> None:
        self.chats.append(data)
        self.chatted.set()

    def connect(self, url: str, transport: str, headers: dict[str, str]) -> dict[str, Any]:
        self.client.connect(url, transports=[transport], headers=headers, wait_timeout=WAIT)
        return {"transport": self.client.transport(), "sid": self.client.get_sid()}


def main(url: str, transport: str) -> dict[str, Any]:
    http = requests.Session()
    page = http.get(f"{url}/", params={"nick": "alice"}, timeout=WAIT)
    out: dict[str, Any] = {
        "http": {"status": page.status_code, "body": page.text, "cookie": "session" in http.cookies}
    }
    alice, bob = Peer(), Peer()
    try:
        # Alice brings the session cookie of the page: her nick comes from the HTTP session.
        out["alice"] = alice.connect(
            url, transport, {"Cookie": f"session={http.cookies['session']}"}
        )
        out["bob"] = bob.connect(url, transport, {})
        for name, peer in (("alice", alice), ("bob", bob)):
            out[name]["welcomed"] = peer.welcomed.wait(WAIT)
            out[name]["welcome"] = peer.welcome
        out["alice"]["join"] = alice.client.call("join", {"room": "lobby"}, timeout=WAIT)
        out["bob"]["join"] = bob.client.call("join", {"room": "lobby", "nick": "bob"}, timeout=WAIT)
        alice.client.emit("chat", {"room": "lobby", "text": "hello from alice"})
        out["bob"]["chatted"] = bob.chatted.wait(WAIT)
        bob.client.emit("chat", {"room": "lobby", "text": "hi alice"})
        out["alice"]["chatted"] = alice.chatted.wait(WAIT)
        out["alice"]["chats"], out["bob"]["chats"] = alice.chats, bob.chats
    finally:
        for peer in (alice, bob):
            peer.client.disconnect()
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
