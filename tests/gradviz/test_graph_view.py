"""GraphView via pytest-qt: items, states, selection, keys, banner, labels and export."""

from __future__ import annotations

import os

import networkx as nx
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QEvent, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QColor, QImage  # noqa: E402

from gradviz.graph import build_graph, refresh_labels  # noqa: E402
from gradviz.qt.graph_view import STATES, GraphView  # noqa: E402
from gradviz.theme import get_theme  # noqa: E402

if os.environ.get("GRADVIZ_REQUIRE_TORCH"):
    import torch
else:
    torch = pytest.importorskip("torch")


def seed():
    torch.manual_seed(0)
    x = torch.randn(3, requires_grad=True)
    y = x + 2
    z = (y * y * 2).mean()
    return build_graph(z, names={id(x): "x", id(z): "z"}), x, z


@pytest.fixture
def view(qtbot):
    v = GraphView()
    qtbot.addWidget(v)
    v.resize(900, 700)
    v.show()
    qtbot.waitExposed(v)
    return v


@pytest.fixture
def shown(view):
    g, x, z = seed()
    view.set_graph(g)
    return view, g, x, z


def key_of(g, title):
    return next(k for k, d in g.nodes(data=True) if d["label"].split("\n")[0] == title)


def test_items_for_every_node_and_edge(shown):
    view, g, x, z = shown
    items = view.node_items()
    assert set(items) == set(g.nodes)
    for k, it in items.items():
        assert it.label == g.nodes[k]["label"]
        assert it.kind == g.nodes[k]["kind"]
        assert view.tooltip_text(k) == g.nodes[k]["detail"]
        assert not it.flags() & it.GraphicsItemFlag.ItemIsMovable
    for u, v in g.edges():
        assert view.edge_item(u, v).u == u
    # boxes do not overlap and follow the layout
    for k, it in items.items():
        assert (it.pos().x(), it.pos().y()) == pytest.approx(view.layout_result.pos[k])
    rects = [it.sceneBoundingRect() for it in items.values()]
    inner = [it.mapRectToScene(it._rect) for it in items.values()]
    assert all(r.width() > 0 for r in rects)
    for i, a in enumerate(inner):
        for b in inner[i + 1:]:
            assert not a.intersects(b)


def test_node_states(shown, qtbot):
    view, g, x, z = shown
    k = key_of(g, "AddBackward0")
    for s in STATES:
        view.set_node_state(k, s)
        assert view.node_state(k) == s
        assert view.node_item(k).state == s
    with pytest.raises(ValueError):
        view.set_node_state(k, "bogus")
    view.set_node_state(k, "current")
    assert view.node_item(k).zValue() > view.node_item(key_of(g, "x")).zValue()
    view.clear_states()
    assert all(it.state == "idle" for it in view.node_items().values())


def test_click_selects_and_emits(shown, qtbot):
    view, g, x, z = shown
    k = key_of(g, "MeanBackward0")
    item = view.node_item(k)
    pt = view.mapFromScene(item.scenePos())
    with qtbot.waitSignal(view.node_selected, timeout=2000) as sig:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pt)
    assert sig.args == [k]
    assert view.selected_key == k and item.selected
    # clicking empty space clears the selection without a signal
    empty = view.mapFromScene(item.scenePos() + QPointF(item.w * 3, 0))
    with qtbot.assertNotEmitted(view.node_selected):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=empty)
    assert view.selected_key is None and not item.selected


def test_keys_zoom_and_fit(shown, qtbot):
    view, g, x, z = shown
    view.setFocus()
    fitted = view.zoom()
    qtbot.keyClick(view, Qt.Key.Key_Plus)
    assert view.zoom() == pytest.approx(fitted * view.ZOOM_STEP)
    qtbot.keyClick(view, Qt.Key.Key_Minus)
    qtbot.keyClick(view, Qt.Key.Key_Minus)
    assert view.zoom() == pytest.approx(fitted / view.ZOOM_STEP)
    qtbot.keyClick(view, Qt.Key.Key_0)
    assert view.zoom() == pytest.approx(fitted)
    qtbot.keyClick(view, Qt.Key.Key_Plus)
    qtbot.keyClick(view, Qt.Key.Key_Home)
    assert view.zoom() == pytest.approx(fitted)
    # fit shows every node
    vis = view.mapToScene(view.viewport().rect()).boundingRect()
    for it in view.node_items().values():
        assert vis.contains(it.sceneBoundingRect().center())


