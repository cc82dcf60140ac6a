"""Training loops run twice in step, with and without their gradient zeroing (no Qt).

The seed lesson's point: without ``weights.grad.zero_()`` the gradient of the seed loop is
3, 6, 9, ...; with it, 3, 3, 3. This module turns any training loop written as code into two
runs that differ only in their zeroing statements, and records per iteration what the plots
show: the ``.grad`` of every parameter, the loss, and the parameters.

A training loop is a script: setup statements, then one top-level ``for`` (or ``while``) loop
whose body is one iteration; statements after the loop run when it ends. The body is compiled
once into a generator function:

* every name the body binds is declared ``global``, so the body reads and writes the run's
  namespace exactly as the script would at module level;
* every ``X.backward(...)`` call becomes ``(yield (X, args, kwargs))``. The driver receives the
  root, runs the backward itself (or, when the teacher steps an iteration's backward, hands the
  root to a :class:`gradviz.session.BackwardCursor` and resumes the body once the cursor is
  done), then sends ``None`` back as ``backward()``'s value; an error of the backward is thrown
  back in at the same line, so the user's ``try``/``except`` behaves as written;
* a ``break`` / ``continue`` of the loop itself becomes ``return "break"`` / ``return``.

This keeps the user's code, line numbers and tracebacks intact, needs no monkey-patching of
``Tensor.backward`` and works wherever in the body (inside ``if``, ``with``, inner loops) the
backward call stands. Backward calls inside nested functions, lambdas or comprehensions run as
plain calls (not capturable: a yield cannot stand there); they still count, only stepping
their backward node by node is not offered.

What is recorded for iteration ``k`` (1-based, as "iteration k" in the lesson):

* grads: every parameter's ``.grad`` right after the iteration's last ``backward()``, before
  any ``step()`` or zeroing later in the body (the value the seed lesson prints: 3, 6, 9 / 3, 3,
  3); if the iteration ran no capturable backward, the ``.grad`` at the end of the iteration.
  Tensors of at most ``ELEMENT_LIMIT`` elements are recorded element by element, larger ones by
  their norm;
* loss: a scalar variable named ``loss`` at the end of the iteration, else the scalar root of
  the iteration's backward;
* params: the parameters' values at the end of the iteration (after the optimizer's step).

Parameters are the leaf tensors requiring grad named in the namespace after setup, the
parameters of modules (``named_parameters()``) and the tensors optimizers hold
(``param_groups``). Series live in preallocated numpy buffers (grown by doubling).

An iteration that raises, or leaves a non-finite loss, grad or parameter, stops its run with
state ``"error"`` and torch's message; the other run goes on. An iteration that runs longer
than ``iteration_timeout`` seconds is interrupted (the main thread only) the way
``Session.run`` stops a runaway cell.
"""

from __future__ import annotations

import _thread
import ast
import builtins
import contextlib
import io
import math
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

import engine
from engine import Tensor
from engine import autograd as _autograd
from engine import events as _events
from engine.events import id_of
from gradviz.session import install_torch_alias
from gradviz.training_data import (  # noqa: F401 - re-exported
    PRESETS,
    RUN_LABELS,
    Preset,
    iter_presets,
    preset,
    series_columns,
    write_series_csv,
)

__all__ = [
    "ZeroingSite", "ToggledLine", "Variant", "LoopParts", "Series", "Preset", "PRESETS",
    "TrainingRun", "TrainingPair", "find_zeroing", "variant_without_zeroing",
    "variant_with_zeroing", "split_loop", "preset", "quiet_engine_events", "ELEMENT_LIMIT",
]

#: tensors with at most this many elements are plotted element by element, larger by norm
ELEMENT_LIMIT = 4
ITERATION_TIMEOUT_S = 5.0
SETUP_TIMEOUT_S = 10.0
FILENAME = "<training>"
_OUTPUT_LIMIT = 20_000  # characters of print() output kept per run



# ============================================================================ zeroing sites
@dataclass(frozen=True)
class ZeroingSite:
    """One zeroing statement: 1-based ``line`` .. ``end_line``, 0-based character columns,
    its source ``text`` and ``kind``: ``"grad.zero_()"``, ``"zero_grad()"``,
    ``"zero_grad(set_to_none=...)"``, ``"grad = None"`` or ``"grad = zeros"``."""

    line: int
    end_line: int
    col: int
    end_col: int
    text: str
    kind: str


@dataclass(frozen=True)
class ToggledLine:
    """A line one run has and the other has not. ``action`` is ``"removed"`` (``line`` is the
    as-written line, replaced by ``pass`` in the variant, so line numbers stay the same) or
    ``"added"`` (``line`` is the new line in the variant, ``after`` the as-written line it
    follows)."""

    line: int
    text: str
    action: str
    kind: str
    after: int | None = None

    def describe(self) -> str:
        if self.action == "removed":
            return f"line {self.line}: {self.text}"
        return f"{self.text} (after line {self.after})"


@dataclass(frozen=True)
class Variant:
    """A variant of the as-written code: its ``source``, the ``toggled`` lines, and a
    ``note`` when nothing could be toggled."""

    source: str
    toggled: tuple[ToggledLine, ...] = ()
    note: str = ""


def _is_grad_attr(node: ast.AST) -> bool:
    """``X.grad`` or ``X.grad.data``."""
    if isinstance(node, ast.Attribute) and node.attr == "data":
        node = node.value
    return isinstance(node, ast.Attribute) and node.attr == "grad"


