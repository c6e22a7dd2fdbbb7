"""Middleware: code that wraps every request of an app, through either door.

* :mod:`erlen.middleware.security_headers` -- a strict set of security headers.
* :mod:`erlen.middleware.cors` -- cross-origin resource sharing.
* :mod:`erlen.middleware.proxy_fix` -- trust ``X-Forwarded-*`` from a known number of proxies.
* :mod:`erlen.middleware.debug` -- the interactive debugging page of the development server.

Like :mod:`erlen.contrib`, they use Erlen's public API only (the linter checks it).
"""