def test_banner_marks_and_restores_node(shown):
    view, g, x, z = shown
    k = key_of(g, "AddBackward0")
    view.set_node_state(k, "done")
    view.show_banner("RuntimeError: shapes do not match", node_key=k)
    assert view.banner_text() == "RuntimeError: shapes do not match"
    assert view.node_state(k) == "error"
    # the banner sits in a margin above the viewport: it hides no node
    assert view.viewport().geometry().top() >= view._banner.geometry().bottom()
    view.clear_banner()
    assert view.banner_text() == ""
    assert view.viewport().geometry().top() == 0
    assert view.node_state(k) == "done"
    view.show_banner("no node")
    assert view.banner_text() == "no node"


def test_edge_labels(shown):
    view, g, x, z = shown
    u, v = key_of(g, "MulBackward0"), key_of(g, "MeanBackward0")
    if not g.has_edge(u, v):  # two MulBackward0: take the one feeding Mean
        u = next(iter(g.predecessors(v)))
    view.set_edge_label(u, v, "grad [0.667, 0.667, 0.667]")
    assert view.edge_label(u, v) == "grad [0.667, 0.667, 0.667]"
    assert view.edge_item(u, v).flow
    view.set_edge_label(u, v, "grad 1")
    assert view.edge_label(u, v) == "grad 1"
    view.set_edge_label(u, v, None)
    assert view.edge_label(u, v) is None and not view.edge_item(u, v).flow


def test_set_graph_keeps_states_and_order_when_growing(view):
    g, x, z = seed()
    view.set_graph(g)
    k = key_of(g, "AddBackward0")
    view.set_node_state(k, "done")
    before = {key: it.pos().x() for key, it in view.node_items().items()}
    w = z * 3 + x.sum()
    g2 = build_graph([z, w], names={id(x): "x", id(z): "z"})
    view.set_graph(g2)
    assert view.node_state(k) == "done"
    assert set(g.nodes) <= set(view.node_items())
    lay = view.layout_result.layers
    for a in g.nodes:
        for b in g.nodes:
            if a != b and lay[a] == lay[b] and before[a] < before[b]:
                assert view.node_item(a).pos().x() < view.node_item(b).pos().x()


def test_refresh_after_backward_updates_labels(shown):
    view, g, x, z = shown
    z.backward()
    refresh_labels(g)
    view.refresh()
    assert "grad [" in view.node_item(f"t{id(x)}").label


def test_export_png_and_svg(shown, tmp_path):
    view, g, x, z = shown
    view.set_node_state(key_of(g, "AddBackward0"), "current")
    png = tmp_path / "graph.png"
    assert view.export_png(str(png))
    img = QImage(str(png))
    assert not img.isNull() and img.width() > 100 and img.height() > 100
    colors = {img.pixelColor(i, j).name() for i in range(0, img.width(), 7)
              for j in range(0, img.height(), 7)}
    assert len(colors) > 5  # not a blank page
    assert get_theme("light").leaf in colors or QColor(get_theme("light").leaf).name() in colors
    svg = tmp_path / "graph.svg"
    assert view.export_svg(str(svg))
    text = svg.read_text()
    assert "<svg" in text and "AccumulateGrad" in text


def test_level_of_detail_renders_when_zoomed_out(shown):
    view, g, x, z = shown
    img = view.render_image(scale=0.05)
    assert not img.isNull()
    for _ in range(12):
        view.zoom_out()
    view.grab()  # paints boxes without text


def test_themes_and_font_scale(shown):
    view, g, x, z = shown
    k = key_of(g, "AccumulateGrad")
    w1 = view.node_item(k).w
    view.set_font_scale(1.5)
    assert view.theme.font_scale == 1.5
    assert view.node_item(k).w > w1 * 1.3
    for name in ("dark", "high-contrast", "light"):
        view.set_theme(name)
        assert view.theme.name == name and view.theme.font_scale == 1.5
        assert view.backgroundBrush().color().name() == get_theme(name).background
    with pytest.raises(ValueError):
        view.set_theme("neon")


def test_plain_networkx_graph(view):
    g = nx.DiGraph([("a", "b"), ("b", "c"), ("a", "c")])
    view.set_graph(g)
    assert set(view.node_items()) == {"a", "b", "c"}
    assert view.node_item("a").label == "a"


def test_unrouted_long_edges_are_bundled(view, monkeypatch):
    import gradviz.qt.graph_placement as gv  # where GraphView lays the graph out

    real = gv.compute_layout
    monkeypatch.setattr(gv, "compute_layout", lambda g, **kw: real(g, max_dummies=0, **kw))
    g = nx.DiGraph([(0, 1), (1, 2), (2, 3), (0, 3)])
    view.set_graph(g)
    assert (0, 3) in view.layout_result.unrouted
    assert not view.edge_item(0, 3).isVisible() and view.edge_item(0, 1).isVisible()
    view.set_edge_label(0, 3, "grad 1")
    assert view.edge_item(0, 3).isVisible()
    view.set_edge_label(0, 3, None)
    assert not view.edge_item(0, 3).isVisible()
    view.grab()


