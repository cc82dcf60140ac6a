"""Notebooks as lists of cells: percent-format scripts (``# %%``) and Jupyter ``.ipynb`` files.

No Qt and no nbformat dependency. A cell that is meant to fail carries ``expect_error``, written
in percent format as a first line ``# expect: RuntimeError`` (optionally ``: message part``) and
read from a Jupyter notebook's ``raises-exception`` tag. :func:`unsupported_torch_api` reads the
code (without running it) for the torch names the engine lacks, so the app can warn up front.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "Cell",
    "load_notebook",
    "parse_percent",
    "read_front_matter",
    "read_ipynb",
    "to_percent",
    "unsupported_torch_api",
]

CellKind = Literal["code", "markdown"]

_CELL_MARK = re.compile(r"^# %%(?P<rest>.*)$")
_EXPECT = re.compile(r"^#\s*expect:\s*(?P<what>\S.*?)\s*$")
_MARKDOWN_TAG = re.compile(r"^\s*\[(markdown|md)\]")
_RAISES_TAG = "raises-exception"


@dataclass
class Cell:
    """One notebook cell. ``expect_error`` names the exception a code cell is meant to raise
    (``"RuntimeError"``, or ``"RuntimeError: text the message contains"``)."""

    kind: CellKind
    source: str
    expect_error: str | None = None

    def expects(self, exc: BaseException) -> bool:
        """True when ``exc`` is the error this cell is meant to raise."""
        if self.expect_error is None:
            return False
        name, _, text = self.expect_error.partition(":")
        names = {c.__name__ for c in type(exc).__mro__}
        return name.strip() in names and text.strip() in str(exc)


def _trim(lines: list[str]) -> str:
    """Join lines without the blank lines around them (cells are compared this way)."""
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(line.rstrip("\r") for line in lines)


def _split_expect(source: str) -> tuple[str, str | None]:
    lines = source.split("\n")
    if lines and (m := _EXPECT.match(lines[0].strip())):
        return _trim(lines[1:]), m.group("what")
    return source, None


# --------------------------------------------------------------------------- percent format
def read_front_matter(text: str) -> dict[str, str]:
    """``key: value`` pairs of a leading ``# ---`` ... ``# ---`` block (jupytext style)."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "# ---":
        return {}
    out: dict[str, str] = {}
    for line in lines[1:]:
        if line.strip() == "# ---":
            return out
        body = line[2:] if line.startswith("# ") else line.lstrip("#")
        key, sep, value = body.partition(":")
        if sep and key.strip() and not key[:1].isspace():  # top-level keys only
            out[key.strip()] = value.strip().strip("\"'")
    return {}  # unterminated: not front matter


def _skip_front_matter(lines: list[str]) -> list[str]:
    if lines and lines[0].strip() == "# ---":
        for i, line in enumerate(lines[1:], 1):
            if line.strip() == "# ---":
                return lines[i + 1:]
    return lines


def _markdown_source(lines: list[str]) -> str:
    out = []
    for line in lines:
        if line.startswith("# "):
            out.append(line[2:])
        elif line.startswith("#"):
            out.append(line[1:])
        else:
            out.append(line)
    return _trim(out)


def parse_percent(text: str) -> list[Cell]:
    """Cells of a percent-format script: ``# %%`` starts a code cell, ``# %% [markdown]`` a
    markdown cell written as ``# ``-prefixed comment lines. Code before the first marker (a plain
    script) is a code cell of its own; empty cells are dropped."""
    lines = _skip_front_matter(text.lstrip("\ufeff").replace("\r\n", "\n").split("\n"))
    cells: list[Cell] = []
    kind: CellKind = "code"
    raises = False
    body: list[str] = []

    def flush() -> None:
        if kind == "markdown":
            src = _markdown_source(body)
            if src:
                cells.append(Cell("markdown", src))
            return
        src, expect = _split_expect(_trim(list(body)))
        if src:
            cells.append(Cell("code", src, expect or ("Exception" if raises else None)))

    for line in lines:
        m = _CELL_MARK.match(line)
        if m:
            flush()
            rest = m.group("rest")
            kind = "markdown" if _MARKDOWN_TAG.match(rest) else "code"
            raises = _RAISES_TAG in rest
            body = []
        else:
            body.append(line)
    flush()
    return cells


def to_percent(cells: Iterable[Cell], front_matter: Mapping[str, str] | None = None) -> str:
    """Write cells as a percent-format script (the inverse of :func:`parse_percent`)."""
    parts: list[str] = []
    if front_matter:
        parts.append("\n".join(["# ---", *(f"# {k}: {v}" for k, v in front_matter.items()),
                                "# ---"]))
    for cell in cells:
        if cell.kind == "markdown":
            md = "\n".join(f"# {line}" if line else "#" for line in cell.source.split("\n"))
            parts.append(f"# %% [markdown]\n{md}")
        else:
            head = f"# %%\n# expect: {cell.expect_error}\n" if cell.expect_error else "# %%\n"
            parts.append(head + cell.source)
    return "\n\n".join(parts) + "\n"


