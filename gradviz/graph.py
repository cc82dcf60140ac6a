"""The autograd graph as a networkx DiGraph: build it, lay it out, export it as DOT.

Pure functions, no Qt. Works on any objects with PyTorch's autograd API (``t.grad_fn``,
``node.next_functions``, ``node.name()``, ``AccumulateGrad.variable``), i.e. on real torch
tensors and on the numpy ``engine``.

Node keys: ``n<id>`` for grad_fn nodes (AccumulateGrad included), ``t<id>`` for tensors and
``s<node id>_<name>`` for saved tensors, where ``<id>`` is the object's stable ``_id`` (engine) or
``id()`` (torch). Node attributes: ``kind`` (grad_fn, accumulate, leaf, output, saved),
``label`` (the first line is the title, the rest are values), ``detail`` (hover text) and
``obj`` (the node or tensor itself). Edges point forward, as torchviz draws them
(leaf -> AccumulateGrad -> grad_fn -> ... -> root's grad_fn -> root tensor).
"""

from __future__ import annotations

import gc
import sys
import warnings
from collections.abc import Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

__all__ = [
    "KINDS",
    "Layout",
    "build_graph",
    "compute_layout",
    "count_crossings",
    "format_values",
    "gc_paused",
    "layered_layout",
    "refresh_labels",
    "tensor_label",
    "to_dot",
]

#: every node kind build_graph produces
KINDS = ("grad_fn", "accumulate", "leaf", "output", "saved")

_MAX_LABEL_VALUES = 6
_MAX_DETAIL_VALUES = 24


# --------------------------------------------------------------------------- objects
@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: with torch loaded a collection that happens to fall
    inside a large graph build or layout can double its time."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _obj_id(o: Any) -> int:
    """The object's stable id: a view's ``id``, an engine object's ``engine.events.id_of``
    (looked up only when the engine is loaded: the window never loads it), else ``id(o)``
    (torch objects)."""
    i = getattr(o, "id", None)
    if not isinstance(i, int):
        engine_events = sys.modules.get("engine.events")
        i = engine_events.id_of(o) if engine_events is not None else None
    return i if isinstance(i, int) else id(o)


def _is_tensor(o: Any) -> bool:
    return hasattr(o, "shape") and hasattr(o, "requires_grad") and hasattr(o, "grad_fn")


def _fn_name(fn: Any) -> str:
    try:
        name = fn.name() if callable(getattr(fn, "name", None)) else type(fn).__name__
    except Exception:  # noqa: BLE001 - a broken node still gets drawn
        name = type(fn).__name__
    return str(name).rsplit("::", 1)[-1]


def _to_array(t: Any) -> np.ndarray | None:
    try:
        t = t.detach()
    except Exception:  # noqa: BLE001
        pass
    for conv in (lambda: t.cpu().numpy(), lambda: t.numpy(), lambda: np.asarray(t)):
        try:
            return np.asarray(conv())
        except Exception:  # noqa: BLE001
            continue
    return None


def _grad_of(t: Any) -> Any:
    if getattr(t, "grad_fn", None) is not None and not getattr(t, "retains_grad", False):
        return None  # a non-leaf's .grad stays None (and torch warns when it is read)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return t.grad
        except Exception:  # noqa: BLE001
            return None


def _shape_str(t: Any) -> str:
    try:
        shape = tuple(int(s) for s in t.shape)
    except Exception:  # noqa: BLE001
        return "(?)"
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _dtype_str(t: Any) -> str:
    return str(getattr(t, "dtype", "")).replace("torch.", "").replace("engine.", "")


