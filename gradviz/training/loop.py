"""A training script split into setup, loop and after, and its loop body compiled into one
iteration (no Qt, no engine).

A training loop is a script: setup statements, then one top-level ``for`` (or ``while``) loop
whose body is one iteration; statements after the loop run when it ends. The body is compiled
once into a generator function ``__gv_iteration__(item)``:

* every name the body binds is declared ``global``, so the body reads and writes the run's
  namespace exactly as the script would at module level;
* every ``X.backward(...)`` call becomes ``(yield (X, args, kwargs))``. The driver
  (:class:`gradviz.training.TrainingRun`) receives the root, runs the backward itself (or hands
  it to a backward cursor when the teacher steps it), then sends ``None`` back as
  ``backward()``'s value; an error of the backward is thrown back in at the same line, so the
  user's ``try``/``except`` behaves as written;
* a ``break`` / ``continue`` of the loop itself becomes ``return "break"`` / ``return``.

This keeps the user's code, line numbers and tracebacks intact and needs no monkey-patching of
``Tensor.backward``. Backward calls inside nested functions, lambdas or comprehensions run as
plain calls (a yield cannot stand there); they still count, only stepping them is not offered.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["FILENAME", "LoopParts", "split_loop", "compile_iteration", "contains_backward"]

#: the file name user code of a training run compiles under (tracebacks, error lines)
FILENAME = "<training>"


def contains_backward(node: ast.AST) -> bool:
    """True when ``node`` calls ``something.backward(...)`` anywhere."""
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and n.func.attr == "backward" for n in ast.walk(node))


@dataclass
class LoopParts:
    """A training script split: ``setup`` statements, the ``loop``, statements ``after``."""

    tree: ast.Module
    setup: list[ast.stmt]
    loop: ast.For | ast.While
    after: list[ast.stmt]


def split_loop(code: str) -> LoopParts:
    """Split ``code`` into setup, one top-level loop (the last one that calls ``backward()``,
    else the last one) and what follows it. Raises SyntaxError, or ValueError without a loop."""
    tree = ast.parse(code, filename=FILENAME)
    loops = [i for i, s in enumerate(tree.body) if isinstance(s, (ast.For, ast.While))]
    if not loops:
        raise ValueError("the code has no loop: write the setup, then one `for` loop whose "
                         "body is one training iteration")
    with_bw = [i for i in loops if contains_backward(tree.body[i])]
    i = (with_bw or loops)[-1]
    return LoopParts(tree, tree.body[:i], tree.body[i], tree.body[i + 1:])


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_COMPS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _bound_names(stmts: list[ast.stmt]) -> set[str]:
    """Names the statements bind in their own scope (for the ``global`` declaration)."""
    out: set[str] = set()

    def visit(node: ast.AST, in_comp: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
            for d in node.decorator_list:
                visit(d, in_comp)
            return
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            if not in_comp:
                out.add(node.id)
        elif isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            out.add(node.target.id)  # binds in the enclosing scope even from a comprehension
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                if a.name != "*":
                    out.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
        elif isinstance(node, ast.MatchAs) and node.name:
            out.add(node.name)
        elif isinstance(node, ast.MatchStar) and node.name:
            out.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            out.add(node.rest)
        comp = in_comp or isinstance(node, _COMPS)
        for child in ast.iter_child_nodes(node):
            visit(child, comp)

    for s in stmts:
        visit(s, False)
    return out


class _BodyRewriter(ast.NodeTransformer):
    """``X.backward(...)`` -> ``(yield (X, args, kwargs))``; the loop's own ``break`` and
    ``continue`` -> ``return "break"`` / ``return None``."""

    def __init__(self) -> None:
        self.in_loop = 0
        self.backward_calls = 0

    def visit_FunctionDef(self, node: ast.AST) -> ast.AST:
        return node  # a def's backward runs as a plain call; its break is its own

    visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = visit_FunctionDef
    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_FunctionDef

    def _loop(self, node: ast.For | ast.While) -> ast.AST:
        for name in ("target", "iter", "test"):
            sub = getattr(node, name, None)
            if sub is not None:
                setattr(node, name, self.visit(sub))
        self.in_loop += 1
        node.body = [self.visit(s) for s in node.body]
        self.in_loop -= 1
        node.orelse = [self.visit(s) for s in node.orelse]  # else: belongs to the outer loop
        return node

    visit_For = visit_While = visit_AsyncFor = _loop

    def visit_Break(self, node: ast.Break) -> ast.AST:
        if self.in_loop:
            return node
        return ast.copy_location(ast.Return(ast.Constant("break")), node)

    def visit_Continue(self, node: ast.Continue) -> ast.AST:
        if self.in_loop:
            return node
        return ast.copy_location(ast.Return(ast.Constant(None)), node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        f = node.func
        if not isinstance(f, ast.Attribute) or f.attr != "backward":
            return node
        self.backward_calls += 1
        args = ast.Tuple([*node.args], ast.Load())
        kwargs = ast.Dict([ast.Constant(k.arg) if k.arg else None for k in node.keywords],
                          [k.value for k in node.keywords])
        y = ast.Yield(ast.Tuple([f.value, args, kwargs], ast.Load()))
        for n in (args, kwargs, y, y.value):
            ast.copy_location(n, node)
        return y


def compile_iteration(loop: ast.For | ast.While, source_name: str = FILENAME
                      ) -> tuple[Callable[..., Any], Any, Any]:
    """Compile a loop into ``(iteration, iterable_code, test_code)``: ``iteration(item)`` is a
    generator function running one body (loop variable set from ``item``), globals = the
    namespace it is exec'd in (see TrainingRun); ``iterable_code`` evaluates a ``for`` loop's
    iterable, ``test_code`` a ``while`` loop's condition."""
    rw = _BodyRewriter()
    new_body = [rw.visit(s) for s in loop.body]
    stmts: list[ast.stmt] = []
    names = _bound_names(loop.body)
    if isinstance(loop, ast.For):
        names |= _bound_names([ast.Assign([loop.target], ast.Constant(None))])
    if names:
        stmts.append(ast.Global(sorted(names)))
    if isinstance(loop, ast.For):
        assign = ast.Assign([loop.target], ast.Name("__gv_item__", ast.Load()))
        ast.copy_location(assign, loop)
        stmts.append(assign)
    stmts.extend(new_body)
    # force a generator even when the body calls no backward
    never = ast.If(ast.Constant(False), [ast.Expr(ast.Yield(None))], [])
    stmts.append(never)
    stmts.append(ast.Return(ast.Constant(None)))
    fn = ast.FunctionDef(
        name="__gv_iteration__",
        args=ast.arguments(posonlyargs=[], args=[ast.arg("__gv_item__")], vararg=None,
                           kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]),
        body=stmts, decorator_list=[], returns=None, type_comment=None)
    if hasattr(ast.FunctionDef, "type_params") and "type_params" in ast.FunctionDef._fields:
        fn.type_params = []
    ast.copy_location(fn, loop)
    mod = ast.Module([fn], [])
    ast.fix_missing_locations(mod)
    code = compile(mod, source_name, "exec")
    it_code = None
    test_code = None
    if isinstance(loop, ast.For):
        e = ast.Expression(loop.iter)
        ast.fix_missing_locations(e)
        it_code = compile(e, source_name, "eval")
    else:
        e = ast.Expression(loop.test)
        ast.fix_missing_locations(e)
        test_code = compile(e, source_name, "eval")
    return code, it_code, test_code
