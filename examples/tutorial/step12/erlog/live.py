"""Live notifications: every open page hears about new posts (server-sent events)."""

from erlen import Blueprint, Response, request, url_for

from .extensions import hub

bp = Blueprint("live", __name__)
ROOM = "posts"


def announce(post):
    """Tell every open page about a new post (callable from sync views, on both doors)."""
    url = url_for("blog.show_post", post_id=post.id)
    hub.publish_sync(ROOM, {"title": post.title, "author": post.author.username, "url": url})


@bp.route("/notifications")
def stream():
    if request.scope is None:
        # Under a WSGI server an open stream would hold a worker thread for each open tab:
        # 204 tells the browser's EventSource to stop trying.
        return Response(status=204)
    # Replays what a returning browser missed (its Last-Event-ID), then goes live.
    return hub.event_stream(ROOM, event="post", retry=3000)
