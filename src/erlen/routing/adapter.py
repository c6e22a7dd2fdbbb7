"""MapAdapter: a map bound to one server, with Werkzeug's API for matching and building URLs.

Erlen's own dispatch matches with :meth:`Map.match` and builds with ``url_for``; this adapter
is what ``Map.bind``, ``Map.bind_to_environ`` and ``Erlen.create_url_adapter`` return, for
code written against Werkzeug's ``MapAdapter`` (extensions, Flask's test suite). It adds the
server's name, script root and scheme to what the map answers: absolute redirect URLs,
external URLs for other hosts and subdomains.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, overload
from urllib.parse import quote, urlencode

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import WebsocketMismatch

from .exceptions import BuildError, RequestRedirect

if TYPE_CHECKING:
    from .map import Map
    from .rules import Rule

#: Characters left as they are when a script root is put into a URL (as in ``url_for``).
_ROOT_SAFE = "/:@&$!'()*+,;=~%"


class MapAdapter:
    """Match paths and build URLs of a :class:`Map` for one server name and script root.

    ``subdomain`` is the current subdomain (``None`` under host matching, where
    ``server_name`` is the host rules match against). ``path_info``, ``default_method`` and
    ``query_args`` are what :meth:`match` uses when it is not given them. A ``ws`` or ``wss``
    ``url_scheme`` makes the adapter match WebSocket rules.
    """

    def __init__(
        self,
        map: Map,
        server_name: str,
        script_name: str,
        subdomain: str | None,
        url_scheme: str,
        path_info: str,
        default_method: str,
        query_args: Mapping[str, Any] | str | None = None,
    ) -> None:
        self.map = map
        self.server_name = server_name
        self.script_name = script_name if script_name.endswith("/") else script_name + "/"
        self.subdomain = subdomain
        self.url_scheme = url_scheme
        self.path_info = path_info
        self.default_method = default_method
        self.query_args = query_args
        self.websocket = url_scheme in ("ws", "wss")

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.url_scheme}://{self.get_host(None)}{self.script_name}>"
        )

    # -- matching ----------------------------------------------------------------------------

    @overload
    def match(
        self,
        path_info: str | None = None,
        method: str | None = None,
        return_rule: Literal[False] = False,
        query_args: Mapping[str, Any] | str | None = None,
        websocket: bool | None = None,
    ) -> tuple[Any, dict[str, Any]]: ...

    @overload
    def match(
        self,
        path_info: str | None = None,
        method: str | None = None,
        return_rule: Literal[True] = True,
        query_args: Mapping[str, Any] | str | None = None,
        websocket: bool | None = None,
    ) -> tuple[Rule, dict[str, Any]]: ...

    def match(
        self,
        path_info: str | None = None,
        method: str | None = None,
        return_rule: bool = False,
        query_args: Mapping[str, Any] | str | None = None,
        websocket: bool | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        """Return ``(endpoint, values)`` for a path, or ``(rule, values)`` with *return_rule*.

        Missing arguments come from the binding. Raise ``NotFound``, ``MethodNotAllowed``,
        ``WebsocketMismatch`` (the path matches only for the other kind of request) or
        :class:`RequestRedirect` with an absolute URL (the query arguments kept).
        """
        path = self.path_info if path_info is None else path_info
        method = (method or self.default_method).upper()
        ws = self.websocket if websocket is None else websocket
        where = self._where()
        try:
            rule, values = self.map.match(path, method, websocket=ws, **where)
        except RequestRedirect as e:
            if not e.keeps_query:
                query_args = ""
            raise RequestRedirect(self._redirect_url(e.new_url, query_args)) from None
        except NotFound:
            if (ws or self.map._has_websocket_rules()) and self._matches_other_kind(
                path, method, ws, where
            ):
                raise WebsocketMismatch() from None
            raise
        if return_rule:
            return rule, values
        return rule.endpoint, values

    def _where(self) -> dict[str, str | None]:
        if self.map.host_matching:
            return {"host": self.server_name}
        return {"subdomain": self.subdomain}

    def _matches_other_kind(
        self, path: str, method: str, ws: bool, where: dict[str, str | None]
    ) -> bool:
        try:
            self.map.match(path, method, websocket=not ws, **where)
        except NotFound:
            return False
        except HTTPException:
            return True
        return True

    def _redirect_url(self, target: str, query_args: Mapping[str, Any] | str | None) -> str:
        """Make the map's redirect target (a path under the root, or a URL) absolute."""
        if "://" in target or target.startswith("//"):
            return target
        if query_args is None:
            query_args = self.query_args
        query = self.encode_query_args(query_args) if query_args else ""
        root = quote(self.script_name.rstrip("/"), safe=_ROOT_SAFE)
        url = f"{self.url_scheme or 'http'}://{self.get_host(None)}{root}{target}"
        return f"{url}?{query}" if query else url

    def test(self, path_info: str | None = None, method: str | None = None) -> bool:
        """Return whether a path matches (a redirect counts as a match)."""
        try:
            self.match(path_info, method)
        except RequestRedirect:
            return True
        except HTTPException:
            return False
        return True

    def allowed_methods(self, path_info: str | None = None) -> Iterable[str]:
        """Return the methods the rules matching a path accept (empty when none match)."""
        try:
            self.match(path_info, method="--")
        except MethodNotAllowed as e:
            return e.valid_methods or []
        except HTTPException:
            pass
        return []

    def dispatch(
        self,
        view_func: Callable[[Any, dict[str, Any]], Any],
        path_info: str | None = None,
        method: str | None = None,
        catch_http_exceptions: bool = False,
    ) -> Any:
        """Match, then return ``view_func(endpoint, values)``.

        A redirect is returned (it is a response). Other HTTP errors are raised, or returned
        with *catch_http_exceptions*.
        """
        try:
            try:
                endpoint, values = self.match(path_info, method)
            except RequestRedirect as e:
                return e
            return view_func(endpoint, values)
        except HTTPException as e:
            if catch_http_exceptions:
                return e
            raise

    # -- building ----------------------------------------------------------------------------

    def get_host(self, domain_part: str | None) -> str:
        """Return the host for a rule's domain part (a host, or a subdomain; None: ours)."""
        if self.map.host_matching:
            return self.server_name if domain_part is None else domain_part
        subdomain = self.subdomain if domain_part is None else domain_part
        return f"{subdomain}.{self.server_name}" if subdomain else self.server_name

    def encode_query_args(self, query_args: Mapping[str, Any] | str) -> str:
        """Return *query_args* as a query string (a string is taken as one already)."""
        if isinstance(query_args, str):
            return query_args
        items: list[tuple[str, Any]] = []
        if hasattr(query_args, "getlist"):
            pairs: Iterable[tuple[str, Any]] = query_args.items(multi=True)  # type: ignore[call-arg]
        else:
            pairs = query_args.items()
        for key, value in pairs:
            if isinstance(value, (list, tuple)):
                items.extend((key, v) for v in value if v is not None)
            elif value is not None:
                items.append((key, value))
        return urlencode(items)

    def build(
        self,
        endpoint: Any,
        values: Mapping[str, Any] | None = None,
        method: str | None = None,
        force_external: bool = False,
        append_unknown: bool = True,
        url_scheme: str | None = None,
    ) -> str:
        """Return the URL of *endpoint* with *values*.

        The URL is a path under the script root when the rule is on this adapter's host (or
        subdomain), else absolute; *force_external* makes it absolute anyway, and a
        WebSocket rule's URL is always absolute (``ws``/``wss``). Without a scheme (neither
        *url_scheme* nor the adapter's) an absolute URL is protocol-relative. Values the rule
        doesn't take become the query string unless *append_unknown* is false. Raise
        :class:`BuildError` when no rule fits.
        """
        if method is None and self.default_method != "GET":
            try:
                path, rule = self.map.build(endpoint, values, self.default_method, append_unknown)
            except BuildError:
                path, rule = self.map.build(endpoint, values, None, append_unknown)
        else:
            path, rule = self.map.build(endpoint, values, method, append_unknown)
        domain = self.map.build_host(rule, values)
        if self.map.host_matching:
            host = domain or self.server_name
            here = host == self.server_name
        else:
            host = self.get_host(domain)
            here = domain == (self.subdomain or "")
        scheme = self.url_scheme if url_scheme is None else url_scheme
        secure = scheme in ("https", "wss")
        if rule.websocket:
            force_external = True
            scheme = "wss" if secure else "ws"
        elif scheme:
            scheme = "https" if secure else "http"
        root = quote(self.script_name.rstrip("/"), safe=_ROOT_SAFE)
        if here and not force_external:
            return f"{root}{path}"
        prefix = f"{scheme}:" if scheme else ""
        return f"{prefix}//{host}{root}{path}"


