"""A layered (Sugiyama) layout of a directed graph, in named phases. No Qt.

:func:`compute_layout` runs them in order; each phase is a function of plain lists (nodes are
the integers ``0..n-1``, dummies are appended after them) so it can be tested on its own:

1. :func:`break_cycles`: reverse DFS back edges so the graph is acyclic.
2. :func:`assign_layers`: longest path to a sink, sinks (outputs) at the bottom.
3. :func:`insert_dummies`: every routed edge joins adjacent layers through dummy nodes; long
   edges beyond a budget are left unrouted (drawn straight).
4. :func:`initial_order` and :func:`reduce_crossings`: DFS order upwards from the sinks, then
   barycenter sweeps that keep the best ordering; ``groups`` keep the nodes of one group (one
   ``nn.Module``, nested by dotted path) side by side in every layer.
5. :func:`assign_x` (weighted neighbour means, each layer solved under its separation
   constraints) and :func:`assign_y` (layer heights, a gap that grows with the slant).
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

__all__ = ["Layout", "Proper", "assign_layers", "assign_x", "assign_y", "break_cycles",
           "compound_layout", "compute_layout", "count_crossings", "gc_paused", "group_order",
           "initial_order", "insert_dummies", "layer_crossings", "layered_layout",
           "reduce_crossings", "tree_layout"]


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
    #: module boxes of a compound layout: name -> (left, top, width, height), header included
    boxes: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)


@dataclass
class Proper:
    """The proper layered graph: real nodes ``0..real-1`` then dummies, edges between
    adjacent layers only."""

    real: int
    layer: list[int]
    lsucc: list[list[int]]
    lpred: list[list[int]]
    #: per input edge, its dummies from top to bottom (None: left unrouted)
    chains: list[list[int] | None]

    @property
    def total(self) -> int:
        return len(self.layer)

    @property
    def nlayers(self) -> int:
        return max(self.layer) + 1 if self.layer else 0


# --------------------------------------------------------------------------- 1. cycles
def break_cycles(n: int, succ: list[list[int]]) -> set[tuple[int, int]]:
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


# --------------------------------------------------------------------------- 2. layers
def assign_layers(n: int, edges: Iterable[tuple[int, int]]) -> list[int]:
    """Layer of each node of an acyclic graph: the longest path to a sink, flipped so that
    every sink is in the bottom layer and every edge points downwards."""
    pred: list[list[int]] = [[] for _ in range(n)]
    outdeg = [0] * n
    for u, v in edges:
        pred[v].append(u)
        outdeg[u] += 1
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
    top = max(rank) if rank else 0
    return [top - r for r in rank]


# --------------------------------------------------------------------------- 3. dummies
def insert_dummies(layer: list[int], edges: list[tuple[int, int]],
                   budget: int) -> Proper:
    """Split every edge into adjacent-layer pieces through dummy nodes. Edges spanning many
    layers (a parameter reused all along an unrolled loop) are routed shortest first within
    ``budget`` dummies; the rest are left unrouted (drawn straight, ignored for ordering)."""
    n = len(layer)
    layer = list(layer)
    spans = [layer[v] - layer[u] - 1 for u, v in edges]
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
            lsucc[prev].append(d)
            chain.append(d)
            prev = d
        lsucc[prev].append(v)
        lpred[v].append(prev)
        chains.append(chain)
    return Proper(n, layer, lsucc, lpred, chains)


# --------------------------------------------------------------------------- 4. ordering
def initial_order(pg: Proper) -> list[list[int]]:
    """Nodes of each layer, left to right: a DFS upwards from the sinks, inputs in order."""
    order: list[list[int]] = [[] for _ in range(pg.nlayers)]
    total, layer, lpred = pg.total, pg.layer, pg.lpred
    visited = [False] * total
    for s in range(pg.real):
        if visited[s] or pg.lsucc[s]:
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
    return order


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


def layer_crossings(order: list[list[int]], lsucc: list[list[int]]) -> int:
    """Crossings between adjacent layers of a proper layered graph under ``order``."""
    pos = [0] * sum(len(o) for o in order)
    for nodes in order:
        for j, v in enumerate(nodes):
            pos[v] = j
    c = 0
    for lay in range(len(order) - 1):
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


def group_order(nodes: list[int], keyv: list[float],
                paths: Mapping[int, tuple[str, ...]]) -> list[int]:
    """Indices into ``nodes`` sorted by ``keyv``, with the nodes of one group (same first path
    element, then the same second... ) kept side by side, each group where its mean key is."""
    def arrange(idx: list[int], depth: int) -> list[int]:
        units: dict[Any, list[int]] = {}
        for j in idx:
            p = paths.get(nodes[j], ())
            units.setdefault(p[depth] if len(p) > depth else ("node", j), []).append(j)
        if len(units) == len(idx) and all(isinstance(u, tuple) for u in units):
            return sorted(idx, key=keyv.__getitem__)
        ranked = sorted(units.items(), key=lambda kv: sum(keyv[j] for j in kv[1]) / len(kv[1]))
        out: list[int] = []
        for unit, members in ranked:
            out.extend(members if isinstance(unit, tuple) else arrange(members, depth + 1))
        return out

    return arrange(list(range(len(nodes))), 0)


def reduce_crossings(pg: Proper, order: list[list[int]], sweeps: int,
                     old: list[bool] | None = None,
                     paths: Mapping[int, tuple[str, ...]] | None = None,
                     ) -> tuple[list[list[int]], int]:
    """Barycenter sweeps (``sweeps`` down+up passes) over ``order``; the best ordering is kept
    and returned with its crossings. ``old`` nodes (laid out before) keep their relative
    order; nodes with a ``paths`` entry stay together with their group."""
    order = [list(o) for o in order]
    nlayers = len(order)
    pos = [0] * pg.total
    for nodes in order:
        for j, v in enumerate(nodes):
            pos[v] = j
    lsucc, lpred = pg.lsucc, pg.lpred

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
        if old is not None:
            slots = [j for j, v in enumerate(nodes) if old[v]]
            if len(slots) > 1:  # old nodes keep their relative order
                for j, kv in zip(slots, sorted(keyv[j] for j in slots), strict=False):
                    keyv[j] = kv
        if paths:
            idx = group_order(nodes, keyv, paths)
        else:
            idx = sorted(range(m), key=keyv.__getitem__)
        new = [nodes[j] for j in idx]
        order[lay] = new
        for j, v in enumerate(new):
            pos[v] = j

    if paths:  # groups together from the start
        for lay in range(nlayers):
            nodes = order[lay]
            idx = group_order(nodes, [float(j) for j in range(len(nodes))], paths)
            order[lay] = [nodes[j] for j in idx]
            for j, v in enumerate(order[lay]):
                pos[v] = j
    best = layer_crossings(order, lsucc)
    if not best or sweeps <= 0:
        return order, best
    best_order = [list(o) for o in order]
    stale = 0
    for _ in range(sweeps):
        for lay in range(1, nlayers):
            reorder(lay, lpred, len(order[lay - 1]))
        for lay in range(nlayers - 2, -1, -1):
            reorder(lay, lsucc, len(order[lay + 1]))
        c = layer_crossings(order, lsucc)
        if c < best:
            best, best_order, stale = c, [list(o) for o in order], 0
        else:
            stale += 1
        if best == 0 or stale >= 2:
            break
    return best_order, best


def _seed_order(order: list[list[int]], keys: list[Hashable], total: int,
                previous: Mapping[Hashable, tuple[float, float]]) -> list[bool]:
    """Put the nodes laid out before in their previous left-to-right order (in place);
    returns which nodes are old."""
    old = [False] * total
    px = [0.0] * total
    for i, k in enumerate(keys):
        p = previous.get(k)
        if p is not None:
            old[i] = True
            px[i] = float(p[0])
    for nodes in order:
        slots = [j for j, v in enumerate(nodes) if old[v]]
        if len(slots) > 1:
            olds = sorted((nodes[j] for j in slots), key=px.__getitem__)
            for j, v in zip(slots, olds, strict=False):
                nodes[j] = v
    return old


# --------------------------------------------------------------------------- 5. coordinates
def assign_x(pg: Proper, order: list[list[int]], width: list[float], node_gap: float,
             coord_iters: int) -> list[float]:
    """x of every node (dummies included): weighted means of the neighbours' x (Gauss-Seidel
    sweeps, weights 1 real-real, 2 real-dummy, 8 dummy-dummy to keep long edges straight),
    each layer solved exactly under its order and separation constraints (pool adjacent
    violators); a last downward pass makes chains vertical and centres nodes under their
    inputs. ``width`` covers real nodes (dummies are 0 wide)."""
    total, real = pg.total, pg.real
    lpred, lsucc = pg.lpred, pg.lsucc
    w_all = list(width[:real]) + [0.0] * (total - real)
    is_dummy = [v >= real for v in range(total)]
    half_gap, quarter_gap = node_gap / 2, node_gap / 4
    seps: list[list[float]] = []
    for nodes in order:
        sl = []
        for a, b in zip(nodes, nodes[1:], strict=False):
            da, db = is_dummy[a], is_dummy[b]
            gap = quarter_gap if (da and db) else half_gap if (da or db) else node_gap
            sl.append((w_all[a] + w_all[b]) / 2 + gap)
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

    def weighted(v: int, nbs: list[int]) -> tuple[list[int], list[float] | None, float]:
        dv = is_dummy[v]
        ws = [8.0 if (dv and is_dummy[w]) else 2.0 if (dv or is_dummy[w]) else 1.0 for w in nbs]
        if all(w == ws[0] for w in ws):
            return nbs, None, float(len(nbs)) * (ws[0] if ws else 0.0)
        return nbs, ws, float(sum(ws))

    nbr = [weighted(v, lpred[v] + lsucc[v]) for v in range(total)]
    for _ in range(coord_iters):
        moved = 0.0
        for lay in range(len(order)):
            moved = max(moved, _place_layer(order[lay], seps[lay], nbr, x))
        for lay in range(len(order) - 1, -1, -1):
            moved = max(moved, _place_layer(order[lay], seps[lay], nbr, x))
        if moved < 1.0:
            break
    for v in range(total):
        if lpred[v]:
            nbr[v] = weighted(v, lpred[v])
        elif nbr[v][2]:  # sources (leaves, saved tensors) give way to the chains
            nbs, ws, tw = nbr[v]
            nbr[v] = (nbs, [0.05] * len(nbs) if ws is None else [0.05 * w for w in ws],
                      0.05 * tw)
    for lay in range(len(order)):
        _place_layer(order[lay], seps[lay], nbr, x)
    return x


def _place_layer(nodes: list[int], sl: list[float],
                 nbr: list[tuple[list[int], list[float] | None, float]],
                 x: list[float]) -> float:
    """Move one layer's nodes to the weighted means of their neighbours, as close as the
    separations ``sl`` allow (pool adjacent violators on y_j = x_j - offset_j); returns the
    largest move."""
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


def assign_y(pg: Proper, order: list[list[int]], x: list[float], height: list[float],
             layer_gap: float) -> tuple[list[float], list[float]]:
    """(centre y of each layer, height of each layer): layers as tall as their tallest node,
    the gap below a layer grows a little with its edges' slant."""
    nlayers = len(order)
    lay_h = [0.0] * nlayers
    for v in range(pg.real):
        lv = pg.layer[v]
        if height[v] > lay_h[lv]:
            lay_h[lv] = height[v]
    ys = [0.0] * nlayers
    ytop = 0.0
    for lay in range(nlayers):
        ys[lay] = ytop + lay_h[lay] / 2
        slant = 0.0
        if lay + 1 < nlayers:
            for u in order[lay]:
                for w in pg.lsucc[u]:
                    d = abs(x[w] - x[u])
                    if d > slant:
                        slant = d
        ytop += lay_h[lay] + layer_gap + min(layer_gap, slant * 0.08)
    return ys, lay_h


