"""The autograd graph as a networkx DiGraph: build it, export it as DOT (the layout is
:mod:`gradviz.layout`, re-exported here).

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

import sys
import warnings
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import networkx as nx
import numpy as np

from gradviz.formatting import label_values as format_values  # re-exported
from gradviz.formatting import shape_text, value_summary
from gradviz.layout import (
    Layout,
    compound_layout,
    compute_layout,
    count_crossings,
    gc_paused,
    layered_layout,
)

__all__ = [
    "KINDS",
    "Layout",
    "build_graph",
    "compute_layout",
    "count_crossings",
    "format_values",
    "gc_paused",
    "layered_layout",
    "MODULE_PREFIX",
    "collapse_modules",
    "compound_layout",
    "module_members",
    "refresh_labels",
    "node_key",
    "tensor_key",
    "node_id_of",
    "source_text",
    "tensor_label",
    "to_dot",
]

#: every node kind build_graph produces
KINDS = ("grad_fn", "accumulate", "leaf", "output", "saved")



# --------------------------------------------------------------------------- node keys
def node_key(i: int) -> str:
    """The graph key of the grad_fn node with id ``i``: ``n{i}``."""
    return f"n{i}"


def tensor_key(i: int) -> str:
    """The graph key of the tensor with id ``i``: ``t{i}``."""
    return f"t{i}"


def node_id_of(key: Hashable) -> int | None:
    """The grad_fn id in a node key (``n12`` gives 12); None for any other key."""
    if isinstance(key, str) and key.startswith("n"):
        try:
            return int(key[1:])
        except ValueError:
            return None
    return None


# --------------------------------------------------------------------------- objects
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


def _dtype_str(t: Any) -> str:
    return str(getattr(t, "dtype", "")).replace("torch.", "").replace("engine.", "")


def tensor_label(t: Any, name: str | None = None) -> str:
    """Label of a tensor node: name (else shape), shape, small values, and ``grad`` once set."""
    lines = [name, shape_text(t)] if name else [shape_text(t)]
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
            lines.append("grad " + shape_text(grad))
    return "\n".join(lines)


_KIND_TEXT = {
    "leaf": "leaf tensor (requires grad)",
    "output": "output tensor",
    "saved": "tensor saved for backward",
}


def _tensor_detail(t: Any, kind: str, name: str | None, extra: str = "") -> str:
    head = f"{name} — {_KIND_TEXT[kind]}" if name else _KIND_TEXT[kind].capitalize()
    lines = [head + extra, f"shape {shape_text(t)}   dtype {_dtype_str(t)}"]
    if getattr(t, "requires_grad", False):
        lines.append("requires_grad=True")
    arr = _to_array(t)
    if arr is not None:
        lines.append("value " + value_summary(arr))
    grad = _grad_of(t)
    if grad is not None:
        garr = _to_array(grad)
        lines.append("grad  " + (value_summary(garr) if garr is not None else shape_text(grad)))
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
                f"leaf shape {shape_text(var)}")
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
        lines.append("saved: " + ", ".join(f"{k} {shape_text(v)}" for k, v in saved))
    return "\n".join(lines)


# --------------------------------------------------------------------------- build
def build_graph(roots: Any, names: Mapping[int, str] | None = None,
                show_saved: bool = False, values: bool = False) -> nx.DiGraph:
    """Build the torchviz-style graph of ``roots`` (a tensor or an iterable of tensors).

    ``names`` maps tensor ids (``_id``, else ``id()``) to display names; a parameter without
    one is named as ``named_parameters`` names it (``layer1.0.conv1.weight``) when the kernel
    says so. ``g.graph["roots"]`` lists the root keys. Edges into a grad_fn carry
    ``next_index`` (the position in ``next_functions``; ``next_indices`` lists all of them when
    an input is used twice) and ``output_nr``; every edge has a ``kind``: grad, variable,
    output or saved. Nodes made inside an ``nn.Module``'s forward carry ``module`` (its
    qualified name; a parameter's leaf goes with its module), grad_fn nodes ``var`` (the
    variable holding their output, ``y``), ``source`` ((file, line, text) of the op) and
    ``value`` (its small output array) when the kernel noted them. ``values=True`` (the
    micrograd-style view) writes every grad_fn's output value into its label.
    """
    with gc_paused():
        return _build_graph(roots, names, show_saved, values)


def _fn_extras(fn: Any) -> dict[str, Any]:
    """module, var, source and value of a node, from the kernel's views (None elsewhere)."""
    out: dict[str, Any] = {}
    for attr, key in (("module", "module"), ("var_name", "var"), ("source", "source"),
                      ("output_value", "value")):
        try:
            v = getattr(fn, attr, None)
        except Exception:  # noqa: BLE001
            v = None
        if attr == "module" and not isinstance(v, str):
            v = None
        out[key] = v if key != "module" or v else None  # "" is the whole model: no box
    return out