def test_current_node_edges_drawn_over_its_glow(shown):
    view, g, x, z = shown
    k = key_of(g, "AddBackward0")
    (u, _), = g.in_edges(k)
    edge = view.edge_item(u, k)
    view.set_node_state(k, "current")
    assert edge.zValue() > view.node_item(k).zValue()
    view.set_node_state(k, "done")
    assert edge.zValue() < view.node_item(u).zValue()


def test_hover_tooltip_shows_detail(shown, qtbot):
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QApplication, QToolTip

    view, g, x, z = shown
    k = key_of(g, "AddBackward0")
    pt = view.mapFromScene(view.node_item(k).scenePos())
    ev = QHelpEvent(QEvent.Type.ToolTip, pt, view.viewport().mapToGlobal(pt))
    QApplication.sendEvent(view.viewport(), ev)
    assert QToolTip.text() == g.nodes[k]["detail"]
    QToolTip.hideText()


def test_wheel_zooms_and_drag_pans(shown):
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QMouseEvent, QWheelEvent
    from PySide6.QtWidgets import QApplication

    view, g, x, z = shown
    vp = view.viewport()
    centre = QPointF(vp.width() / 2, vp.height() / 2)
    before = view.zoom()
    wheel = QWheelEvent(centre, QPointF(vp.mapToGlobal(centre.toPoint())), QPoint(0, 0),
                        QPoint(0, 240), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, wheel)
    assert view.zoom() == pytest.approx(before * 1.0015 ** 240)
    # drag on empty space pans (and selects nothing)
    start = view.mapToScene(vp.rect().center())
    p0, p1 = QPointF(5, 5), QPointF(205, 155)
    def mouse(kind, p, button, buttons):
        glob = QPointF(vp.mapToGlobal(p.toPoint()))
        return QMouseEvent(kind, p, glob, button, buttons, Qt.KeyboardModifier.NoModifier)

    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    ev = [mouse(QEvent.Type.MouseButtonPress, p0, left, left),
          mouse(QEvent.Type.MouseMove, p1, none, left),
          mouse(QEvent.Type.MouseButtonRelease, p1, left, none)]
    for e in ev:
        QApplication.sendEvent(vp, e)
    moved = view.mapToScene(vp.rect().center()) - start
    assert abs(moved.x()) > 10 or abs(moved.y()) > 10
    assert view.selected_key is None


def test_zoomed_out_overview_hides_idle_items(shown, qtbot):
    view, g, x, z = shown
    k = key_of(g, "AddBackward0")
    while view.zoom() * view._style.title_px >= 4.5:
        view.zoom_out()
    assert view._overview and all(t.isVisible() for t in view._overview)
    assert not view.node_item(k).isVisible()
    view.set_node_state(k, "current")  # a state shows the item again
    assert view.node_item(k).isVisible()
    view.set_node_state(k, "idle")
    assert not view.node_item(k).isVisible()
    # clicks still find the (hidden) node
    pt = view.mapFromScene(view.node_item(k).scenePos())
    with qtbot.waitSignal(view.node_selected, timeout=2000) as sig:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pt)
    assert sig.args == [k] and view.node_item(k).isVisible()
    view.grab()
    qtbot.keyClick(view, Qt.Key.Key_0)
    assert not any(t.isVisible() for t in view._overview)
    assert all(it.isVisible() for it in view.node_items().values())


def test_level_of_detail_follows_a_transform_set_directly(shown):
    view, g, x, z = shown
    view.scale(0.05, 0.05)  # not through zoom_by
    view.grab()
    assert all(t.isVisible() for t in view._overview)
    view.resetTransform()
    view.grab()
    assert not any(t.isVisible() for t in view._overview)
    assert all(it.isVisible() for it in view.node_items().values())


# ---------------------------------------------------------------- projector (issue 12)
def chain_graph(n):
    """A long chain of n grad_fn nodes ending in an output."""
    g = nx.DiGraph()
    keys = [f"n{i}" for i in range(n)]
    for i, k in enumerate(keys):
        g.add_node(k, kind="grad_fn", label=f"MulBackward0\n[0.{i}, 1.{i}]")
    g.add_node("out", kind="output", label="out\n()\n1.0")
    for a, b in zip(keys, keys[1:] + ["out"], strict=True):
        g.add_edge(a, b)
    return g, keys