# --------------------------------------------------------------------------- all phases
def _group_paths(g: nx.DiGraph, keys: list[Hashable],
                 groups: Mapping[Hashable, str] | None) -> dict[int, tuple[str, ...]]:
    """Node index -> its group's dotted path split into nested prefixes."""
    if not groups:
        return {}
    out: dict[int, tuple[str, ...]] = {}
    for i, k in enumerate(keys):
        name = groups.get(k)
        if name is None:
            continue
        parts = name.split(".") if name else [""]
        out[i] = tuple(".".join(parts[:j + 1]) for j in range(len(parts)))
    return out


def compute_layout(g: nx.DiGraph, *, widths: Mapping[Hashable, float] | None = None,
                   heights: Mapping[Hashable, float] | None = None,
                   previous: Mapping[Hashable, tuple[float, float]] | None = None,
                   node_gap: float = 36.0, layer_gap: float = 56.0,
                   default_width: float = 120.0, default_height: float = 44.0,
                   sweeps: int = 12, coord_iters: int = 3,
                   max_dummies: int | None = None,
                   groups: Mapping[Hashable, str] | None = None,
                   pin_top: Iterable[Hashable] = ()) -> Layout:
    """Sugiyama-style layered layout, computed in-process.

    Layers by longest path to the sinks (outputs at the bottom, leaves on top), dummy nodes for
    long edges, barycenter sweeps (``sweeps`` down+up passes, the best ordering kept) to reduce
    crossings, then x coordinates that keep edges short and nodes compact under the node
    widths (``widths``, else ``g.nodes[k]["width"]``, else ``default_width``). ``previous``
    positions seed the order within layers and keep the relative order of nodes that were
    already there, so a growing graph does not jump around. ``groups`` maps nodes to a dotted
    group path (an ``nn.Module``'s name): a group's nodes stay side by side in each layer.
    Sources in ``pin_top`` go in the top layer (a block's entry ports).
    """
    with gc_paused():
        return _compute_layout(g, widths, heights, previous, node_gap, layer_gap, default_width,
                               default_height, sweeps, coord_iters, max_dummies, groups,
                               pin_top)