def source_text(src: tuple[str, int, str] | list[Any] | None) -> str:
    """``line 3: z = (y * y).mean()`` for a node's (file, line, text), "" without one."""
    if not src:
        return ""
    file, line, text = src
    where = f"line {line}" + ("" if str(file).startswith("<") or "ipykernel" in str(file)
                              else f" of {str(file).rsplit('/', 1)[-1]}")
    return f"{where}: {text}" if text else where


def _build_graph(roots: Any, names: Mapping[int, str] | None, show_saved: bool,
                 values: bool = False) -> nx.DiGraph:
    root_list = [roots] if _is_tensor(roots) else list(roots)
    names = dict(names or {})
    g = nx.DiGraph()
    g.graph["roots"] = []

    def name_of(t: Any) -> str | None:
        n = names.get(_obj_id(t), names.get(id(t)))
        return n if n is not None else getattr(t, "param_name", None)

    def add_tensor(t: Any, kind: str) -> str:
        key = tensor_key(_obj_id(t))
        if key not in g:
            name = name_of(t)
            g.add_node(key, kind=kind, label=tensor_label(t, name),
                       detail=_tensor_detail(t, kind, name), obj=t, name=name)
        return key

    def add_fn(fn: Any) -> str:
        key = node_key(_obj_id(fn))
        if key not in g:
            kind = "accumulate" if hasattr(fn, "variable") else "grad_fn"
            ex = _fn_extras(fn)
            label = _fn_name(fn)
            if kind == "grad_fn" and ex["var"] and ex["var"] not in root_names:
                label += f"\n→ {ex['var']}"
            if values and kind == "grad_fn" and ex["value"] is not None:
                vals = format_values(ex["value"])
                if vals:
                    label += "\ndata " + vals[0] + "".join("\n     " + v for v in vals[1:])
            g.add_node(key, kind=kind, label=label, detail="", obj=fn, name=None, **ex)
        return key

    root_names = {name_of(r) for r in root_list} - {None}
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
            if g.nodes[fk].get("module") is not None:
                g.nodes[vk]["module"] = g.nodes[fk]["module"]
            if not g.has_edge(vk, fk):
                g.add_edge(vk, fk, kind="variable", next_index=None, output_nr=None)
        saved = _saved_values(fn) if (show_saved or g.nodes[fk]["kind"] == "grad_fn") else []
        g.nodes[fk]["detail"] = _fn_detail(fn, saved)
        extra = [f"module {g.nodes[fk]['module']}"] if g.nodes[fk].get("module") else []
        if g.nodes[fk].get("source"):
            extra.append("made at " + source_text(g.nodes[fk]["source"]))
        if extra:
            g.nodes[fk]["detail"] += "\n" + "\n".join(extra)
        if show_saved:
            fid = node_id_of(fk)
            for sname, t in saved:
                sk = f"s{fid}_{sname}"
                same = name_of(t)
                title = f"{sname} = {same}" if same else sname
                extra = f" by {_fn_name(fn)} as '{sname}'"
                g.add_node(sk, kind="saved", label=tensor_label(t, title),
                           detail=_tensor_detail(t, "saved", title, extra), obj=t,
                           name=title, owner=fk, module=g.nodes[fk].get("module"))
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


# --------------------------------------------------------------------------- modules
#: key prefix of a collapsed module's node: ``m:layer1.0``
MODULE_PREFIX = "m:"


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i + 1]) for i in range(len(parts))]