# --------------------------------------------------------------------------- ipynb
def read_ipynb(path_or_text: str | Path) -> list[Cell]:
    """Code and markdown cells of an nbformat-4 notebook (a path, or the JSON text itself).

    Outputs are ignored, except that a cell tagged ``raises-exception`` expects the error its
    saved output shows (``Exception`` when there is none). Raises ValueError for anything that is
    not an nbformat-4 notebook, saying what is wrong.
    """
    if isinstance(path_or_text, str) and path_or_text.lstrip()[:1] in ("{", "["):
        text, where = path_or_text, "notebook"
    else:
        p = Path(path_or_text)
        text, where = p.read_text(encoding="utf-8-sig"), p.name
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where} is not a valid notebook: broken JSON at line {e.lineno} "
                         f"column {e.colno} ({e.msg})") from None
    except RecursionError:
        raise ValueError(f"{where} is not a valid notebook: JSON nested too deeply") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError(f"{where} is not a Jupyter notebook: no list of cells")
    if nb.get("nbformat") != 4:
        raise ValueError(f"{where}: nbformat {nb.get('nbformat')!r} is not supported (only 4; "
                         "re-save it with a recent Jupyter)")
    cells: list[Cell] = []
    for i, c in enumerate(nb["cells"]):
        if not isinstance(c, dict) or not isinstance(c.get("cell_type"), str):
            raise ValueError(f"{where}: cell {i} is not a notebook cell")
        src = c.get("source", "")
        if isinstance(src, list) and all(isinstance(s, str) for s in src):
            src = "".join(src)
        if not isinstance(src, str):
            raise ValueError(f"{where}: cell {i} has a source that is not text")
        src = _trim(src.replace("\r\n", "\n").split("\n"))
        if c["cell_type"] == "markdown":
            if src:
                cells.append(Cell("markdown", src))
        elif c["cell_type"] == "code":
            src, expect = _split_expect(src)
            meta = c.get("metadata")
            tags = meta.get("tags") if isinstance(meta, dict) else None
            if expect is None and isinstance(tags, list) and _RAISES_TAG in tags:
                expect = _error_name(c.get("outputs")) or "Exception"
            if src:
                cells.append(Cell("code", src, expect))
    return cells


def _error_name(outputs: Any) -> str | None:
    for out in outputs if isinstance(outputs, list) else ():
        if isinstance(out, dict) and out.get("output_type") == "error":
            name = out.get("ename")
            return name if isinstance(name, str) and name.isidentifier() else None
    return None


def load_notebook(path: str | Path) -> list[Cell]:
    """Cells of a ``.ipynb`` notebook or a ``.py`` percent-format script, chosen by extension."""
    p = Path(path)
    if p.suffix.lower() == ".ipynb":
        return read_ipynb(p)
    if p.suffix.lower() == ".py":
        return parse_percent(p.read_text(encoding="utf-8-sig"))
    raise ValueError(f"{p.name}: not a notebook (open a .py percent script or an .ipynb file)")


# --------------------------------------------------------------------------- torch API check
#: torch functions that return something other than a tensor
_NON_TENSOR_FUNCS = frozenset({
    "manual_seed", "seed", "initial_seed", "no_grad", "enable_grad", "inference_mode",
    "set_grad_enabled", "is_grad_enabled", "is_tensor", "numel", "get_default_dtype",
    "set_default_dtype", "set_printoptions", "equal", "allclose", "result_type",
    "is_floating_point", "get_rng_state", "Generator", "device", "Size", "dtype", "finfo", "iinfo",
})
#: tensor methods and attributes whose result is not a tensor
_NON_TENSOR_METHODS = frozenset({
    "item", "tolist", "numpy", "size", "dim", "numel", "nelement", "element_size", "backward",
    "register_hook", "retain_grad", "is_leaf", "requires_grad", "grad_fn", "shape", "dtype",
    "device", "ndim", "is_floating_point", "equal", "allclose", "data_ptr", "storage",
    "retains_grad", "output_nr", "_version", "__len__", "stride", "is_contiguous",
})
_DEFAULT_ALIASES = {"torch": "torch", "F": "torch.nn.functional"}


def _engine_object(dotted: str) -> tuple[bool, Any]:
    """Resolve a ``torch.a.b`` name in the engine: (found, object); submodules are imported."""
    import engine

    parts = dotted.split(".")
    obj: Any = engine
    path = "engine"
    for part in parts[1:]:
        if not isinstance(obj, (types.ModuleType, type)):
            return True, None  # an attribute of a value: not checked statically
        path = f"{path}.{part}"
        if hasattr(obj, part):
            obj = getattr(obj, part)
        elif isinstance(obj, types.ModuleType):
            try:
                obj = importlib.import_module(path)
            except Exception:  # noqa: BLE001 - missing, or a half-written engine module
                return False, None
        else:
            return False, None
    return True, obj