def _is_zero(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and not isinstance(node.value, bool) and \
        isinstance(node.value, (int, float)) and node.value == 0


def _zeroing_kind(stmt: ast.stmt) -> str | None:
    """The kind of zeroing ``stmt`` is, or None."""
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        call = stmt.value
        f = call.func
        if not isinstance(f, ast.Attribute):
            return None
        if f.attr == "zero_" and _is_grad_attr(f.value) and not call.args:
            return "grad.zero_()"
        if f.attr == "fill_" and _is_grad_attr(f.value) and len(call.args) == 1 \
                and _is_zero(call.args[0]):
            return "grad.zero_()"
        if f.attr == "zero_grad":
            if any(k.arg == "set_to_none" for k in call.keywords) or call.args:
                return "zero_grad(set_to_none=...)"
            return "zero_grad()"
        return None
    if isinstance(stmt, ast.Assign) and all(_is_grad_attr(t) and isinstance(t, ast.Attribute)
                                            and t.attr == "grad" for t in stmt.targets):
        v = stmt.value
        if isinstance(v, ast.Constant) and v.value is None:
            return "grad = None"
        if isinstance(v, ast.Call):
            name = v.func.attr if isinstance(v.func, ast.Attribute) else \
                getattr(v.func, "id", "")
            if name in ("zeros_like", "zeros"):
                return "grad = zeros"
        return None
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Mult) and \
            _is_grad_attr(stmt.target) and _is_zero(stmt.value):
        return "grad.zero_()"
    return None


def _line_offsets(code: str) -> list[int]:
    """Character offset of the start of each 1-based line (index 0 unused)."""
    offs = [0, 0]
    for line in code.splitlines(keepends=True):
        offs.append(offs[-1] + len(line))
    return offs


def _char_col(lines: list[str], lineno: int, byte_col: int) -> int:
    """ast's UTF-8 byte column -> character column."""
    line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", "replace"))


def find_zeroing(code: str) -> list[ZeroingSite]:
    """Every statement of ``code`` that zeroes gradients, in source order: ``x.grad.zero_()``
    (also ``.grad.data.zero_()``, ``.grad.fill_(0)``, ``.grad *= 0``), ``m.zero_grad()``,
    ``opt.zero_grad(set_to_none=...)``, ``x.grad = None`` and ``x.grad = torch.zeros_like(x)``.

    Raises SyntaxError for code that does not parse."""
    tree = ast.parse(code, filename=FILENAME)
    lines = code.splitlines()
    sites = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt):
            continue
        kind = _zeroing_kind(node)
        if kind is None:
            continue
        col = _char_col(lines, node.lineno, node.col_offset)
        end_col = _char_col(lines, node.end_lineno, node.end_col_offset)
        text = ast.get_source_segment(code, node) or ""
        sites.append(ZeroingSite(node.lineno, node.end_lineno, col, end_col,
                                 " ".join(text.split()), kind))
    sites.sort(key=lambda s: (s.line, s.col))
    return sites


def variant_without_zeroing(code: str) -> Variant:
    """``code`` with every zeroing statement replaced by ``pass`` (so blocks stay valid and
    every other line keeps its number)."""
    sites = find_zeroing(code)
    if not sites:
        return Variant(code, (), "the code zeroes no gradients")
    lines = code.splitlines(keepends=True)
    for s in reversed(sites):
        first = lines[s.line - 1]
        last = lines[s.end_line - 1]
        tail = last[s.end_col:]
        if s.end_line == s.line:
            lines[s.line - 1] = first[:s.col] + "pass" + tail
        else:
            lines[s.line - 1] = first[:s.col] + "pass" + tail
            for i in range(s.line, s.end_line):
                lines[i] = "\n"
    toggled = tuple(ToggledLine(s.line, s.text, "removed", s.kind) for s in sites)
    return Variant("".join(lines), toggled)


def _contains_backward(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and n.func.attr == "backward" for n in ast.walk(node))


def _blocks(stmts: list[ast.stmt]) -> Iterator[list[ast.stmt]]:
    """``stmts`` and every statement block nested in them (not into defs or classes)."""
    yield stmts
    for s in stmts:
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for name in ("body", "orelse", "finalbody"):
            sub = getattr(s, name, None)
            if isinstance(sub, list) and sub and isinstance(sub[0], ast.stmt):
                yield from _blocks(sub)
        for h in getattr(s, "handlers", ()) or ():
            yield from _blocks(h.body)
        for c in getattr(s, "cases", ()) or ():
            yield from _blocks(c.body)


def _call_stmt(s: ast.stmt, attr: str) -> ast.Call | None:
    if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call) and \
            isinstance(s.value.func, ast.Attribute) and s.value.func.attr == attr:
        return s.value
    return None


def _param_names(setup: list[ast.stmt]) -> tuple[list[str], list[str]]:
    """Names the setup binds to leaf tensors requiring grad, and to modules (``torch.nn.X``
    or ``nn.X`` calls), as a reader would spot them."""
    leaves: list[str] = []
    modules: list[str] = []

    def add(lst: list[str], name: str) -> None:
        if name not in lst:
            lst.append(name)

    for s in setup:
        if isinstance(s, ast.Assign) and len(s.targets) == 1 and \
                isinstance(s.targets[0], ast.Name):
            name = s.targets[0].id
            v = s.value
            requires = any(isinstance(n, ast.keyword) and n.arg == "requires_grad"
                           and isinstance(n.value, ast.Constant) and n.value.value is True
                           for n in ast.walk(v))
            requires = requires or any(
                isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                and n.func.attr == "requires_grad_"
                and not (n.args and isinstance(n.args[0], ast.Constant) and not n.args[0].value)
                for n in ast.walk(v))
            if requires:
                add(leaves, name)
            elif isinstance(v, ast.Call) and "nn." in (ast.unparse(v.func) + "."):
                fn = ast.unparse(v.func)
                if fn.startswith(("nn.", "torch.nn.")) and not fn.split(".")[-1].endswith(
                        "Loss"):
                    add(modules, name)
        call = _call_stmt(s, "requires_grad_")
        if call is not None and isinstance(call.func.value, ast.Name) and \
                not (call.args and isinstance(call.args[0], ast.Constant)
                     and not call.args[0].value):
            add(leaves, call.func.value.id)
        if isinstance(s, ast.Assign) and len(s.targets) == 1 and \
                isinstance(s.targets[0], ast.Attribute) and s.targets[0].attr == "requires_grad" \
                and isinstance(s.targets[0].value, ast.Name) and \
                isinstance(s.value, ast.Constant) and s.value.value is True:
            add(leaves, s.targets[0].value.id)
    return leaves, modules


