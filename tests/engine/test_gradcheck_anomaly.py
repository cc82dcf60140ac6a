"""gradcheck / gradgradcheck over the engine's ops, custom autograd.Function against torch's, and
anomaly detection naming the failing node and the user's forward line."""

from __future__ import annotations

import inspect
import os
import warnings

import numpy as np
import pytest
from oracle import assert_same_error, assert_same_graph, require_torch

import engine
from engine.autograd import GradcheckError, gradcheck, gradgradcheck
from engine.nn import functional as F

torch = require_torch()
torch.set_num_threads(1)
pytestmark = pytest.mark.torch

rng = np.random.default_rng(4)
HERE = os.path.abspath(__file__)


def t(shape, low=None, high=None, grad=True):
    a = rng.uniform(low, high, shape) if low is not None else rng.standard_normal(shape)
    return engine.tensor(a, dtype=engine.float64, requires_grad=grad)


def away_from_zero(shape):
    a = rng.uniform(0.3, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    return engine.tensor(a, dtype=engine.float64, requires_grad=True)


def distinct(shape):
    a = rng.permutation(np.arange(int(np.prod(shape)), dtype=np.float64)).reshape(shape) * 0.37
    return engine.tensor(a + 0.1, requires_grad=True)


def _setitem(x, v):
    y = x.clone()
    y[1:, 0] = v
    return y


def _inplace(x, y):
    z = x * 1
    z.mul_(y)
    z.add_(x, alpha=2)
    return z.tanh_()


OPS = {
    # pointwise
    "add": (lambda a, b: a + b, lambda: (t((2, 3)), t((3,)))),
    "add_alpha": (lambda a, b: engine.add(a, b, alpha=2.5), lambda: (t((2, 3)), t((2, 3)))),
    "sub": (lambda a, b: a - b, lambda: (t((2, 3)), t((2, 1)))),
    "rsub": (lambda a: 2.0 - a, lambda: (t((3,)),)),
    "mul": (lambda a, b: a * b, lambda: (t((2, 3)), t((1, 3)))),
    "div": (lambda a, b: a / b, lambda: (t((2, 3)), t((2, 3), 0.5, 2.0))),
    "rdiv": (lambda a: 3.0 / a, lambda: (t((3,), 0.5, 2.0),)),
    "neg": (lambda a: -a, lambda: (t((3,)),)),
    "pow_scalar": (lambda a: a ** 3, lambda: (t((2, 2)),)),
    "pow_tensor": (lambda a, b: a ** b, lambda: (t((3,), 0.5, 2.0), t((3,)))),
    "rpow": (lambda a: 2.0 ** a, lambda: (t((3,)),)),
    "exp": (lambda a: a.exp(), lambda: (t((2, 3)),)),
    "log": (lambda a: a.log(), lambda: (t((2, 3), 0.5, 2.0),)),
    "sin": (lambda a: a.sin(), lambda: (t((4,)),)),
    "cos": (lambda a: a.cos(), lambda: (t((4,)),)),
    "tanh": (lambda a: a.tanh(), lambda: (t((4,)),)),
    "sigmoid": (lambda a: a.sigmoid(), lambda: (t((4,)),)),
    "relu": (lambda a: a.relu(), lambda: (away_from_zero((2, 3)),)),
    "abs": (lambda a: a.abs(), lambda: (away_from_zero((2, 3)),)),
    "sqrt": (lambda a: a.sqrt(), lambda: (t((3,), 0.5, 2.0),)),
    "reciprocal": (lambda a: a.reciprocal(), lambda: (t((3,), 0.5, 2.0),)),
    "square": (lambda a: a.square(), lambda: (t((3,)),)),
    "maximum": (lambda a, b: engine.maximum(a, b), lambda: (distinct((2, 3)), distinct((2, 3)))),
    "minimum": (lambda a, b: engine.minimum(a, b), lambda: (distinct((2, 3)), distinct((2, 3)))),
    "clamp": (lambda a: a.clamp(-0.25, 0.25), lambda: (away_from_zero((3, 2)),)),
    "clamp_min": (lambda a: a.clamp_min(0.05), lambda: (away_from_zero((4,)),)),
    "clamp_max": (lambda a: a.clamp_max(0.05), lambda: (away_from_zero((4,)),)),
    "where": (lambda a, b: engine.where(a > 0, a, b), lambda: (away_from_zero((3,)), t((3,)))),
    "clone": (lambda a: a.clone(), lambda: (t((2, 2)),)),
    "inplace_ops": (_inplace, lambda: (t((2, 3)), t((2, 3)))),
    # reductions
    "sum": (lambda a: a.sum(), lambda: (t((2, 3)),)),
    "sum_dim": (lambda a: a.sum(1, keepdim=True), lambda: (t((2, 3)),)),
    "mean": (lambda a: a.mean(), lambda: (t((2, 3)),)),
    "mean_dims": (lambda a: a.mean((0, 2)), lambda: (t((2, 3, 2)),)),
    "max": (lambda a: a.max(), lambda: (distinct((2, 3)),)),
    "max_dim": (lambda a: a.max(1)[0], lambda: (distinct((2, 3)),)),
    "min_dim": (lambda a: a.min(0, keepdim=True)[0], lambda: (distinct((2, 3)),)),
    "amax": (lambda a: a.amax(1), lambda: (distinct((2, 3)),)),
    "softmax": (lambda a: a.softmax(1), lambda: (t((2, 3)),)),
    "log_softmax": (lambda a: a.log_softmax(0), lambda: (t((2, 3)),)),
    "norm": (lambda a: a.norm(), lambda: (t((2, 3)),)),
    # linear algebra
    "mm": (lambda a, b: a.mm(b), lambda: (t((2, 3)), t((3, 2)))),
    "mv": (lambda a, b: a.mv(b), lambda: (t((2, 3)), t((3,)))),
    "dot": (lambda a, b: a.dot(b), lambda: (t((3,)), t((3,)))),
    "outer": (lambda a, b: engine.outer(a, b), lambda: (t((3,)), t((2,)))),
    "matmul_1d_2d": (lambda a, b: a @ b, lambda: (t((3,)), t((3, 2)))),
    "matmul_3d_2d": (lambda a, b: a @ b, lambda: (t((2, 2, 3)), t((3, 2)))),
    "matmul_batched": (lambda a, b: a @ b, lambda: (t((2, 1, 2, 3)), t((3, 3, 2)))),
    "addmm": (lambda c, a, b: engine.addmm(c, a, b), lambda: (t((2,)), t((3, 2)), t((2, 2)))),
    # shapes and indexing
    "reshape": (lambda a: a.reshape(3, 2), lambda: (t((2, 3)),)),
    "view": (lambda a: a.view(-1), lambda: (t((2, 3)),)),
    "t": (lambda a: a.t(), lambda: (t((2, 3)),)),
    "transpose": (lambda a: a.transpose(0, 2), lambda: (t((2, 3, 2)),)),
    "permute": (lambda a: a.permute(2, 0, 1), lambda: (t((2, 3, 2)),)),
    "T_contiguous": (lambda a: a.T.contiguous(), lambda: (t((2, 3)),)),
    "expand": (lambda a: a.expand(3, 2, 2), lambda: (t((2, 1)),)),
    "squeeze": (lambda a: a.squeeze(1), lambda: (t((2, 1, 3)),)),
    "unsqueeze": (lambda a: a.unsqueeze(0), lambda: (t((2, 3)),)),
    "flatten": (lambda a: a.flatten(), lambda: (t((2, 3)),)),
    "cat": (lambda a, b: engine.cat([a, b], 1), lambda: (t((2, 3)), t((2, 1)))),
    "stack": (lambda a, b: engine.stack([a, b]), lambda: (t((2, 3)), t((2, 3)))),
    "getitem_basic": (lambda a: a[1, ::2], lambda: (t((2, 4)),)),
    "getitem_advanced": (lambda a: a[[0, 1, 1], [2, 0, 2]], lambda: (t((2, 3)),)),
    "getitem_mask": (lambda a: a[a > 0], lambda: (away_from_zero((2, 3)),)),
    "setitem": (_setitem, lambda: (t((3, 2)), t((2,)))),
    # nn.functional
    "linear_2d": (lambda x, w, b: F.linear(x, w, b), lambda: (t((4, 3)), t((2, 3)), t((2,)))),
    "linear_1d": (lambda x, w, b: F.linear(x, w, b), lambda: (t((3,)), t((2, 3)), t((2,)))),
    "linear_3d": (lambda x, w: F.linear(x, w), lambda: (t((2, 2, 3)), t((2, 3)))),
    "mse_mean": (lambda a, b: F.mse_loss(a, b), lambda: (t((2, 3)), t((2, 3)))),
    "mse_sum": (lambda a, b: F.mse_loss(a, b, reduction="sum"), lambda: (t((2, 3)), t((2, 3)))),
    "mse_none": (lambda a, b: F.mse_loss(a, b, reduction="none"), lambda: (t((2, 3)),
                                                                          t((2, 3)))),
    "cross_entropy": (lambda a: F.cross_entropy(a, engine.tensor([0, 2, 1])),
                      lambda: (t((3, 4)),)),
    "cross_entropy_none_weight": (lambda a: F.cross_entropy(
        a, engine.tensor([0, 2, -100]), weight=engine.tensor([1.0, 2.0, 0.5, 1.0],
                                                             dtype=engine.float64),
        reduction="none"), lambda: (t((3, 4)),)),
    "cross_entropy_smoothing": (lambda a: F.cross_entropy(a, engine.tensor([0, 2, 1]),
                                                          label_smoothing=0.1),
                                lambda: (t((3, 4)),)),
    "cross_entropy_probs": (lambda a, p: F.cross_entropy(a, p.softmax(1)),
                            lambda: (t((3, 4)), t((3, 4)))),
    "nll_loss_sum": (lambda a: F.nll_loss(a, engine.tensor([1, 0]), reduction="sum"),
                     lambda: (t((2, 3)),)),
    "nll_loss_2d": (lambda a: F.nll_loss(a, engine.tensor([[[0, 2]], [[1, 1]]])),
                    lambda: (t((2, 3, 1, 2)),)),
    "leaky_relu": (lambda a: F.leaky_relu(a, 0.1), lambda: (away_from_zero((4,)),)),
    "gelu": (lambda a: F.gelu(a), lambda: (t((4,)),)),
    "l1_loss": (lambda a, b: F.l1_loss(a, b), lambda: (t((3,)), t((3,)) + 3)),
}


@pytest.mark.parametrize("name", list(OPS))
def test_gradcheck_passes_for_every_op(name: str) -> None:
    fn, make = OPS[name]
    assert gradcheck(fn, make(), eps=1e-6, atol=1e-5, rtol=1e-3)


GRADGRAD = ["mul", "div", "pow_scalar", "pow_tensor", "exp", "log", "sin", "tanh", "sigmoid",
            "sqrt", "reciprocal", "mean", "softmax", "log_softmax", "norm", "mm", "mv",
            "matmul_3d_2d", "getitem_advanced", "linear_2d", "mse_mean", "mse_none",
            "cross_entropy", "nll_loss_sum", "gelu"]


@pytest.mark.parametrize("name", GRADGRAD)
def test_gradgradcheck(name: str) -> None:
    fn, make = OPS[name]
    engine.manual_seed(0)
    assert gradgradcheck(fn, make())


# ----------------------------------------------------------------------------- custom Function
def _functions(lib):
    class MulAdd(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, k, y):
            ctx.k = k
            ctx.save_for_backward(x, y)
            return x * k + y

        @staticmethod
        def backward(ctx, grad):
            x, y = ctx.saved_tensors
            return grad * ctx.k, None, grad

    class WrongExp(lib.autograd.Function):
        """exp with a deliberately wrong gradient (twice the right one)."""

        @staticmethod
        def forward(ctx, x):
            r = x.exp()
            ctx.save_for_backward(r)
            return r

        @staticmethod
        def backward(ctx, grad):
            (r,) = ctx.saved_tensors
            return grad * r * 2

    class TooMany(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    class BadShape(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad[:2]

    class Square(lib.autograd.Function):
        @staticmethod
        def forward(x):
            return x * x

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return 2 * x * grad

    return MulAdd, WrongExp, TooMany, BadShape, Square


def test_custom_function_graph_and_grads_match_torch() -> None:
    x0, y0 = rng.standard_normal(3), rng.standard_normal(3)
    outs = []
    for lib in (engine, torch):
        MulAdd = _functions(lib)[0]
        x = lib.tensor(x0, requires_grad=True)
        y = lib.tensor(y0)
        out = MulAdd.apply(x, 2.0, y)
        fn = out.grad_fn
        assert fn.name() == "MulAddBackward" and type(fn).__name__ == "MulAddBackward"
        assert fn.needs_input_grad == (True, False, False)
        assert [n.name() if n else None for n, _ in fn.next_functions] == \
            ["torch::autograd::AccumulateGrad", None]
        assert fn.saved_tensors[0] is x
        out.sum().backward()
        outs.append((out.detach().numpy().copy(), x.grad.numpy().copy()))
        with pytest.raises(RuntimeError, match="Trying to backward through the graph"):
            _ = fn.saved_tensors
        with lib.no_grad():
            assert MulAdd.apply(x, 2.0, y).grad_fn is None
    np.testing.assert_allclose(outs[0][0], outs[1][0])
    np.testing.assert_allclose(outs[0][1], outs[1][1])


def test_custom_function_graph_inside_a_model() -> None:
    def prog(lib, x):
        Square = _functions(lib)[4]
        return Square.apply(x.tanh()).sum()

    xe = engine.tensor(rng.standard_normal(3), requires_grad=True)
    xt = torch.tensor(xe.detach().numpy(), requires_grad=True)
    oe, ot = prog(engine, xe), prog(torch, xt)
    assert_same_graph(oe.grad_fn, ot.grad_fn, [(xe, xt)])
    oe.backward()
    ot.backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy())


def test_custom_function_errors_match_torch() -> None:
    x0 = rng.standard_normal(3)
    for k in (2, 3):
        assert_same_error(
            lambda k=k: _functions(engine)[k].apply(
                engine.tensor(x0, requires_grad=True)).sum().backward(),
            lambda k=k: _functions(torch)[k].apply(
                torch.tensor(x0, requires_grad=True)).sum().backward())


def test_gradcheck_passes_for_a_correct_custom_function() -> None:
    MulAdd, _, _, _, Square = _functions(engine)
    assert gradcheck(MulAdd.apply, (t((3,)), 1.5, t((3,))))
    assert gradcheck(Square.apply, (t((2, 2)),))
    assert gradgradcheck(Square.apply, (t((2, 2)),))


def test_gradcheck_fails_for_a_wrong_custom_gradient() -> None:
    WrongExp = _functions(engine)[1]
    x = t((2, 2))
    other = t((3,))
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda o, a: WrongExp.apply(a) * 1 + o.sum(), (other, x))
    msg = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert msg.startswith("Jacobian mismatch for output 0 with respect to input 1,\n"
                          "numerical:tensor(")
    assert "\nanalytical:tensor(" in msg
    assert "First mismatch: input 1 element [0, 0] -> output 0 element [0, 0]" in msg
    assert not gradcheck(WrongExp.apply, (x,), raise_exception=False)
    # the same function in torch fails the same way
    TorchWrong = _functions(torch)[1]
    with pytest.raises(RuntimeError,
                       match="Jacobian mismatch for output 0 with respect to input 0"):
        torch.autograd.gradcheck(TorchWrong.apply, (torch.tensor(x.detach().numpy(),
                                                                 requires_grad=True),))


def test_gradcheck_input_checks_match_torch() -> None:
    with pytest.warns(UserWarning, match="Input #0 requires gradient and is not a double"):
        gradcheck(lambda a: a * 2, (engine.ones(2, requires_grad=True),), eps=1e-2,
                  atol=1e-2, rtol=1e-2)
    assert_same_error(lambda: gradcheck(lambda a: a * 2, (engine.ones(2),)),
                      lambda: torch.autograd.gradcheck(lambda a: a * 2, (torch.ones(2),)))


# ----------------------------------------------------------------------------- anomaly mode
def _nan_program(lib):
    x = lib.tensor([0.0, 1.0], requires_grad=True)
    z = lib.sqrt(x)
    forward_line = inspect.currentframe().f_lineno - 1
    out = (z * x).sum()
    return out, forward_line


def _run_anomaly(lib, program, ctx):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ctx(lib):
            out, line = program(lib)
            with pytest.raises(RuntimeError) as info:
                out.backward()
    found = [str(w.message) for w in caught if "Error detected in" in str(w.message)]
    return info.value, found, line


@pytest.mark.parametrize("mode", ["detect_anomaly", "set_detect_anomaly"])
def test_anomaly_names_node_and_forward_line(mode: str) -> None:
    def ctx(lib):
        if mode == "detect_anomaly":
            return lib.autograd.detect_anomaly()
        return lib.autograd.set_detect_anomaly(True)

    ee, ew, line = _run_anomaly(engine, _nan_program, ctx)
    te, tw, _ = _run_anomaly(torch, _nan_program, ctx)
    assert str(ee) == str(te) == "Function 'SqrtBackward0' returned nan values in its 0th output."
    assert len(ew) == 1 and len(tw) == 1
    where = f'File "{HERE}", line {line}, in _nan_program\n    z = lib.sqrt(x)\n'
    assert where in tw[0] and where in ew[0]
    assert ew[0].startswith("Error detected in SqrtBackward0. Traceback of forward call that "
                            "caused the error:\n")
    assert ew[0].endswith(where)  # the user's line is the innermost frame, as in torch
    assert where in ee.forward_traceback
    assert not engine.autograd.is_anomaly_enabled()


def test_anomaly_through_a_module_and_set_detect_anomaly_call() -> None:
    class Net(engine.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = engine.nn.Linear(2, 2)

        def forward(self, x):
            h = self.fc(x)
            return engine.sqrt(h - h) * 0.0  # sqrt's backward divides 0 by 0

    net = Net()
    line = inspect.getsourcelines(Net.forward)[1] + 2
    engine.autograd.set_detect_anomaly(True)
    try:
        assert engine.autograd.is_anomaly_enabled()
        out = net(engine.ones(3, 2)).sum()
        with pytest.warns(UserWarning, match="Error detected in SqrtBackward0") as rec:
            with pytest.raises(RuntimeError, match="Function 'SqrtBackward0' returned nan values "
                                                   "in its 0th output."):
                out.backward()
    finally:
        engine.autograd.set_detect_anomaly(False)
    msg = [str(w.message) for w in rec if "Error detected" in str(w.message)][0]
    assert msg.endswith(f'File "{HERE}", line {line}, in forward\n'
                        "    return engine.sqrt(h - h) * 0.0  # sqrt's backward divides 0 by 0\n")
    assert not engine.autograd.is_anomaly_enabled()


def test_no_anomaly_check_without_the_mode() -> None:
    out, _ = _nan_program(engine)
    out.backward()
    x_grad = out.grad_fn.next_functions[0][0].next_functions[0][0].next_functions[0][0]
    assert np.isnan(x_grad.variable.grad.numpy()[0])


def _inplace_program(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    w = x.sigmoid()
    forward_line = inspect.currentframe().f_lineno - 1
    w.mul_(3)
    return (w * 2).sum(), forward_line


def test_anomaly_shows_the_forward_line_of_any_failing_node() -> None:
    def on(lib):
        return lib.autograd.set_detect_anomaly(True)

    ee, ew, line = _run_anomaly(engine, _inplace_program, on)
    te, tw, _ = _run_anomaly(torch, _inplace_program, on)
    assert str(ee) == str(te)
    where = f'File "{HERE}", line {line}, in _inplace_program\n    w = x.sigmoid()\n'
    assert len(ew) == len(tw) == 1
    assert ew[0].startswith("Error detected in SigmoidBackward0.") and ew[0].endswith(where)
    assert where in tw[0]


def test_anomaly_check_nan_false_records_but_does_not_raise() -> None:
    for lib in (engine, torch):
        space = torch if lib is torch else engine.autograd
        with lib.autograd.set_detect_anomaly(True, check_nan=False):
            assert space.is_anomaly_enabled() and not space.is_anomaly_check_nan_enabled()
            out, _ = _nan_program(lib)
            out.backward()
        assert not space.is_anomaly_enabled() and space.is_anomaly_check_nan_enabled()