def _fmt(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    f = float(v)
    if f == 0:
        return "0"
    s = f"{f:.3g}"
    return s.replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")


def format_values(a: Any, max_items: int = _MAX_LABEL_VALUES) -> list[str]:
    """Format a small array for a label: one line per matrix row, ``[]`` when too large."""
    arr = np.asarray(a)
    if arr.ndim == 0:
        return [_fmt(arr.item())]
    if arr.size > max_items:
        return []
    if arr.ndim == 2 and arr.shape[0] > 1 and arr.shape[1] > 1:
        return ["[" + ", ".join(_fmt(v) for v in row) + "]" for row in arr]
    return ["[" + ", ".join(_fmt(v) for v in arr.ravel()) + "]"]


def _summary(arr: np.ndarray, max_items: int = _MAX_DETAIL_VALUES) -> str:
    if arr.ndim == 0:
        return _fmt(arr.item())
    flat = arr.ravel()
    s = "[" + ", ".join(_fmt(v) for v in flat[:max_items]) + (", …" if flat.size > max_items
                                                               else "") + "]"
    if flat.size > max_items and np.issubdtype(arr.dtype, np.number):
        s += (f"\n    min {_fmt(flat.min())}  max {_fmt(flat.max())}  "
              f"mean {_fmt(flat.mean())}")
    return s


def tensor_label(t: Any, name: str | None = None) -> str:
    """Label of a tensor node: name (else shape), shape, small values, and ``grad`` once set."""
    lines = [name, _shape_str(t)] if name else [_shape_str(t)]
    arr = _to_array(t)
    if arr is not None:
        lines += format_values(arr)
    grad = _grad_of(t)
    if grad is not None:
        garr = _to_array(grad)
        vals = format_values(garr) if garr is not None else []
        if vals:
            lines.append("grad " + vals[0])
            lines += ["     " + v for v in vals[1:]]
        else:
            lines.append("grad " + _shape_str(grad))
    return "\n".join(lines)


_KIND_TEXT = {
    "leaf": "leaf tensor (requires grad)",
    "output": "output tensor",
    "saved": "tensor saved for backward",
}


def _tensor_detail(t: Any, kind: str, name: str | None, extra: str = "") -> str:
    head = f"{name} — {_KIND_TEXT[kind]}" if name else _KIND_TEXT[kind].capitalize()
    lines = [head + extra, f"shape {_shape_str(t)}   dtype {_dtype_str(t)}"]
    if getattr(t, "requires_grad", False):
        lines.append("requires_grad=True")
    arr = _to_array(t)
    if arr is not None:
        lines.append("value " + _summary(arr))
    grad = _grad_of(t)
    if grad is not None:
        garr = _to_array(grad)
        lines.append("grad  " + (_summary(garr) if garr is not None else _shape_str(grad)))
    return "\n".join(lines)


_SAVED_ATTRS: dict[type, tuple[str, ...]] = {}  # torch's _saved_* properties, per node class


def _saved_values(fn: Any) -> list[tuple[str, Any]]:
    """(name, tensor) pairs a node saved for backward; empty once they are freed."""
    out: list[tuple[str, Any]] = []
    names: set[str] = set()

    def add(name: str, val: Any, nested: bool = False) -> None:
        if _is_tensor(val):
            if name not in names:
                names.add(name)
                out.append((name, val))
        elif isinstance(val, (tuple, list)) and not nested:  # e.g. cat's saved tensors
            for i, v in enumerate(val):
                add(f"{name}[{i}]", v, True)

    cls = type(fn)
    attrs = _SAVED_ATTRS.get(cls)
    if attrs is None:
        try:
            attrs = _SAVED_ATTRS[cls] = tuple(a for a in dir(fn) if a.startswith("_saved_"))
        except Exception:  # noqa: BLE001
            attrs = ()
    for attr in attrs:
        try:
            add(attr[len("_saved_"):], getattr(fn, attr))
        except Exception:  # noqa: BLE001 - freed after backward
            continue
    try:
        saved = getattr(fn, "saved_tensors", None)
    except Exception:  # noqa: BLE001
        saved = None
    if isinstance(saved, Mapping):
        for k, v in saved.items():
            add(str(k), v)
    elif isinstance(saved, (tuple, list)):
        for i, v in enumerate(saved):
            add(f"saved[{i}]", v)
    return out


def _fn_detail(fn: Any, saved: list[tuple[str, Any]] | None = None) -> str:
    name = _fn_name(fn)
    if hasattr(fn, "variable"):
        var = fn.variable
        return (f"{name}\nadds the incoming gradient into the leaf's .grad\n"
                f"leaf shape {_shape_str(var)}")
    lines = [f"{name}  (grad_fn)"]
    nexts = tuple(getattr(fn, "next_functions", ()) or ())
    if nexts:
        lines.append("inputs (next_functions):")
        for i, (nxt, nr) in enumerate(nexts):
            what = "None — needs no grad" if nxt is None else _fn_name(nxt)
            lines.append(f"  [{i}] {what}" + (f"  (output {nr})" if nxt is not None and nr
                                                else ""))
    if saved is None:
        saved = _saved_values(fn)
    if saved:
        lines.append("saved: " + ", ".join(f"{k} {_shape_str(v)}" for k, v in saved))
    return "\n".join(lines)


# --------------------------------------------------------------------------- build
def build_graph(roots: Any, names: Mapping[int, str] | None = None,
                show_saved: bool = False) -> nx.DiGraph:
    """Build the torchviz-style graph of ``roots`` (a tensor or an iterable of tensors).

    ``names`` maps tensor ids (``_id``, else ``id()``) to display names. ``g.graph["roots"]``
    lists the root keys. Edges into a grad_fn carry ``next_index`` (the position in
    ``next_functions``; ``next_indices`` lists all of them when an input is used twice) and
    ``output_nr``; every edge has a ``kind``: grad, variable, output or saved.
    """
    with gc_paused():
        return _build_graph(roots, names, show_saved)


def _build_graph(roots: Any, names: Mapping[int, str] | None, show_saved: bool) -> nx.DiGraph:
    root_list = [roots] if _is_tensor(roots) else list(roots)
    names = dict(names or {})
    g = nx.DiGraph()
    g.graph["roots"] = []

    def name_of(t: Any) -> str | None:
        return names.get(_obj_id(t), names.get(id(t)))

    def add_tensor(t: Any, kind: str) -> str:
        key = f"t{_obj_id(t)}"
        if key not in g:
            name = name_of(t)
            g.add_node(key, kind=kind, label=tensor_label(t, name),
                       detail=_tensor_detail(t, kind, name), obj=t, name=name)
        return key

    def add_fn(fn: Any) -> str:
        key = f"n{_obj_id(fn)}"
        if key not in g:
            kind = "accumulate" if hasattr(fn, "variable") else "grad_fn"
            g.add_node(key, kind=kind, label=_fn_name(fn), detail="", obj=fn, name=None)
        return key

    stack: list[Any] = []
    for r in root_list:
        rk = add_tensor(r, "output")
        if rk not in g.graph["roots"]:
            g.graph["roots"].append(rk)
        fn = getattr(r, "grad_fn", None)
        if fn is not None:
            fk = add_fn(fn)
            if not g.has_edge(fk, rk):
                g.add_edge(fk, rk, kind="output", next_index=None, output_nr=None)
            stack.append(fn)
    stack.reverse()

    done: set[str] = set()
    while stack:
        fn = stack.pop()
        fk = add_fn(fn)
        if fk in done:
            continue
        done.add(fk)
        children = []
        for i, edge in enumerate(tuple(getattr(fn, "next_functions", ()) or ())):
            nxt, nr = edge
            if nxt is None:
                continue
            nk = add_fn(nxt)
            if g.has_edge(nk, fk):
                g.edges[nk, fk]["next_indices"].append(i)
            else:
                g.add_edge(nk, fk, kind="grad", next_index=i, next_indices=[i], output_nr=nr)
            children.append(nxt)
        if hasattr(fn, "variable"):
            vk = add_tensor(fn.variable, "leaf")
            if not g.has_edge(vk, fk):
                g.add_edge(vk, fk, kind="variable", next_index=None, output_nr=None)
        saved = _saved_values(fn) if (show_saved or g.nodes[fk]["kind"] == "grad_fn") else []
        g.nodes[fk]["detail"] = _fn_detail(fn, saved)
        if show_saved:
            fid = fk[1:]
            for sname, t in saved:
                sk = f"s{fid}_{sname}"
                same = name_of(t)
                title = f"{sname} = {same}" if same else sname
                extra = f" by {_fn_name(fn)} as '{sname}'"
                g.add_node(sk, kind="saved", label=tensor_label(t, title),
                           detail=_tensor_detail(t, "saved", title, extra), obj=t,
                           name=title, owner=fk)
                g.add_edge(sk, fk, kind="saved", next_index=None, output_nr=None)
        stack.extend(reversed(children))
    return g


def refresh_labels(g: nx.DiGraph, names: Mapping[int, str] | None = None) -> list[Hashable]:
    """Recompute tensor labels and details (values, ``.grad``) in place; return changed keys."""
    changed = []
    for key, d in g.nodes(data=True):
        kind, t = d.get("kind"), d.get("obj")
        if t is None or kind not in ("leaf", "output", "saved"):
            continue
        name = d.get("name")
        if names is not None and kind != "saved":
            name = names.get(_obj_id(t), names.get(id(t), name))
        label = tensor_label(t, name)
        if label != d.get("label"):
            d["label"] = label
            d["detail"] = _tensor_detail(t, kind, name)
            changed.append(key)
    return changed


# --------------------------------------------------------------------------- DOT
_DOT_FILL = {"grad_fn": "lightgrey", "accumulate": "lightgrey", "leaf": "lightblue",
             "output": "darkolivegreen1", "saved": "orange"}


def _dot_quote(s: Any) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(g: nx.DiGraph, name: str = "autograd") -> str:
    """Graphviz DOT text for ``g`` in torchviz's style (no graphviz binary needed)."""
    out = [f"digraph {_dot_quote(name)} {{",
           '  node [shape=box, style="filled,rounded", fontname="monospace", fontsize=10, '
           'align=left];',
           "  edge [arrowsize=0.7];"]
    for key, d in g.nodes(data=True):
        fill = _DOT_FILL.get(d.get("kind"), "white")
        out.append(f"  {_dot_quote(key)} [label={_dot_quote(d.get('label', key))}, "
                   f"fillcolor={fill}];")
    for u, v, d in g.edges(data=True):
        attrs = ' [style=dashed, dir=none]' if d.get("kind") == "saved" else ""
        out.append(f"  {_dot_quote(u)} -> {_dot_quote(v)}{attrs};")
    out.append("}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- layout
@dataclass
class Layout:
    """A layered layout: node centres (y grows downwards), edge bend points and layers."""

    pos: dict[Hashable, tuple[float, float]] = field(default_factory=dict)
    #: bend points of each edge (u, v), from u towards v, endpoints excluded
    routes: dict[tuple[Hashable, Hashable], list[tuple[float, float]]] = field(
        default_factory=dict)
    #: layer of each node, 0 at the top (leaves) and the largest at the bottom (outputs)
    layers: dict[Hashable, int] = field(default_factory=dict)
    #: edges too long to route within the dummy budget: draw them straight from u to v
    unrouted: set[tuple[Hashable, Hashable]] = field(default_factory=set)
    width: float = 0.0
    height: float = 0.0
    #: crossings between layers after the sweeps (routed edges only)
    crossings: int = 0


def layered_layout(g: nx.DiGraph, **kwargs: Any) -> dict[Hashable, tuple[float, float]]:
    """Node centres of a layered (Sugiyama) layout of ``g``; see :func:`compute_layout`."""
    return compute_layout(g, **kwargs).pos


def _break_cycles(n: int, succ: list[list[int]]) -> set[tuple[int, int]]:
    """Back edges of an iterative DFS: reversing them makes the graph acyclic."""
    state = [0] * n  # 0 new, 1 on stack, 2 done
    back: set[tuple[int, int]] = set()
    for s in range(n):
        if state[s]:
            continue
        state[s] = 1
        stack = [(s, iter(succ[s]))]
        while stack:
            v, it = stack[-1]
            for w in it:
                if state[w] == 0:
                    state[w] = 1
                    stack.append((w, iter(succ[w])))
                    break
                if state[w] == 1:
                    back.add((v, w))
            else:
                state[v] = 2
                stack.pop()
    return back


def _inversions_int(seq: list[int], size: int) -> int:
    """Pairs i < j with seq[i] > seq[j], for ints in [0, size) (Fenwick tree)."""
    m = len(seq)
    if m < 2:
        return 0
    if m <= 12:
        return sum(1 for i in range(m) for j in range(i + 1, m) if seq[i] > seq[j])
    tree = [0] * (size + 1)
    inv = 0
    for seen, a in enumerate(seq):
        i = a + 1
        le = 0
        while i > 0:
            le += tree[i]
            i -= i & -i
        inv += seen - le
        i = a + 1
        while i <= size:
            tree[i] += 1
            i += i & -i
    return inv


def compute_layout(g: nx.DiGraph, *, widths: Mapping[Hashable, float] | None = None,
                   heights: Mapping[Hashable, float] | None = None,
                   previous: Mapping[Hashable, tuple[float, float]] | None = None,
                   node_gap: float = 36.0, layer_gap: float = 56.0,
                   default_width: float = 120.0, default_height: float = 44.0,
                   sweeps: int = 12, coord_iters: int = 3,
                   max_dummies: int | None = None) -> Layout:
    """Sugiyama-style layered layout, computed in-process.

    Layers by longest path to the sinks (outputs at the bottom, leaves on top), dummy nodes for
    long edges, barycenter sweeps (``sweeps`` down+up passes, the best ordering kept) to reduce
    crossings, then x coordinates that keep edges short and nodes compact under the node
    widths (``widths``, else ``g.nodes[k]["width"]``, else ``default_width``). ``previous``
    positions seed the order within layers and keep the relative order of nodes that were
    already there, so a growing graph does not jump around.
    """
    with gc_paused():
        return _compute_layout(g, widths, heights, previous, node_gap, layer_gap, default_width,
                               default_height, sweeps, coord_iters, max_dummies)


def _compute_layout(g: nx.DiGraph, widths: Mapping[Hashable, float] | None,
                    heights: Mapping[Hashable, float] | None,
                    previous: Mapping[Hashable, tuple[float, float]] | None, node_gap: float,
                    layer_gap: float, default_width: float, default_height: float, sweeps: int,
                    coord_iters: int, max_dummies: int | None) -> Layout:
    keys = list(g.nodes)
    n = len(keys)
    if n == 0:
        return Layout()
    index = {k: i for i, k in enumerate(keys)}
    ndata = g.nodes

    def size(k: Hashable, given: Mapping | None, attr: str, default: float) -> float:
        if given is not None and k in given:
            return float(given[k])
        v = ndata[k].get(attr)
        return float(v) if v is not None else default

    width = [size(k, widths, "width", default_width) for k in keys]
    height = [size(k, heights, "height", default_height) for k in keys]

    # edges in each target's input order (g.pred keeps insertion order = next_functions order)
    raw: list[tuple[int, int]] = []
    for v in keys:
        vi = index[v]
        for u in g.pred[v]:
            if u != v:
                raw.append((index[u], vi))
    succ0: list[list[int]] = [[] for _ in range(n)]
    for u, v in raw:
        succ0[u].append(v)
    back = _break_cycles(n, succ0)
    edges = [(v, u) if (u, v) in back else (u, v) for u, v in raw]

    # ---- layering: longest path to a sink, flipped so sinks are at the bottom
    succ: list[list[int]] = [[] for _ in range(n)]
    pred: list[list[int]] = [[] for _ in range(n)]
    for u, v in edges:
        succ[u].append(v)
        pred[v].append(u)
    outdeg = [len(s) for s in succ]
    rank = [0] * n
    queue = [i for i in range(n) if outdeg[i] == 0]
    for v in queue:  # grows while iterating
        rv = rank[v] + 1
        for u in pred[v]:
            if rank[u] < rv:
                rank[u] = rv
            outdeg[u] -= 1
            if outdeg[u] == 0:
                queue.append(u)
    top = max(rank)
    layer = [top - r for r in rank]
    nlayers = top + 1

    # ---- dummy nodes: every routed edge joins adjacent layers. Edges spanning many layers
    # (a parameter reused all along an unrolled loop) are routed shortest first within a budget
    # of dummies; the rest are left unrouted (drawn straight, ignored for ordering).
    spans = [layer[v] - layer[u] - 1 for u, v in edges]
    budget = max_dummies if max_dummies is not None else n + 500
    routed = [True] * len(edges)
    if sum(spans) > budget:
        used = 0
        for ei in sorted(range(len(edges)), key=spans.__getitem__):
            used += spans[ei]
            routed[ei] = used <= budget
    lsucc: list[list[int]] = [[] for _ in range(n)]
    lpred: list[list[int]] = [[] for _ in range(n)]
    chains: list[list[int] | None] = []
    for (u, v), ok in zip(edges, routed, strict=True):
        if not ok:
            chains.append(None)
            continue
        prev, chain = u, []
        for lay in range(layer[u] + 1, layer[v]):
            d = len(layer)
            layer.append(lay)
            lsucc.append([])
            lpred.append([prev])
            width.append(0.0)
            height.append(0.0)
            lsucc[prev].append(d)
            chain.append(d)
            prev = d
        lsucc[prev].append(v)
        lpred[v].append(prev)
        chains.append(chain)
    total = len(layer)
    real = n

    # ---- initial order: DFS upwards from the sinks, inputs left to right
    order: list[list[int]] = [[] for _ in range(nlayers)]
    visited = [False] * total
    for s in range(n):
        if visited[s] or lsucc[s]:
            continue
        stack = [s]
        while stack:
            v = stack.pop()
            if visited[v]:
                continue
            visited[v] = True
            order[layer[v]].append(v)
            stack.extend(reversed([p for p in lpred[v] if not visited[p]]))
    for v in range(total):  # unreachable only with odd inputs; keep them anyway
        if not visited[v]:
            order[layer[v]].append(v)

    old = [False] * total
    if previous:
        px = [0.0] * total
        for i, k in enumerate(keys):
            p = previous.get(k)
            if p is not None:
                old[i] = True
                px[i] = float(p[0])
        for lay, nodes in enumerate(order):
            slots = [j for j, v in enumerate(nodes) if old[v]]
            if len(slots) > 1:
                olds = sorted((nodes[j] for j in slots), key=px.__getitem__)
                for j, v in zip(slots, olds, strict=False):
                    nodes[j] = v
                order[lay] = nodes

    pos = [0] * total
    for nodes in order:
        for j, v in enumerate(nodes):
            pos[v] = j

    def crossings() -> int:
        c = 0
        for lay in range(nlayers - 1):
            upper, lower = order[lay], order[lay + 1]
            if len(upper) < 2 or len(lower) < 2:
                continue
            seq: list[int] = []
            for u in upper:
                s = lsucc[u]
                if len(s) == 1:
                    seq.append(pos[s[0]])
                elif s:
                    seq.extend(sorted(pos[w] for w in s))
            c += _inversions_int(seq, len(lower))
        return c

    def reorder(lay: int, nbrs: list[list[int]], fixed_len: int) -> None:
        nodes = order[lay]
        m = len(nodes)
        if m < 2:
            return
        scale = (fixed_len - 1) / (m - 1) if fixed_len > 1 else 0.0
        keyv = []
        for v in nodes:
            nb = nbrs[v]
            if len(nb) == 1:
                keyv.append(pos[nb[0]])
            elif nb:
                keyv.append(sum(pos[w] for w in nb) / len(nb))
            else:
                keyv.append(pos[v] * scale)
        if previous:
            slots = [j for j, v in enumerate(nodes) if old[v]]
            if len(slots) > 1:  # old nodes keep their relative order
                for j, kv in zip(slots, sorted(keyv[j] for j in slots), strict=False):
                    keyv[j] = kv
        idx = sorted(range(m), key=keyv.__getitem__)
        new = [nodes[j] for j in idx]
        order[lay] = new
        for j, v in enumerate(new):
            pos[v] = j

    best = crossings()
    if best and sweeps > 0:
        best_order = [list(o) for o in order]
        stale = 0
        for _ in range(sweeps):
            for lay in range(1, nlayers):
                reorder(lay, lpred, len(order[lay - 1]))
            for lay in range(nlayers - 2, -1, -1):
                reorder(lay, lsucc, len(order[lay + 1]))
            c = crossings()
            if c < best:
                best, best_order, stale = c, [list(o) for o in order], 0
            else:
                stale += 1
            if best == 0 or stale >= 2:
                break
        order = best_order
        for nodes in order:
            for j, v in enumerate(nodes):
                pos[v] = j

    # ---- x coordinates: weighted means of the neighbours' x (Gauss-Seidel sweeps), each layer
    # solved exactly under its order and separation constraints (pool adjacent violators)
    is_dummy = [v >= real for v in range(total)]
    half_gap, quarter_gap = node_gap / 2, node_gap / 4
    seps: list[list[float]] = []
    for nodes in order:
        sl = []
        for a, b in zip(nodes, nodes[1:], strict=False):
            da, db = is_dummy[a], is_dummy[b]
            gap = quarter_gap if (da and db) else half_gap if (da or db) else node_gap
            sl.append((width[a] + width[b]) / 2 + gap)
        seps.append(sl)
    x = [0.0] * total
    for nodes, sl in zip(order, seps, strict=True):
        acc = 0.0
        for j, v in enumerate(nodes):
            x[v] = acc
            if j < len(sl):
                acc += sl[j]
        shift = acc / 2
        for v in nodes:
            x[v] -= shift

    # neighbours with edge weights 1 (real-real), 2 (real-dummy), 8 (dummy-dummy) to keep long
    # edges straight; nbr[v] = (neighbours, None) when all weights are equal
    def weighted(v: int, nbs: list[int]) -> tuple[list[int], list[float] | None, float]:
        dv = is_dummy[v]
        ws = [8.0 if (dv and is_dummy[w]) else 2.0 if (dv or is_dummy[w]) else 1.0 for w in nbs]
        if all(w == ws[0] for w in ws):
            return nbs, None, float(len(nbs)) * (ws[0] if ws else 0.0)
        return nbs, ws, float(sum(ws))

    nbr = [weighted(v, lpred[v] + lsucc[v]) for v in range(total)]

    def place(lay: int) -> float:
        nodes = order[lay]
        sl = seps[lay]
        m = len(nodes)
        getx = x.__getitem__
        if m == 1:
            v = nodes[0]
            nbs, ws, tw = nbr[v]
            if not tw:
                return 0.0
            t = (sum(map(getx, nbs)) / len(nbs) if ws is None
                 else sum(w * x[u] for u, w in zip(nbs, ws, strict=True)) / tw)
            moved = abs(t - x[v])
            x[v] = t
            return moved
        # blocks of pool adjacent violators, on y_j = x_j - offset_j
        bw: list[float] = []
        bs: list[float] = []
        bc: list[int] = []
        offset = 0.0
        for j in range(m):
            v = nodes[j]
            nbs, ws, tw = nbr[v]
            if not tw:
                tw, ts = 0.01, 0.01 * x[v]
            elif ws is None:
                ts = sum(map(getx, nbs)) * (tw / len(nbs))
            else:
                ts = sum(w * x[u] for u, w in zip(nbs, ws, strict=True))
            ts -= tw * offset
            cnt = 1
            while bw and bs[-1] * tw > ts * bw[-1]:
                tw += bw.pop()
                ts += bs.pop()
                cnt += bc.pop()
            bw.append(tw)
            bs.append(ts)
            bc.append(cnt)
            if j < m - 1:
                offset += sl[j]
        moved = 0.0
        j = 0
        offset = 0.0
        for w_, s_, c in zip(bw, bs, bc, strict=True):
            val = s_ / w_
            for _ in range(c):
                v = nodes[j]
                nx_ = val + offset
                d = abs(nx_ - x[v])
                if d > moved:
                    moved = d
                x[v] = nx_
                if j < m - 1:
                    offset += sl[j]
                j += 1
        return moved

    for _ in range(coord_iters):
        moved = 0.0
        for lay in range(nlayers):
            moved = max(moved, place(lay))
        for lay in range(nlayers - 1, -1, -1):
            moved = max(moved, place(lay))
        if moved < 1.0:
            break
    # a last downward pass towards the inputs only: chains come out exactly vertical and every
    # node sits centred under its inputs
    for v in range(total):
        if lpred[v]:
            nbr[v] = weighted(v, lpred[v])
        elif nbr[v][2]:  # sources (leaves, saved tensors) give way to the chains
            nbs, ws, tw = nbr[v]
            nbr[v] = (nbs, [0.05] * len(nbs) if ws is None else [0.05 * w for w in ws],
                      0.05 * tw)
    for lay in range(0, nlayers):
        place(lay)

    # ---- y coordinates: layer by layer, the gap grows a little with the edges' slant
    lay_h = [0.0] * nlayers
    for v in range(real):
        if height[v] > lay_h[layer[v]]:
            lay_h[layer[v]] = height[v]
    ys = [0.0] * nlayers
    ytop = 0.0
    for lay in range(nlayers):
        ys[lay] = ytop + lay_h[lay] / 2
        slant = 0.0
        if lay + 1 < nlayers:
            for u in order[lay]:
                for w in lsucc[u]:
                    d = abs(x[w] - x[u])
                    if d > slant:
                        slant = d
        ytop += lay_h[lay] + layer_gap + min(layer_gap, slant * 0.08)
    xmin = min(x[v] - width[v] / 2 for v in range(total))
    xmax = max(x[v] + width[v] / 2 for v in range(total))

    out = Layout(crossings=best)
    for i, k in enumerate(keys):
        out.pos[k] = (x[i] - xmin, ys[layer[i]])
        out.layers[k] = layer[i]
    for (u, v), (ru, rv), chain in zip(edges, raw, chains, strict=True):
        if chain is None:
            out.unrouted.add((keys[ru], keys[rv]))
            continue
        if not chain:
            continue
        pts = [(x[d] - xmin, ys[layer[d]]) for d in chain]
        if (ru, rv) != (u, v):
            pts.reverse()
        out.routes[(keys[ru], keys[rv])] = pts
    out.width = xmax - xmin
    out.height = ys[-1] + lay_h[-1] / 2
    return out


def _inversions(seq: list[float]) -> int:
    """Pairs i < j with seq[i] > seq[j] (merge sort)."""
    if len(seq) < 2:
        return 0
    arr = list(seq)
    inv = 0
    width = 1
    m = len(arr)
    while width < m:
        merged: list[float] = []
        for lo in range(0, m, 2 * width):
            a, b = arr[lo:lo + width], arr[lo + width:lo + 2 * width]
            i = j = 0
            while i < len(a) and j < len(b):
                if b[j] < a[i]:
                    merged.append(b[j])
                    inv += len(a) - i
                    j += 1
                else:
                    merged.append(a[i])
                    i += 1
            merged.extend(a[i:])
            merged.extend(b[j:])
        arr = merged
        width *= 2
    return inv


def count_crossings(g: nx.DiGraph, pos: Mapping[Hashable, tuple[float, float]],
                    routes: Mapping[tuple[Hashable, Hashable], Iterable] | None = None) -> int:
    """Edge crossings of a drawing: edges are polylines through ``routes`` bend points.

    Between every two consecutive heights where a node or bend point sits, pairs of edges whose
    left-to-right order swaps are counted once. Edges meeting at a node do not cross.
    """
    routes = routes or {}
    segs: list[tuple[float, float, float, float]] = []
    levels: set[float] = set()
    for u, v in g.edges():
        pts = [pos[u], *routes.get((u, v), ()), pos[v]]
        for (x1, y1), (x2, y2) in zip(pts, pts[1:], strict=False):
            if y1 == y2:
                continue
            if y1 > y2:
                x1, y1, x2, y2 = x2, y2, x1, y1
            segs.append((x1, y1, x2, y2))
            levels.add(y1)
            levels.add(y2)
    ylist = sorted(levels)
    bands: dict[int, list[tuple[float, float]]] = {}
    where = {y: i for i, y in enumerate(ylist)}
    for x1, y1, x2, y2 in segs:
        slope = (x2 - x1) / (y2 - y1)
        for b in range(where[y1], where[y2]):
            ya, yb = ylist[b], ylist[b + 1]
            bands.setdefault(b, []).append((x1 + slope * (ya - y1), x1 + slope * (yb - y1)))
    total = 0
    for items in bands.values():
        if len(items) < 2:
            continue
        items.sort()  # ties at the top (a shared upper end) come out ordered: not counted
        total += _inversions([round(b, 6) for _, b in items])
    return total