def _compute_layout(g: nx.DiGraph, widths: Mapping[Hashable, float] | None,
                    heights: Mapping[Hashable, float] | None,
                    previous: Mapping[Hashable, tuple[float, float]] | None, node_gap: float,
                    layer_gap: float, default_width: float, default_height: float, sweeps: int,
                    coord_iters: int, max_dummies: int | None,
                    groups: Mapping[Hashable, str] | None,
                    pin_top: Iterable[Hashable] = ()) -> Layout:
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
    back = break_cycles(n, succ0)
    edges = [(v, u) if (u, v) in back else (u, v) for u, v in raw]

    layer = assign_layers(n, edges)
    for k in pin_top:
        i = index.get(k)
        if i is not None and not any(v == i for _, v in edges):
            layer[i] = 0
    pg = insert_dummies(layer, edges, max_dummies if max_dummies is not None else n + 500)
    order = initial_order(pg)
    old = _seed_order(order, keys, pg.total, previous) if previous else None
    order, crossings = reduce_crossings(pg, order, sweeps, old, _group_paths(g, keys, groups))
    x = assign_x(pg, order, width, node_gap, coord_iters)
    ys, lay_h = assign_y(pg, order, x, height, layer_gap)

    total = pg.total
    wd = width + [0.0] * (total - n)
    xmin = min(x[v] - wd[v] / 2 for v in range(total))
    xmax = max(x[v] + wd[v] / 2 for v in range(total))
    out = Layout(crossings=crossings)
    for i, k in enumerate(keys):
        out.pos[k] = (x[i] - xmin, ys[pg.layer[i]])
        out.layers[k] = pg.layer[i]
    for (u, v), (ru, rv), chain in zip(edges, raw, pg.chains, strict=True):
        if chain is None:
            out.unrouted.add((keys[ru], keys[rv]))
            continue
        if not chain:
            continue
        pts = [(x[d] - xmin, ys[pg.layer[d]]) for d in chain]
        if (ru, rv) != (u, v):
            pts.reverse()
        out.routes[(keys[ru], keys[rv])] = pts
    out.width = xmax - xmin
    out.height = ys[-1] + lay_h[-1] / 2
    return out