def module_members(g: nx.DiGraph) -> dict[str, list[Hashable]]:
    """Each module (and each enclosing module: ``layer1`` of ``layer1.0.conv1``) -> the keys
    of the nodes made inside it, nested modules included; outermost first."""
    out: dict[str, list[Hashable]] = {}
    for k, d in g.nodes(data=True):
        m = d.get("module")
        if m:
            for a in _ancestors(m):
                out.setdefault(a, []).append(k)
    return dict(sorted(out.items(), key=lambda kv: (kv[0].count("."), kv[0])))


def collapse_modules(g: nx.DiGraph, collapsed: Iterable[str]) -> nx.DiGraph:
    """A copy of ``g`` where each module in ``collapsed`` is one node (key ``m:<name>``, kind
    ``module``) with the edges into and out of it; an enclosing collapsed module wins.
    ``g.graph["collapsed"]`` maps each hidden key to the module node standing for it."""
    members = module_members(g)
    chosen = sorted((m for m in set(collapsed) if m in members), key=lambda m: m.count("."))
    owner: dict[Hashable, str] = {}
    for m in chosen:
        for k in members[m]:
            owner.setdefault(k, MODULE_PREFIX + m)
    if not owner:
        return g
    h = nx.DiGraph()
    h.graph.update(g.graph)
    h.graph["collapsed"] = dict(owner)
    h.graph["roots"] = [owner.get(r, r) for r in g.graph.get("roots", [])]
    for k, d in g.nodes(data=True):
        mk = owner.get(k)
        if mk is None:
            h.add_node(k, **d)
        elif mk not in h:
            name = mk[len(MODULE_PREFIX):]
            inner = members[name]
            ops = sum(1 for x in inner if g.nodes[x].get("kind") == "grad_fn")
            params = sum(1 for x in inner if g.nodes[x].get("kind") == "leaf")
            parent = name.rsplit(".", 1)[0] if "." in name else None
            h.add_node(mk, kind="module", label=f"{name}\n{ops} ops, {params} params",
                       detail=f"module {name} (collapsed): {len(inner)} nodes; click to expand",
                       obj=None, name=name, module=parent, members=list(inner))
    for u, v, d in g.edges(data=True):
        a, b = owner.get(u, u), owner.get(v, v)
        if a == b:
            continue
        if h.has_edge(a, b):
            continue
        h.add_edge(a, b, **d)
    return h


# --------------------------------------------------------------------------- DOT
_DOT_FILL = {"grad_fn": "lightgrey", "accumulate": "lightgrey", "leaf": "lightblue",
             "output": "darkolivegreen1", "saved": "orange"}


def _dot_quote(s: Any) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(g: nx.DiGraph, name: str = "autograd") -> str:
    """Graphviz DOT text for ``g`` in torchviz's style (no graphviz binary needed); nodes made
    inside an ``nn.Module`` sit in nested clusters labelled with the module's name."""
    out = [f"digraph {_dot_quote(name)} {{",
           '  node [shape=box, style="filled,rounded", fontname="monospace", fontsize=10, '
           'align=left];',
           "  edge [arrowsize=0.7];"]
    by_module: dict[str | None, list[Hashable]] = {}
    for key, d in g.nodes(data=True):
        by_module.setdefault(d.get("module") or None, []).append(key)
    children: dict[str | None, set[str]] = {}
    for m in by_module:
        while m is not None:
            parent = m.rsplit(".", 1)[0] if "." in m else None
            children.setdefault(parent, set()).add(m)
            m = parent

    def emit(m: str | None, indent: str) -> None:
        if m is not None:
            out.append(f"{indent}subgraph {_dot_quote('cluster_' + m)} {{")
            out.append(f'{indent}  label={_dot_quote(m)}; style="rounded,dashed";')
        inner = indent + ("  " if m is not None else "")
        for key in by_module.get(m, ()):
            d = g.nodes[key]
            fill = _DOT_FILL.get(d.get("kind"), "white")
            out.append(f"{inner}{_dot_quote(key)} [label={_dot_quote(d.get('label', key))}, "
                       f"fillcolor={fill}];")
        for c in sorted(children.get(m, ())):
            emit(c, inner)
        if m is not None:
            out.append(f"{indent}}}")

    emit(None, "  ")
    for u, v, d in g.edges(data=True):
        attrs = ' [style=dashed, dir=none]' if d.get("kind") == "saved" else ""
        out.append(f"  {_dot_quote(u)} -> {_dot_quote(v)}{attrs};")
    out.append("}")
    return "\n".join(out) + "\n"
