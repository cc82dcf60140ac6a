"""The kernel's training host without Qt: commands in, JSON messages out (only new points),
commands queued by the side channel honoured between iterations, errors mapped to the code as
written."""

from __future__ import annotations

import json

import numpy as np

from engine import Tensor
from gradviz.kernel.training_host import TrainingHost, encode_numbers
from gradviz.training.presets import preset


class FakeAgent:
    """What the host needs of ``gradviz.kernel.agent.Agent``."""

    def __init__(self) -> None:
        self.commands: dict = {}
        self.direct: dict = {}
        self.sent: list[dict] = []
        self.root = self.gradient = self.cursor = None
        self.root_chosen = False
        self.walks = 0
        self._sent_steps = 0
        self.paused = False

    def register(self, name, fn):
        self.commands[name] = fn

    def register_direct(self, name, fn):
        self.direct[name] = fn

    def send(self, msg):
        self.sent.append(json.loads(json.dumps(msg, allow_nan=False)))  # as the channel does

    def __call__(self, name, **args):
        return self.commands[f"training_{name}"](**args)

    def frames(self):
        return [m for m in self.sent if m["kind"] == "frame"]


def make(code=None, **kw):
    agent = FakeAgent()
    host = TrainingHost(agent)
    p = preset("seed")
    agent("reset", code=code or p.code, lr=p.lr, iterations=kw.pop("iterations", 10), **kw)
    return agent, host


def rows(agent, key, field="grads"):
    """Every row the window received for run ``key``, in order, rebuilt from the frames."""
    out: list = []
    for m in agent.frames():
        d = m["runs"].get(key)
        if d is None:
            continue
        assert d["from"] == len(out)  # only new points, none skipped
        k = len(d["loss"])
        if k:
            a = np.asarray(d[field], dtype=np.float64)
            out.extend(a.tolist() if field == "loss" else a.reshape(k, -1).tolist())
    return out


def test_numbers_are_json_safe():
    assert encode_numbers(np.array([1.0, np.nan, np.inf, -np.inf])) == [1.0, "nan", "inf",
                                                                       "-inf"]
    assert np.asarray(encode_numbers([np.nan, 2.0]), dtype=np.float64)[1] == 2.0


def test_reset_sends_the_layout_and_steps_send_only_new_points():
    agent, host = make()
    layout = agent.sent[0]
    assert layout["kind"] == "layout" and layout["gen"] == 1
    assert layout["runs"]["unzeroed"]["params"][0]["name"] == "weights"
    assert layout["toggled"][0]["text"] == "weights.grad.zero_()"
    for _ in range(3):
        agent("step")
    assert [r[0] for r in rows(agent, "unzeroed")] == [3.0, 6.0, 9.0]
    assert [r[0] for r in rows(agent, "zeroed")] == [3.0, 3.0, 3.0]
    agent("run", n=100)
    assert len(rows(agent, "unzeroed")) == 10
    st = agent.frames()[-1]["runs"]["unzeroed"]["status"]
    assert st["state"] == "finished" and st["stop_reason"] == "ran 10 iterations"


def test_play_streams_frames_and_ends():
    agent, host = make(iterations=2000)
    reply = agent("play", token=1, speed=None)
    assert reply["reason"] == "done" and reply["count"] == 2000
    assert agent.sent[-1] == {"type": "training", "gen": 1, "kind": "ended", "token": 1,
                              "reason": "done"}
    assert len(rows(agent, "unzeroed")) == 2000
    assert rows(agent, "unzeroed")[-1][0] == 6000.0


def test_pause_from_the_side_channel_is_taken_between_iterations():
    agent, host = make(iterations=10_000)
    direct = agent.direct["training_pause"]
    direct({"cmd": "training_pause", "token": 0})  # for an older command: dropped
    direct({"cmd": "training_pause", "token": 2})  # for a later one: kept for it
    reply = agent("play", token=1, speed=None, budget_s=0.05)
    assert reply["reason"] == "budget" and 0 < reply["count"] < 10_000
    assert not any(m["kind"] == "ended" for m in agent.sent)  # frame by frame: not ended
    reply = agent("play", token=2, speed=None)
    assert reply["reason"] == "paused"
    z, u = host.pair.runs
    assert z.count == u.count  # a pause leaves both runs on the same iteration


def test_stop_between_frames_and_speed():
    agent, host = make(iterations=10_000)
    host._direct({"cmd": "training_speed", "token": 1, "speed": 100})
    host._direct({"cmd": "training_stop", "token": 1})
    reply = agent("play", token=1, speed=None)
    assert reply["reason"] == "stopped" and not reply["active"]
    assert host.speed == 100


def test_errors_map_back_to_the_code_as_written():
    code = ("w = torch.ones(2, requires_grad=True)\n"
            "opt = torch.optim.SGD([w], lr=0.1)\n"
            "for i in range(iterations):\n"
            "    loss = (w * w).sum()\n"
            "    loss.backward()\n"
            "    opt.step()\n"
            "    if i == 1:\n"
            "        raise ValueError('late')\n")
    agent, host = make(code)
    agent("run", n=5)
    last = {k: d["status"] for m in agent.frames() for k, d in m["runs"].items()}
    assert last["zeroed"]["error_line"] == 9 and last["zeroed"]["editor_line"] == 8
    assert last["unzeroed"]["error"] == "ValueError: late"


def test_into_backward_makes_the_iteration_root_the_agents():
    agent, host = make()
    agent("step")
    reply = agent("into", which="unzeroed")
    run = host.pair.unzeroed
    assert isinstance(agent.root, Tensor) and agent.root is run.root
    assert reply["root"] == run.root._id and reply["pending"] == "unzeroed"
    assert agent.cursor.root is run.root and agent.root_chosen
    root_msg = agent.frames()[-1]["root"]
    assert root_msg["id"] == run.root._id and "weights" in root_msg["names"].values()
    agent.cursor.step()  # the window's F10
    agent("step")  # finishes the iteration through that walk
    assert [r[0] for r in rows(agent, "unzeroed")] == [3.0, 6.0]
    agent("reset", code=preset("seed").code, iterations=3)
    assert agent.root is None and agent.cursor is None  # the user's graph comes back


def test_mlp_data_and_boundary_come_along():
    p = preset("mlp")
    agent, host = make(p.code, iterations=5)
    data = agent.sent[0]["data"]
    assert data["res"] == 48 and len(data["points"]) == 2 * 128
    first = agent.frames()[0]["boundary"]
    assert set(first) == {"zeroed", "unzeroed"} and len(first["zeroed"]) == 48 * 48
