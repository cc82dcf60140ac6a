"""Every op's rule text says what its backward does: one table of ops, one row per op (as
PyTorch's OpInfo), each row run on random inputs (two seeds, broadcasting shapes where the op
broadcasts). The test runs the node's real backward, evaluates every symbol of its rule with
the node's saved values and attributes (``engine._rule.evaluate``), and asserts the two agree;
where torch has the op, the leaves' gradients also equal torch's.

Adding an op: its Node class gets ``rule = Rule(...)`` beside ``backward``, and one ``Op`` row
here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import engine
from engine._rule import GENERIC, Rule, evaluate, node_values, sum_to
from engine.autograd import backward_steps
from engine.function import Node
from engine.ops import reduce


# ----------------------------------------------------------------------------- input specs
@dataclass(frozen=True)
class In:
    """A differentiable input: a float64 tensor of ``shape`` drawn from ``kind``."""

    shape: tuple
    kind: str = "normal"  # normal, pos (0.5..2), unit (-0.9..0.9), prob (0.05..0.95)


@dataclass(frozen=True)
class Const:
    """An input that needs no gradient (an index, a mask, a target): ``make(rng)`` gives the
    numpy value; ``tensor`` False passes it as it is (a number, a tuple)."""

    make: Callable[[np.random.Generator], Any]
    tensor: bool = True


def _draw(spec: In, rng: np.random.Generator) -> np.ndarray:
    if spec.kind == "pos":
        return rng.uniform(0.5, 2.0, spec.shape)
    if spec.kind == "unit":
        return rng.uniform(-0.9, 0.9, spec.shape)
    if spec.kind == "prob":
        return rng.uniform(0.05, 0.95, spec.shape)
    return rng.standard_normal(spec.shape)


@dataclass
class Op:
    """One row: the node ``call(L, *inputs)`` creates (L is engine or torch), how to make its
    inputs, and whether torch has the same op (compare the leaves' gradients)."""

    node: str
    call: Callable[..., Any]
    inputs: tuple
    torch: bool = True
    id: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.id = self.id or self.node


def _inputs(op: Op, seed: int) -> list[Any]:
    rng = np.random.default_rng(seed)
    return [_draw(s, rng) if isinstance(s, In) else s.make(rng) for s in op.inputs]


def _lift(L: Any, op: Op, raw: list[Any]) -> list[Any]:
    out = []
    for spec, v in zip(op.inputs, raw):
        if isinstance(spec, In):
            out.append(L.tensor(v, dtype=L.float64, requires_grad=True))
        elif spec.tensor:
            out.append(L.tensor(v))
        else:
            out.append(v)
    return out


def _roots(out: Any) -> list[Any]:
    if isinstance(out, (tuple, list)):
        return [t for t in out if getattr(t, "requires_grad", False)]
    return [out]


def _f(shape: tuple) -> In:
    return In(shape)


def F(L: Any) -> Any:  # noqa: N802 - torch's alias for nn.functional
    return L.nn.functional


def _setitem(t: Any, key: Any, value: Any) -> Any:
    t[key] = value
    return t


A, B, C = (3, 4), (4,), (2, 3, 4)  # B broadcasts against A
TABLE: list[Op] = [
    # ------------------------------------------------------------------ pointwise
    Op("AddBackward0", lambda L, a, b: a + b, (_f(A), _f(B))),
    Op("AddBackward0", lambda L, a, b: L.add(a, b, alpha=2.5), (_f(A), _f(B)), id="add_alpha"),
    Op("SubBackward0", lambda L, a, b: L.sub(a, b, alpha=-1.5), (_f(B), _f(A))),
    Op("RsubBackward1", lambda L, a: 2 - a, (_f(A),)),
    Op("MulBackward0", lambda L, a, b: a * b, (_f(A), _f(B))),
    Op("MulBackward0", lambda L, a: a * 3.0, (_f(A),), id="mul_number"),
    Op("DivBackward0", lambda L, a, b: a / b, (_f(A), In(B, "pos"))),
    Op("ReciprocalBackward0", lambda L, a: a.reciprocal(), (In(A, "pos"),)),
    Op("NegBackward0", lambda L, a: -a, (_f(A),)),
    Op("PowBackward0", lambda L, a: a ** 3, (_f(A),)),
    Op("PowBackward0", lambda L, a: a ** 0, (_f(A),), id="pow_zero"),
    Op("PowBackward1", lambda L, a, b: a ** b, (In(A, "pos"), _f(B))),
    Op("PowBackward2", lambda L, a: 2.0 ** a, (_f(A),)),
    Op("ExpBackward0", lambda L, a: a.exp(), (_f(A),)),
    Op("LogBackward0", lambda L, a: a.log(), (In(A, "pos"),)),
    Op("SinBackward0", lambda L, a: a.sin(), (_f(A),)),
    Op("CosBackward0", lambda L, a: a.cos(), (_f(A),)),
    Op("TanhBackward0", lambda L, a: a.tanh(), (_f(A),)),
    Op("SigmoidBackward0", lambda L, a: a.sigmoid(), (_f(A),)),
    Op("ReluBackward0", lambda L, a: a.relu(), (_f(A),)),
    Op("AbsBackward0", lambda L, a: a.abs(), (_f(A),)),
    Op("SqrtBackward0", lambda L, a: a.sqrt(), (In(A, "pos"),)),
    Op("MaximumBackward0", lambda L, a, b: L.maximum(a, b), (_f(A), _f(B))),
    Op("MinimumBackward0", lambda L, a, b: L.minimum(a, b), (_f(A), _f(B))),
    Op("ClampBackward1", lambda L, a: a.clamp(-0.5, 0.7), (_f(A),)),
    Op("ClampBackward1", lambda L, a: a.clamp(max=0.3), (_f(A),), id="clamp_max_only"),
    Op("ClampMinBackward0", lambda L, a: a.clamp_min(0.1), (_f(A),)),
    Op("ClampMaxBackward0", lambda L, a: a.clamp_max(0.1), (_f(A),)),
    Op("WhereBackward0", lambda L, c, a, b: L.where(c, a, b),
       (Const(lambda r: r.random(A) > 0.5), _f(A), _f(B))),
    Op("ToCopyBackward0", lambda L, a: a.to(L.float32), (_f(A),)),
    Op("CloneBackward0", lambda L, a: a.clone(), (_f(A),)),
    # ------------------------------------------------------------------ reductions
    Op("SumBackward0", lambda L, a: a.sum(), (_f(A),)),
    Op("SumBackward1", lambda L, a: a.sum(1), (_f(C),)),
    Op("SumBackward1", lambda L, a: a.sum((0, 2), keepdim=True), (_f(C),), id="sum_keepdim"),
    Op("MeanBackward0", lambda L, a: a.mean(), (_f(A),)),
    Op("MeanBackward1", lambda L, a: a.mean(-1), (_f(C),)),
    Op("MaxBackward1", lambda L, a: a.max(), (_f(A),)),
    Op("MinBackward1", lambda L, a: a.min(), (_f(A),)),
    Op("MaxBackward1", lambda L, a: (a * 0 + 1).max(), (_f(A),), id="max_ties"),
    Op("MaxBackward0", lambda L, a: a.max(1)[0], (_f(C),)),
    Op("MinBackward0", lambda L, a: a.min(0, keepdim=True)[0], (_f(C),)),
    Op("AmaxBackward0", lambda L, a: a.amax(1), (_f(C),)),
    Op("AminBackward0", lambda L, a: a.amin((0, 2), keepdim=True), (_f(C),)),
    Op("SoftmaxBackward0", lambda L, a: a.softmax(1), (_f(A),)),
    Op("LogSoftmaxBackward0", lambda L, a: a.log_softmax(0), (_f(A),)),
    Op("NormBackward1", lambda L, a: reduce.norm(a), (_f(A),), torch=False),
    # ------------------------------------------------------------------ matrix products
    Op("MmBackward0", lambda L, a, b: a @ b, (_f((2, 3)), _f((3, 4)))),
    Op("MvBackward0", lambda L, a, b: a @ b, (_f((2, 3)), _f((3,)))),
    Op("DotBackward0", lambda L, a, b: a @ b, (_f((3,)), _f((3,)))),
    Op("AddmmBackward0", lambda L, c, a, b: L.addmm(c, a, b), (_f((4,)), _f((2, 3)), _f((3, 4)))),
    Op("AddmmBackward0", lambda L, c, a, b: L.addmm(c, a, b, beta=0.5, alpha=-2.0),
       (_f((2, 1)), _f((2, 3)), _f((3, 4))), id="addmm_beta_alpha"),
    Op("BmmBackward0", lambda L, a, b: L.bmm(a, b), (_f((2, 2, 3)), _f((2, 3, 4)))),
    Op("SqueezeBackward4", lambda L, a, b: a @ b, (_f((3,)), _f((3, 4)))),
    # ------------------------------------------------------------------ shapes and indexing
    Op("ViewBackward0", lambda L, a: a.view(2, 6), (_f(A),)),
    Op("UnsafeViewBackward0", lambda L, a, b: L.matmul(a, b), (_f((2, 2, 3)), _f((3, 4)))),
    Op("ReshapeAliasBackward0", lambda L, a: a[::2].reshape(2, 2, 2), (_f(A),)),
    Op("AliasBackward0", lambda L, a: a[...], (_f(A),)),
    Op("TBackward0", lambda L, a: a.t(), (_f(A),)),
    Op("PermuteBackward0", lambda L, a: a.permute(2, 0, 1), (_f(C),)),
    Op("TransposeBackward0", lambda L, a: a.transpose(0, 2), (_f(C),)),
    Op("UnsqueezeBackward0", lambda L, a: a.unsqueeze(1), (_f(A),)),
    Op("SqueezeBackward0", lambda L, a: a.squeeze(), (_f((3, 1, 4)),)),
    Op("SqueezeBackward1", lambda L, a: a.squeeze(1), (_f((3, 1, 4)),)),
    Op("ExpandBackward0", lambda L, a: a.expand(2, 3, 4), (_f((3, 1)),)),
    Op("CatBackward0", lambda L, a, b: L.cat([a, b], 1), (_f((3, 2)), _f(A))),
    Op("StackBackward0", lambda L, a, b: L.stack([a, b], 1), (_f(A), _f(A))),
    Op("SelectBackward0", lambda L, a: a[1], (_f(A),)),
    Op("SliceBackward0", lambda L, a: a[:, 1:3], (_f(A),)),
    Op("IndexBackward0", lambda L, a, i: a[i], (_f(A), Const(lambda r: np.array([0, 2, 0])))),
    Op("torch::autograd::CopySlices", lambda L, a, v: _setitem(a * 1, (slice(None), 1), v),
       (_f(A), _f((1,)))),
    Op("IndexPutBackward0", lambda L, a, v: _setitem(a * 1, [2, 0], v), (_f(A), _f(B))),
    # ------------------------------------------------------------------ more math
    Op("CeilBackward0", lambda L, a: a.ceil(), (_f(A),)),
    Op("FloorBackward0", lambda L, a: a.floor(), (_f(A),)),
    Op("RoundBackward0", lambda L, a: a.round(), (_f(A),)),
    Op("RoundBackward1", lambda L, a: a.round(decimals=1), (_f(A),)),
    Op("TruncBackward0", lambda L, a: a.trunc(), (_f(A),)),
    Op("SignBackward0", lambda L, a: a.sign(), (_f(A),)),
    Op("FracBackward0", lambda L, a: a.frac(), (_f(A),)),
    Op("AsinBackward0", lambda L, a: a.asin(), (In(A, "unit"),)),
    Op("AcosBackward0", lambda L, a: a.acos(), (In(A, "unit"),)),
    Op("AtanBackward0", lambda L, a: a.atan(), (_f(A),)),
    Op("Atan2Backward0", lambda L, a, b: L.atan2(a, b), (_f(A), _f(B))),
    Op("SinhBackward0", lambda L, a: a.sinh(), (_f(A),)),
    Op("CoshBackward0", lambda L, a: a.cosh(), (_f(A),)),
    Op("Log1PBackward0", lambda L, a: a.log1p(), (In(A, "pos"),)),
    Op("Expm1Backward0", lambda L, a: a.expm1(), (_f(A),)),
    Op("ProdBackward0", lambda L, a: a.prod(), (_f(A),)),
    Op("ProdBackward1", lambda L, a: a.prod(1), (_f(C),)),
    Op("VarBackward0", lambda L, a: a.var(), (_f(A),)),
    Op("VarBackward0", lambda L, a: a.var(1, keepdim=True), (_f(C),), id="var_dim"),
    Op("StdBackward0", lambda L, a: a.std(0), (_f(C),)),
    Op("StdBackward0", lambda L, a: a.std(correction=0), (_f(A),), id="std_all"),
    Op("CumsumBackward0", lambda L, a: a.cumsum(1), (_f(A),)),
    Op("CumprodBackward0", lambda L, a: a.cumprod(0), (_f(A),)),
    Op("LinalgCrossBackward0", lambda L, a, b: L.linalg.cross(a, b), (_f((2, 3)), _f((1, 3)))),
    Op("TraceBackward0", lambda L, a: a.trace(), (_f(A),)),
    Op("Log10Backward0", lambda L, a: a.log10(), (In(A, "pos"),)),
    Op("Log2Backward0", lambda L, a: a.log2(), (In(A, "pos"),)),
    Op("Exp2Backward0", lambda L, a: a.exp2(), (_f(A),)),
    Op("RsqrtBackward0", lambda L, a: a.rsqrt(), (In(A, "pos"),)),
    Op("TanBackward0", lambda L, a: a.tan(), (In(A, "unit"),)),
    Op("ErfBackward0", lambda L, a: a.erf(), (_f(A),)),
    # ------------------------------------------------------------------ picking and placing
    Op("GatherBackward0", lambda L, a, i: a.gather(1, i),
       (_f(A), Const(lambda r: r.integers(0, 4, (3, 2))))),
    Op("ScatterBackward0", lambda L, a, i, b: a.scatter(1, i, b),
       (_f(A), Const(lambda r: np.array([[0, 1], [2, 3], [3, 1]])), _f((3, 2)))),
    Op("ScatterBackward1", lambda L, a, i: a.scatter(1, i, 2.0),
       (_f(A), Const(lambda r: np.array([[0, 1], [2, 3], [3, 1]])))),
    Op("ScatterAddBackward0", lambda L, a, i, b: a.scatter_add(0, i, b),
       (_f(A), Const(lambda r: r.integers(0, 3, (2, 4))), _f((2, 4)))),
    Op("IndexSelectBackward0", lambda L, a, i: a.index_select(1, i),
       (_f(A), Const(lambda r: np.array([3, 0, 3])))),
    Op("IndexAddBackward0", lambda L, a, i, b: a.index_add(0, i, b, alpha=1.5),
       (_f(A), Const(lambda r: np.array([2, 0])), _f((2, 4)))),
    Op("MaskedSelectBackward0", lambda L, a, m: a.masked_select(m),
       (_f(A), Const(lambda r: r.random(B) > 0.4))),
    Op("TopkBackward0", lambda L, a: a.topk(2, 1)[0], (_f(A),)),
    Op("SortBackward0", lambda L, a: a.sort(0)[0], (_f(A),)),
    Op("KthvalueBackward0", lambda L, a: a.kthvalue(2, 1)[0], (_f(A),)),
    Op("SplitBackward0", lambda L, a: a.split(3, 1), (_f((3, 5)),)),
    Op("SplitBackward0", lambda L, a: a.split(2, 1)[1], (_f((3, 5)),), id="split_one_piece"),
    Op("SplitWithSizesBackward0", lambda L, a: a.split([1, 3], 1), (_f(A),)),
    Op("UnbindBackward0", lambda L, a: a.unbind(1)[2], (_f(A),)),
    Op("TrilBackward0", lambda L, a: a.tril(1), (_f(A),)),
    Op("TriuBackward0", lambda L, a: a.triu(-1), (_f(A),)),
    Op("FlipBackward0", lambda L, a: a.flip(0, 1), (_f(A),)),
    Op("RollBackward0", lambda L, a: a.roll((1, -2), (0, 1)), (_f(A),)),
    Op("RepeatBackward0", lambda L, a: a.repeat(2, 1, 3), (_f((2, 3)),)),
    Op("LogsumexpBackward0", lambda L, a: a.logsumexp(1), (_f(C),)),
    Op("DiagEmbedBackward0", lambda L, a: L.diag(a, 1), (_f((3,)),)),
    Op("DiagonalBackward0", lambda L, a: a.diagonal(-1), (_f(A),)),
    Op("DiagonalBackward0_copy", lambda L, a: L.diag(a), (_f(A),), torch=False),
    Op("MaskedFillBackward0", lambda L, a, m: a.masked_fill(m, 0.5),
       (_f(A), Const(lambda r: r.random(B) > 0.5))),
    Op("MaskedFillBackward1", lambda L, a, m, v: a.masked_fill(m, v),
       (_f(A), Const(lambda r: r.random(A) > 0.5), _f(()))),
    # ------------------------------------------------------------------ in place
    Op("ZeroBackward0", lambda L, a: (a * 1).zero_(), (_f(A),)),
    Op("FillBackward2", lambda L, a: (a * 1).fill_(2.0), (_f(A),)),
    Op("FillBackward3", lambda L, a, v: (a * 1).fill_(v), (_f(A), _f(()))),
    Op("torch::autograd::CopyBackwards", lambda L, a, b: (a * 1).copy_(b), (_f(A), _f(B))),
    # ------------------------------------------------------------------ linalg
    Op("LinalgInvExBackward0", lambda L, a: L.linalg.inv(a), (_f((3, 3)),)),
    Op("LinalgDetBackward0", lambda L, a: L.linalg.det(a), (_f((2, 3, 3)),)),
    Op("LinalgSlogdetBackward0", lambda L, a: L.linalg.slogdet(a)[1], (_f((3, 3)),)),
    Op("LinalgSolveExBackward0", lambda L, a, b: L.linalg.solve(a, b), (_f((3, 3)), _f((3, 2)))),
    Op("LinalgSolveExBackward0", lambda L, a, b: L.linalg.solve(a, b), (_f((3, 3)), _f((3,))),
       id="solve_vector"),
    Op("LinalgVectorNormBackward0", lambda L, a: L.linalg.vector_norm(a), (_f(A),)),
    Op("LinalgVectorNormBackward0", lambda L, a: L.linalg.vector_norm(a, 1, dim=1), (_f(A),),
       id="norm_1_dim"),
    Op("LinalgVectorNormBackward0", lambda L, a: L.linalg.vector_norm(a, float("inf"), dim=0,
                                                                      keepdim=True), (_f(A),),
       id="norm_inf"),
    Op("LinalgVectorNormBackward0", lambda L, a: L.linalg.vector_norm(a, 3, dim=(0, 1)), (_f(C),),
       id="norm_3"),
    # ------------------------------------------------------------------ activations
    Op("GeluBackward0", lambda L, a: F(L).gelu(a), (_f(A),)),
    Op("GeluBackward0", lambda L, a: F(L).gelu(a, approximate="tanh"), (_f(A),), id="gelu_tanh"),
    Op("GeluBackwardBackward0", lambda L, a, v: L.autograd.grad(F(L).gelu(a), a, v,
                                                                create_graph=True)[0],
       (_f(A), _f(A))),
    Op("GeluBackwardBackward0", lambda L, a, v: L.autograd.grad(
        F(L).gelu(a, approximate="tanh"), a, v, create_graph=True)[0], (_f(A), _f(A)),
       id="gelu_tanh_twice"),
    Op("SiluBackward0", lambda L, a: F(L).silu(a), (_f(A),)),
    Op("SoftplusBackward0", lambda L, a: F(L).softplus(a, beta=2.0, threshold=1.0), (_f(A),)),
    Op("EluBackward0", lambda L, a: F(L).elu(a, 0.7), (_f(A),)),
    Op("EluBackward0", lambda L, a: F(L).selu(a), (_f(A),), id="selu"),
    Op("CeluBackward0", lambda L, a: F(L).celu(a, 1.5), (_f(A),)),
    Op("LeakyReluBackward0", lambda L, a: F(L).leaky_relu(a, 0.1), (_f(A),)),
    Op("LeakyReluBackward1", lambda L, a: F(L).leaky_relu(a * 1.0, 0.1, inplace=True),
       (_f(A),)),
    Op("HardtanhBackward0", lambda L, a: F(L).hardtanh(a, -0.5, 0.5), (_f(A),)),
    Op("LogSigmoidBackward0", lambda L, a: F(L).logsigmoid(a), (_f(A),)),
    Op("MishBackward0", lambda L, a: F(L).mish(a), (_f(A),)),
    # ------------------------------------------------------------------ losses
    Op("BinaryCrossEntropyBackward0", lambda L, p, y: F(L).binary_cross_entropy(p, y),
       (In(A, "prob"), In(A, "prob"))),
    Op("BinaryCrossEntropyBackward0", lambda L, p, y, w: F(L).binary_cross_entropy(
        p, y, w, reduction="sum"), (In(A, "prob"), In(A, "prob"), Const(lambda r: r.random(B))),
       id="bce_weight_sum"),
    Op("BinaryCrossEntropyWithLogitsBackward0",
       lambda L, z, y: F(L).binary_cross_entropy_with_logits(z, y), (_f(A), In(A, "prob"))),
    Op("BinaryCrossEntropyWithLogitsBackward0",
       lambda L, z, y, w, pw: F(L).binary_cross_entropy_with_logits(z, y, w, pos_weight=pw,
                                                                    reduction="none"),
       (_f(A), In(A, "prob"), Const(lambda r: r.random(B)), Const(lambda r: r.random(B) * 3)),
       id="bce_logits_pos_weight"),
    Op("SmoothL1LossBackward0", lambda L, a, b: F(L).smooth_l1_loss(a, b, beta=0.5),
       (_f(A), _f(A))),
    Op("HuberLossBackward0", lambda L, a, b: F(L).huber_loss(a, b, reduction="sum", delta=0.4),
       (_f(A), _f(A))),
    Op("MseLossBackward0", lambda L, a, b: F(L).mse_loss(a, b), (_f(A), _f(A))),
    Op("MseLossBackward0", lambda L, a, b: F(L).mse_loss(a, b, reduction="none"), (_f(A), _f(A)),
       id="mse_none"),
    Op("NllLossBackward0", lambda L, a, t: F(L).nll_loss(a, t),
       (_f(A), Const(lambda r: r.integers(0, 4, 3)))),
    Op("NllLossBackward0", lambda L, a, t, w: F(L).nll_loss(a, t, w, ignore_index=1),
       (_f(A), Const(lambda r: np.array([1, 3, 0])), Const(lambda r: r.random(4))),
       id="nll_weight_ignore"),
    Op("NllLossBackward0", lambda L, a, t: F(L).nll_loss(a, t, reduction="none"),
       (_f(A), Const(lambda r: r.integers(0, 4, 3))), id="nll_none"),
    Op("NllLoss2DBackward0", lambda L, a, t: F(L).nll_loss(a, t),
       (_f((2, 3, 2, 2)), Const(lambda r: r.integers(0, 3, (2, 2, 2))))),
    # ------------------------------------------------------------------ convolution, pooling
    Op("ConvolutionBackward0", lambda L, x, w, b: F(L).conv2d(x, w, b, stride=(1, 2), padding=1),
       (_f((2, 2, 4, 4)), _f((3, 2, 3, 3)), _f((3,)))),
    Op("ConvolutionBackward0", lambda L, x, w: F(L).conv2d(x, w, groups=2, dilation=2),
       (_f((1, 4, 5, 5)), _f((2, 2, 2, 2))), id="conv_groups_dilation"),
    Op("ConvolutionBackward0", lambda L, x, w, b: F(L).conv1d(x, w, b, padding=1),
       (_f((2, 2, 5)), _f((3, 2, 3)), _f((3,))), id="conv1d"),
    Op("MaxPool2DWithIndicesBackward0", lambda L, x: F(L).max_pool2d(x, 2), (_f((1, 2, 4, 4)),)),
    Op("MaxPool2DWithIndicesBackward0", lambda L, x: F(L).max_pool2d(x, 3, 1, 1),
       (_f((1, 2, 4, 4)),), id="max_pool_overlap"),
    Op("AdaptiveMaxPool2DBackward0", lambda L, x: F(L).adaptive_max_pool2d(x, (2, 3)),
       (_f((1, 2, 5, 4)),)),
    Op("AvgPool2DBackward0", lambda L, x: F(L).avg_pool2d(x, 2), (_f((1, 2, 4, 4)),)),
    Op("AvgPool2DBackward0", lambda L, x: F(L).avg_pool2d(x, 3, 2, 1, count_include_pad=False),
       (_f((1, 2, 5, 5)),), id="avg_pool_pad"),
    Op("AdaptiveAvgPool2DBackward0", lambda L, x: F(L).adaptive_avg_pool2d(x, (2, 3)),
       (_f((1, 2, 5, 4)),)),
    Op("ConstantPadNdBackward0", lambda L, x: F(L).pad(x, (1, 2, 0, 1)), (_f((2, 3, 4)),)),
    Op("ConstantPadNdBackward0", lambda L, x: F(L).pad(x, (-1, 2)), (_f((2, 3, 4)),),
       id="pad_crop"),
    Op("ReflectionPad1DBackward0", lambda L, x: F(L).pad(x, (2, 1), "reflect"),
       (_f((1, 2, 4)),)),
    Op("ReflectionPad2DBackward0", lambda L, x: F(L).pad(x, (1, 1, 2, 0), "reflect"),
       (_f((1, 1, 3, 4)),)),
    Op("ReflectionPad3DBackward0", lambda L, x: F(L).pad(x, (1, 0, 0, 1, 1, 1), "reflect"),
       (_f((1, 1, 2, 3, 3)),)),
    Op("ReplicationPad1DBackward0", lambda L, x: F(L).pad(x, (2, 1), "replicate"),
       (_f((1, 2, 4)),)),
    Op("ReplicationPad2DBackward0", lambda L, x: F(L).pad(x, (1, 1, 2, 0), "replicate"),
       (_f((1, 1, 3, 4)),)),
    Op("ReplicationPad3DBackward0", lambda L, x: F(L).pad(x, (1, 0, 0, 1, 1, 1), "replicate"),
       (_f((1, 1, 2, 3, 3)),)),
    # torch names this node torch::autograd::CopySlices; the engine's _conv.CopySlices does not
    Op("CopySlices", lambda L, x: F(L).pad(x, (2, 1), "circular"),
       (_f((1, 2, 4)),), torch=False, id="circular_pad"),
    # ------------------------------------------------------------------ normalization, lookup
    Op("NativeBatchNormBackward0", lambda L, x, w, b: F(L).batch_norm(
        x, None, None, w, b, training=True), (_f((4, 3, 2)), _f((3,)), _f((3,)))),
    Op("NativeBatchNormBackward0", lambda L, x, w, b, m, v: F(L).batch_norm(x, m, v, w, b),
       (_f((4, 3, 2)), _f((3,)), _f((3,)), Const(lambda r: r.standard_normal(3)),
        Const(lambda r: r.uniform(0.5, 2, 3))), id="batch_norm_eval"),
    Op("NativeLayerNormBackward0", lambda L, x, w, b: F(L).layer_norm(x, (3, 4), w, b),
       (_f(C), _f(A), _f(A))),
    Op("NativeLayerNormBackward0", lambda L, x: F(L).layer_norm(x, (4,)), (_f(C),),
       id="layer_norm_no_affine"),
    Op("NativeGroupNormBackward0", lambda L, x, w, b: F(L).group_norm(x, 2, w, b),
       (_f((2, 4, 3)), _f((4,)), _f((4,)))),
    Op("EmbeddingBackward0", lambda L, i, w: F(L).embedding(i, w),
       (Const(lambda r: np.array([[0, 2], [2, 3]])), _f((4, 3)))),
    Op("EmbeddingBackward0", lambda L, i, w: F(L).embedding(i, w, padding_idx=2),
       (Const(lambda r: np.array([[0, 2], [2, 3]])), _f((4, 3))), id="embedding_padding"),
]


def _run(op: Op, seed: int) -> tuple[Node, list[Any], list[Any]]:
    """The node of ``op`` on the inputs of ``seed``: its real grad_inputs and its rule's."""
    raw = _inputs(op, seed)
    ts = _lift(engine, op, raw)
    roots = _roots(op.call(engine, *ts))
    node = roots[0].grad_fn
    assert node.name() == op.node
    rng = np.random.default_rng(100 + seed)
    gs = [engine.tensor(rng.standard_normal(tuple(r.shape)), dtype=r.dtype) for r in roots]
    step = next(s for s in backward_steps(roots, gs, retain_graph=True) if s.node is node)
    grad = step._gout
    if node._multi:
        grad = [np.zeros(sh, node._dt) if g is None else g
                for g, sh in zip(grad, node.piece_shapes)]
    got = evaluate(node.rule, node_values(node), grad, node.needs_input_grad)
    return node, list(step._gin), got


ROWS = [pytest.param(op, seed, id=f"{op.id}-{seed}") for op in TABLE for seed in (0, 1)]


@pytest.mark.parametrize("op, seed", ROWS)
def test_rule_evaluates_to_the_nodes_gradient(op: Op, seed: int) -> None:
    node, real, from_rule = _run(op, seed)
    assert len(from_rule) == len(node.next_functions), node.rule.symbols
    for i, ((fn, _), want, got) in enumerate(zip(node.next_functions, real, from_rule)):
        if fn is None:
            continue
        shape = node._meta[i][0]
        got = sum_to(np.broadcast_to(got, np.broadcast_shapes(np.shape(got), shape)), shape)
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9,
                                   err_msg=f"{op.id}: input {i} of {node.rule.symbols}")


