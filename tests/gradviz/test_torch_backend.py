"""The kernel's torch backend against real torch: the walk steps through torch's own backward
in torch's own pre-hook order, leaves end with torch's grads, errors are torch's, snapshots
describe torch's objects, nn.Modules group the nodes, walk files open without torch.

Skipped without torch (an error with GRADVIZ_REQUIRE_TORCH=1)."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from tests.engine.oracle import require_torch

torch = require_torch()

from gradviz.kernel.agent import Agent  # noqa: E402
from gradviz.kernel.backend import (  # noqa: E402
    TORCH_MISSING,
    TorchBackend,
    backend_name,
    get_backend,
)
from gradviz.kernel.torch_snapshot import IDS, TorchSnapshotter, track_modules  # noqa: E402
from gradviz.kernel.torch_walk import TorchCursor, graph_nodes  # noqa: E402
from gradviz.show import load_walk, save_walk, walk_messages  # noqa: E402
from gradviz.views import World, decode_array  # noqa: E402


# ----------------------------------------------------------------------------- graphs
class TwoOut(torch.autograd.Function):
    """A custom Function with two outputs and a saved tensor."""

    @staticmethod
    def forward(ctx, a, b):  # noqa: ANN001, ANN205
        ctx.save_for_backward(a, b)
        ctx.scale = 3.0
        return a * b, a + ctx.scale * b

    @staticmethod
    def backward(ctx, g1, g2):  # noqa: ANN001, ANN205
        a, b = ctx.saved_tensors
        return g1 * b + g2, g1 * a + ctx.scale * g2


def conv_graph(g: torch.Generator) -> tuple[torch.Tensor, list[torch.Tensor]]:
    x = torch.randn(1, 2, 6, 6, generator=g, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, generator=g, requires_grad=True)
    b = torch.randn(3, generator=g, requires_grad=True)
    y = torch.nn.functional.conv2d(x, w, b, padding=1).relu()
    y = torch.nn.functional.max_pool2d(y, 2)
    return (y * y).mean(), [x, w, b]


def norm_graph(g: torch.Generator) -> tuple[torch.Tensor, list[torch.Tensor]]:
    x = torch.randn(4, 3, 2, 2, generator=g, requires_grad=True)
    gamma = torch.randn(3, generator=g, requires_grad=True)
    beta = torch.randn(3, generator=g, requires_grad=True)
    y = torch.nn.functional.batch_norm(x, None, None, gamma, beta, training=True)
    z = torch.nn.functional.layer_norm(y.flatten(1), (12,))
    return z.tanh().sum(), [x, gamma, beta]


def fft_graph(g: torch.Generator) -> tuple[torch.Tensor, list[torch.Tensor]]:
    x = torch.randn(8, generator=g, requires_grad=True)
    w = torch.randn(5, generator=g, requires_grad=True)
    f = torch.fft.rfft(x)
    return (f.abs() * w).sum() + torch.fft.irfft(f * 2, n=8).pow(2).sum(), [x, w]


def custom_graph(g: torch.Generator) -> tuple[torch.Tensor, list[torch.Tensor]]:
    a = torch.randn(4, generator=g, requires_grad=True)
    b = torch.randn(4, generator=g, requires_grad=True)
    p, q = TwoOut.apply(a, b.exp())
    parts = torch.split(p * q, 2)  # a multi-output node (SplitBackward0)
    return parts[0].sum() * 2 + parts[1].sin().sum() + q.sum(), [a, b]


GRAPHS = {"conv": conv_graph, "norm": norm_graph, "fft": fft_graph, "custom": custom_graph}


def build(kind: str) -> tuple[torch.Tensor, list[torch.Tensor]]:
    return GRAPHS[kind](torch.Generator().manual_seed(7))


def torch_order(root: torch.Tensor, retain: bool = True) -> tuple[list, list, dict]:
    """Torch's own run: the nodes in pre-hook order, the threads they ran on, each node's
    grad_inputs (from its hook)."""
    order, threads, gins = [], [], {}
    handles = []
    for n in graph_nodes([root.grad_fn]):
        def pre(go, n=n):  # noqa: ANN001, ANN202
            order.append(n)
            threads.append(threading.get_ident())

        def post(gi, go, n=n):  # noqa: ANN001, ANN202
            gins[id(n)] = tuple(None if x is None else x.detach().clone() for x in gi)

        handles += [n.register_prehook(pre), n.register_hook(post)]
    root.backward(retain_graph=retain)
    for h in handles:
        h.remove()
    return order, threads, gins


# ----------------------------------------------------------------------------- order, grads
@pytest.mark.parametrize("kind", sorted(GRAPHS))
def test_steps_follow_torchs_own_prehook_order_and_grads(kind: str) -> None:
    root, leaves = build(kind)
    order, threads, gins = torch_order(root)
    assert set(threads) == {threading.get_ident()}  # CPU backward runs on the calling thread
    expected = [x.grad.clone() for x in leaves]
    for x in leaves:
        x.grad = None
    c = TorchCursor(root, retain_graph=True)
    steps = c.run()
    assert c.at_end and c.error is None
    assert [s.node for s in steps] == order
    assert [s.name for s in steps] == [n.name() for n in order]
    for x, e in zip(leaves, expected):
        torch.testing.assert_close(x.grad, e, rtol=0, atol=0)
    for s in steps:
        if s.is_accumulate:
            assert s.variable is s.node.variable
            torch.testing.assert_close(s.grad_after, s.variable.grad, rtol=0, atol=0)
            continue
        ref = gins[id(s.node)]
        assert len(s.grad_inputs) == len(s.node.next_functions) == len(ref)
        for got, want in zip(s.grad_inputs, ref):
            assert (got is None) == (want is None)
            if got is not None:
                torch.testing.assert_close(got, want, rtol=0, atol=0)
    # stepping back restores every .grad; stepping forward again replays torch's values
    c.reset()
    assert all(x.grad is None for x in leaves)
    c.step()
    assert c.position == 1 and c.current is steps[0]
    c.run()
    for x, e in zip(leaves, expected):
        torch.testing.assert_close(x.grad, e, rtol=0, atol=0)


def test_multi_output_nodes_carry_all_their_grad_outputs() -> None:
    root, _ = build("custom")
    steps = TorchCursor(root).run()
    by_name = {s.name: s for s in steps}
    assert len(by_name["TwoOutBackward"].grad_outputs) == 2
    snap = TorchSnapshotter({})
    recs = {r["node"]: r for r in snap.steps(steps)}
    rec = recs[IDS.node(by_name["TwoOutBackward"].node)]
    assert len(rec["gouts"]) == 2
    np.testing.assert_allclose(decode_array(rec["gouts"][1]),
                               by_name["TwoOutBackward"].grad_outputs[1].numpy(), rtol=1e-6)


def test_accumulation_into_existing_grads_keeps_torchs_tensor() -> None:
    root, leaves = build("conv")
    root2, leaves2 = build("conv")
    for a, b in zip(leaves, leaves2):
        a.grad = torch.ones_like(a)
        b.grad = torch.ones_like(b)
    held = [a.grad for a in leaves]
    held2 = [b.grad for b in leaves2]
    root2.backward()
    c = TorchCursor(root)
    c.run()
    for a, b, h, h2 in zip(leaves, leaves2, held, held2):
        torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0)
        assert (a.grad is h) == (b.grad is h2)  # in place as torch does it
    c.reset()
    for a, h in zip(leaves, held):
        assert a.grad is h
        torch.testing.assert_close(a.grad, torch.ones_like(a), rtol=0, atol=0)
    acc = [s for s in c.steps if s.is_accumulate][0]
    torch.testing.assert_close(acc.grad_before, torch.ones_like(acc.variable), rtol=0, atol=0)


# ----------------------------------------------------------------------------- errors
def _torch_error(fn) -> str:  # noqa: ANN001
    with pytest.raises(RuntimeError) as info:
        fn()
    return str(info.value)


def test_non_scalar_root_is_torchs_error_on_the_root() -> None:
    x = torch.randn(3, requires_grad=True)
    y = x * 2
    want = _torch_error(lambda: (x * 2).backward())
    c = TorchCursor(y)
    assert c.step() is None
    assert str(c.error) == want
    assert c.error_node_id == IDS.node(y.grad_fn)
    assert x.grad is None


def test_freed_graph_and_retain_graph() -> None:
    x = torch.randn(3, requires_grad=True)
    y = (x.sin() * x).sum()
    TorchCursor(y, retain_graph=True).run()
    once = x.grad.clone()
    TorchCursor(y, retain_graph=False).run()  # retained: runs again, accumulates
    torch.testing.assert_close(x.grad, 2 * once)
    snap = TorchSnapshotter({})
    snap.tensor(y, deep=True)
    assert any(r["freed"] and r["freed_names"] for r in snap.payload()["nodes"])
    json.dumps(snap.payload())
    seen, handles = [], []
    for n in graph_nodes([y.grad_fn]):
        handles.append(n.register_prehook(lambda go, n=n: seen.append(n)))
    want = _torch_error(lambda: y.backward())
    for h in handles:
        h.remove()
    c = TorchCursor(y)
    assert [s.node for s in c.run()] == seen[:-1]  # up to the node torch failed in
    assert str(c.error) == want
    assert c.error_node_id == IDS.node(seen[-1])
    torch.testing.assert_close(x.grad, 2 * once)  # nothing accumulated
    # stepping back over the error and forward again meets it again
    n = c.position
    c.step_back()
    assert c.error is None
    c.run()
    assert c.error is not None and c.position == n


# ----------------------------------------------------------------------------- snapshots
def test_snapshot_records_torchs_objects() -> None:
    root, leaves = build("custom")
    snap = TorchSnapshotter({IDS.tensor(leaves[0]): "a"})
    rid = snap.tensor(root, deep=True)
    assert snap.tensor(root) == rid == IDS.tensor(root)
    payload = json.loads(json.dumps(snap.payload(), allow_nan=False))
    nodes = {n["id"]: n for n in payload["nodes"]}
    live = {IDS.node(n): n for n in graph_nodes([root.grad_fn])}
    assert set(nodes) == set(live)
    for nid, n in live.items():
        rec = nodes[nid]
        assert rec["name"] == n.name()
        assert rec["next"] == [[IDS.node(f) if f is not None else None, nr]
                               for f, nr in n.next_functions]
        if n.name() == "torch::autograd::AccumulateGrad":
            assert rec["variable"] == IDS.tensor(n.variable)
    custom = next(r for r in nodes.values() if r["name"] == "TwoOutBackward")
    assert custom["fn_cls"] == "TwoOut" and custom["attrs"]["scale"] == "3.0"
    assert len(custom["saved"]["list"]) == 2
    mul = next(r for r in nodes.values() if r["name"] == "MulBackward0")
    assert {k for k, _ in mul["saved"]} == {"self", "other"}
    tensors = {t["id"]: t for t in payload["tensors"]}
    a = tensors[IDS.tensor(leaves[0])]
    assert a["name"] == "a" and a["requires_grad"] and a["grad_fn"] is None
    np.testing.assert_allclose(decode_array(a["data"]), leaves[0].detach().numpy(), rtol=1e-6)
    assert a["repr"] == repr(leaves[0])
    # the window's views read them as they read engine records
    world = World()
    world.update(payload["tensors"], payload["nodes"])
    view = world.tensor(rid)
    assert view.grad_fn.name() == root.grad_fn.name()


def test_ids_are_stable_and_not_reused() -> None:
    x = torch.randn(2, requires_grad=True)
    y = x * 2
    tid, nid = IDS.tensor(y), IDS.node(y.grad_fn)
    assert IDS.tensor(y) == tid and IDS.node(y.grad_fn) == nid
    del y
    z = x * 3
    assert IDS.tensor(z) != tid and IDS.node(z.grad_fn) != nid


# ----------------------------------------------------------------------------- modules
class Block(torch.nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(c)
        self.relu = torch.nn.ReLU(inplace=True)
        self.conv2 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


class TinyResNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.layer1 = torch.nn.Sequential(Block(4), Block(4))
        self.layer2 = torch.nn.Sequential(Block(4))
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(x.mean((2, 3)))


def test_module_grouping_of_a_small_resnet() -> None:
    torch.manual_seed(0)
    untrack = track_modules()
    try:
        model = TinyResNet()
        out = model(torch.randn(2, 1, 5, 5))
        loss = torch.nn.functional.cross_entropy(out, torch.tensor([0, 2]))
    finally:
        untrack()
    snap = TorchSnapshotter({}, {"model": model, "loss": loss})
    snap.tensor(loss, deep=True)
    nodes = snap.payload()["nodes"]
    by_module: dict[str, list[str]] = {}
    for r in nodes:
        by_module.setdefault(r.get("module"), []).append(r["name"])
    kinds = {q: type(m).__name__ for q, m in model.named_modules()}
    assert set(by_module) - {None} <= set(kinds)
    for q, names in by_module.items():
        if q is None:  # only the loss, outside the model
            assert not any(n.startswith(("Convolution", "NativeBatchNorm")) for n in names)
            continue
        kind = kinds[q]
        ops = {n for n in names if n != "torch::autograd::AccumulateGrad"}
        if kind == "Conv2d":
            assert ops == {"ConvolutionBackward0"}
        elif kind == "BatchNorm2d":
            assert ops == {"NativeBatchNormBackward0"}
        elif kind == "ReLU":
            assert ops <= {"ReluBackward0"} and ops
        elif kind == "Linear":
            assert "AddmmBackward0" in ops
    # every conv, every norm and each block's residual add is grouped under its own module
    convs = [q for q, k in kinds.items() if k == "Conv2d"]
    assert all(q in by_module for q in convs)
    assert "AddBackward0" in by_module["layer1.0"] and "AddBackward0" in by_module["layer2.0"]
    # parameters' AccumulateGrad nodes belong to the module holding the parameter
    acc = {r["variable"]: r.get("module") for r in nodes if "variable" in r}
    assert acc[IDS.tensor(model.layer1[1].conv2.weight)] == "layer1.1.conv2"
    assert acc[IDS.tensor(model.fc.bias)] == "fc"
    # the root model's own op (the relu of its forward)
    assert "ReluBackward0" in by_module[""]


# ----------------------------------------------------------------------------- agent
@pytest.fixture
def agent():
    msgs: list[dict] = []
    original = torch.autograd.backward
    a = Agent({}, lambda m: msgs.append(json.loads(json.dumps(m))), backend=TorchBackend())
    a.msgs = msgs
    yield a
    a.close()
    assert torch.autograd.backward is original  # the patch is gone
    torch.autograd.backward = original


def test_agent_pauses_at_torch_backward_and_steps_it(agent) -> None:  # noqa: ANN001
    ns = agent.session.namespace
    assert ns["torch"] is torch
    agent.pause_at_backward = True
    for cmd in ("step", "step", "step_back", "step", "continue"):
        agent.inbox.put({"cmd": cmd, "seq": None})
    code = ("torch.manual_seed(0)\nw = torch.randn(3, requires_grad=True)\n"
            "loss = (w * w).sin().sum()\nloss.backward()\nprint(w.grad.tolist())")
    res = agent.session.run(code, timeout=None)
    assert res.error is None
    agent.pause_at_backward = False  # torch's own run below goes through the agent plainly
    torch.manual_seed(0)
    w = torch.randn(3, requires_grad=True)
    (w * w).sin().sum().backward()
    assert res.output.strip() == str(w.grad.tolist())
    walks = [m["walk"] for m in agent.msgs if m.get("type") == "state" and m.get("walk")]
    assert [m["position"] for m in walks] == [0, 1, 2, 1, 2, 4, 4]
    assert any(m.get("paused") for m in agent.msgs)
    names = {n["id"]: n["name"] for m in agent.msgs for n in m.get("nodes", ())}
    steps = [s for m in walks for s in m["steps"]]
    assert [names[s["node"]] for s in steps] == [
        "SumBackward0", "SinBackward0", "MulBackward0", "torch::autograd::AccumulateGrad"]
    np.testing.assert_allclose(decode_array(steps[-1]["after"]), w.grad.numpy(), rtol=1e-6)


def test_agent_reports_torchs_errors_from_cells(agent) -> None:  # noqa: ANN001
    res = agent.session.run("x = torch.ones(3, requires_grad=True)\ny = x * 2\ny.backward()",
                            timeout=None)
    want = _torch_error(lambda: (torch.ones(3, requires_grad=True) * 2).backward())
    assert res.error_text == f"RuntimeError: {want}"
    agent.cell_finished(res.error)
    state = agent.msgs[-1]
    assert state["cell_error"]["message"] == res.error_text
    assert state["root"] == IDS.tensor(agent.session.namespace["y"])
    # F10 with no code running: the root's backward, stepped node by node
    res = agent.session.run("z = (x * x).sum()", timeout=None)
    agent.cell_finished(None)
    agent.handle({"cmd": "run", "seq": 5})
    state = agent.msgs[-1]
    assert state["walk"]["finished"] and state["walk"]["error"] is None
    torch.testing.assert_close(agent.session.namespace["x"].grad, 2 * torch.ones(3))


# ----------------------------------------------------------------------------- switch, files
def test_backend_switch(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("GRADVIZ_BACKEND", raising=False)
    assert backend_name(["-f", "c.json"]) == ("engine", ["-f", "c.json"])
    assert backend_name(["--backend", "torch", "-f", "c.json"]) == ("torch", ["-f", "c.json"])
    assert backend_name(["--backend=torch"]) == ("torch", [])
    monkeypatch.setenv("GRADVIZ_BACKEND", "torch")
    assert backend_name([])[0] == "torch"
    assert get_backend("torch").name == "torch" and get_backend("engine").name == "engine"
    monkeypatch.setitem(__import__("sys").modules, "torch", None)  # as if not installed
    with pytest.raises(ImportError) as info:
        get_backend("torch")
    assert str(info.value) == TORCH_MISSING and "pip install torch" in TORCH_MISSING


def test_walk_file_round_trip_leaves_tensors_alone(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    root, leaves = build("conv")
    x = leaves[0]  # noqa: F841 - named by save_walk from this frame
    path = save_walk(root, tmp_path / "w.json")
    assert all(t.grad is None for t in leaves)
    msgs = load_walk(path)
    again = json.loads(json.dumps(walk_messages(root, namespace={"x": x, "root": root})))
    for m in msgs + again:
        m.pop("build_ms")
    assert msgs == again
    m = msgs[0]
    assert m["backend"] == "torch" and m["walk"]["finished"]
    order, _, _ = torch_order(root)  # the graph was retained; torch's own run
    names = {n["id"]: n["name"] for n in m["nodes"]}
    assert [names[s["node"]] for s in m["walk"]["steps"]] == [n.name() for n in order]
    assert {t["name"] for t in m["tensors"]} >= {"x", "root"}  # the caller's variables
    monkeypatch.setitem(__import__("sys").modules, "torch", None)  # opened without torch
    world = World()
    msgs = load_walk(path)
    world.update(msgs[0]["tensors"], msgs[0]["nodes"])
    assert world.tensor(msgs[0]["root"]).grad_fn.name() == "MeanBackward0"


def test_walk_file_of_an_engine_tensor(tmp_path) -> None:  # noqa: ANN001
    import engine

    x = engine.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    m = load_walk(save_walk(y, tmp_path / "e.json"))[0]
    assert m["backend"] == "engine" and m["walk"]["finished"] and x.grad is None
    assert [s["gin"] for s in m["walk"]["steps"]][-1] == []
    with pytest.raises(ValueError):
        (tmp_path / "bad.json").write_text("{}")
        load_walk(tmp_path / "bad.json")


def test_agent_replays_an_earlier_torch_walk_and_gives_the_grads_back(agent) -> None:  # noqa: ANN001
    run = agent.session.run
    assert run("w = torch.ones(2, requires_grad=True)\n(w * 3).sum().backward()",
               timeout=None).ok
    assert run("(w * w).sum().backward()", timeout=None).ok
    w = agent.session.namespace["w"]
    live = w.grad.clone()
    torch.testing.assert_close(live, torch.full((2,), 5.0))  # 3 + 2w, torch's accumulation
    agent.handle({"cmd": "select_walk", "id": 1, "seq": 1})
    agent.handle({"cmd": "reset", "seq": 2})
    assert w.grad is None  # before walk 1
    agent.handle({"cmd": "run", "seq": 3})
    torch.testing.assert_close(w.grad, torch.full((2,), 3.0))  # as walk 1 left it
    agent.leave_replay()
    torch.testing.assert_close(w.grad, live)
    assert [e["id"] for e in agent.msgs[-1]["walk_log"]] == [1, 2]