def _request_values(
    source: Mapping[str, Any] | Any,
) -> tuple[str, str, str, str, str, str]:
    """Return (host, scheme, script root, path, method, query string) of an environ or request.

    The scheme is ``ws``/``wss`` for a WebSocket handshake, as Werkzeug's binding has it.
    """
    if isinstance(source, Mapping):
        from werkzeug.wsgi import get_host

        def text(name: str) -> str:
            # WSGI carries text as latin-1 code points of the UTF-8 bytes.
            value = source.get(name) or ""
            return str(value).encode("latin-1").decode("utf-8", "replace")

        host = get_host(source)  # type: ignore[arg-type]
        scheme = str(source["wsgi.url_scheme"])
        upgrade = str(source.get("HTTP_UPGRADE", ""))
        connection = str(source.get("HTTP_CONNECTION", ""))
        script, path = text("SCRIPT_NAME"), text("PATH_INFO")
        method, query = str(source.get("REQUEST_METHOD", "GET")), text("QUERY_STRING")
    else:
        host = source.host
        scheme = source.scheme
        upgrade = source.headers.get("Upgrade", "")
        connection = source.headers.get("Connection", "")
        script, path, method = source.root_path, source.path, source.method
        query = source.query_string.decode("latin-1")
    if upgrade.lower() == "websocket" and any(
        token.strip(" \t") == "upgrade" for token in connection.lower().split(",")
    ):
        scheme = "wss" if scheme in ("https", "wss") else "ws"
    return host.lower(), scheme, script, path, method, query