_BOX, _IN, _OUT = "\x00box", "\x00in", "\x00out"


def compound_layout(g: nx.DiGraph, groups: Mapping[Hashable, str], *,
                    widths: Mapping[Hashable, float] | None = None,
                    heights: Mapping[Hashable, float] | None = None,
                    previous: Mapping[Hashable, tuple[float, float]] | None = None,
                    pad: float = 10.0, header: float = 16.0, **kwargs: Any) -> Layout:
    """A layered layout where each group (an ``nn.Module``'s nodes, nested by dotted name) is
    laid out on its own and then placed as one block in its parent's layout, so that boxes
    never overlap each other or other nodes. ``Layout.boxes`` gives each group's frame
    (``pad`` around its content, ``header`` above it for the name). An edge into or out of a
    block goes through a port on the block's top or bottom layer, so it is routed around the
    nodes at every level it crosses."""
    if not any(groups.get(k) for k in g):
        return compute_layout(g, widths=widths, heights=heights, previous=previous, **kwargs)
    with gc_paused():
        return _compound_layout(g, groups, widths, heights, previous, pad, header, kwargs)


def _compound_layout(g: nx.DiGraph, groups: Mapping[Hashable, str],
                     widths: Mapping[Hashable, float] | None,
                     heights: Mapping[Hashable, float] | None,
                     previous: Mapping[Hashable, tuple[float, float]] | None, pad: float,
                     header: float, kwargs: dict[str, Any]) -> Layout:
    c = _Compound(g, groups, pad, header)
    c.sizes(widths, heights, kwargs)
    c.lay_out_levels(previous, kwargs)
    return c.assemble()