@pytest.mark.torch
@pytest.mark.parametrize("op", [pytest.param(op, id=op.id) for op in TABLE if op.torch])
def test_gradients_equal_torchs(op: Op) -> None:
    torch = pytest.importorskip("torch")
    raw = _inputs(op, 0)
    grads = []
    for L in (engine, torch):
        ts = _lift(L, op, raw)
        roots = _roots(op.call(L, *ts))
        assert roots[0].grad_fn.name() == op.node
        rng = np.random.default_rng(7)
        gs = [L.tensor(rng.standard_normal(tuple(r.shape)), dtype=r.dtype) for r in roots]
        L.autograd.backward(roots, gs)
        grads.append([t.grad.numpy() for t, s in zip(ts, op.inputs) if isinstance(s, In)])
    for e, t in zip(*grads):
        np.testing.assert_allclose(e, t, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- coverage
def _engine_node_classes() -> list[type[Node]]:
    """Every Node subclass the engine package defines (all its modules imported)."""
    for mod in pkgutil.walk_packages(engine.__path__, "engine."):
        importlib.import_module(mod.name)
    out, stack = [], [Node]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith("engine."):
                out.append(sub)
    return out


def _name(cls: type[Node]) -> str:
    return cls.name(cls.__new__(cls))


def test_every_engine_node_class_has_its_rule() -> None:
    classes = _engine_node_classes()
    assert len(classes) > 150
    from engine.custom_function import BackwardCFunction
    # each class states its own (an inherited text would describe its parent's op); a custom
    # Function's generated node class inherits the rule that names its backward
    missing = [c.__qualname__ for c in classes if c.rule is GENERIC
               or ("rule" not in vars(c) and not issubclass(c, BackwardCFunction))]
    assert missing == []
    for c in classes:
        r = c.rule
        assert isinstance(r, Rule) and r.words.strip() and r.symbols, c
        assert all(" = " in s or " += " in s for s in r.symbols), (c, r.symbols)


def test_every_rule_is_exercised_by_a_row() -> None:
    tested = {op.node for op in TABLE}
    names = {_name(c) for c in _engine_node_classes()} - UNTESTED
    assert sorted(names - tested) == []


# a custom Function's node runs the user's own backward: its rule names that code;
# AccumulateGrad's "x.grad += grad" is a statement, checked by test_accumulate_grad_rule
# MkldnnRnnLayerBackward0's one line names a whole layer's backpropagation through time (the
# LSTM tests in test_lstm_node.py compare its gradients with torch's)
UNTESTED: set[str] = {"BackwardCFunction", "FunctionBackward", "torch::autograd::AccumulateGrad",
                      "MkldnnRnnLayerBackward0"}


def test_accumulate_grad_rule() -> None:
    from engine.function import AccumulateGrad
    assert AccumulateGrad.rule.symbols == ("x.grad += grad",)
    x = engine.tensor([1.0, -2.0], requires_grad=True)
    for k in range(2):
        steps = list(backward_steps(x * 3.0, engine.tensor([0.5, 2.0])))
        acc = next(s for s in steps if s.is_accumulate)
        before = 0 if k == 0 else acc.grad_before.numpy()
        np.testing.assert_allclose(acc.grad_after.numpy(), before + acc.grad_outputs[0].numpy())
    assert x.grad.tolist() == [3.0, 12.0]


def test_custom_function_rule_names_its_backward() -> None:
    class Square(engine.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            return x * x

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return g

    node = Square.apply(engine.tensor([3.0], requires_grad=True)).grad_fn
    assert node.rule.symbols == ("grads = Square.backward(ctx, grad)",)
    assert "custom autograd.Function" in node.rule.words


def test_rule_for_looks_up_by_node_name() -> None:
    from engine.autograd import rule_for
    assert rule_for("MulBackward0") is engine.ones(1, requires_grad=True).mul(2).grad_fn.rule
    assert rule_for("torch::autograd::AccumulateGrad").symbols == ("x.grad += grad",)
    assert rule_for("AccumulateGrad") is rule_for("torch::autograd::AccumulateGrad")
    assert rule_for("NoSuchBackward0") is None
