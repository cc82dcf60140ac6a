"""EventLog: engine events arrive through the bridge, read as lines, filter by text and kind,
stay capped, and arrive in batches so thousands of them never block the window."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from engine.events import KINDS, Event
from gradviz.qt.bridge import Bridge
from gradviz.qt.event_log import BATCH, EventLog, compact_values, format_event
from gradviz.session import Session


@pytest.fixture
def log(qtbot, session: Session, bridge: Bridge) -> EventLog:
    w = EventLog(session, bridge)
    qtbot.addWidget(w)
    w.resize(900, 400)
    w.show()
    return w


def _backward(session: Session) -> None:
    session.run("x = torch.tensor([1., 2.], requires_grad=True)\ny = x * x\nz = y.sum()\n"
                "z.backward()")


def test_receives_engine_events(qtbot, log: EventLog, session: Session) -> None:
    _backward(session)
    qtbot.waitUntil(lambda: any(line.startswith("backward_finished") for line in log.lines()),
                    timeout=2000)
    lines = log.lines()
    assert lines[0].startswith("tensor_created         x  shape=(2,)  float32  "
                               "requires_grad=True  leaf  value=[1., 2.]")
    mul = session.get("y").grad_fn._id
    assert any(line.startswith(f"op_recorded            MulBackward0 #{mul} → y  inputs=(x, x)")
               for line in lines)
    assert f"node_started           MulBackward0 #{mul}  step 2  grad_out=[1., 1.]" in lines
    assert "grad_accumulated       x.grad  None → [2., 4.]" in "\n".join(lines)
    assert log.count_label.text() == f"{len(lines)} events"


def test_filter_text_and_kinds(qtbot, log: EventLog, session: Session) -> None:
    _backward(session)
    log.flush(None)
    total = log.total_count()
    log.set_filter_text("mulbackward0")
    assert log.lines() and all("MulBackward0" in line for line in log.lines())
    assert log.filter_edit.text() == "mulbackward0"
    assert log.count_label.text() == f"{len(log.lines())} of {total} events"
    log.set_filter_text("")
    qtbot.mouseClick(log.kind_boxes["tensor_created"], Qt.MouseButton.LeftButton)
    assert not log.kind_boxes["tensor_created"].isChecked()
    assert log.lines() and not any(x.startswith("tensor_created") for x in log.lines())
    log.set_kind_visible("tensor_created", True)
    assert log.kind_boxes["tensor_created"].isChecked() and len(log.lines()) == total
    # typing in the box filters once typing pauses
    qtbot.keyClicks(log.filter_edit, "grad_acc")
    qtbot.waitUntil(lambda: len(log.lines()) == 1, timeout=2000)
    # new events respect the filter in force
    session.run("z2 = (x * 3).sum()\nz2.backward()")
    qtbot.waitUntil(lambda: len(log.lines()) == 2, timeout=2000)


def test_clear(qtbot, log: EventLog, session: Session) -> None:
    _backward(session)
    log.flush(None)
    assert log.lines()
    qtbot.mouseClick(log.clear_button, Qt.MouseButton.LeftButton)
    assert log.lines() == [] and log.total_count() == 0
    assert log.count_label.text() == "0 events"


def test_thousands_of_events_arrive_in_batches(qtbot, log: EventLog) -> None:
    n = 25_000
    evs = [Event("node_started", node_id=i % 50, name="MulBackward0", index=i,
                 grad_outputs=([float(i), 0.5],)) for i in range(n)]
    log.add_events(evs)  # what the bridge does per event: queue, no formatting
    assert log.total_count() == 0 and len(log._pending) == log.max_rows
    log.flush()  # one timer tick takes at most BATCH events
    assert log.total_count() == BATCH
    qtbot.waitUntil(lambda: not log._pending, timeout=10_000)
    assert log.total_count() == log.max_rows == 20_000
    assert log.lines()[-1] == (f"node_started           MulBackward0 #{(n - 1) % 50}  "
                               f"step {n}  grad_out=[24999.0000, 0.5000]")
    assert "5,000 older dropped" in log.count_label.text()
    more = [Event("grad_changed", tensor_id=1, reason="zero_", value=[0.0])
            for _ in range(10)]
    log.add_events(more)
    log.flush(None)
    assert log.total_count() == 20_000 and len(log.lines()) == 20_000
    assert log.lines()[-1].startswith("grad_changed")
    assert log.model.rows[0].seq == log._all[0].seq  # the model dropped what the log dropped


def test_double_click_activates_node(qtbot, log: EventLog) -> None:
    log.add_events([Event("node_started", node_id=7, name="ExpBackward0", index=0,
                          grad_outputs=(1.0,))])
    log.flush(None)
    rect = log.view.visualRect(log.model.index(0))
    qtbot.mouseClick(log.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    with qtbot.waitSignal(log.node_activated, timeout=2000) as sig:  # views want a press first
        qtbot.mouseDClick(log.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert sig.args == [7]


def test_format_every_kind() -> None:
    names = {1: "x", 2: "y"}
    samples = {
        "tensor_created": dict(tensor_id=2, shape=(2,), dtype="float32", requires_grad=True,
                               is_leaf=False, node_id=4, value=None),
        "op_recorded": dict(node_id=4, name="MulBackward0", tensor_id=2, inputs=(1, None),
                            next_ids=(3, None), shape=(2,)),
        "backward_started": dict(tensor_id=2, node_id=4, gradient=[1.0, 1.0],
                                 retain_graph=False, create_graph=True, nodes=3),
        "node_started": dict(node_id=4, name="MulBackward0", index=0, grad_outputs=([1.0],)),
        "node_finished": dict(node_id=4, name="MulBackward0", index=0,
                              grad_inputs=([2.0], None), next_ids=(3, None)),
        "grad_accumulated": dict(tensor_id=1, node_id=3, before=[1.0], after=[3.0]),
        "backward_finished": dict(tensor_id=2, steps=3),
        "grad_changed": dict(tensor_id=1, reason="none", value=None),
        "requires_grad_changed": dict(tensor_id=1, requires_grad=False),
        "graph_freed": dict(node_ids=(4, 5)),
        "optimizer_step": dict(optimizer="SGD", step=3, params=(1,)),
        "error": dict(error_type="RuntimeError", message="boom", node_id=4, tensor_id=None),
    }
    assert set(samples) == set(KINDS)
    out = {k: format_event(Event(k, **f), names) for k, f in samples.items()}
    assert out["tensor_created"].endswith("y  shape=(2,)  float32  requires_grad=True  "
                                          "grad_fn=#4  value=…")
    assert out["op_recorded"].endswith("MulBackward0 #4 → y  inputs=(x, None)  "
                                       "next=(#3, None)")
    assert "from y (#4)  gradient=[1., 1.]  nodes=3" in out["backward_started"]
    assert out["backward_started"].endswith("create_graph=True")
    assert out["node_finished"].endswith("grad_in=([2.], None) → (#3, None)")
    assert out["grad_accumulated"].endswith("x.grad  [1.] → [3.]  at #3")
    assert out["grad_changed"].endswith("x.grad = None  (none)")
    assert out["requires_grad_changed"].endswith("x.requires_grad = False")
    assert out["graph_freed"].endswith("saved tensors freed at #4, #5")
    assert "optimizer='SGD'" in out["optimizer_step"] and "step=3" in out["optimizer_step"]
    assert out["error"].endswith("RuntimeError: boom  at #4")
    for k, line in out.items():
        assert line.startswith(k) and line[len(k):].startswith(" ")
    assert format_event(Event("tensor_created", tensor_id=9)).split()[1] == "t9"


def test_compact_values() -> None:
    assert compact_values([0.3333333, 1.0, 2.5]) == "[0.3333, 1.0000, 2.5000]"
    assert compact_values([[1.0, 2.0], [3.0, 4.0]]) == "[[1., 2.], [3., 4.]]"
    assert compact_values(1.0) == "1." and compact_values(None) == "None"
    assert compact_values(1e-7) == "1.0000e-07"
    long = compact_values([0.5] * 100, 20)
    assert len(long) == 20 and long.endswith("…")
    assert compact_values([1, 2, 3]) == "[1, 2, 3]"
    assert compact_values([1.0, float("nan")]) == "[1., nan]"


def test_a_hidden_log_scrolls_to_the_newest_line_when_shown(qtbot, log: EventLog) -> None:
    """Behind another tab the log does not lay out its rows on every step (that cost ~20 ms a
    step on a long walk); shown again, it is at the newest line as before."""
    log.add_events([Event("grad_changed", tensor_id=1, reason="zero_", value=[0.0])
                    for _ in range(300)])
    log.flush(None)
    bar = log.view.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == bar.maximum()
    log.hide()
    log.add_events([Event("node_started", node_id=i, name="MulBackward0", index=i,
                          grad_outputs=([1.0],)) for i in range(300)])
    log.flush(None)
    log.show()
    qtbot.waitExposed(log)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum() > 0, timeout=2000)
    newest = log.view.visualRect(log.model.index(len(log.lines()) - 1))
    assert log.view.viewport().rect().contains(newest.center())