def _insert_after(code: str, stmt: ast.stmt, new_lines: list[str]) -> tuple[str, int, int]:
    """Insert ``new_lines`` after ``stmt`` at its indentation. Returns the new source, the
    as-written line they follow, and the first new line's number."""
    lines = code.splitlines(keepends=True)
    indent = _char_col(code.splitlines(), stmt.lineno, stmt.col_offset)
    prefix = lines[stmt.lineno - 1][:indent]
    if prefix.strip():  # the statement shares its line (``if x: y``): indent as the line does
        prefix = prefix[:len(prefix) - len(prefix.lstrip())]
    after = stmt.end_lineno
    if after >= len(lines) or not lines[after - 1].endswith("\n"):
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
    block = "".join(prefix + t + "\n" for t in new_lines)
    lines.insert(after, block)
    return "".join(lines), after, after + 1


def variant_with_zeroing(code: str) -> Variant:
    """``code`` with zeroing added when it has none: ``opt.zero_grad()`` right after the loop
    body's ``opt.step()``; without a step, ``p.grad.zero_()`` for every leaf parameter (or
    ``m.zero_grad()`` for every module) the setup creates, after the last statement of the
    block that holds ``backward()`` (so the updates using the grads still see them). Code that
    already zeroes comes back unchanged."""
    if find_zeroing(code):
        return Variant(code, (), "the code already zeroes its gradients")
    parts = split_loop(code)
    loop = parts.loop
    step_stmt = None
    for block in _blocks(loop.body):
        for s in block:
            call = _call_stmt(s, "step")
            if call is not None and not call.args:
                step_stmt = s
    if step_stmt is not None:
        recv = ast.get_source_segment(code, step_stmt.value.func.value) or \
            ast.unparse(step_stmt.value.func.value)
        text = f"{recv}.zero_grad()"
        new, after, line = _insert_after(code, step_stmt, [text])
        return Variant(new, (ToggledLine(line, text, "added", "zero_grad()", after),))
    target_block = None
    for block in _blocks(loop.body):
        for s in block:
            if _call_stmt(s, "backward") is not None or (
                    not isinstance(s, (ast.For, ast.While, ast.If, ast.With, ast.Try))
                    and _contains_backward(s)):
                target_block = block
    if target_block is None:
        return Variant(code, (), "the loop calls no backward(): nothing to zero")
    leaves, modules = _param_names(parts.setup)
    texts = [f"{m}.zero_grad()" for m in modules] + [f"{n}.grad.zero_()" for n in leaves]
    if not texts:
        return Variant(code, (), "no parameter found to zero (name a tensor with "
                                 "requires_grad=True in the setup)")
    new, after, line = _insert_after(code, target_block[-1], texts)
    kinds = ["zero_grad()"] * len(modules) + ["grad.zero_()"] * len(leaves)
    return Variant(new, tuple(ToggledLine(line + i, t, "added", k, after)
                              for i, (t, k) in enumerate(zip(texts, kinds))))


# ============================================================================ the loop
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
    with_bw = [i for i in loops if _contains_backward(tree.body[i])]
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


# ============================================================================ watchdog
class _Watchdog:
    """One daemon thread that interrupts the main thread when an armed deadline passes.

    Arming is a float store (cheap enough per iteration); the thread wakes every 50 ms.
    """

    _instance: _Watchdog | None = None

    def __init__(self) -> None:
        self._deadline: float | None = None
        self._lock = threading.Lock()
        self.fired = False
        self._thread = threading.Thread(target=self._loop, name="gradviz-training-watchdog",
                                        daemon=True)
        self._thread.start()

    @classmethod
    def get(cls) -> _Watchdog | None:
        if threading.current_thread() is not threading.main_thread():
            return None
        if cls._instance is None:
            cls._instance = _Watchdog()
        return cls._instance

    def _loop(self) -> None:
        while True:
            time.sleep(0.05)
            with self._lock:
                d = self._deadline
                if d is not None and time.monotonic() > d:
                    self._deadline = None
                    self.fired = True
                    _thread.interrupt_main()

    def arm(self, seconds: float | None) -> None:
        """Interrupt the main thread in ``seconds`` (None: never, the kernel's Stop decides)."""
        self.fired = False
        self._deadline = None if seconds is None else time.monotonic() + seconds

    def disarm(self) -> bool:
        """Stop watching; True when the deadline had passed (the interrupt is absorbed here
        if it has not been delivered yet)."""
        with self._lock:
            self._deadline = None
            fired = self.fired
        return fired

    @staticmethod
    def absorb() -> None:
        """Swallow an interrupt that was sent but not yet delivered."""
        try:
            for _ in range(100_000):
                pass
            time.sleep(0.001)
            for _ in range(100_000):
                pass
        except KeyboardInterrupt:
            pass


@contextlib.contextmanager
def quiet_engine_events() -> Iterator[None]:
    """Run a batch of iterations without engine events: the subscribers are set aside and
    put back afterwards, so the engine builds no event at all (as with nobody listening).

    Used while the training panel plays: narrating thousands of iterations op by op to the
    event log and the tensor views would cost more than the iterations themselves, and the
    graph view gets the current root per tick instead."""
    with _events.paused():
        yield


class _BoundedText(io.TextIOBase):
    """print() output of a run: keeps the last ``_OUTPUT_LIMIT`` characters."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0

    def write(self, s: str) -> int:
        self._parts.append(s)
        self._size += len(s)
        if self._size > 2 * _OUTPUT_LIMIT:
            text = "".join(self._parts)[-_OUTPUT_LIMIT:]
            self._parts = [text]
            self._size = len(text)
        return len(s)

    def getvalue(self) -> str:
        text = "".join(self._parts)
        return text[-_OUTPUT_LIMIT:]


# ============================================================================ series
@dataclass
class Series:
    """One plotted line of a run: ``label`` (``weights.grad[0]``, ``‖fc1.weight.grad‖``,
    ``loss``), the ``param`` it belongs to ("" for the loss), its ``kind`` ("grad", "param",
    "loss") and its ``column`` in the run's buffer."""

    label: str
    param: str
    kind: str
    column: int


