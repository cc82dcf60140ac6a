"""The two versions of a training loop: the zeroing statements found, and the variant that
lacks (or gains) them (no Qt, no engine).

``find_zeroing`` spots every statement that zeroes gradients (``x.grad.zero_()``,
``opt.zero_grad()``, ``x.grad = None`` ...); ``variant_without_zeroing`` replaces them by
``pass`` so every other line keeps its number, ``variant_with_zeroing`` adds the zeroing a loop
lacks (``opt.zero_grad()`` after ``opt.step()``, else ``p.grad.zero_()`` for the parameters the
setup creates). :class:`ToggledLine` says which lines differ, for the panel's note.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from gradviz.training.loop import FILENAME, contains_backward, split_loop

__all__ = ["ZeroingSite", "ToggledLine", "Variant", "find_zeroing", "variant_without_zeroing",
           "variant_with_zeroing"]


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
                    and contains_backward(s)):
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
