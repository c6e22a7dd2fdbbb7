"""The app a real server loads: ``bench.serve:app``.

``ERLEN_BENCH_VARIANT`` names the variant (for example ``erlen-wsgi`` or ``starlette``) and
``ERLEN_BENCH_APP`` which of its apps to build: ``main`` (the default) or ``routes:N``.
"""

from __future__ import annotations

import os
from typing import Any

from bench.harness import FRAMEWORKS, load_framework


def load(variant_name: str, app_kind: str = "main") -> Any:
    """Build the named variant's app."""
    for framework in FRAMEWORKS:
        if variant_name in framework.variants:
            variants, reason = load_framework(framework.name)
            if reason is not None:
                raise RuntimeError(f"{variant_name}: {reason}")
            variant = next(v for v in variants if v.name == variant_name)
            if app_kind == "main":
                return variant.main()
            if variant.routes is None:
                raise RuntimeError(f"{variant_name} has no router")
            return variant.routes(int(app_kind.split(":", 1)[1]))
    raise LookupError(f"unknown variant {variant_name!r}")


app = load(os.environ["ERLEN_BENCH_VARIANT"], os.environ.get("ERLEN_BENCH_APP", "main"))