@dataclass
class _Param:
    name: str
    getter: Callable[[], Any]
    numel: int
    shape: tuple[int, ...]
    col: int  # first column in grads/params buffers
    width: int  # numel if element-wise, else 1 (norm)
    last: Tensor | None = None


def _elem_labels(name: str, shape: tuple[int, ...]) -> list[str]:
    if not shape:
        return [name]
    return [f"{name}[{', '.join(str(i) for i in idx)}]" for idx in np.ndindex(*shape)]


# ============================================================================ one run
class TrainingRun:
    """One training script executed iteration by iteration in a namespace of its own.

    ``start()`` runs the setup; ``step()`` runs one iteration; ``run_to(goal, deadline)`` runs
    iterations until ``count == goal``, the time is up, or the run stops. ``state`` is
    ``"new"``, ``"ready"`` (iterations may follow), ``"in_backward"`` (an iteration's forward
    ran and its backward waits for :meth:`finish_iteration`), ``"finished"`` or ``"error"``
    (``error`` holds torch's message, ``error_line`` the line).
    """

    def __init__(self, source: str, label: str = "", *, variables: dict[str, Any] | None = None,
                 limit: int = 100, seed: int | None = 0,
                 iteration_timeout: float | None = ITERATION_TIMEOUT_S,
                 setup_timeout: float | None = SETUP_TIMEOUT_S) -> None:
        self.source = source
        self.label = label
        self.variables = dict(variables or {})
        self.limit = int(limit)
        self.seed = seed
        self.iteration_timeout = iteration_timeout
        self.setup_timeout = setup_timeout
        self.namespace: dict[str, Any] = {}
        self.state = "new"
        self.error: str | None = None
        self.error_kind: str | None = None  # "exception" | "nan" | "timeout" | "syntax"
        self.error_line: int | None = None
        self.error_iteration: int | None = None
        self.exception: BaseException | None = None
        self.count = 0  # iterations completed
        self.stop_reason = ""
        self.root: Tensor | None = None  # root of the current (or last) iteration's backward
        self.backward_args: tuple = ()
        self.backward_kwargs: dict[str, Any] = {}
        self.params: list[_Param] = []
        self.grad_series: list[Series] = []
        self.param_series: list[Series] = []
        self.has_optimizer = False
        self._out = _BoundedText()
        self._rng_engine: dict | None = None
        self._rng_numpy: Any = None
        # numpy's global generator is swapped only for code that may use it (150 µs a swap)
        self._uses_np_global_random = bool(_NP_GLOBAL_RANDOM.search(source))
        self._params_moved = False
        self._iteration: Callable[..., Any] | None = None
        self._iter: Iterator[Any] | None = None
        self._test_code: Any = None
        self._after_code: Any = None
        self._gen: Any = None
        self._pending: tuple | None = None
        self._grads_taken = False
        self._cap = 0
        self.grads = np.empty((0, 0))
        self.param_values = np.empty((0, 0))
        self.loss = np.empty(0)
        self._present = np.empty(0, dtype=bool)
        self._nan_row: np.ndarray = np.empty(0)

    # ----- output, rng
    @property
    def output(self) -> str:
        """What the run printed (the last 20,000 characters)."""
        return self._out.getvalue()

    @property
    def active(self) -> bool:
        """True while iterations may follow (``ready`` or ``in_backward``)."""
        return self.state in ("ready", "in_backward")

    @contextlib.contextmanager
    def _context(self) -> Iterator[None]:
        """Own random numbers and captured output while the run's code runs."""
        outer_engine = engine.get_rng_state()
        np_global = self._uses_np_global_random
        outer_numpy = np.random.get_state() if np_global else None
        if self._rng_engine is not None:
            engine.set_rng_state(self._rng_engine)
            if np_global:
                np.random.set_state(self._rng_numpy)
        try:
            with contextlib.redirect_stdout(self._out), contextlib.redirect_stderr(self._out):
                yield
        finally:
            self._rng_engine = engine.get_rng_state()
            engine.set_rng_state(outer_engine)
            if np_global:
                self._rng_numpy = np.random.get_state()
                np.random.set_state(outer_numpy)

    # ----- setup
    def start(self) -> TrainingRun:
        """Run the setup (seeded with ``seed`` so both runs of a pair start alike)."""
        if self.state != "new":
            return self
        ns = self.namespace
        ns.update({"torch": engine, "engine": engine, "np": np, "__name__": "__training__",
                   "__builtins__": builtins})
        install_torch_alias(ns)  # ``import torch`` in the loop means the engine, as elsewhere
        ns.update(self.variables)
        ns.setdefault("iterations", self.limit)
        try:
            parts = split_loop(self.source)
        except SyntaxError as e:
            self._fail(f"SyntaxError: {e.msg}", "syntax", e.lineno, e)
            return self
        except ValueError as e:
            self._fail(str(e), "syntax", None, e)
            return self
        self.loop_line = parts.loop.lineno
        try:
            code, it_code, test_code = compile_iteration(parts.loop)
            setup_code = compile(ast.Module(parts.setup, []), FILENAME, "exec")
            self._after_code = compile(ast.Module(parts.after, []), FILENAME, "exec") \
                if parts.after else None
        except SyntaxError as e:  # e.g. ``return`` at top level
            self._fail(f"SyntaxError: {e.msg}", "syntax", e.lineno, e)
            return self
        outer_engine = engine.get_rng_state()
        outer_numpy = np.random.get_state()
        if self.seed is not None:
            engine.manual_seed(self.seed)
            np.random.seed(self.seed)
        self._rng_engine = engine.get_rng_state()
        self._rng_numpy = np.random.get_state()
        engine.set_rng_state(outer_engine)
        np.random.set_state(outer_numpy)
        ok = self._guarded(lambda: self._setup(setup_code, code, it_code, test_code),
                           self.setup_timeout, where="setup")
        if not ok:
            return self
        self._discover()
        self._alloc(min(max(self.limit, 1), 4096))  # grows by doubling
        self.state = "ready"
        if self.limit <= 0:
            self._finish("the iteration count is 0")
        return self

    def _setup(self, setup_code: Any, code: Any, it_code: Any, test_code: Any) -> None:
        ns = self.namespace
        exec(setup_code, ns)
        exec(code, ns)
        self._iteration = ns.pop("__gv_iteration__")
        if it_code is not None:
            self._iter = iter(eval(it_code, ns))
        self._test_code = test_code

    def _guarded(self, fn: Callable[[], Any], timeout: float | None, where: str) -> bool:
        """Run user code with the watchdog, output capture and the run's rng; on failure set
        the error state. True when it went through."""
        wd = _Watchdog.get()
        try:
            with self._context():
                if wd is not None:
                    wd.arm(timeout)
                try:
                    fn()
                finally:
                    if wd is not None and wd.disarm():
                        wd.absorb()
                        raise _Timeout()
        except _Timeout:
            self._fail(f"TimeoutError: the {where} ran longer than {timeout:g} s and was "
                       "stopped", "timeout", None, None)
            return False
        except KeyboardInterrupt as e:
            if wd is not None and wd.fired:
                self._fail(f"TimeoutError: the {where} ran longer than {timeout:g} s and was "
                           "stopped", "timeout", _user_line(e), e)
            else:
                self._fail("KeyboardInterrupt", "exception", _user_line(e), e)
            return False
        except BaseException as e:  # user code: anything may happen, the app must survive
            if isinstance(e, SystemExit):
                e = RuntimeError("exit() is not available inside gradviz")
            self._fail(_format_error(e), "exception", _user_line(e), e)
            return False
        return True

    def _fail(self, message: str, kind: str, line: int | None,
              exc: BaseException | None) -> None:
        self.state = "error"
        self.error = message
        self.error_kind = kind
        self.error_line = line
        self.exception = exc
        self.error_iteration = self.count + 1 if self._iteration is not None else None
        self.stop_reason = message
        self._close_gen()

    def _finish(self, reason: str) -> None:
        self.state = "finished"
        self.stop_reason = reason
        self._close_gen()
        if self._after_code is not None:
            code, self._after_code = self._after_code, None
            self._guarded(lambda: exec(code, self.namespace), self.setup_timeout,
                          where="code after the loop")
            if self.state == "error":
                self.error_iteration = None

    def stop(self, reason: str = "stopped") -> None:
        """End the run now (no more iterations; the series are kept)."""
        if self.active or self.state == "new":
            self.state = "finished"
            self.stop_reason = reason
            self._close_gen()

    def _close_gen(self) -> None:
        gen, self._gen = self._gen, None
        self._pending = None
        if gen is not None:
            with contextlib.suppress(BaseException):
                gen.close()

    # ----- parameters and buffers
    def _discover(self) -> None:
        """Find the parameters: leaf tensors requiring grad named in the namespace, module
        parameters, optimizer parameters (in that order, each once)."""
        ns = self.namespace
        found: list[tuple[str, Callable[[], Any], Tensor]] = []
        seen: set[int] = set()
        optimizers = []
        skip = {"torch", "engine", "np", "__builtins__"}
        for name, v in list(ns.items()):
            if name.startswith("_") or name in skip:
                continue
            if isinstance(v, Tensor):
                if v.requires_grad and v.grad_fn is None and id_of(v) not in seen:
                    seen.add(id_of(v))
                    found.append((name, _ns_getter(ns, name), v))
            elif hasattr(v, "param_groups"):
                optimizers.append((name, v))
            elif callable(getattr(v, "named_parameters", None)) and not isinstance(v, type):
                try:
                    named = list(v.named_parameters())
                except Exception:
                    continue
                for pname, p in named:
                    if isinstance(p, Tensor) and id_of(p) not in seen:
                        seen.add(id_of(p))
                        found.append((f"{name}.{pname}", _const_getter(p), p))
        for oname, opt in optimizers:
            self.has_optimizer = True
            try:
                groups = list(opt.param_groups)
            except Exception:
                continue
            i = 0
            for g in groups:
                for p in (g.get("params", ()) if isinstance(g, dict) else ()):
                    if isinstance(p, Tensor) and id_of(p) not in seen:
                        seen.add(id_of(p))
                        found.append((f"{oname}.param{i}", _const_getter(p), p))
                    i += 1
        col = 0
        self.params = []
        self.grad_series = []
        self.param_series = []
        for name, getter, t in found:
            shape = tuple(t.shape)
            numel = t.numel()
            width = numel if numel <= ELEMENT_LIMIT else 1
            p = _Param(name, getter, numel, shape, col, width)
            self.params.append(p)
            if width == numel:
                glabels = _elem_labels(name + ".grad", shape)
                plabels = _elem_labels(name, shape)
            else:
                glabels = [f"‖{name}.grad‖"]
                plabels = [f"‖{name}‖"]
            for j in range(width):
                self.grad_series.append(Series(glabels[j], name, "grad", col + j))
                self.param_series.append(Series(plabels[j], name, "param", col + j))
            col += width
        self._width = col
        self._nan_row = np.full(col, np.nan)

    def _alloc(self, cap: int) -> None:
        w = self._width
        grads = np.full((cap, w), np.nan)
        params = np.full((cap, w), np.nan)
        loss = np.full(cap, np.nan)
        n = self._cap
        if n:
            grads[:n] = self.grads[:n]
            params[:n] = self.param_values[:n]
            loss[:n] = self.loss[:n]
        self.grads, self.param_values, self.loss = grads, params, loss
        self._cap = cap

    def _write(self, buf: np.ndarray, k: int, grad: bool) -> bool:
        """Write row ``k`` of grads (or params); False when a present value is not finite."""
        row = buf[k]
        missing = None
        for p in self.params:
            t = p.getter()
            if grad and t is not None:
                t = t.grad if isinstance(t, Tensor) else None
            if not isinstance(t, Tensor) or t.numel() != p.numel:
                row[p.col:p.col + p.width] = np.nan
                missing = [] if missing is None else missing
                missing.append(p)
                continue
            d = t.numpy(force=True)
            if p.width == p.numel:
                row[p.col:p.col + p.width] = d.reshape(-1)
            else:
                f = d.reshape(-1).astype(np.float64)
                row[p.col] = math.sqrt(float(np.dot(f, f)))
        if missing is None:  # the common case: one reduction for the whole row
            return math.isfinite(row.sum()) or bool(np.isfinite(row).all())
        return all(np.isfinite(row[p.col:p.col + p.width]).all()
                   for p in self.params if p not in missing)

    # ----- iterations
    def step(self) -> bool:
        """Run one iteration. False when the run is (now) finished or failed."""
        if self.state == "new":
            self.start()
        if self.state == "in_backward":
            self.finish_iteration()
            return self.active
        if self.state != "ready":
            return False
        with self._batch():
            self._one()
        return self.active

    def run_to(self, goal: int, deadline: float | None = None) -> int:
        """Run iterations until ``count >= goal``, ``time.perf_counter() >= deadline``, or the
        run stops. Returns the number of iterations run."""
        if self.state == "new":
            self.start()
        if self.state == "in_backward" and self.count < goal:
            self.finish_iteration()
        if self.state != "ready" or self.count >= goal:
            return 0
        n0 = self.count
        clock = time.perf_counter
        with self._batch():
            while self.state == "ready" and self.count < goal:
                self._one()
                if deadline is not None and clock() >= deadline:
                    break
        return self.count - n0

    @contextlib.contextmanager
    def _batch(self) -> Iterator[None]:
        try:
            with self._context():
                yield
        except BaseException as e:  # noqa: BLE001 - only a late interrupt can land here
            if not isinstance(e, KeyboardInterrupt):
                raise
            wd = _Watchdog.get()
            if wd is not None and wd.fired:
                self._fail("TimeoutError: the iteration ran longer than "
                           f"{self.iteration_timeout:g} s and was stopped", "timeout", None, e)
            else:
                self._fail("KeyboardInterrupt", "exception", _user_line(e), e)

    @property
    def interrupted(self) -> bool:
        """The run failed with a KeyboardInterrupt (a Stop in the kernel, Ctrl+C)."""
        return self.state == "error" and isinstance(self.exception, KeyboardInterrupt) and \
            self.error_kind == "exception"

    def stopped_by_interrupt(self, reason: str = "stopped") -> bool:
        """A run that failed with the KeyboardInterrupt of a Stop: finished with ``reason``
        instead (the series are kept). True when it was one."""
        if self.interrupted:
            self.state = "finished"
            self.error = self.error_kind = self.error_line = self.error_iteration = None
            self.exception = None
            self.stop_reason = reason
            return True
        return False

    def _one(self, pause: bool = False) -> None:
        """One iteration (inside ``_context``): start the body, drive it, record."""
        if self.count >= self.limit:
            self._finish(f"ran {self.count} iterations")
            return
        ns = self.namespace
        item = None
        if self._iter is not None:
            try:
                item = next(self._iter)
            except StopIteration:
                self._finish(f"the loop ended after {self.count} iterations")
                return
            except Exception as e:
                self._fail(_format_error(e), "exception", _user_line(e), e)
                return
        elif self._test_code is not None:
            try:
                if not eval(self._test_code, ns):
                    self._finish(f"the loop ended after {self.count} iterations")
                    return
            except Exception as e:
                self._fail(_format_error(e), "exception", _user_line(e), e)
                return
        if self.count >= self._cap:
            self._alloc(max(2 * self._cap, 16))
        self._grads_taken = False
        self.root = None
        self._gen = self._iteration(item)
        self._drive(None, None, pause)

    def _drive(self, send: Any, throw: BaseException | None, pause: bool) -> None:
        """Run the body until it ends, or (``pause``) until it asks for a backward."""
        gen = self._gen
        wd = _Watchdog.get()
        if wd is not None:
            wd.arm(self.iteration_timeout)
        try:
            while True:
                try:
                    if throw is not None:
                        exc, throw = throw, None
                        req = gen.throw(exc)
                    else:
                        req = gen.send(send)
                except StopIteration as stop:
                    if wd is not None and wd.disarm():
                        wd.absorb()
                    self._gen = None
                    self._end(stop.value)
                    return
                obj, args, kwargs = req
                root = _root_of(obj, args, kwargs)
                if root is not None:
                    self.root = root
                    self.backward_args = args
                    self.backward_kwargs = kwargs
                    if pause and isinstance(obj, Tensor):
                        if wd is not None and wd.disarm():
                            wd.absorb()
                        self._pending = req
                        self.state = "in_backward"
                        return
                try:
                    send = obj.backward(*args, **kwargs)
                except Exception as e:
                    send, throw = None, e
                    continue
                if root is not None:
                    self._after_backward()
        except KeyboardInterrupt as e:
            if wd is not None and (wd.disarm() or wd.fired):
                self._fail("TimeoutError: the iteration ran longer than "
                           f"{self.iteration_timeout:g} s and was stopped", "timeout",
                           _user_line(e), e)
            else:
                self._fail("KeyboardInterrupt", "exception", _user_line(e), e)
        except BaseException as e:  # user code: anything may happen, the app must survive
            if wd is not None and wd.disarm():
                wd.absorb()
            if isinstance(e, SystemExit):
                e = RuntimeError("exit() is not available inside gradviz")
            self._fail(_format_error(e), "exception", _user_line(e), e)

    def _after_backward(self) -> None:
        k = self.count
        if not self._write(self.grads, k, grad=True):
            self._bad_grad = True
        else:
            self._bad_grad = False
        self._grads_taken = True

    def _end(self, value: Any) -> None:
        """The body finished: record loss, params (and grads if no backward ran)."""
        k = self.count
        ns = self.namespace
        grads_ok = not getattr(self, "_bad_grad", False) if self._grads_taken else \
            self._write(self.grads, k, grad=True)
        self._bad_grad = False
        params_ok = self._write(self.param_values, k, grad=False)
        if k and not self._params_moved:  # bytes: NaN placeholders compare equal
            self._params_moved = self.param_values[k].tobytes() != \
                self.param_values[0].tobytes()
        loss = _scalar(ns.get("loss"))
        if loss is None and self.root is not None:
            loss = _scalar(self.root)
        self.loss[k] = np.nan if loss is None else loss
        self.count = k + 1
        bad = None
        if loss is not None and not math.isfinite(loss):
            bad = f"the loss is {loss} at iteration {k + 1}"
        elif not grads_ok:
            bad = self._nonfinite_name(self.grads[k], "grad", k)
        elif not params_ok:
            bad = self._nonfinite_name(self.param_values[k], "", k)
        if bad is not None:
            self._fail(f"FloatingPointError: {bad}: the values overflowed (NaN or inf), so "
                       "the run stopped", "nan", None, None)
            self.error_iteration = k + 1
            return
        if value == "break":
            self._finish(f"the loop broke after {self.count} iterations")
        elif self.count >= self.limit:
            self._finish(f"ran {self.count} iterations")

    def _nonfinite_name(self, row: np.ndarray, suffix: str, k: int) -> str:
        for p in self.params:
            seg = row[p.col:p.col + p.width]
            if np.isinf(seg).any() or (np.isnan(seg).any() and not np.isnan(seg).all()):
                name = f"{p.name}.{suffix}" if suffix else p.name
                return f"{name} is not finite at iteration {k + 1}"
            if np.isnan(seg).all():
                t = p.getter()
                if suffix:
                    t = t.grad if isinstance(t, Tensor) else None
                if isinstance(t, Tensor) and not np.isfinite(t.numpy(force=True)).all():
                    name = f"{p.name}.{suffix}" if suffix else p.name
                    return f"{name} is not finite at iteration {k + 1}"
        return f"a value is not finite at iteration {k + 1}"

    # ----- one iteration's backward, step by step
    def begin_iteration(self) -> Tensor | None:
        """Run the next iteration's forward up to its first ``backward()`` and stop there:
        returns the root (hand it to a BackwardCursor), or None when the iteration ended
        without a capturable backward (then it is complete)."""
        if self.state == "new":
            self.start()
        if self.state == "in_backward":
            return self.root
        if self.state != "ready":
            return None
        with self._batch():
            self._one(pause=True)
        return self.root if self.state == "in_backward" else None

    def finish_iteration(self, cursor: Any = None) -> None:
        """Complete the iteration paused by :meth:`begin_iteration`: the backward runs to the
        end through ``cursor`` when it is a BackwardCursor of this root (replaying what was
        stepped), else in one go; then the rest of the body runs and the iteration is
        recorded."""
        if self.state != "in_backward":
            return
        req, self._pending = self._pending, None
        self.state = "ready"
        obj, args, kwargs = req
        with self._batch():
            throw = None
            try:
                if cursor is not None and getattr(cursor, "root", None) is obj:
                    cursor.run()
                    if cursor.error is not None:
                        throw = cursor.error
                else:
                    obj.backward(*args, **kwargs)
            except Exception as e:
                throw = e
            if throw is None:
                self._after_backward()
            self._drive(None, throw, pause=False)

    # ----- what the views read
    @property
    def x(self) -> np.ndarray:
        """Iteration numbers 1..count."""
        return np.arange(1, self.count + 1, dtype=np.float64)

    def grad_values(self, series: Series | int) -> np.ndarray:
        c = series.column if isinstance(series, Series) else series
        return self.grads[:self.count, c]

    def param_value_series(self, series: Series | int) -> np.ndarray:
        c = series.column if isinstance(series, Series) else series
        return self.param_values[:self.count, c]

    def loss_values(self) -> np.ndarray:
        return self.loss[:self.count]

    @property
    def has_loss(self) -> bool:
        return bool(self.count) and not np.isnan(self.loss[:self.count]).all()

    @property
    def params_change(self) -> bool:
        """True when an optimizer exists or the parameters moved."""
        return self.has_optimizer or self._params_moved

    def grad_of(self, name: str, iteration: int) -> np.ndarray:
        """Recorded grad values (elements or norm) of parameter ``name`` at ``iteration``
        (1-based)."""
        p = next(p for p in self.params if p.name == name)
        return self.grads[iteration - 1, p.col:p.col + p.width].copy()

    def names(self) -> dict[int, str]:
        """Tensor id -> name in this run (namespace names, module parameters)."""
        out: dict[int, str] = {}
        for p in self.params:
            t = p.getter()
            if isinstance(t, Tensor):
                out[id_of(t)] = p.name
        for k, v in self.namespace.items():
            if isinstance(v, Tensor) and not k.startswith("_"):
                out[id_of(v)] = k
        return out