def _attr_chain(node: ast.AST) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


class _ApiChecker(ast.NodeVisitor):
    """Walks code in notebook order, tracking torch aliases and which names hold tensors."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = dict(_DEFAULT_ALIASES)
        self.tensors: set[str] = set()
        self.found: list[tuple[int, int, str]] = []
        self.cell = 0

    def report(self, node: ast.AST, what: str) -> None:
        self.found.append((self.cell, getattr(node, "lineno", 1), what))

    # ----- imports
    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.name != "torch" and not a.name.startswith("torch."):
                continue
            if not _engine_object(a.name)[0]:
                self.report(node, a.name)
            if a.asname:
                self.aliases[a.asname] = a.name
            else:
                self.aliases["torch"] = "torch"

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        if node.level or (mod != "torch" and not mod.startswith("torch.")):
            return
        for a in node.names:
            full = f"{mod}.{a.name}"
            if a.name != "*" and not _engine_object(full)[0]:
                self.report(node, full)
            if a.name != "*":
                self.aliases[a.asname or a.name] = full

    # ----- names that hold tensors
    def is_tensor(self, node: ast.AST | None) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.tensors
        if isinstance(node, ast.BinOp):
            return self.is_tensor(node.left) or self.is_tensor(node.right)
        if isinstance(node, ast.UnaryOp):
            return self.is_tensor(node.operand)
        if isinstance(node, ast.Subscript):
            return self.is_tensor(node.value)
        if isinstance(node, ast.Attribute):
            return node.attr in ("grad", "T", "mT", "data") and self.is_tensor(node.value)
        if isinstance(node, ast.Call):
            func = node.func
            chain = _attr_chain(func)
            if chain and chain[0] in self.aliases and len(chain) > 1:
                return chain[-1][:1].islower() and chain[-1] not in _NON_TENSOR_FUNCS
            if isinstance(func, ast.Attribute):
                return self.is_tensor(func.value) and func.attr not in _NON_TENSOR_METHODS
        return False

    def bind(self, target: ast.AST, is_tensor: bool) -> None:
        if isinstance(target, ast.Name):
            if is_tensor:
                self.tensors.add(target.id)
            else:
                self.tensors.discard(target.id)
                self.aliases.pop(target.id, None)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self.bind(elt.value if isinstance(elt, ast.Starred) else elt, is_tensor)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for t in node.targets:
            self.visit(t)
            self.bind(t, self.is_tensor(node.value))

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            self.bind(node.target, self.is_tensor(node.value))

    def visit_For(self, node: ast.For) -> None:
        self.visit(node.iter)
        self.bind(node.target, self.is_tensor(node.iter))
        for stmt in (*node.body, *node.orelse):
            self.visit(stmt)

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self.bind(item.optional_vars, self.is_tensor(item.context_expr))
        for stmt in node.body:
            self.visit(stmt)

    # ----- uses
    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain = _attr_chain(node)
        if chain and chain[0] in self.aliases and isinstance(node.ctx, ast.Load):
            full = ".".join([self.aliases[chain[0]], *chain[1:]])
            if not _engine_object(full)[0]:
                self.report(node, ".".join(chain))
            return
        if isinstance(node.ctx, ast.Load) and self.is_tensor(node.value):
            import engine

            if not hasattr(engine.Tensor, node.attr):
                base = ast.unparse(node.value)
                if not isinstance(node.value, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)):
                    base = f"({base})"
                self.report(node, f"{base if len(base) <= 24 else '<tensor>'}.{node.attr}")
        self.generic_visit(node)


def _parse_code(source: str) -> ast.Module | None:
    # IPython magics and shell escapes are blanked so line numbers stay right
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n")]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def unsupported_torch_api(cells: Iterable[Cell]) -> list[tuple[int, int, str]]:
    """``(cell index, line, name)`` for each torch name the code uses that the engine lacks:
    ``torch.X`` (any depth, ``torch.nn.X`` and ``torch.optim.X`` included), ``F.X``, imports of
    torch modules, and attributes of names that hold tensors (``x.cumsum``). Checked against the
    engine as it is now; nothing runs. Cells that do not parse are skipped."""
    checker = _ApiChecker()
    for i, cell in enumerate(cells):
        if cell.kind != "code":
            continue
        tree = _parse_code(cell.source)
        if tree is None:
            continue
        checker.cell = i
        for stmt in tree.body:
            checker.visit(stmt)
    return sorted(set(checker.found))
