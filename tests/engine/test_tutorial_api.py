"""The torch that tutorials use, against torch 2.13: devices on a CPU-only build, legacy
spellings (Variable, FloatTensor, torch.Tensor(...), .data, torch.range), size=/device= on
factories, format() of 0-dim tensors and addmm's beta/alpha."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from oracle import assert_same_error, assert_same_tensor, require_torch

import engine

torch = require_torch()

pytestmark = pytest.mark.torch


def _dt(x):
    """A dtype's bare name (float32), whatever module prefix it prints with."""
    return str(x.dtype).split(".")[-1]


def both(fn):
    """``fn(lib)`` in the engine and in torch."""
    return fn(engine), fn(torch)


# ----------------------------------------------------------------------------- devices
@pytest.mark.parametrize("spec", ["cpu", "cuda", "cuda:1", "mps", "cpu:0"])
def test_device_repr_str_type_index(spec):
    e, t = both(lambda lib: lib.device(spec))
    assert (repr(e), str(e), e.type, e.index) == (repr(t), str(t), t.type, t.index)


def test_device_equality_and_tensor_device():
    e, t = both(lambda lib: (lib.device("cpu") == lib.device("cpu"), lib.device("cpu") == "cpu",
                             lib.device("cpu") != lib.device("cuda"),
                             repr(lib.tensor([1.0]).device), str(lib.zeros(2).device),
                             lib.tensor([1.0]).is_cuda, lib.tensor([1.0]).get_device(),
                             repr(lib.device(lib.device("cpu"))),
                             lib.tensor([1.0]).device == lib.device("cpu")))
    assert e == t


@pytest.mark.parametrize("spec", ["foo", "cpu:x", 1.5, -1])
def test_device_parse_errors(spec):
    assert_same_error(lambda: engine.device(spec), lambda: torch.device(spec))


def test_device_negative_index():
    assert_same_error(lambda: engine.device("cuda", -2), lambda: torch.device("cuda", -2))


@pytest.mark.parametrize("call", [
    lambda lib: lib.tensor([1.0]).cuda(),
    lambda lib: lib.zeros(2, device="cuda"),
    lambda lib: lib.tensor([1.0], device="cuda"),
    lambda lib: lib.ones(2).to("cuda"),
    lambda lib: lib.ones(2).to(device="cuda:0"),
    lambda lib: lib.ones(2).to(lib.device("cuda")),
    lambda lib: lib.randn(2, 2, device="cuda"),
    lambda lib: lib.cuda.synchronize(),
    lambda lib: lib.cuda.current_device(),
    lambda lib: lib.cuda.get_device_name(0),
    lambda lib: lib.ones(2).to("mps"),
])
def test_cuda_errors_as_cpu_only_torch(call):
    assert_same_error(lambda: call(engine), lambda: call(torch))


def test_cuda_and_backends_queries():
    def q(lib):
        return (lib.cuda.is_available(), lib.cuda.device_count(), lib.cuda.manual_seed(1),
                lib.cuda.manual_seed_all(1), lib.cuda.is_initialized(),
                lib.cuda.memory_allocated(), lib.cuda.empty_cache(),
                lib.backends.mps.is_available(), lib.backends.mps.is_built(),
                lib.backends.cudnn.is_available(), lib.backends.cudnn.deterministic,
                lib.backends.cudnn.benchmark, lib.backends.cudnn.enabled,
                str(lib.get_default_device()))
    e, t = both(q)
    assert e == t
    engine.backends.cudnn.deterministic = True
    engine.backends.cudnn.benchmark = False
    assert engine.backends.cudnn.deterministic is True
    engine.backends.cudnn.deterministic = False


def test_default_device_and_to():
    for lib in (engine, torch):
        lib.set_default_device("cpu")
        x = lib.tensor([1.0, 2.0])
        assert x.to("cpu") is x and x.cpu() is x and x.to(lib.device("cpu")) is x
        assert x.to(x) is x
    e, t = both(lambda lib: lib.tensor([1.5, 2.0]).to("cpu", lib.float64))
    assert_same_tensor(e, t)
    e, t = both(lambda lib: lib.tensor([1.5, 2.0]).to(device="cpu", dtype=lib.int64))
    assert_same_tensor(e, t)
    e, t = both(lambda lib: lib.tensor([1.5, 2.0]).to(lib.tensor([1], dtype=lib.int32)))
    assert_same_tensor(e, t)
    x = engine.tensor([1.0])
    y = x.to("cpu", copy=True)
    assert y is not x and y.tolist() == x.tolist()


def test_device_model_to_device_pattern():
    """The tutorial idiom: pick a device, move data there, compute."""
    def prog(lib):
        dev = lib.device("cuda" if lib.cuda.is_available() else "cpu")
        x = lib.arange(6.0).reshape(2, 3).to(dev)
        return (x * 2).sum().item(), str(dev)
    assert both(prog)[0] == both(prog)[1]


# ----------------------------------------------------------------------------- legacy spellings
LEGACY = ["FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor", "ByteTensor"]