_NP_GLOBAL_RANDOM = re.compile(
    r"\brandom\.(?!default_rng\b|Generator\b|PCG64\b|SeedSequence\b|BitGenerator\b)\w+"
    r"|import\s+random\b|from\s+random\b|numpy\.random|from\s+numpy\s+import")


class _Timeout(Exception):
    pass


def _ns_getter(ns: dict[str, Any], name: str) -> Callable[[], Any]:
    return lambda: ns.get(name)


def _const_getter(t: Tensor) -> Callable[[], Any]:
    return lambda: t


def _root_of(obj: Any, args: tuple, kwargs: dict[str, Any]) -> Tensor | None:
    if isinstance(obj, Tensor):
        return obj
    if obj is _autograd:
        t = args[0] if args else kwargs.get("tensors")
        if isinstance(t, Tensor):
            return t
        if isinstance(t, (list, tuple)) and t and isinstance(t[0], Tensor):
            return t[0]
    return None


def _scalar(v: Any) -> float | None:
    if isinstance(v, Tensor):
        if v.numel() == 1:
            return float(v.numpy(force=True).reshape(-1)[0])
        return None
    if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool):
        return float(v)
    return None


def _format_error(exc: BaseException) -> str:
    msg = str(exc)
    if isinstance(exc, KeyError):
        msg = repr(exc.args[0]) if exc.args else ""
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _user_line(exc: BaseException) -> int | None:
    line = None
    for fr in traceback.extract_tb(exc.__traceback__):
        if fr.filename == FILENAME:
            line = fr.lineno
    return line