class _Compound:
    """The phases of :func:`compound_layout`: the group tree and each level's edges (ports
    where an edge enters or leaves a block), a layout per level from the innermost out, then
    the levels placed inside their boxes and every edge's route stitched across levels."""

    def __init__(self, g: nx.DiGraph, groups: Mapping[Hashable, str], pad: float,
                 header: float) -> None:
        self.g, self.pad, self.header = g, pad, header
        self.paths: dict[Hashable, tuple[str, ...]] = {}
        for k in g:
            m = groups.get(k)
            parts = m.split(".") if m else []
            self.paths[k] = tuple(".".join(parts[:i + 1]) for i in range(len(parts)))
        #: group -> its direct items (nodes and child blocks), in order; "" is the top
        self.children: dict[str, dict[Hashable, None]] = {"": {}}
        for k, p in self.paths.items():
            parent = ""
            for name in p:
                self.children[parent].setdefault((_BOX, name))
                self.children.setdefault(name, {})
                parent = name
            self.children[parent].setdefault(k)
        self.level_edges: dict[str, dict[tuple[Hashable, Hashable], None]] = {}
        for u, v in g.edges():
            pu, pv = self.paths[u], self.paths[v]
            d = self.lca(u, v)
            a, b = self.item(u, d), self.item(v, d)
            if a == b:
                continue
            self.level_edges.setdefault(pu[d - 1] if d else "", {}).setdefault((a, b))
            for j in range(d, len(pu)):  # out of u's blocks through their bottom ports
                self.level_edges.setdefault(pu[j], {}).setdefault(
                    (self.item(u, j + 1), (_OUT, b)))
            for j in range(d, len(pv)):  # into v's blocks through their top ports
                self.level_edges.setdefault(pv[j], {}).setdefault(
                    ((_IN, a), self.item(v, j + 1)))
        self.w_of: dict[Hashable, float] = {}
        self.h_of: dict[Hashable, float] = {}
        self.rel: dict[str, Layout] = {}
        self.ext: dict[str, tuple[float, float, float, float]] = {}

    def item(self, k: Hashable, depth: int) -> Hashable:
        """The item ``depth`` levels down that holds node ``k``: a child block, or ``k``."""
        p = self.paths[k]
        return k if len(p) == depth else (_BOX, p[depth])

    def lca(self, u: Hashable, v: Hashable) -> int:
        """How many groups ``u`` and ``v`` share."""
        pu, pv = self.paths[u], self.paths[v]
        d = 0
        while d < len(pu) and d < len(pv) and pu[d] == pv[d]:
            d += 1
        return d

    def sizes(self, widths: Mapping[Hashable, float] | None,
              heights: Mapping[Hashable, float] | None, kwargs: Mapping[str, Any]) -> None:
        dw = float(kwargs.get("default_width", 120.0))
        dh = float(kwargs.get("default_height", 44.0))
        for k, d in self.g.nodes(data=True):
            w = widths.get(k) if widths is not None else None
            h = heights.get(k) if heights is not None else None
            self.w_of[k] = float(w if w is not None else d.get("width") or dw)
            self.h_of[k] = float(h if h is not None else d.get("height") or dh)

    def lay_out_levels(self, previous: Mapping[Hashable, tuple[float, float]] | None,
                       kwargs: dict[str, Any]) -> None:
        """A layout per group, innermost first (a block's size feeds its parent's layout):
        a tidy tree where the level is one, else the full layered layout."""
        w_of, h_of = self.w_of, self.h_of
        for level in sorted(self.children, key=lambda m: -(m.count(".") + 1) if m else 0):
            items = dict(self.children[level])
            edges = list(self.level_edges.get(level, ()))
            for a, b in edges:
                for port in (a, b):
                    if port not in items:  # a port
                        items[port] = None
                        w_of[port] = h_of[port] = 0.0
            lay = tree_layout(items, edges, w_of, h_of, kwargs.get("node_gap", 36.0),
                              kwargs.get("layer_gap", 56.0), is_out=_is_out, is_in=_is_in)
            if lay is None:
                sub = nx.DiGraph()
                sub.add_nodes_from(items)
                sub.add_edges_from(edges)
                lay = compute_layout(sub, widths=w_of, heights=h_of, previous=previous,
                                     pin_top=[k for k in sub if _is_in(k)], **kwargs)
            self.rel[level] = lay
            self.ext[level] = x0, y0, x1, y1 = _extent(lay, w_of, h_of)
            if level:
                w_of[(_BOX, level)] = x1 - x0 + 2 * self.pad
                h_of[(_BOX, level)] = y1 - y0 + 2 * self.pad + self.header

    def assemble(self) -> Layout:
        out = Layout(crossings=sum(lay.crossings for lay in self.rel.values()))
        self.at: dict[str, dict[Hashable, tuple[float, float]]] = {}
        self.bends: dict[str, dict[tuple[Hashable, Hashable], list[tuple[float, float]]]] = {}
        self.place(out, "", self.ext[""][0], self.ext[""][1], None)
        self.stitch(out)
        top = self.rel[""]
        out.width, out.height = top.width, top.height
        ys = sorted({round(y, 6) for _, y in out.pos.values()})
        rank = {y: i for i, y in enumerate(ys)}
        out.layers = {k: rank[round(y, 6)] for k, (_, y) in out.pos.items()}
        return out

    def place(self, out: Layout, level: str, ox: float, oy: float,
              box: tuple[float, float, float, float] | None) -> None:
        """Put ``level``'s items with its content's top left at (ox, oy); ports go on the
        edges of ``box`` (left, top, right, bottom of the frame's content area)."""
        lay = self.rel[level]
        x0, y0 = self.ext[level][0], self.ext[level][1]
        here = self.at[level] = {}
        pad, header = self.pad, self.header
        for it, (x, y) in lay.pos.items():
            ax, ay = ox + x - x0, oy + y - y0
            if box is not None and (_is_in(it) or _is_out(it)):
                ax = min(max(ax, box[0]), box[2])
                ay = box[1] if _is_in(it) else box[3]
            here[it] = (ax, ay)
            if isinstance(it, tuple) and it[0] == _BOX:
                bw, bh = self.w_of[it], self.h_of[it]
                left, top = ax - bw / 2, ay - bh / 2
                out.boxes[it[1]] = (left, top, bw, bh)
                self.place(out, it[1], left + pad, top + pad + header,
                           (left, top + header, left + bw, top + bh))
            elif it in self.g:
                out.pos[it] = (ax, ay)
        b = self.bends[level] = {e: [(ox + x - x0, oy + y - y0) for x, y in pts]
                                 for e, pts in lay.routes.items()}
        for e in lay.unrouted:
            b.setdefault(e, [])

    def stitch(self, out: Layout) -> None:
        """Each edge's bend points: out of its source's blocks (their bottom ports), across
        the level they share, into its target's blocks (their top ports)."""
        at, bends = self.at, self.bends
        for u, v in self.g.edges():
            pu, pv = self.paths[u], self.paths[v]
            d = self.lca(u, v)
            a, b = self.item(u, d), self.item(v, d)
            if a == b:
                continue
            pts: list[tuple[float, float]] = []
            for j in range(len(pu) - 1, d - 1, -1):
                pts += bends[pu[j]].get((self.item(u, j + 1), (_OUT, b)), [])
                pts.append(at[pu[j]][(_OUT, b)])
            top_level = pu[d - 1] if d else ""
            pts += bends[top_level].get((a, b), [])
            if (a, b) in self.rel[top_level].unrouted and len(pu) == d and len(pv) == d:
                out.unrouted.add((u, v))
            for j in range(d, len(pv)):
                pts.append(at[pv[j]][(_IN, a)])
                pts += bends[pv[j]].get(((_IN, a), self.item(v, j + 1)), [])
            if pts:
                out.routes[(u, v)] = pts


