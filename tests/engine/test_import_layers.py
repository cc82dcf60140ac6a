"""The engine's modules import each other in layers: the graph of module-level imports has no
cycle (dtype -> tensor -> function -> ops -> backend -> autograd -> nn, optim...), nor does the
graph that counts the imports made inside functions too (they run late, on first call), but
for a few listed late imports of the package itself.

Computed from the source with ast. ``from engine.x import y`` is an edge to ``engine.x.y`` when
that is a module, else to ``engine.x``; the implicit import of a parent package is not an edge
(every module's parent is ``engine``, whose ``__init__`` imports the whole library).
"""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "engine"


def _module(path: Path) -> str:
    parts = list(path.relative_to(ENGINE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(with_late: bool = False) -> tuple[dict[str, set[str]], int]:
    """Module -> the engine modules it imports at module level (and inside functions too, with
    ``with_late``); and how many engine imports are made inside functions."""
    paths = {_module(p): p for p in ENGINE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in paths}
    late = 0
    for mod, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
                    base = base[:len(base) - node.level + 1]
                    pkg = ".".join(base + ([node.module] if node.module else []))
                else:
                    pkg = node.module or ""
                names = [f"{pkg}.{a.name}" if f"{pkg}.{a.name}" in paths else pkg
                         for a in node.names]
            else:
                continue
            targets = set()
            for name in names:
                while name not in paths and "." in name:
                    name = name.rsplit(".", 1)[0]
                if name in paths and name != mod and name.split(".")[0] == "engine":
                    targets.add(name)
            if id(node) in top or with_late:
                graph[mod] |= targets
            if id(node) not in top and targets:
                late += 1
    return graph, late


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return path[path.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_module_level_imports_form_layers() -> None:
    graph, _late = import_graph()
    assert "engine.function" in graph["engine.autograd"]  # the graph is really read
    assert "engine.tensor" in graph["engine.function"]
    assert _cycle(graph) is None


def test_the_lower_layers_import_no_higher_one() -> None:
    graph, _late = import_graph()

    def below(m: str) -> set[str]:
        seen: set[str] = set()
        stack = [m]
        while stack:
            for n in graph[stack.pop()]:
                if n not in seen:
                    seen.add(n)
                    stack.append(n)
        return seen

    assert not below("engine.tensor") & {"engine.function", "engine.autograd", "engine.optim"}
    assert not below("engine.function") & {"engine.autograd", "engine.nn", "engine.optim"}
    assert "engine.optim.optimizer" in below("engine.optim.lr_scheduler")


# The late imports that may close a cycle: ``import engine`` inside a function, the package
# itself (whose __init__ imports every module), for the public namespace read on call. Any other
# late import must point down the layers, as a module-level one would.
LATE_IMPORTS_OF_THE_PACKAGE = {
    "engine.functional": "torch.functional's module __getattr__ forwards other names to torch",
    "engine.utils.data._collate": "collates through the public factories, as default_collate",
    "engine.utils.data._random": "draws through the public generator API (torch's shuffles)",
    "engine.utils.data.dataset": "random_split defaults to engine.default_generator on call",
}


def test_late_imports_form_layers_too() -> None:
    plain, _late = import_graph()
    graph, _late = import_graph(with_late=True)
    for mod in LATE_IMPORTS_OF_THE_PACKAGE:  # each exception is still needed (and late ones read)
        assert "engine" in graph[mod] and "engine" not in plain[mod], mod
        graph[mod].discard("engine")
    assert _cycle(graph) is None

    def below(m: str) -> set[str]:
        seen: set[str] = set()
        stack = [m]
        while stack:
            for n in graph[stack.pop()]:
                if n not in seen:
                    seen.add(n)
                    stack.append(n)
        return seen

    assert below("engine.tensor") <= {"engine._dtype", "engine._printing", "engine.device",
                                      "engine.events", "engine.grad_mode"}
    assert not {m for m in below("engine.function") if m.startswith(("engine.ops", "engine.nn"))}
    assert not below("engine.ops.select") & {"engine.autograd", "engine._methods", "engine.nn",
                                             "engine.linalg", "engine._api"}
