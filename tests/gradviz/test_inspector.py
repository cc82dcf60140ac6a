"""Inspector: tensors, grad_fn nodes (rule, next_functions, saved or freed tensors) and backward
steps (gradients in and out, AccumulateGrad's +=)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.function import Node, record
from gradviz.qt.bridge import Bridge
from gradviz.qt.inspector import Inspector
from gradviz.session import Session


@pytest.fixture
def session() -> Session:
    s = Session()
    s.run("x = torch.tensor([1., 2., 3.], requires_grad=True)\n"
          "c = torch.tensor([4., 5., 6.])\n"
          "y = x * c\n"
          "z = y.sum()")
    return s


@pytest.fixture
def inspector(qtbot, session: Session, bridge: Bridge) -> Inspector:
    w = Inspector(session, bridge)
    qtbot.addWidget(w)
    w.resize(520, 600)
    w.show()
    return w


def test_placeholder_and_clear(inspector: Inspector, session: Session) -> None:
    assert "Select a tensor" in inspector.text() and inspector.subject() is None
    inspector.show_tensor(session.get("x"), "x")
    inspector.clear()
    assert "Select a tensor" in inspector.text()


def test_tensor(inspector: Inspector, session: Session) -> None:
    inspector.show_tensor(session.get("x"), "x")
    text = inspector.text()
    for piece in ("x · tensor, leaf", "torch.Size([3])", "torch.float32", "requires_grad",
                  "is_leaf", "_version", "hooks", "tensor([1., 2., 3.], requires_grad=True)",
                  "no backward has reached it yet"):
        assert piece in text, piece
    inspector.show_tensor(session.get("y"))  # the name is looked up
    text = inspector.text()
    assert "y · tensor, non-leaf" in text and "<MulBackward0>" in text
    assert "retain_grad()" in text and "retains_grad" in text


def test_tensor_follows_session(qtbot, inspector: Inspector, session: Session) -> None:
    inspector.show_tensor(session.get("x"), "x")
    session.run("z.backward()")
    qtbot.waitUntil(lambda: "tensor([4., 5., 6.])" in inspector.text(), timeout=2000)
    session.run("with torch.no_grad():\n    x.mul_(2)")
    qtbot.waitUntil(lambda: "tensor([2., 4., 6.], requires_grad=True)" in inspector.text(),
                    timeout=2000)
    assert "_version1" in inspector.text().replace(" ", "").replace("\n", "")


def test_mul_node_rule_and_saved_tensors(inspector: Inspector, session: Session) -> None:
    node = session.get("y").grad_fn
    inspector.show_node(node)
    text = inspector.text()
    assert "MulBackward0" in text and "local derivative rule" in text
    assert "grad_self = grad * other" in text and "grad_other = grad * self" in text
    assert "∂(a·b)/∂a = b" in text
    assert "(AccumulateGrad (x), 0)" in text and "(None, 0)" in text
    assert "_saved_other (is c)" in text and "tensor([4., 5., 6.])" in text
    assert "_saved_self" not in text  # c needs no grad: torch saves only other
    assert "prehooks" in text


def test_freed_saved_tensors(inspector: Inspector, session: Session) -> None:
    session.run("z.backward()")
    inspector.show_node(session.get("y").grad_fn)
    text = inspector.text()
    assert "freed (other)" in text and "retain_graph=True" in text


def test_accumulate_grad_node(inspector: Inspector, session: Session) -> None:
    acc = session.get("y").grad_fn.next_functions[0][0]
    inspector.show_node(acc)
    text = inspector.text()
    assert "torch::autograd::AccumulateGrad" in text and "x.grad += grad" in text
    assert "x.grad" in text


def test_steps(inspector: Inspector, session: Session) -> None:
    cursor = session.start_backward(session.get("z"))
    steps = cursor.run()
    mul = next(s for s in steps if s.name == "MulBackward0")
    inspector.show_step(mul)
    text = inspector.text()
    assert "MulBackward0" in text and "grad_outputs" in text and "grad_inputs" in text
    assert "grad_self → AccumulateGrad (x)" in text and "tensor([4., 5., 6.])" in text
    assert "→ (None, 0)" in text and "no gradient flows" in text

    acc = next(s for s in steps if s.is_accumulate)
    inspector.show_step(acc)
    text = inspector.text()
    assert "x.grad += grad" in text and "first gradient" in text
    assert "x.grad before" in text and "incoming grad" in text and "x.grad after" in text
    html = inspector.view.toHtml()
    assert ">+<" in html and ">=<" in html

    session.run("z2 = (x * c).sum()")
    steps2 = session.start_backward(session.get("z2")).run()
    acc2 = next(s for s in steps2 if s.is_accumulate)
    inspector.show_step(acc2)
    text = inspector.text()
    assert "gradients add up" in text
    table = text.split("x.grad before")[1]
    assert table.count("tensor([4., 5., 6.])") == 2  # before and incoming
    assert "tensor([ 8., 10., 12.])" in table  # after = before + incoming


def test_generic_rule_and_errors(inspector: Inspector, session: Session) -> None:
    class MyOwnBackward(Node):
        def backward(self, g, s, xp):  # pragma: no cover
            return (g,)

    out = record(MyOwnBackward, np.ones(3, dtype=np.float32), (session.get("x"),))
    inspector.show_node(out.grad_fn)
    text = inspector.text()
    assert "MyOwnBackward" in text and "Chain rule" in text
    inspector.show_tensor(object(), "broken")  # type: ignore[arg-type]
    assert "AttributeError" in inspector.text()


def test_custom_function_node(inspector: Inspector, session: Session) -> None:
    session.run("class Square(torch.autograd.Function):\n"
                "    @staticmethod\n"
                "    def forward(ctx, x):\n"
                "        ctx.save_for_backward(x)\n"
                "        return x * x\n"
                "    @staticmethod\n"
                "    def backward(ctx, g):\n"
                "        (x,) = ctx.saved_tensors\n"
                "        return 2 * x * g\n"
                "s = Square.apply(x)")
    inspector.show_node(session.get("s").grad_fn)
    text = inspector.text()
    assert "SquareBackward" in text and "custom autograd.Function" in text
    assert "grads = Square.backward(ctx, grad)" in text
    assert "saved_tensors[0] (is x)" in text and "tensor([1., 2., 3.]" in text


def test_step_shows_the_rule_with_its_numbers(inspector: Inspector, session: Session) -> None:
    from gradviz.qt.inspector import substituted, values_text

    session.run("w = torch.tensor([0.5, -1., 2.], requires_grad=True)\n"
                "q = (x * w).sum()")
    steps = session.start_backward(session.get("q")).run()
    mul = next(s for s in steps if s.name == "MulBackward0")
    inspector.show_step(mul)
    text = inspector.text()
    g = np.asarray(mul.grad_outputs[0]._data)
    saved = mul.node.saved_tensors
    other, me = np.asarray(saved["other"]._data), np.asarray(saved["self"]._data)
    want = (f"grad_self = grad * other = {values_text(g)} * {values_text(other)} = "
            f"{values_text(mul.grad_inputs[0])}")
    assert want in text
    assert np.allclose(np.asarray(mul.grad_inputs[0]._data), g * other)  # what it claims
    assert f"grad_other = grad * self = {values_text(g)} * {values_text(me)}" in text
    assert "saved tensors" in text and "_saved_other" in text  # the step shows them too
    lines = substituted(("grad_self = grad * missing", "grad_other = grad * self"), mul)
    assert lines[:1] == [f"grad_self = grad * missing = {values_text(g)} * missing = "
                     f"{values_text(mul.grad_inputs[0])}"]  # an unknown value stays a name
    # after the node ran its saved values are freed: the inputs' values stand in
    was, mul.node._freed = mul.node._freed, True
    try:
        freed = substituted(("grad_self = grad * other", "grad_other = grad * self"), mul,
                            inspector._input_value)
    finally:
        mul.node._freed = was
    assert freed[0] == want


def test_attributes_have_values_and_words_do_not_break(inspector: Inspector,
                                                       session: Session) -> None:
    from PySide6.QtGui import QTextOption
    session.run("s = x.sum(0, keepdim=True)")
    node = session.get("s").grad_fn
    inspector.show_node(node)
    text = inspector.text()
    assert "attributes" in text
    attrs = dict(
        (k, v) for k, v in __import__("gradviz.qt.inspector", fromlist=["x"])._attributes(node))
    for k, v in attrs.items():
        assert k in text and v in text
    assert inspector.view.wordWrapMode() == QTextOption.WrapMode.WordWrap


def test_kernel_node_view_shows_the_engines_rule(inspector: Inspector, session: Session) -> None:
    """A node as the kernel sends it (a record wrapped in a NodeView): the inspector shows the
    rule the record carries, the text kept beside the op in the engine."""
    import json

    from gradviz.kernel.snapshot import Snapshotter
    from gradviz.views import World
    session.run("g = torch.nn.functional.gelu(x, approximate='tanh')")
    node = session.get("g").grad_fn
    snap = Snapshotter({})
    snap.graph(node)
    payload = json.loads(json.dumps(snap.payload()))
    world = World()
    world.update(payload["tensors"], payload["nodes"])
    view = world.node(node._id)
    inspector.show_node(view)
    text = inspector.text()
    assert "GeluBackward0" in text and "local derivative rule" in text
    for line in type(node).rule.symbols:
        assert line in text, line
    assert "approximate='tanh'" in text and "Chain rule" not in text


def test_step_numbers_skip_helper_lines(inspector: Inspector, session: Session) -> None:
    """A rule with a helper line (MaxBackward1's mask) still pairs each grad_ line with its
    input's gradient."""
    from gradviz.qt.inspector import substituted, values_text
    session.run("m = (x * 1).max()")
    steps = session.start_backward(session.get("m")).run()
    mx = next(s for s in steps if s.name == "MaxBackward1")
    rule = mx.node.rule
    assert rule.symbols[0].startswith("mask = ")
    lines = substituted(rule.symbols, mx)
    grad_line = next(line for line in lines if line.startswith("grad_self = "))
    assert grad_line.endswith(f" = {values_text(mx.grad_inputs[0])}")
    inspector.show_step(mx)
    assert "grad_self → MulBackward0" in inspector.text()


def test_a_node_that_ran_keeps_the_numbers_it_used(inspector: Inspector,
                                                   session: Session) -> None:
    """In the kernel a node's saved tensors are freed once it runs; the window keeps what the
    node used, so the step shows `grad * other = [...] * 2 = [...]` and says that a constant
    gets no gradient instead of printing `* self` unfilled."""
    import json
    from types import SimpleNamespace

    from gradviz.kernel.snapshot import Snapshotter
    from gradviz.qt.inspector import substituted, values_text
    from gradviz.views import World
    session.run("y = x * 1\nz = y * 2\nloss = z.sum()")
    node = session.get("z").grad_fn
    world = World()

    def sync(ran: bool = False) -> None:
        snap = Snapshotter({})
        snap.graph(node)
        payload = json.loads(json.dumps(snap.payload()))
        for rec in payload["nodes"]:
            if ran:  # as the kernel sends a node after its backward ran: freed, nothing saved
                rec.update(freed=True, saved=[])
        world.update(payload["tensors"], payload["nodes"])

    sync()
    steps = session.start_backward(session.get("loss")).run()
    sync(ran=True)
    view = world.node(node._id)
    assert view.is_freed and not view.saved_tensors  # the kernel freed them
    assert values_text(view.saved_when_ran["other"]) == "2"
    mul = next(s for s in steps if s.name == "MulBackward0")
    step = SimpleNamespace(node=view, grad_outputs=mul.grad_outputs,
                           grad_inputs=mul.grad_inputs)
    lines = substituted(view.rule.symbols, step)
    g = values_text(mul.grad_outputs[0])
    assert lines[0] == f"grad_self = grad * other = {g} * 2 = {values_text(mul.grad_inputs[0])}"
    assert lines[1] == "grad_other: not computed (other needs no gradient)"
