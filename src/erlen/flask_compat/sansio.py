"""``flask.sansio`` in compat mode: Erlen has one app class for both doors.

``flask.sansio.app``, ``flask.sansio.scaffold`` and ``flask.sansio.blueprints`` answer with
:mod:`erlen.app`, :mod:`erlen.scaffold` and :mod:`erlen.blueprints`, so ``App`` is
:class:`erlen.Erlen` and ``isinstance(app, App)`` holds for every Erlen app.
"""

from __future__ import annotations

__path__: list[str] = []
