"""Graph events: what the app draws from. Recorded traces round-trip through JSON Lines."""

import pytest

import engine as torch
from engine import events
from engine.trace import Recorder


def run_seed():
    x = torch.tensor([-1.2643, 1.0159, 0.2505], requires_grad=True)
    y = x + 2
    z = (y * y * 2).mean()
    z.backward()
    return x, y, z


def test_seed_events_in_order():
    with Recorder() as rec:
        x, y, z = run_seed()
    kinds = [e.kind for e in rec]
    assert kinds[0] == "tensor_created" and rec.events[0].tensor_id == x._id
    ops = rec.of_kind("op_recorded")
    assert [e.name for e in ops] == ["AddBackward0", "MulBackward0", "MulBackward0",
                                     "MeanBackward0"]
    assert ops[0].inputs == (x._id, None) and ops[0].tensor_id == y._id
    assert ops[-1].node_id == z.grad_fn._id
    i_start = kinds.index("backward_started")
    assert kinds[-1] == "backward_finished" and rec.events[-1].steps == 5
    started = [e.name for e in rec.of_kind("node_started")]
    assert started == ["MeanBackward0", "MulBackward0", "MulBackward0", "AddBackward0",
                       "torch::autograd::AccumulateGrad"]
    assert len(rec.of_kind("node_finished")) == 5
    (acc,) = rec.of_kind("grad_accumulated")
    assert acc.tensor_id == x._id and acc.before is None
    assert acc.after == pytest.approx(x.grad.tolist())
    assert "graph_freed" in kinds[i_start:]
    # every node_started is closed by its node_finished before the next starts
    depth = 0
    for k in kinds[i_start:]:
        depth += {"node_started": 1, "node_finished": -1}.get(k, 0)
        assert depth in (0, 1)


def test_ids_are_stable_integers_not_addresses():
    with Recorder() as rec:
        a = torch.ones(2, requires_grad=True)
        b = a * 2
    ids = [e.tensor_id for e in rec.of_kind("tensor_created")]
    assert ids == [a._id, b._id] and ids[1] == ids[0] + 1
    assert rec.of_kind("op_recorded")[0].node_id == b.grad_fn._id


def test_grad_and_flag_changes():
    w = torch.ones(4, requires_grad=True)
    (w * 3).sum().backward()
    with Recorder(kinds=("grad_changed", "requires_grad_changed")) as rec:
        w.grad.zero_()
        w.grad = None
        w.grad = torch.full((4,), 2.0)
        w.requires_grad_(False)
    assert [(e.kind, getattr(e, "reason", None)) for e in rec] == [
        ("grad_changed", "zero_"), ("grad_changed", "none"), ("grad_changed", "assigned"),
        ("requires_grad_changed", None)]
    assert rec.events[0].value == [0.0] * 4 and rec.events[2].value == [2.0] * 4


def test_errors_are_reported_with_the_tensor():
    with Recorder(kinds=("error",)) as rec:
        z = torch.ones(3, requires_grad=True) * 2
        with pytest.raises(RuntimeError):
            z.backward()
    (err,) = rec.events
    assert err.error_type == "RuntimeError"
    assert err.message == "grad can be implicitly created only for scalar outputs"
    assert err.tensor_id == z._id and err.node_id == z.grad_fn._id


def test_events_are_immutable():
    with Recorder() as rec:
        torch.ones(1)
    ev = rec.events[0]
    with pytest.raises(AttributeError):
        ev.kind = "other"
    with pytest.raises(TypeError):
        ev["kind"] = "other"


def test_large_values_are_not_copied():
    with Recorder() as rec:
        torch.zeros(events.MAX_VALUE_ELEMENTS + 1)
        torch.zeros(events.MAX_VALUE_ELEMENTS)
    assert rec.events[0].value is None and rec.events[1].value == [0.0] * 64


def test_subscribe_and_remove():
    got = []
    h = events.subscribe(got.append)
    torch.ones(1)
    h.remove()
    torch.ones(1)
    assert len(got) == 1
    assert not events.emitting()


def test_a_broken_subscriber_does_not_break_the_computation():
    def bad(ev):
        raise ValueError("boom")
    with events.subscribe(bad), pytest.warns(RuntimeWarning, match="boom"):
        x = torch.ones(2, requires_grad=True)
        (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_trace_round_trip(tmp_path):
    with Recorder() as rec:
        x, _, _ = run_seed()
        x.grad.zero_()
        torch.tensor([float("nan"), float("inf"), -float("inf")])
    path = tmp_path / "seed.jsonl"
    rec.save(path)
    loaded = Recorder.load(path)
    assert loaded == rec and len(loaded) == len(rec)
    assert [e.kind for e in loaded] == [e.kind for e in rec]
    assert not path.with_name("seed.jsonl.tmp").exists()
    assert all(line.startswith("{") for line in path.read_text().splitlines())


@pytest.mark.parametrize("content, why", [
    ("", "not a gradviz trace"),
    ("garbage\n", "not a gradviz trace"),
    ('{"format":"gradviz-trace","version":99}\n', "version 99"),
    ('{"format":"gradviz-trace","version":1}\n{"kind":"nope","seq":1}\n', ":2:"),
    ('{"format":"gradviz-trace","version":1}\n{"kind":"tensor_created"\n', ":2:"),
])
def test_broken_traces_are_refused(tmp_path, content, why):
    p = tmp_path / "t.jsonl"
    p.write_text(content)
    with pytest.raises(ValueError, match=why):
        Recorder.load(p)
