"""Import and access rules, checked mechanically (as napari checks its layers).

gradviz talks to the engine through the engine's public API only (torch's names where torch has
one), and the window (gradviz/qt) imports no engine at all: it draws what the kernel reports.
"""

from __future__ import annotations

import ast
import functools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "engine"
GRADVIZ = ROOT / "gradviz"

# Underscored names that real torch exposes and user code reads: allowed on engine objects.
TORCH_NAMES = frozenset({"_version", "_backward_hooks", "_base", "_forward_cls", "_C"})
TORCH_PREFIXES = ("_saved_", "_raw_saved_")
ACCESSORS = frozenset({"getattr", "hasattr", "setattr", "delattr"})


def _sources(root: Path) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(root.rglob("*.py")):
        yield path, _parse(path)


@functools.cache
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@functools.cache
def engine_privates() -> frozenset[str]:
    """Every private name the engine defines: ``self._x`` / ``cls._x`` attributes, ``__slots__``
    entries, ``_functions``, ``_Classes``, module- and class-level ``_NAMES``."""
    names: set[str] = set()
    for _, tree in _sources(ENGINE):
        for n in ast.walk(tree):
            if (isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
                    and n.value.id in ("self", "cls", "node", "result", "t")):
                names.add(n.attr)
            elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(n.name)
            elif isinstance(n, (ast.Assign, ast.AnnAssign)):
                targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                for t in targets:
                    if isinstance(t, ast.Name):
                        names.add(t.id)
                        if t.id == "__slots__" and isinstance(n.value, (ast.Tuple, ast.List)):
                            names.update(e.value for e in n.value.elts
                                         if isinstance(e, ast.Constant))
    return frozenset(n for n in names if isinstance(n, str) and _private(n)
                     and n not in TORCH_NAMES and not n.startswith(TORCH_PREFIXES))


def _accessed(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """``x._name`` and ``getattr(x, "_name")`` outside ``self`` / ``cls`` (own privates)."""
    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute):
            if not (isinstance(n.value, ast.Name) and n.value.id in ("self", "cls")):
                yield n.lineno, n.attr
        elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
              and n.func.id in ACCESSORS and len(n.args) >= 2
              and isinstance(n.args[1], ast.Constant) and isinstance(n.args[1].value, str)):
            if not (isinstance(n.args[0], ast.Name) and n.args[0].id in ("self", "cls")):
                yield n.lineno, n.args[1].value


def engine_private_uses() -> list[str]:
    privates = engine_privates()
    out = []
    for path, tree in _sources(GRADVIZ):
        rel = path.relative_to(ROOT)
        for line, name in _accessed(tree):
            if name in privates:
                out.append(f"{rel}:{line}: .{name}")
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and n.module and n.module.split(".")[0] == "engine":
                parts = n.module.split(".")[1:] + [a.name for a in n.names]
                if any(_private(p) for p in parts):
                    out.append(f"{rel}:{n.lineno}: from {n.module} import "
                               + ", ".join(a.name for a in n.names))
    return out


def engine_imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            for a in n.names:
                if a.name.split(".")[0] == "engine":
                    yield n.lineno, a.name
        elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module \
                and n.module.split(".")[0] == "engine":
            yield n.lineno, n.module


def test_engine_privates_are_found() -> None:
    privates = engine_privates()
    assert {"_grad", "_data", "_id", "_freed", "_subscribers"} <= privates
    assert "_version" not in privates and "_saved_self" not in privates


def test_gradviz_uses_no_engine_private() -> None:
    assert engine_private_uses() == []


def test_window_imports_no_engine() -> None:
    found = [f"{p.relative_to(ROOT)}:{line}: {mod}"
             for p, tree in _sources(GRADVIZ / "qt") for line, mod in engine_imports(tree)]
    assert found == []


def test_the_window_loads_no_engine() -> None:
    """Not even through a Qt-free gradviz module: the whole window imports without the engine
    (it runs no user code; the kernel process has the engine)."""
    code = ("import sys\nimport gradviz.qt.main_window\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'engine'))")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_shown_window_with_a_lesson_loads_no_engine() -> None:
    """Showing the window and a notebook that uses torch names the engine lacks: the warning
    comes from the kernel (which has the engine); the window process still has none."""
    code = ("import sys\nfrom PySide6.QtWidgets import QApplication\n"
            "from gradviz.qt.main_window import MainWindow\n"
            "from gradviz.notebook import parse_percent\n"
            "app = QApplication([])\nw = MainWindow(restore_settings=False)\nw.show()\n"
            "assert w.kernel.wait_for(lambda: w.kernel.ready, 60)\n"
            "w.lesson_panel.load_cells(parse_percent('# %%\\nimport torch\\n'\n"
            "    'x = torch.ones(2)\\ny = torch.no_such_op(x)\\n'))\n"
            "print(w.lesson_panel.unsupported)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'engine'))\n"
            "w.close()\nw.kernel.shutdown()\n")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True, timeout=120)
    warned, loaded = out.stdout.strip().splitlines()[-2:]
    assert warned == "[(0, 3, 'torch.no_such_op')]"
    assert loaded == "[]"


def test_graph_events_read_the_engines_json_lines() -> None:
    import engine
    from engine import events
    from gradviz.graph_events import KINDS, EventKind, GraphEvent

    assert KINDS == events.KINDS  # the same kinds, in the same order
    seen: list[events.Event] = []
    with events.subscribe(seen.append):
        x = engine.tensor([1.0, float("nan")], requires_grad=True)
        (x * 2).sum().backward()
    assert {e.kind for e in seen} >= {"tensor_created", "op_recorded", "grad_accumulated"}
    for e in seen:
        g = GraphEvent.from_json(e.to_json())
        assert g.kind is EventKind(e.kind) and g.seq == e.seq
        fields = {k: v for k, v in g.items() if k not in ("kind", "seq")}
        assert events.Event(str(g.kind), g.seq, **fields) == e  # NaN and tuples as the engine


def test_typed_states_name_what_the_window_draws() -> None:
    from gradviz.qt.graph_view import STATES
    from gradviz.views import NodeState
    from gradviz.workspace import Change

    assert tuple(NodeState) == STATES  # every state the graph view draws, and no other
    assert NodeState.CURRENT == "current" and Change.TENSORS == "tensors"
