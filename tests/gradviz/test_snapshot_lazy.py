"""A big graph's snapshot leaves torch's reprs out (they cost a millisecond each) and the
window asks the kernel for one when it shows it: the text the inspector shows is still the
library's own repr. Arrays travel as base64 of their bytes and decode to the same values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gradviz.kernel import snapshot
from gradviz.kernel.agent import Agent
from gradviz.views import World, decode_array


@pytest.fixture
def big(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every unnamed tensor past the budget, as in a 5,000-node graph."""
    monkeypatch.setattr(snapshot, "EAGER_REPRS", 0)


def _window(agent: Agent, replies: list[dict]) -> World:
    """The window's World over ``agent``'s last update, asking it for reprs as
    RemoteSession does (the ``tensor_texts`` command)."""
    world = World()
    state = [m for m in replies if m.get("type") == "state"][-1]
    world.update(state["tensors"], state["nodes"])

    def fetch(ids: list[int]) -> list[dict]:
        world.asked.append(list(ids))
        n = len(replies)
        agent.handle({"cmd": "tensor_texts", "seq": 99, "ids": ids})
        new = replies[n:]
        assert [m["type"] for m in new] == ["reply"]  # a look-up sends no update
        return new[0]["reply"]["tensors"]

    world.fetch_texts = fetch
    world.asked = []  # type: ignore[attr-defined]
    return world


def test_torch_saved_tensors_and_grads_show_torchs_repr_on_demand(big: None) -> None:
    torch = pytest.importorskip("torch")
    from gradviz.kernel.backend import TorchBackend

    replies: list[dict] = []
    agent = Agent({}, lambda m: replies.append(json.loads(json.dumps(m))),
                  install_driver=False, backend=TorchBackend())
    try:
        torch.manual_seed(0)
        ns = agent.session.namespace
        exec("net = torch.nn.Sequential(torch.nn.Linear(3, 40), torch.nn.BatchNorm1d(40),\n"
             "                          torch.nn.ReLU(), torch.nn.Linear(40, 2))\n"
             "x = torch.randn(4, 3)\nloss = net(x).pow(2).sum()\n"
             "loss.backward(retain_graph=True)", ns)
        agent.send_state()
        state = replies[-1]
        recs = {r["id"]: r for r in state["tensors"]}
        world = _window(agent, replies)
        for _ in range(3):  # small updates in between (a walk stepped) keep them askable
            agent.send_state(deep=False)
        ids = agent.backend.ids
        root = world.tensor(ids.tensor(ns["loss"]))
        assert repr(root) == repr(ns["loss"]) and not recs[root.id].get("lazy")  # named
        # every node's saved tensors, as the inspector prints them
        stack, seen, checked = [ns["loss"].grad_fn], set(), 0
        while stack:
            fn = stack.pop()
            if fn is None or ids.node(fn) in seen:
                continue
            seen.add(ids.node(fn))
            stack.extend(f for f, _ in fn.next_functions)
            view = world.node(ids.node(fn))
            for key, v in view.saved_tensors.items():
                true = getattr(fn, f"_saved_{key}")
                if isinstance(true, torch.Tensor):
                    assert recs[v.id].get("lazy") or recs[v.id]["name"] == "x"
                    assert repr(v) == repr(true), key
                    np.testing.assert_array_equal(v.numpy(), true.detach().numpy())
                    checked += 1
        assert checked >= 6
        # a node's lazy saved tensors are asked for together: one round trip
        bn = next(f for f in _nodes(ns["loss"].grad_fn) if f.name() == "NativeBatchNormBackward0")
        world.update(state["tensors"], state["nodes"])
        world.asked.clear()
        texts = {k: repr(v) for k, v in world.node(ids.node(bn)).saved_tensors.items()
                 if hasattr(v, "grad_fn")}
        assert len(texts) >= 4 and len(world.asked) == 1
        assert texts["result1"] == repr(bn._saved_result1)
        w = ns["net"][1].weight  # a parameter: its repr and its grad's
        wv = world.tensor(ids.tensor(w))
        assert recs[wv.id].get("lazy") and recs[wv.id]["param"] == "1.weight"
        assert repr(wv) == repr(w) and repr(wv.grad) == repr(w.grad)
        np.testing.assert_array_equal(wv.grad.numpy(), w.grad.numpy())
        # a rule travels once per payload; every node of its kind shows it
        addmm = [r for r in state["nodes"] if r["name"] == "AddmmBackward0"]
        assert len(addmm) == 2 and sum("rule" in r for r in addmm) == 1
        from gradviz.rules import node_rule_record
        rules = {world.node(r["id"]).rule.symbols for r in addmm}
        fn = next(f for f in _nodes(ns["loss"].grad_fn) if f.name() == "AddmmBackward0")
        assert rules == {tuple(node_rule_record(fn)["symbols"])} and rules != {()}
        # without a kernel to ask, the size stands in
        alone = World()
        alone.update(state["tensors"], state["nodes"])
        assert repr(alone.tensor(wv.id)) == "tensor([...], size=(40,), requires_grad=True)"
    finally:
        agent.close()