@pytest.mark.parametrize("name", LEGACY)
@pytest.mark.parametrize("args", [([1, 0, 2],), (2, 3), (), ([[1.5, 2.0]],)],
                         ids=["data", "sizes", "empty", "nested"])
def test_legacy_constructors(name, args):
    e, t = both(lambda lib: getattr(lib, name)(*args))
    assert type(e) is engine.Tensor and type(t) is torch.Tensor
    if args == (2, 3):  # uninitialized memory: compare shape and dtype only
        assert (tuple(e.shape), _dt(e)) == (tuple(t.shape), _dt(t))
    else:
        assert_same_tensor(e, t)


@pytest.mark.parametrize("name", LEGACY)
def test_legacy_isinstance(name):
    def prog(lib):
        cls = getattr(lib, name)
        return [isinstance(lib.tensor(v), cls) for v in ([1.0], [1], [True])] + [
            isinstance(lib.tensor([1], dtype=d), cls) for d in (lib.float64, lib.int32, lib.uint8)]
    assert prog(engine) == prog(torch)


def test_legacy_constructor_from_tensor_and_errors():
    e, t = both(lambda lib: lib.FloatTensor(lib.tensor([1.5])))
    assert_same_tensor(e, t)
    assert_same_error(lambda: engine.FloatTensor(engine.tensor([1])),
                      lambda: torch.FloatTensor(torch.tensor([1])))
    assert_same_error(lambda: engine.FloatTensor([1.0], requires_grad=True),
                      lambda: torch.FloatTensor([1.0], requires_grad=True))
    assert_same_error(lambda: engine.Tensor("ab"), lambda: torch.Tensor("ab"))


@pytest.mark.parametrize("args", [([1, 2],), ([[1, 2], [3, 4]],), (), (np.array([1, 2]),),
                                  (3,)])
def test_torch_Tensor_constructor(args):
    e, t = both(lambda lib: lib.Tensor(*args))
    assert (tuple(e.shape), _dt(e)) == (tuple(t.shape), _dt(t))
    if not (len(args) == 1 and isinstance(args[0], int)):
        assert_same_tensor(e, t)
    e, t = both(lambda lib: lib.Tensor(lib.Size([2, 4])).shape)
    assert tuple(e) == tuple(t)


def test_variable():
    from torch.autograd import Variable as TV

    from engine.autograd import Variable as EV
    e, t = EV(engine.tensor([1.0, 2.0]), requires_grad=True), TV(torch.tensor([1.0, 2.0]),
                                                                 requires_grad=True)
    assert type(e) is engine.Tensor and repr(e) == repr(t)
    (e * e).sum().backward()
    (t * t).sum().backward()
    assert_same_tensor(e.grad, t.grad)
    assert repr(EV(engine.tensor([3.0]))) == repr(TV(torch.tensor([3.0])))

    def wrap(lib, V):
        base = lib.tensor([1.0, 2.0])
        v = V(base, requires_grad=True)
        base.add_(1.0)  # the Variable shares the storage
        u = lib.tensor([1.0, 2.0], requires_grad=True)
        w = V(u * 2)
        return [repr(base), repr(v), v is base, base.requires_grad, v.is_leaf, repr(w),
                w.is_leaf, w.requires_grad]
    assert wrap(engine, EV) == wrap(torch, TV)


def test_data_get_set():
    def prog(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        d = x.data
        d[0] = 9.0
        out = [repr(x), d.requires_grad, int(d._version), int(x._version), repr((x * 2).data)]
        x.data = lib.tensor([5.0, 6.0, 7.0])
        out += [repr(x), x.shape == (3,)]
        return out
    assert prog(engine) == prog(torch)


@pytest.mark.parametrize("target", ["DoubleTensor", "LongTensor", "IntTensor", "float64",
                                    "torch.DoubleTensor", "torch.LongTensor"])
def test_type_conversions(target):
    def prog(lib):
        x = lib.tensor([1.5, -2.5])
        arg = (target if target.startswith("torch.") else getattr(lib, target))
        return x.type(arg)
    e, t = both(prog)
    assert_same_tensor(e, t)
    assert engine.tensor([1]).type().split(".")[-1] == torch.tensor([1]).type().split(".")[-1]


def test_type_errors():
    assert_same_error(lambda: engine.tensor([1.0]).type("float"),
                      lambda: torch.tensor([1.0]).type("float"))


@pytest.mark.parametrize("args,kw", [((0, 4), {}), ((1, 2, 0.5), {}), ((0, 3), {"dtype": "int64"}),
                                     ((0.0, 1.0, 0.3), {})])
def test_range_values_and_warning(args, kw):
    out = []
    for lib in (engine, torch):
        k = {key: getattr(lib, v) for key, v in kw.items()}
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            r = lib.range(*args, **k)
        out.append((r, [(x.category, str(x.message)) for x in w]))
    assert_same_tensor(out[0][0], out[1][0])
    assert out[0][1] == out[1][1]


def test_range_needs_end():
    assert_same_error(lambda: engine.range(5), lambda: torch.range(5))
