"""Redirect targets with the verdict ``erlen.contrib.auth.is_safe_url`` must give them.

Shared by the unit tests (tests/unit/contrib/test_safe_url.py), the example app's login
(tests/examples/test_blog.py) and the check of the table itself against Chromium's URL
parser (tests/integration/test_safe_url_browser.py).

Every target is judged on a page of ``https://site.example`` (``HTTPS_CASES``) and a few of them
also on a page of ``http://site.example`` (``HTTP_CASES``). A verdict is one of:

* ``SAFE``: accepted, and a browser resolves it to the page's own origin;
* ``UNSAFE``: refused, and a browser leaves the site with it (another origin, another scheme
  such as ``javascript:``) or finds no URL in it at all;
* ``REFUSED``: refused although a browser would stay on the site: the target is written in a
  way only browsers read like that (a backslash, a control character, ``https:x``, user info,
  a non-ASCII or percent-encoded host), or it turns into an unsafe one when percent-decoded
  once more by some other component.
"""

from __future__ import annotations

SAFE = "safe"
UNSAFE = "unsafe"
REFUSED = "refused"

SITE = "site.example"
HTTPS_BASE = f"https://{SITE}"
HTTP_BASE = f"http://{SITE}"
#: The page a target is resolved on (the path matters for relative targets only).
PAGE = "/dir/page?q=1"

HTTPS_CASES: list[tuple[str, str]] = [
    # -- legitimate targets ----------------------------------------------------------------------
    ("/", SAFE),
    ("/posts/1?x=1", SAFE),
    ("/account", SAFE),
    ("/a?b=c#d", SAFE),
    ("posts", SAFE),
    ("?page=2", SAFE),
    ("#top", SAFE),
    (".", SAFE),
    ("./x", SAFE),
    ("../up", SAFE),
    ("/a//b", SAFE),
    ("/a:b", SAFE),
    ("/evil.com", SAFE),
    ("evil.com", SAFE),
    ("/posts/hello world", SAFE),
    ("/café", SAFE),
    ("/search?q=a%2Fb", SAFE),
    ("/account?next=//evil.com", SAFE),
    ("/go?to=https%3A%2F%2Fevil.com", SAFE),
    ("\uff0f\uff0fevil.com", SAFE),  # fullwidth solidi are not slashes: a relative path
    ("https://site.example/x", SAFE),
    ("https://site.example", SAFE),
    ("https://site.example?x=1", SAFE),
    ("https://SITE.EXAMPLE/x", SAFE),
    ("HTTPS://Site.Example:443/x", SAFE),
    ("https://site.example:0443/x", SAFE),
    ("https://site.example:/x", SAFE),
    # -- any number of slashes and backslashes -------------------------------------------------
    ("//evil.com", UNSAFE),
    ("///evil.com", UNSAFE),
    ("////evil.com", UNSAFE),
    ("/////evil.com/x", UNSAFE),
    ("\\\\evil.com", UNSAFE),
    ("\\\\\\\\evil.com", UNSAFE),
    ("/\\evil.com", UNSAFE),
    ("\\/evil.com", UNSAFE),
    ("/\\/evil.com", UNSAFE),
    ("\\//evil.com", UNSAFE),
    ("//\\evil.com", UNSAFE),
    ("\\/\\/evil.com", UNSAFE),
    ("//evil.com/site.example", UNSAFE),
    ("\\evil.com", REFUSED),  # one backslash: /evil.com in a browser
    ("/x\\y", REFUSED),
    # -- tabs, newlines, controls and spaces that browsers strip -----------------------------
    ("/\t/evil.com", UNSAFE),
    ("\t//evil.com", UNSAFE),
    ("/\n/evil.com", UNSAFE),
    ("/\r\n/evil.com", UNSAFE),
    ("//\tevil.com", UNSAFE),
    ("/\t\\evil.com", UNSAFE),
    (" //evil.com", UNSAFE),
    ("\x00//evil.com", UNSAFE),
    ("\x1f//evil.com", UNSAFE),
    ("\x0b\x0c//evil.com", UNSAFE),
    ("//evil.com\x00", UNSAFE),
    ("//evil.com ", UNSAFE),
    (" /x", REFUSED),
    ("/x ", REFUSED),
    ("/x\r\nSet-Cookie: a=b", REFUSED),
    ("/\x7f/evil.com", REFUSED),
    # -- percent-encoded, once or twice --------------------------------------------------------
    ("%2F%2Fevil.com", REFUSED),
    ("%2f%2fevil.com", REFUSED),
    ("/%2F%2Fevil.com", REFUSED),
    ("/%2Fevil.com", REFUSED),
    ("%5C%5Cevil.com", REFUSED),
    ("/%5Cevil.com", REFUSED),
    ("/%09/evil.com", REFUSED),
    ("%09//evil.com", REFUSED),
    ("%252F%252Fevil.com", REFUSED),
    ("%25252F%25252Fevil.com", REFUSED),
    ("javascript%3Aalert(1)", REFUSED),
    ("https%3A%2F%2Fevil.com", REFUSED),
    ("//evil%2Ecom", UNSAFE),
    ("https://evil%2Ecom/", UNSAFE),
    ("https://site%2Eexample/", REFUSED),
    # -- other schemes -------------------------------------------------------------------------
    ("javascript:alert(1)", UNSAFE),
    ("JaVaScRiPt:alert(1)", UNSAFE),
    ("java\tscript:alert(1)", UNSAFE),
    ("java\nscript:alert(1)", UNSAFE),
    (" javascript:alert(1)", UNSAFE),
    ("\x01javascript:alert(1)", UNSAFE),
    ("javascript://site.example/%0Aalert(1)", UNSAFE),
    ("data:text/html,<script>alert(1)</script>", UNSAFE),
    ("vbscript:msgbox(1)", UNSAFE),
    ("file:///etc/passwd", UNSAFE),
    ("ftp://site.example/", UNSAFE),
    ("ws://site.example/", UNSAFE),
    ("wss://site.example/", UNSAFE),
    ("mailto:someone@evil.com", UNSAFE),
    ("blob:https://site.example/0a1b", REFUSED),  # a blob: URL has the origin it names
    # -- http:x, https:/x and friends ----------------------------------------------------------
    ("http:evil.com", UNSAFE),
    ("http:/evil.com", UNSAFE),
    ("http:\\evil.com", UNSAFE),
    ("http://evil.com", UNSAFE),
    ("https:evil.com", REFUSED),  # relative to an https page: /dir/evil.com
    ("https:/evil.com", REFUSED),
    ("https:\\evil.com", REFUSED),
    ("https://evil.com", UNSAFE),
    ("https:\\\\evil.com", UNSAFE),
    ("https:/\\evil.com", UNSAFE),
    ("https:\\/evil.com", UNSAFE),
    ("https:///evil.com", UNSAFE),
    ("https:////evil.com", UNSAFE),
    ("HTTPS://EVIL.COM", UNSAFE),
    ("https:///site.example/", REFUSED),
    # -- user info -----------------------------------------------------------------------------
    ("//site.example@evil.com", UNSAFE),
    ("https://site.example@evil.com", UNSAFE),
    ("https://site.example:443@evil.com", UNSAFE),
    ("https://site.example:pw@evil.com/", UNSAFE),
    ("https://evil.com\\@site.example", UNSAFE),
    ("https://evil.com#@site.example", UNSAFE),
    ("https://evil.com?@site.example", UNSAFE),
    ("https://evil.com/@site.example", UNSAFE),
    ("https://evil.com%40site.example/", UNSAFE),
    ("https://user:pw@site.example/", REFUSED),
    ("https://evil.com@site.example/", REFUSED),
    ("https://site.example\\@evil.com", REFUSED),  # a browser reads host site.example
    # -- other hosts and ports -----------------------------------------------------------------
    ("https://site.example.evil.com/", UNSAFE),
    ("https://evil.com/site.example", UNSAFE),
    ("https://site.example./", UNSAFE),
    ("https://site.ex\u0430mple/", UNSAFE),  # a Cyrillic a
    ("https://xn--site-example/", UNSAFE),
    ("https://\uff53\uff49\uff54\uff45.example/", REFUSED),  # fullwidth "site"
    ("https://site.example:8443/", UNSAFE),
    ("https://site.example:444/", UNSAFE),
    ("https://site.example:65536/", UNSAFE),
    ("https://site.example:x/", UNSAFE),
    ("https://evil.com:443/", UNSAFE),
    ("http://site.example/", UNSAFE),
    ("http://site.example:443/", UNSAFE),
    ("https://127.0.0.1/", UNSAFE),
    ("https://0x7f.1/", UNSAFE),
    ("https://2130706433/", UNSAFE),
    ("https://[::1]/", UNSAFE),
    ("https://[::1/", UNSAFE),
]