def _is_out(k: Hashable) -> bool:
    return isinstance(k, tuple) and len(k) == 2 and k[0] == _OUT


def _is_in(k: Hashable) -> bool:
    return isinstance(k, tuple) and len(k) == 2 and k[0] == _IN


def tree_layout(nodes: Iterable[Hashable], edges: Iterable[tuple[Hashable, Hashable]],
                widths: Mapping[Hashable, float], heights: Mapping[Hashable, float],
                node_gap: float, layer_gap: float,
                is_out: Callable[[Hashable], bool] | None = None,
                is_in: Callable[[Hashable], bool] | None = None) -> Layout | None:
    """A tidy layered layout of an in-forest (every node feeds at most one other: a Conv2d's
    parameters, their AccumulateGrads and its op), inputs above, each node centred over its
    inputs; None when the graph is not one. Nodes for which ``is_out(k)`` holds (exit ports) are
    left out of the tree and put below their source; those for which ``is_in(k)`` holds
    (entry ports) go in the top layer, their edge straight down their own column. Linear in
    the nodes, with no sweeps: most modules of a network are such trees."""
    allnodes = list(nodes)
    outs = [k for k in allnodes if is_out is not None and is_out(k)]
    out_set = set(outs)
    succ: dict[Hashable, Hashable] = {}
    out_src: dict[Hashable, Hashable] = {}
    for u, v in edges:
        if v in out_set:
            out_src.setdefault(v, u)
            continue
        if u in succ:
            return None
        succ[u] = v
    nodes = [k for k in allnodes if k not in out_set]
    preds: dict[Hashable, list[Hashable]] = {k: [] for k in nodes}
    for u, v in succ.items():
        preds[v].append(u)
    roots = [k for k in nodes if k not in succ]
    if not roots:
        return None
    depth: dict[Hashable, int] = {}
    order: list[Hashable] = []  # pre-order
    stack = list(reversed(roots))
    for r in roots:
        depth[r] = 0
    while stack:
        v = stack.pop()
        order.append(v)
        for p in reversed(preds[v]):
            if p in depth:
                return None  # a cycle
            depth[p] = depth[v] + 1
            stack.append(p)
    if len(order) != len(nodes):
        return None
    span: dict[Hashable, float] = {}
    for v in reversed(order):
        ps = preds[v]
        inner = sum(span[p] for p in ps) + node_gap * (len(ps) - 1) if ps else 0.0
        span[v] = max(widths.get(v, 0.0), inner)
    x: dict[Hashable, float] = {}
    left: dict[Hashable, float] = {}
    acc = 0.0
    for r in roots:
        left[r] = acc
        acc += span[r] + node_gap
    for v in order:
        lo = left[v]
        ps = preds[v]
        if ps:
            inner = sum(span[p] for p in ps) + node_gap * (len(ps) - 1)
            cur = lo + (span[v] - inner) / 2
            for p in ps:
                left[p] = cur
                cur += span[p] + node_gap
    for v in reversed(order):  # inputs first: each node over the mean of its inputs
        ps = preds[v]
        lo, hw = left[v], widths.get(v, 0.0) / 2
        mid = sum(x[p] for p in ps) / len(ps) if ps else lo + span[v] / 2
        x[v] = min(max(mid, lo + hw), lo + span[v] - hw)
    top = max(depth.values())
    lay_h = [0.0] * (top + 2)
    for v in nodes:
        lv = top - depth[v]
        lay_h[lv] = max(lay_h[lv], heights.get(v, 0.0))
    ys = []
    y = 0.0
    for h in lay_h:
        ys.append(y + h / 2)
        y += h + layer_gap
    out = Layout()
    for v in nodes:
        lv = top - depth[v]
        if is_in is not None and is_in(v) and lv > 0:  # an entry port: top layer, and its
            out.routes[(v, succ[v])] = [(x[v], ys[j]) for j in range(1, lv + 1)]  # own column
            lv = 0
        out.pos[v] = (x[v], ys[lv])
        out.layers[v] = lv
    for o in outs:
        out.pos[o] = (x.get(out_src.get(o), 0.0), ys[-1])
        out.layers[o] = top + 1
    out.width = acc - node_gap
    out.height = ys[top] + lay_h[top] / 2
    return out


def _extent(lay: Layout, w_of: Mapping[Hashable, float], h_of: Mapping[Hashable, float]
            ) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of a layout's items, ports left out."""
    x0 = y0 = math.inf
    x1 = y1 = -math.inf
    for it, (x, y) in lay.pos.items():
        if isinstance(it, tuple) and it[0] in (_IN, _OUT):
            continue
        hw, hh = w_of.get(it, 0.0) / 2, h_of.get(it, 0.0) / 2
        x0, y0, x1, y1 = min(x0, x - hw), min(y0, y - hh), max(x1, x + hw), max(y1, y + hh)
    if x0 == math.inf:
        return 0.0, 0.0, 0.0, 0.0
    return x0, y0, x1, y1


def layered_layout(g: nx.DiGraph, **kwargs: Any) -> dict[Hashable, tuple[float, float]]:
    """Node centres of a layered (Sugiyama) layout of ``g``; see :func:`compute_layout`."""
    return compute_layout(g, **kwargs).pos


# --------------------------------------------------------------------------- measuring
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
