"""The sync and async twins of dispatch cannot drift apart.

``Erlen.respond`` / ``Erlen.respond_async`` and ``Erlen._finalize_sync`` /
``Erlen._finalize_async`` are written twice for speed: one runs coroutines on the
thread's loop, the other awaits them. This test compares their syntax trees with the
sync spelling of an await mapped onto the async one, so a change made to one twin and
not the other fails here:

* ``run_coroutine_sync(as_coroutine(x))`` in the sync twin is ``await x``;
* ``drive_sync(steps)`` is ``await drive_async(steps)``;
* ``self._finalize_sync(...)`` is ``await self._finalize_async(...)``;
* ``response = self._process_response_sync(ctx, plan, response)`` is the body of
  ``_process_response_sync``, which ``_finalize_async`` inlines.

``respond`` and ``respond_async`` also write ``_finalize_*(ctx, plan, rv, False)`` out after
the view (a call, or a coroutine, fewer per request); a test below checks that copy against
the function, which the error path still calls.

What only the sync twin has is named and removed before the comparison: its opening
(the Flask-methods path and the one trip to the loop for an async view, up to
``request = ctx.request``) and the ``if not handle_errors: raise`` of
``respond(handle_errors=False)``. What only the async twin has is the session store
with non-blocking I/O (``if plan.session_async is not None:``, loaded before the hooks
and saved through its async hook): such a statement is replaced by its ``else`` branch.
"""

from __future__ import annotations

import ast
import copy
import inspect
import textwrap
from typing import Any

import pytest

from erlen import Erlen