# ============================================================================ the pair
class TrainingPair:
    """The same loop run twice in step: ``zeroed`` (with its zeroing) and ``unzeroed``
    (without). The as-written code is one of them; the other is the variant, and
    ``toggled`` says which lines differ (``note`` in words)."""

    def __init__(self, code: str, *, lr: float | None = None, iterations: int = 100,
                 seed: int | None = 0, variables: dict[str, Any] | None = None,
                 iteration_timeout: float | None = ITERATION_TIMEOUT_S,
                 setup_timeout: float | None = SETUP_TIMEOUT_S) -> None:
        self.code = code
        self.limit = int(iterations)
        vars_ = dict(variables or {})
        if lr is not None:
            vars_["lr"] = lr
        vars_.setdefault("iterations", self.limit)
        self.error: str | None = None
        try:
            sites = find_zeroing(code)
        except SyntaxError:
            sites = []
        self.sites = sites
        try:
            if sites:
                self.as_written = "zeroed"
                variant = variant_without_zeroing(code)
                zeroed_src, unzeroed_src = code, variant.source
            else:
                self.as_written = "unzeroed"
                variant = variant_with_zeroing(code)
                zeroed_src, unzeroed_src = variant.source, code
        except (SyntaxError, ValueError) as e:
            variant = Variant(code, (), str(e))
            zeroed_src = unzeroed_src = code
            self.as_written = "zeroed"
        self.variant = variant
        self.toggled = variant.toggled
        kw = dict(variables=vars_, limit=self.limit, seed=seed,
                  iteration_timeout=iteration_timeout, setup_timeout=setup_timeout)
        self.zeroed = TrainingRun(zeroed_src, RUN_LABELS["zeroed"], **kw)
        self.unzeroed = TrainingRun(unzeroed_src, RUN_LABELS["unzeroed"], **kw)
        self.runs = (self.zeroed, self.unzeroed)

    # ----- words
    @property
    def note(self) -> str:
        """Which lines the variant toggles, in a sentence."""
        t = self.toggled
        if not t:
            return f"Both runs are the same: {self.variant.note}."
        if t[0].action == "removed":
            lines = ", ".join(f"line {x.line} `{x.text}`" for x in t)
            return f"Without zeroing: removed {lines}."
        added = ", ".join(f"`{x.text}`" for x in t)
        return f"With zeroing: added {added} after line {t[0].after}."

    def run(self, which: str) -> TrainingRun:
        """``"zeroed"`` or ``"unzeroed"`` (also the labels) -> the run."""
        if which in ("zeroed", RUN_LABELS["zeroed"]):
            return self.zeroed
        if which in ("unzeroed", RUN_LABELS["unzeroed"]):
            return self.unzeroed
        raise KeyError(which)

    # ----- running
    def start(self) -> TrainingPair:
        for r in self.runs:
            r.start()
        return self

    @property
    def count(self) -> int:
        """Iterations done (the furthest run)."""
        return max(r.count for r in self.runs)

    @property
    def active(self) -> bool:
        return any(r.active for r in self.runs)

    def step(self) -> bool:
        """One iteration of each active run. False when both have stopped."""
        self.start()
        goal = min((r.count for r in self.runs if r.active), default=0) + 1
        for r in self.runs:
            if r.active and r.count < goal:
                r.run_to(goal) if r.state == "ready" else r.step()
            if r.interrupted:
                break
        return self.active

    def advance(self, max_iterations: int, budget_s: float | None = None,
                quiet: bool = False) -> int:
        """Up to ``max_iterations`` more iterations of each active run, in step, within about
        ``budget_s`` seconds. The lagging run goes first; a run that ran out of time holds
        the other back. ``quiet``: no engine events meanwhile (see quiet_engine_events).
        Returns the iterations the furthest run advanced."""
        if quiet:
            with quiet_engine_events():
                return self.advance(max_iterations, budget_s)
        self.start()
        before = self.count
        active = [r for r in self.runs if r.active]
        if not active or max_iterations <= 0:
            return 0
        t0 = time.perf_counter()
        goal = min(r.count for r in active) + int(max_iterations)
        order = sorted(active, key=lambda r: r.count)
        for i, r in enumerate(order):
            deadline = None if budget_s is None else t0 + budget_s * (i + 1) / len(order)
            r.run_to(goal, deadline)
            if r.interrupted:
                break  # a Stop: the other run must not start an iteration now
            if r.active and r.count < goal:
                goal = r.count
        return self.count - before

    def stop(self, reason: str = "stopped") -> None:
        for r in self.runs:
            r.stop(reason)

    def run_all(self) -> TrainingPair:
        """Run both to the end (tests, CSV from the command line)."""
        self.start()
        while self.active:
            self.advance(1_000_000)
        return self

    def begin_iteration(self, which: str) -> Tensor | None:
        """The chosen run's next iteration up to its backward (see TrainingRun)."""
        self.start()
        return self.run(which).begin_iteration()

    def finish_iteration(self, which: str, cursor: Any = None) -> None:
        """Finish the chosen run's paused iteration, then bring the other run level."""
        r = self.run(which)
        r.finish_iteration(cursor)
        for other in self.runs:
            if other is not r and other.active and other.count < r.count and \
                    not r.interrupted:
                other.run_to(r.count)

    # ----- export
    def columns(self) -> list[tuple[str, np.ndarray]]:
        """(header, values) of every series of both runs, loss first."""
        return series_columns(self.runs)

    def write_csv(self, out: str | TextIO) -> None:
        """All series as CSV: one row per iteration, one column per series and run (empty
        where a run has no value)."""
        write_series_csv(self.columns(), out)