#: Targets whose verdict depends on the page's scheme, judged on ``http://site.example``.
HTTP_CASES: list[tuple[str, str]] = [
    ("/", SAFE),
    ("posts", SAFE),
    ("http://site.example/x", SAFE),
    ("HTTP://SITE.EXAMPLE:80/x", SAFE),
    ("https://site.example/x", UNSAFE),  # another origin, although the same host
    ("////evil.com", UNSAFE),
    ("http:evil.com", REFUSED),  # relative to an http page
    ("http:/evil.com", REFUSED),
    ("http:\\evil.com", REFUSED),
    ("https:evil.com", UNSAFE),
    ("https:/evil.com", UNSAFE),
    ("https:\\evil.com", UNSAFE),
    ("http://site.example:8080/", UNSAFE),
    ("blob:http://site.example/0a1b", REFUSED),
]


def generated_targets() -> list[str]:
    """Several thousand targets built from the pieces open redirects are made of.

    An optional scheme, a run of slashes, backslashes and tabs, a host with or without
    user info and a tail: the resolver and ``redirect()`` are checked on all of them
    (and against Chromium by the browser test).
    """
    starts = ["", "https:", "http:", "HTTPS:", " ", " https:", "\t", "\x00", "%2F"]
    pieces = ["/", "\\", "\t", "%5C"]
    runs = [""] + pieces + [a + b for a in pieces for b in pieces]
    runs += [a + b + c for a in ("/", "\\") for b in ("/", "\\") for c in ("/", "\\")]
    runs += ["////", "/////"]
    hosts = [
        SITE,
        "evil.com",
        f"{SITE}@evil.com",
        f"evil.com@{SITE}",
        f"{SITE}\\@evil.com",
        f"evil.com\\@{SITE}",
        f"{SITE}:443",
        f"{SITE}#@evil.com",
        f"{SITE}%40evil.com",
        "EVIL.COM:80",
    ]
    tails = ["", "/x", "\\x", "?a=//evil.com"]
    built = (s + r + h + t for s in starts for r in runs for h in hosts for t in tails)
    return list(dict.fromkeys(built))