def _function(name: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    source = textwrap.dedent(inspect.getsource(getattr(Erlen, name)))
    node = ast.parse(source).body[0]
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    return node


def _body(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.stmt]:
    body = list(node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstrings differ on purpose
    return body


def _is_call(node: ast.AST, name: str) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Name):
        return func.id == name
    return isinstance(func, ast.Attribute) and func.attr == name


class _SyncToAsync(ast.NodeTransformer):
    """Rewrite the sync twin's spellings of 'await' into the async twin's."""

    def __init__(self, inline: dict[str, list[ast.stmt]]) -> None:
        self.inline = inline

    def visit_Call(self, node: ast.Call) -> Any:
        self.generic_visit(node)
        if _is_call(node, "run_coroutine_sync") and len(node.args) == 1:
            inner = node.args[0]
            if _is_call(inner, "as_coroutine"):
                inner = inner.args[0]  # type: ignore[attr-defined]
            return ast.Await(value=inner)
        for sync, async_ in (("drive_sync", "drive_async"), ("_finalize_sync", "_finalize_async")):
            if _is_call(node, sync):
                if isinstance(node.func, ast.Name):
                    node.func.id = async_
                else:
                    assert isinstance(node.func, ast.Attribute)
                    node.func.attr = async_
                return ast.Await(value=node)
        return node

    def visit_Assign(self, node: ast.Assign) -> Any:
        value = node.value
        for name, body in self.inline.items():
            if _is_call(value, name):
                return [self.visit(copy.deepcopy(stmt)) for stmt in body]
        return self.generic_visit(node)


def _drop_handle_errors(body: list[ast.stmt]) -> list[ast.stmt]:
    """Remove ``if not handle_errors: raise`` statements, wherever they are nested."""

    class Drop(ast.NodeTransformer):
        def visit_If(self, node: ast.If) -> Any:
            self.generic_visit(node)
            test = node.test
            if (
                isinstance(test, ast.UnaryOp)
                and isinstance(test.op, ast.Not)
                and isinstance(test.operand, ast.Name)
                and test.operand.id == "handle_errors"
            ):
                return None
            return node

    module = ast.Module(body=body, type_ignores=[])
    return Drop().visit(module).body  # type: ignore[no-any-return]


def _drop_async_session(body: list[ast.stmt]) -> list[ast.stmt]:
    """Replace ``if plan.session_async is not None: ... else: ...`` by its else branch."""

    class Drop(ast.NodeTransformer):
        def visit_If(self, node: ast.If) -> Any:
            self.generic_visit(node)
            if ast.unparse(node.test) == "plan.session_async is not None":
                return node.orelse or None
            return node

    module = ast.Module(body=body, type_ignores=[])
    return Drop().visit(module).body  # type: ignore[no-any-return]


def _after_opening(body: list[ast.stmt], first: str) -> list[ast.stmt]:
    """The statements from the assignment to ``first`` on."""
    for i, stmt in enumerate(body):
        if isinstance(stmt, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == first for t in stmt.targets
        ):
            return body[i:]
    raise AssertionError(f"no assignment to {first!r}")


def _dump(body: list[ast.stmt]) -> str:
    return "\n".join(ast.dump(stmt) for stmt in body)


def _processing_inline() -> dict[str, list[ast.stmt]]:
    body = _body(_function("_process_response_sync"))
    assert isinstance(body[-1], ast.Return)
    return {"_process_response_sync": body[:-1]}


def _as_async(body: list[ast.stmt]) -> list[ast.stmt]:
    module = ast.Module(body=body, type_ignores=[])
    module = _SyncToAsync(_processing_inline()).visit(module)
    return ast.fix_missing_locations(module).body


@pytest.mark.parametrize(
    ("sync", "async_", "first"),
    [
        ("respond", "respond_async", "request"),
        ("_finalize_sync", "_finalize_async", "response"),
    ],
)
def test_twins_match(sync: str, async_: str, first: str) -> None:
    sync_body = _after_opening(_drop_handle_errors(_body(_function(sync))), first)
    async_body = _after_opening(_drop_async_session(_body(_function(async_))), first)
    assert "session_async" not in ast.unparse(ast.Module(body=sync_body, type_ignores=[]))
    assert _dump(_as_async(sync_body)) == _dump(async_body)


def test_a_drifted_twin_fails() -> None:
    """The comparison notices a one-word change (so the test above can fail)."""
    sync_body = _after_opening(_drop_handle_errors(_body(_function("respond"))), "request")
    source = ast.unparse(ast.Module(body=sync_body, type_ignores=[]))
    drifted = ast.parse(source.replace("rv = None", "rv = 0", 1)).body
    async_body = _after_opening(_drop_async_session(_body(_function("respond_async"))), "request")
    assert _dump(_as_async(drifted)) != _dump(async_body)


def test_the_session_is_saved_in_one_place() -> None:
    """Both twins save the session through the one function that does it."""
    for name in ("_process_response_sync", "_finalize_async"):
        source = inspect.getsource(getattr(Erlen, name))
        assert "self._save_session(ctx, response)" in source
        assert "save_session(self" not in source


def _written_out(name: str) -> list[ast.stmt]:
    """What ``respond``/``respond_async`` run after their hooks and view: the finalize step."""
    outer = next(stmt for stmt in _body(_function(name)) if isinstance(stmt, ast.Try))
    i = next(i for i, stmt in enumerate(outer.body) if isinstance(stmt, ast.Try))
    return outer.body[i + 1 :]


def _finalize_without_errors(name: str) -> list[ast.stmt]:
    """``_finalize_*(..., from_error_handler=False)``: its try body between the response and its return."""
    make, attempt, ret = _body(_function(name))
    assert isinstance(attempt, ast.Try) and isinstance(ret, ast.Return)
    return [make, *attempt.body, ret]


@pytest.mark.parametrize(
    ("respond", "finalize"), [("respond", "_finalize_sync"), ("respond_async", "_finalize_async")]
)
def test_the_written_out_finalize_is_the_finalize(respond: str, finalize: str) -> None:
    """``respond`` and ``respond_async`` write ``_finalize_*(..., False)`` out for speed; the
    copy must be the function's own statements (the error path still calls the function)."""
    written = _as_async(_written_out(respond))
    original = _as_async(_finalize_without_errors(finalize))
    assert _dump(written) == _dump(original)
    assert len(written) > 3


def test_a_drifted_written_out_finalize_fails() -> None:
    source = ast.unparse(ast.Module(body=_written_out("respond_async"), type_ignores=[]))
    drifted = ast.parse(source.replace("response = after(response)", "after(response)", 1)).body
    assert _dump(drifted) != _dump(_finalize_without_errors("_finalize_async"))
