"""Plain views pay nothing for erlen.typed: it is not imported, and they answer as before."""

import json
import subprocess
import sys
from typing import Any

from erlen import Erlen
from erlen.typed import typed, typed_spec

CHECK = """
import json, sys
import erlen
from erlen import Erlen, Blueprint, request
from erlen.views import MethodView

app = Erlen("plain")

@app.get("/<int:n>")
def view(n):
    return {"n": n, "q": request.args.get("q")}

class Things(MethodView):
    def get(self):
        return "things"

app.add_url_rule("/things", view_func=Things.as_view("things"))
answers = []
for asgi in (False, True):
    c = app.test_client(asgi=asgi)
    answers.append([c.get("/3?q=x").get_json(), c.get("/things").get_data(as_text=True)])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("pydantic", "pydantic_core", "msgspec")
                or m.startswith("erlen.typed"))
print(json.dumps({"answers": answers, "loaded": loaded}))
"""


def test_plain_app_never_imports_typed_or_pydantic() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60, check=True
    )
    result = json.loads(out.stdout)
    assert result["answers"] == [[{"n": 3, "q": "x"}, "things"]] * 2
    assert result["loaded"] == []


def test_the_check_sees_an_import() -> None:
    # The same check notices erlen.typed and pydantic once something imports them.
    code = CHECK.replace("import erlen\n", "import erlen\nimport erlen.typed\nimport pydantic\n")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = json.loads(out.stdout)["loaded"]
    assert "erlen.typed" in loaded
    assert "pydantic" in loaded


def test_plain_view_is_not_wrapped(client: Any) -> None:
    app = Erlen(__name__)

    def plain(n: int) -> str:
        return f"n={n!r}"

    app.add_url_rule("/<n>", view_func=plain)
    assert app.view_functions["plain"] is plain
    assert typed_spec(plain) is None
    r = client(app).get("/abc")  # no validation: the annotation is only a hint
    assert (r.status_code, r.mimetype, r.data) == (200, "text/html", b"n='abc'")


def test_typed_compiles_on_first_use(client: Any) -> None:
    # Annotations may name a model defined after the view (it is read at the first request).
    app = Erlen(__name__)

    @app.post("/late")
    @typed
    def late(item: "LateItem") -> "LateItem":  # noqa: F821 - defined below
        return item

    spec = late.__erlen_typed__  # type: ignore[attr-defined]
    assert spec.compiled is False
    globals()["LateItem"] = _late_model()
    try:
        r = client(app).post("/late", json={"n": "4"})
        assert (r.status_code, r.get_json()) == (200, {"n": 4})
        assert spec.compiled is True
    finally:
        del globals()["LateItem"]


def _late_model() -> type:
    from pydantic import BaseModel

    class LateItem(BaseModel):
        n: int

    return LateItem
