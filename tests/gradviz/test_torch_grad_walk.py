"""torch.autograd.grad on the kernel's torch backend: recorded with torch's own hooks and
replayed like backward(): paused before its first node, stepped in torch's order (each input's
captured grad where torch captures it), the cell gets torch's result, no ``.grad`` moves."""

from __future__ import annotations

import contextlib
import json
import threading
import time

import numpy as np
import pytest

from tests.engine.oracle import require_torch
from tests.engine.test_grad_driver import torch_walk

torch = require_torch()

from gradviz.kernel.agent import Agent  # noqa: E402
from gradviz.kernel.backend import TorchBackend  # noqa: E402
from gradviz.views import decode_array  # noqa: E402

SETUP = ("w = torch.tensor([0.5, -1.0, 0.2], requires_grad=True)\n"
         "b = torch.tensor(0.25, requires_grad=True)\n"
         "x = torch.tensor([1.0, 2.0, 3.0])\n"
         "loss = ((w * x).tanh() ** 2).sum() + b * 3\n")


@pytest.fixture
def agent():
    msgs: list[dict] = []
    original = torch.autograd.grad
    a = Agent({}, lambda m: msgs.append(json.loads(json.dumps(m))), backend=TorchBackend())
    a.msgs = msgs
    a.original_grad = original
    yield a
    a.close()
    assert torch.autograd.grad is original  # the patch is gone
    torch.autograd.grad = original


@contextlib.contextmanager
def pressing_f5(agent):  # noqa: ANN001, ANN201
    """F5 whenever a walk is paused, as the window does; yields the count of pauses."""
    pauses = [0]
    stop = threading.Event()

    def press() -> None:
        pressed: list = []
        while not stop.is_set():
            with agent._pause_lock:
                c = agent.cursor if agent.paused else None
            if c is not None and not any(p is c for p in pressed):
                pressed.append(c)
                pauses[0] += 1
                agent.inbox.put({"cmd": "continue", "seq": None})
            time.sleep(0.005)

    t = threading.Thread(target=press, daemon=True)
    t.start()
    try:
        yield pauses
    finally:
        stop.set()
        t.join()


def walk_steps(agent) -> list[tuple[str, dict]]:  # noqa: ANN001
    names = {n["id"]: n["name"] for m in agent.msgs for n in m.get("nodes", ())}
    walks = [m["walk"] for m in agent.msgs if m.get("type") == "state" and m.get("walk")]
    return [("captured" if s.get("captured") else names[s["node"]], s)
            for m in walks for s in m["steps"]]


def test_grad_pauses_steps_torchs_order_and_returns_torchs_grads(agent) -> None:  # noqa: ANN001
    ns: dict = {"torch": torch}
    exec(SETUP, ns)
    want, want_walk = torch_walk(ns["loss"], [ns["w"], ns["b"]], agent.original_grad)
    agent.pause_at_backward = True
    for cmd in ("step", "step", "step_back", "step", "continue"):
        agent.inbox.put({"cmd": cmd, "seq": None})
    res = agent.session.run(SETUP + "gw, gb = torch.autograd.grad(loss, [w, b])", timeout=None)
    assert res.error is None
    got = walk_steps(agent)
    assert [n for n, _ in got] == [n for n, _ in want_walk]
    for (_, s), (_, v) in zip(got, want_walk):
        if v is not None:  # the captured grad: what grad() returns for that input
            np.testing.assert_allclose(decode_array(s["gout"]).reshape(-1), np.reshape(v, -1),
                                       rtol=1e-6)
    walks = [m["walk"] for m in agent.msgs if m.get("type") == "state" and m.get("walk")]
    assert [m["position"] for m in walks][:5] == [0, 1, 2, 1, 2]  # paused before node 1
    ws = agent.session.namespace
    torch.testing.assert_close(ws["gw"], want[0])
    torch.testing.assert_close(ws["gb"], want[1])
    assert ws["w"].grad is None and ws["b"].grad is None
    assert walks[-1]["kind"] == "grad"
    # the walk log names it; an earlier walk's replay and back moves no .grad
    agent.pause_at_backward = False
    assert agent.session.run("loss2 = (w * w).sum()\nloss2.backward()", timeout=None).ok
    agent.cell_finished(None)
    log = agent.msgs[-1]["walk_log"]
    assert [(e["root"], e["kind"]) for e in log] == [("grad(loss)", "grad"),
                                                     ("loss2", "backward")]
    agent.handle({"cmd": "select_walk", "id": log[0]["id"], "seq": 1})
    agent.handle({"cmd": "reset", "seq": 2})
    agent.handle({"cmd": "run", "seq": 3})
    assert ws["b"].grad is None
    torch.testing.assert_close(ws["w"].grad, 2 * ws["w"].detach())  # walk 2's, untouched
    agent.leave_replay()


def test_create_graph_second_grad_errors_and_torchs_own_calls(agent) -> None:  # noqa: ANN001
    code = ("g, = torch.autograd.grad((w ** 3).sum(), w, create_graph=True)\n"
            "gg, = torch.autograd.grad(g.sum(), w)")
    ns: dict = {"torch": torch}
    exec(SETUP + code, ns)  # torch's own run (no pause: through the agent plainly)
    agent.pause_at_backward = True
    with pressing_f5(agent) as pauses:
        res = agent.session.run(SETUP + code, timeout=None)
    assert res.error is None, res.error_text
    assert pauses == [2]  # both grad() calls paused before their first node
    ws = agent.session.namespace
    assert ws["g"].grad_fn is not None
    torch.testing.assert_close(ws["g"], ns["g"])
    torch.testing.assert_close(ws["gg"], ns["gg"])
    assert ws["w"].grad is None
    unused = "u = torch.ones(2, requires_grad=True)\ntorch.autograd.grad(loss, [w, u])"
    agent.pause_at_backward = False
    with pytest.raises(RuntimeError) as want:
        exec(unused, ns)
    agent.pause_at_backward = True
    with pressing_f5(agent) as pauses:
        res = agent.session.run(unused, timeout=None)
    assert res.error_text == f"RuntimeError: {want.value}"
    assert pauses == [1]  # it pauses too; torch's error comes at the end of the walk
    n = len(agent.walk_log)
    res = agent.session.run("j = torch.autograd.functional.jacobian(lambda v: v * v, w)",
                            timeout=None)  # torch's own grad() calls are no walks
    assert res.error is None and len(agent.walk_log) == n