def test_fit_keeps_node_text_at_least_body_size(shown):
    view, g, x, z = shown
    from PySide6.QtGui import QFont
    for scale in (1.0, 2.0):
        f = QFont(view.font())
        f.setPointSizeF(10 * scale)
        view.setFont(f)
        view.set_font_scale(scale)
        view.fit()
        body = view.body_px()
        assert body >= 13 * scale
        mono = view._style.mono_font.pixelSize()
        assert mono * view.zoom() >= body - 0.01  # the smallest node text, on screen
    # bigger fonts give bigger text on screen, not a re-fitted smaller graph
    assert view._style.title_px * view.zoom() > 30


def test_long_chain_follows_current_node_with_minimap(view):
    g, keys = chain_graph(40)
    view.set_graph(g)
    assert view.minimap_visible()  # 40 boxes do not fit at a readable size
    vis = lambda: view.mapToScene(view.viewport().rect()).boundingRect()  # noqa: E731
    assert vis().contains(view.node_item("out").sceneBoundingRect().center())  # root first
    for k in (keys[0], keys[20], keys[39]):
        view.set_node_state(k, "current")
        assert vis().contains(view.node_item(k).sceneBoundingRect()), k
        view.set_node_state(k, "done")
    view.grab()  # paints the minimap with the current node and the visible frame
    # a click on the minimap moves the view there
    mm = view._minimap
    from PySide6.QtTest import QTest
    before = vis().center()
    QTest.mouseClick(mm, Qt.MouseButton.LeftButton, pos=mm.rect().center() + QPointF(
        0, mm.height() * 0.4).toPoint())
    assert vis().center() != before
    view.fit(whole=True)
    assert not view.minimap_visible()
    small, _ = chain_graph(2)
    view.set_graph(small)
    view.fit()
    assert not view.minimap_visible()


def test_seed_label_and_legend(shown):
    view, g, x, z = shown
    root = next(k for k, d in g.nodes(data=True) if d["kind"] == "output")
    assert not view.legend_visible()
    view.set_seed_label(root, "1")
    assert view.seed_label() == "1"
    (u, v), = g.in_edges(root)
    assert view.edge_item(u, v).flow  # the root edge carries the seed
    assert view._seed_item.text == "seed 1"
    assert view.legend_visible()
    assert "forward" in view._legend.text() and "gradient" in view._legend.text()
    view.clear_edge_labels()  # a new step: the seed stays
    assert view.seed_label() == "1" and view.edge_item(u, v).flow
    view.set_graph(g)  # and survives a rebuild
    assert view._seed_item is not None and view._seed_item.scene() is view.scene()
    view.set_seed_label(None, None)
    assert view.seed_label() is None and not view.edge_item(u, v).flow
    assert not view.legend_visible()


def test_export_frames_slide_size_caption_and_right_labels(shown, tmp_path):
    from gradviz.qt.graph_view import walkthrough_caption
    view, g, x, z = shown
    k = key_of(g, "AddBackward0")
    view.set_node_state(k, "current")
    frames = []
    for i, (a, b) in enumerate(g.edges()):
        view.set_edge_label(a, b, "[0.4905, 2.0106, 1.5003, 9.9999, 7.7777]" * (i % 2 + 1))
        p = tmp_path / f"f{i}.png"
        assert view.export_png(str(p), caption=walkthrough_caption(i + 1, 5, "AddBackward0"))
        frames.append(QImage(str(p)).size())
    assert len(set(frames)) == 1 and frames[0].width() == 1920  # one size, slide width
    assert walkthrough_caption(3, 7, "MulBackward0") == "step 3 of 7 · MulBackward0"
    p = tmp_path / "plain.png"
    assert view.export_png(str(p))
    assert QImage(str(p)).width() >= 1920
    assert view.export_png(str(p), 2.0)  # the old (path, scale) call still works
    assert QImage(str(p)).width() >= 1920
    # every label lies inside what exports show
    r = view.export_rect()
    for lab in view._labels.values():
        assert r.contains(lab.sceneBoundingRect())
    view.refresh()  # a relayout must not lose them either
    assert view.export_rect().contains(view._labels[next(iter(view._labels))].sceneBoundingRect())
    # SVG: the glow is rings (strokes), not stacked filled shapes
    svg = tmp_path / "g.svg"
    assert view.export_svg(str(svg))
    glow = QColor(get_theme("light").current_glow).name()
    text = svg.read_text()
    assert f'fill="{glow}"' not in text and glow in text