def test_engine_inspector_shows_the_engines_repr_of_a_lazy_saved_tensor(
        big: None, qtbot, bridge) -> None:  # noqa: ANN001
    """End to end: the kernel in this process, the window's RemoteSession and inspector."""
    from gradviz.qt.inspector import Inspector
    from gradviz.qt.remote_session import InProcessKernel, RemoteSession

    kernel = InProcessKernel()
    session = RemoteSession(kernel)
    try:
        session.run("a = torch.arange(6.).reshape(2, 3).requires_grad_()\n"
                    "b = (a * 3).exp() * a\nout = (b - 30).relu().sum()")
        ns = kernel.namespace
        out = session.get("out")
        relu = out.grad_fn.next_functions[0][0]
        mul = relu.next_functions[0][0].next_functions[0][0]  # b's MulBackward0
        assert mul.name() == "MulBackward0"
        saved = mul.saved_tensors
        assert kernel.last_state is not None
        lazy = {r["id"] for r in kernel.last_state["tensors"] if r.get("lazy")}
        assert {saved["self"].id} <= lazy  # (a * 3).exp(): unnamed
        inspector = Inspector(session, bridge)
        qtbot.addWidget(inspector)
        inspector.show_node(mul)
        text = inspector.text()
        true = ns["b"].grad_fn.saved_tensors
        assert repr(true["self"]) in text and repr(true["other"]) in text
        # a saved array the engine wraps in a new tensor at each read (ReluBackward0's result)
        assert relu.name() == "ReluBackward0"
        inspector.show_node(relu)
        result = ns["out"].grad_fn.next_functions[0][0].saved_tensors["result"]
        assert repr(result) in inspector.text() and "[...]" not in inspector.text()
    finally:
        session.close()
        kernel.shutdown()


def _nodes(fn):  # noqa: ANN001, ANN202 - torch's graph from ``fn``
    stack, seen = [fn], set()
    while stack:
        n = stack.pop()
        if n is not None and n not in seen:
            seen.add(n)
            yield n
            stack.extend(f for f, _ in n.next_functions)


def test_arrays_round_trip_exactly() -> None:
    for a in (np.array([1.5, np.nan, -np.inf, 3e-39], np.float32), np.arange(5),
              np.array([[True, False]]), np.float64(2.25), np.array([1 + 2j, 3 - 1j])):
        rec = json.loads(json.dumps(snapshot.encode_array(a)))
        np.testing.assert_array_equal(decode_array(rec), np.real(a))
    cut = snapshot.encode_array(np.arange(10.0), limit=4)
    assert decode_array(cut).tolist() == [0.0, 1.0, 2.0, 3.0] and not cut["full"]
    assert cut["shape"] == [10]


def test_a_walk_file_carries_every_repr(big: None) -> None:
    """A walk file is shown with no kernel to ask: its records hold the reprs."""
    import engine
    from gradviz.show import walk_messages

    a = engine.arange(6.0).reshape(2, 3).requires_grad_()
    out = ((a * 3).exp() * a - 30).relu().sum()
    msg = walk_messages(out, namespace={"a": a, "out": out})[0]
    assert not any(r.get("lazy") for r in msg["tensors"])
    world = World()
    world.update(msg["tensors"], msg["nodes"])
    relu = out.grad_fn.next_functions[0][0]
    view = world.node(relu._id).saved_when_ran["result"]
    assert not relu.is_freed  # the walk kept the graph (retain_graph=True)
    assert repr(view) == repr(relu.saved_tensors["result"])
    assert "[...]" not in repr(view)
