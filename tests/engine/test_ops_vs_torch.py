"""Every engine op against torch 2.13: forward values, dtypes, reprs, grad_fn names, the
next_functions graph and the leaves' grads after backward, in float32 and float64, with
broadcasting; then hypothesis-generated programs over a few leaves of broadcastable shapes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import (
    assert_same_graph,
    assert_same_tensor,
    check_backward,
    check_program,
    graph_text,
    make_leaves,
    require_torch,
)

import engine

torch = require_torch()

pytestmark = pytest.mark.torch


@dataclass
class Case:
    id: str
    program: Callable[..., Any]
    shapes: tuple  # a shape per leaf; a Python number stays a number
    positive: bool = False  # inputs in [0.5, 2] (log, sqrt, fractional powers)
    requires_grad: Any = True
    backward: bool = True
    distinct: bool = False  # inputs well apart (max/min/clamp/relu: no near-ties at kinks)


def _arrays(case: Case, dtype: Any, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for s in case.shapes:
        if not isinstance(s, tuple):
            out.append(s)
            continue
        if case.positive:
            a = rng.uniform(0.5, 2.0, s)
        elif case.distinct:
            n = int(np.prod(s)) if s else 1
            a = (rng.permutation(n) - n / 2 + 0.25).reshape(s) * 0.37
        else:
            a = rng.standard_normal(s)
        out.append(np.asarray(a, dtype=dtype))
    return out


C = Case
CASES = [
    # ---- arithmetic, tensors and Python numbers on either side, broadcasting
    C("add", lambda L, x, y: x + y, ((2, 3), (2, 3))),
    C("add_bcast", lambda L, x, y: x + y, ((3, 1), (4,))),
    C("add_bcast3", lambda L, x, y: x + y, ((2, 1, 3), (4, 1))),
    C("add_num", lambda L, x: x + 2, ((2, 3),)),
    C("radd_num", lambda L, x: 2 + x, ((2, 3),)),
    C("add_float", lambda L, x: x + 2.5, ((3,),)),
    C("add_alpha", lambda L, x, y: x.add(y, alpha=2), ((2, 3), (3,))),
    C("add_fn", lambda L, x, y: L.add(x, y), ((2, 3), (2, 1))),
    C("add_nograd_other", lambda L, x, y: x + y, ((2, 3), (2, 3)), requires_grad=(True, False)),
    C("add_nograd_self", lambda L, x, y: x + y, ((2, 3), (3,)), requires_grad=(False, True)),
    C("add_scalar_tensor", lambda L, x, y: x + y, ((2, 3), ())),
    C("sub", lambda L, x, y: x - y, ((2, 3), (2, 3))),
    C("sub_bcast", lambda L, x, y: x - y, ((2, 3), (3,))),
    C("sub_num", lambda L, x: x - 2, ((2, 3),)),
    C("rsub_num", lambda L, x: 2 - x, ((2, 3),)),
    C("sub_alpha", lambda L, x, y: x.sub(y, alpha=3), ((2, 3), (2, 3))),
    C("mul", lambda L, x, y: x * y, ((2, 3), (2, 3))),
    C("mul_bcast", lambda L, x, y: x * y, ((2, 1, 3), (4, 1))),
    C("mul_num", lambda L, x: x * 2, ((2, 3),)),
    C("rmul_num", lambda L, x: 2 * x, ((2, 3),)),
    C("mul_self", lambda L, x: x * x, ((3,),)),
    C("mul_nograd", lambda L, x, y: x * y, ((2, 3), (3,)), requires_grad=(False, True)),
    C("div", lambda L, x, y: x / y, ((2, 3), (2, 3)), positive=True),
    C("div_bcast", lambda L, x, y: x / y, ((4, 3), (3,)), positive=True),
    C("div_num", lambda L, x: x / 2, ((2, 3),)),
    C("rdiv_num", lambda L, x: 2 / x, ((2, 3),), positive=True),
    C("div_nograd", lambda L, x, y: x / y, ((2, 3), (2, 3)), positive=True,
      requires_grad=(False, True)),
    C("div_nograd_other", lambda L, x, y: x / y, ((2, 3), (2, 3)), positive=True,
      requires_grad=(True, False)),
    C("pow2", lambda L, x: x ** 2, ((2, 3),)),
    C("pow3", lambda L, x: x ** 3, ((2, 3),)),
    C("pow_half", lambda L, x: x ** 0.5, ((2, 3),), positive=True),
    C("pow_neg", lambda L, x: x ** -1, ((2, 3),), positive=True),
    C("pow0", lambda L, x: x ** 0, ((2, 3),)),
    C("pow_method", lambda L, x: x.pow(2), ((2, 3),)),
    C("pow_fn", lambda L, x: L.pow(x, 3), ((2, 3),)),
    C("pow_tensor", lambda L, x, y: x ** y, ((2, 3), (2, 3)), positive=True),
    C("pow_tensor_bcast", lambda L, x, y: x ** y, ((2, 3), (3,)), positive=True),
    C("rpow", lambda L, x: 2 ** x, ((2, 3),)),
    C("rpow_float", lambda L, x: 1.5 ** x, ((2, 3),)),
    C("square", lambda L, x: x.square(), ((2, 3),)),
    C("square_fn", lambda L, x: L.square(x), ((2, 3),)),
    C("neg", lambda L, x: -x, ((2, 3),)),
    C("neg_fn", lambda L, x: L.neg(x), ((2, 3),)),
    # ---- unary math
    C("exp", lambda L, x: x.exp(), ((2, 3),)),
    C("exp_fn", lambda L, x: L.exp(x), ((2, 3),)),
    C("log", lambda L, x: x.log(), ((2, 3),), positive=True),
    C("log_fn", lambda L, x: L.log(x), ((2, 3),), positive=True),
    C("sin", lambda L, x: x.sin(), ((2, 3),)),
    C("cos", lambda L, x: L.cos(x), ((2, 3),)),
    C("tanh", lambda L, x: x.tanh(), ((2, 3),)),
    C("sigmoid", lambda L, x: L.sigmoid(x), ((2, 3),)),
    C("relu", lambda L, x: x.relu(), ((2, 3),), distinct=True),
    C("relu_fn", lambda L, x: L.relu(x), ((2, 3),), distinct=True),
    C("abs", lambda L, x: x.abs(), ((2, 3),), distinct=True),
    C("abs_fn", lambda L, x: abs(x), ((2, 3),), distinct=True),
    C("sqrt", lambda L, x: x.sqrt(), ((2, 3),), positive=True),
    C("sqrt_fn", lambda L, x: L.sqrt(x), ((2, 3),), positive=True),
    # ---- matrix products
    C("matmul_mm", lambda L, a, b: a @ b, ((2, 3), (3, 4))),
    C("mm", lambda L, a, b: a.mm(b), ((2, 3), (3, 4))),
    C("mm_fn", lambda L, a, b: L.mm(a, b), ((2, 3), (3, 4))),
    C("mm_nograd", lambda L, a, b: a @ b, ((2, 3), (3, 4)), requires_grad=(False, True)),
    C("matmul_mv", lambda L, a, v: a @ v, ((2, 3), (3,))),
    C("mv", lambda L, a, v: a.mv(v), ((2, 3), (3,))),
    C("mv_fn", lambda L, a, v: L.mv(a, v), ((2, 3), (3,))),
    C("matmul_dot", lambda L, v, w: v @ w, ((3,), (3,))),
    C("dot", lambda L, v, w: v.dot(w), ((3,), (3,))),
    C("dot_fn", lambda L, v, w: L.dot(v, w), ((3,), (3,))),
    C("matmul_fn", lambda L, a, b: L.matmul(a, b), ((2, 3), (3, 4))),
    C("matmul_vm", lambda L, v, b: v @ b, ((3,), (3, 4))),
    C("matmul_3d_2d", lambda L, a, b: a @ b, ((2, 3, 4), (4, 5))),
    C("matmul_3d_1d", lambda L, a, v: a @ v, ((2, 3, 4), (4,))),
    C("matmul_3d_3d", lambda L, a, b: a @ b, ((2, 3, 4), (2, 4, 5))),
    C("matmul_bcast_batch", lambda L, a, b: a @ b, ((2, 3, 4), (1, 4, 5))),
    C("matmul_2d_3d", lambda L, a, b: a @ b, ((3, 4), (2, 4, 5))),
    C("matmul_t", lambda L, a, b: a @ b.t(), ((2, 3), (4, 3))),
    C("matmul_1_3d", lambda L, a, b: a @ b, ((1, 3, 4), (2, 4, 5))),
    C("matmul_3d_1", lambda L, a, b: a @ b, ((2, 3, 4), (1, 4, 5))),
    C("matmul_1_1", lambda L, a, b: a @ b, ((1, 3, 4), (1, 4, 5))),
    C("matmul_v_3d", lambda L, a, b: a @ b, ((4,), (2, 4, 5))),
    C("matmul_v_13d", lambda L, a, b: a @ b, ((4,), (1, 4, 5))),
    C("matmul_13d_v", lambda L, a, b: a @ b, ((1, 4, 5), (5,))),
    C("matmul_4d", lambda L, a, b: a @ b, ((2, 2, 3, 4), (2, 1, 4, 5))),
    C("matmul_3d_4d", lambda L, a, b: a @ b, ((2, 3, 4), (1, 1, 4, 5))),
    C("matmul_2d_13d", lambda L, a, b: a @ b, ((3, 4), (1, 4, 5))),
    C("matmul_3d_2d_nograd", lambda L, a, b: a @ b, ((2, 3, 4), (4, 5)),
      requires_grad=(True, False)),
    C("matmul_2d_3d_nograd", lambda L, a, b: a @ b, ((3, 4), (2, 4, 5)),
      requires_grad=(False, True)),
    C("matmul_t3d_2d", lambda L, a, b: a.transpose(0, 1) @ b, ((3, 2, 4), (4, 5)),
      requires_grad=(True, False)),
    C("matmul_3d_v_nograd", lambda L, a, b: a @ b, ((2, 3, 4), (4,)),
      requires_grad=(False, True)),
    # ---- reductions
    C("sum", lambda L, x: x.sum(), ((2, 3),)),
    C("sum_fn", lambda L, x: L.sum(x), ((2, 3),)),
    C("sum_dim0", lambda L, x: x.sum(0), ((2, 3),)),
    C("sum_dim_neg", lambda L, x: x.sum(-1), ((2, 3, 4),)),
    C("sum_keepdim", lambda L, x: x.sum(1, keepdim=True), ((2, 3),)),
    C("sum_dims", lambda L, x: x.sum((0, 2)), ((2, 3, 4),)),
    C("sum_dims_keepdim", lambda L, x: L.sum(x, (0, 2), keepdim=True), ((2, 3, 4),)),
    C("sum_0d", lambda L, x: x.sum(), ((),)),
    C("mean", lambda L, x: x.mean(), ((2, 3),)),
    C("mean_fn", lambda L, x: L.mean(x), ((2, 3),)),
    C("mean_dim", lambda L, x: x.mean(0), ((2, 3),)),
    C("mean_keepdim", lambda L, x: x.mean(-1, keepdim=True), ((2, 3),)),
    C("mean_dims", lambda L, x: x.mean((1, 2)), ((2, 3, 4),)),
    C("max", lambda L, x: x.max(), ((2, 3),), distinct=True),
    C("min", lambda L, x: x.min(), ((2, 3),), distinct=True),
    C("max_fn", lambda L, x: L.max(x), ((2, 3),), distinct=True),
    C("max_dim", lambda L, x: x.max(0), ((2, 3),), distinct=True),
    C("max_dim_keepdim", lambda L, x: x.max(1, keepdim=True), ((2, 3),), distinct=True),
    C("max_dim_values", lambda L, x: x.max(dim=-1).values, ((2, 3, 4),), distinct=True),
    C("min_dim", lambda L, x: x.min(1), ((2, 3),), distinct=True),
    C("min_dim_keepdim", lambda L, x: L.min(x, 0, keepdim=True), ((2, 3),), distinct=True),
    C("min_dim_indices", lambda L, x: x.min(0).indices, ((2, 3),), distinct=True),
    C("max_binary", lambda L, x, y: L.max(x, y), ((2, 3), (3,)), distinct=True),
    C("maximum", lambda L, x, y: L.maximum(x, y), ((2, 3), (2, 3)), distinct=True),
    C("maximum_bcast", lambda L, x, y: L.maximum(x, y), ((2, 3), (3,)), distinct=True),
    C("maximum_method", lambda L, x, y: x.maximum(y), ((2, 1), (3,)), distinct=True),
    C("minimum", lambda L, x, y: L.minimum(x, y), ((2, 3), (2, 3)), distinct=True),
    C("minimum_bcast", lambda L, x, y: x.minimum(y), ((3, 1), (1, 4)), distinct=True),
    C("maximum_nograd", lambda L, x, y: L.maximum(x, y), ((2, 3), (2, 3)), distinct=True,
      requires_grad=(True, False)),
    # ---- shape ops
    C("reshape", lambda L, x: x.reshape(3, 2), ((2, 3),)),
    C("reshape_neg", lambda L, x: x.reshape(-1), ((2, 3),)),
    C("reshape_tuple", lambda L, x: x.reshape((3, -1)), ((2, 3),)),
    C("reshape_fn", lambda L, x: L.reshape(x, (6,)), ((2, 3),)),
    C("reshape_same", lambda L, x: x.reshape(2, 3), ((2, 3),)),
    C("reshape_t", lambda L, x: x.t().reshape(-1), ((2, 3),)),
    C("reshape_t_alias", lambda L, x: x.t().reshape(3, 2, 1), ((2, 3),)),
    C("reshape_expand", lambda L, x: x.expand(2, 2, 3).reshape(4, 3), ((2, 3),)),
    C("view", lambda L, x: x.view(6), ((2, 3),)),
    C("view_neg", lambda L, x: x.view(-1, 2), ((2, 3),)),
    C("view_t", lambda L, x: x.t().view(3, 2, 1), ((2, 3),)),
    C("flatten", lambda L, x: x.flatten(), ((2, 3, 4),)),
    C("flatten_start", lambda L, x: x.flatten(1), ((2, 3, 4),)),
    C("flatten_fn", lambda L, x: L.flatten(x), ((2, 3),)),
    C("flatten_1d", lambda L, x: x.flatten(), ((3,),)),
    C("t", lambda L, x: x.t(), ((2, 3),)),
    C("t_fn", lambda L, x: L.t(x), ((2, 3),)),
    C("T", lambda L, x: x.T, ((2, 3),)),
    C("transpose", lambda L, x: x.transpose(0, 1), ((2, 3),)),
    C("transpose_3d", lambda L, x: L.transpose(x, -1, 0), ((2, 3, 4),)),
    C("permute", lambda L, x: x.permute(1, 0), ((2, 3),)),
    C("permute_3d", lambda L, x: x.permute(2, 0, 1), ((2, 3, 4),)),
    C("permute_tuple", lambda L, x: L.permute(x, (1, 2, 0)), ((2, 3, 4),)),
    C("unsqueeze0", lambda L, x: x.unsqueeze(0), ((2, 3),)),
    C("unsqueeze_neg", lambda L, x: L.unsqueeze(x, -1), ((2, 3),)),
    C("squeeze", lambda L, x: x.squeeze(), ((2, 1, 3, 1),)),
    C("squeeze_dim", lambda L, x: x.squeeze(1), ((2, 1, 3),)),
    C("squeeze_dim_noop", lambda L, x: x.squeeze(0), ((2, 1, 3),)),
    C("squeeze_fn", lambda L, x: L.squeeze(x, -1), ((2, 3, 1),)),
    C("expand", lambda L, x: x.expand(2, 3), ((3,),)),
    C("expand_neg", lambda L, x: x.expand(4, -1, 3), ((2, 1),)),
    C("expand_same", lambda L, x: x.expand(2, 3), ((2, 3),)),
    C("expand_as", lambda L, x, y: x.expand_as(y), ((3, 1), (3, 4))),
    C("contiguous_t", lambda L, x: x.t().contiguous(), ((2, 3),)),
    C("contiguous_noop", lambda L, x: x.contiguous(), ((2, 3),)),
    C("reshape_t_row", lambda L, x: x.t().reshape(-1), ((1, 3),)),
    C("reshape_slice", lambda L, x: x[:, ::2].reshape(-1), ((3, 4),)),
    C("reshape_rows", lambda L, x: x[1:].reshape(-1), ((3, 4),)),
    C("exp_t_reshape", lambda L, x: x.t().exp().reshape(-1), ((2, 3),)),
    C("mul_t_reshape", lambda L, x, y: (x.t() * y).reshape(-1), ((2, 3), (3, 2))),
    C("rmul_t_reshape", lambda L, x, y: (y * x.t()).reshape(-1), ((2, 3), (3, 2))),
    C("clone_t_reshape", lambda L, x: x.t().clone().reshape(-1), ((2, 3),)),
    C("softmax_t_view", lambda L, x: x.t().softmax(0).view(-1), ((2, 3),)),
    C("sum_t_view", lambda L, x: x.permute(2, 1, 0).sum(1).reshape(-1), ((2, 3, 4),)),
    C("flatten_t", lambda L, x: x.t().flatten(), ((2, 3),)),
    # ---- indexing
    C("index_int", lambda L, x: x[0], ((2, 3),)),
    C("index_neg_int", lambda L, x: x[-1], ((2, 3),)),
    C("index_col", lambda L, x: x[:, 1], ((2, 3),)),
    C("index_slice", lambda L, x: x[1:], ((3, 4),)),
    C("index_slice_full", lambda L, x: x[:], ((3, 4),)),
    C("index_slice_step", lambda L, x: x[::2], ((5, 2),)),
    C("index_slice_stop", lambda L, x: x[:2], ((3, 4),)),
    C("index_chain", lambda L, x: x[0, 1:], ((3, 4),)),
    C("index_chain3", lambda L, x: x[1, :, 2:], ((2, 3, 4),)),
    C("index_int_int", lambda L, x: x[1, 2], ((2, 3),)),
    C("index_twice", lambda L, x: x[0][1], ((2, 3),)),
    C("index_ellipsis", lambda L, x: x[..., 0], ((2, 3, 4),)),
    C("index_ellipsis_only", lambda L, x: x[...], ((2, 3),)),
    C("index_all_full", lambda L, x: x[:, :], ((2, 3),)),
    C("index_none", lambda L, x: x[None], ((2, 3),)),
    C("index_none_mid", lambda L, x: x[:, None], ((2, 3),)),
    C("index_list", lambda L, x: x[[0, 1]], ((3, 2),)),
    C("index_list_repeat", lambda L, x: x[[0, 0, 2]], ((3, 2),)),
    C("index_tensor", lambda L, x: x[L.tensor([2, 0])], ((3, 2),)),
    C("index_tensor_0d", lambda L, x: x[L.tensor(1)], ((3, 2),)),
    C("index_bool", lambda L, x: x[x > 0], ((3, 4),)),
    C("index_bool_rows", lambda L, x: x[L.tensor([True, False, True])], ((3, 4),)),
    C("index_list_col", lambda L, x: x[:, [0, 2]], ((3, 4),)),
    C("index_list_int", lambda L, x: x[[0, 1], 0], ((3, 4),)),
    C("index_int_list", lambda L, x: x[0, [0, 2]], ((3, 4),)),
    C("index_int_slice_list", lambda L, x: x[0, :, [0, 1]], ((2, 3, 4),)),
    C("index_slice_list", lambda L, x: x[1:, [0, 2]], ((3, 4),)),
    C("index_two_lists", lambda L, x: x[[0, 1], [2, 0]], ((3, 4),)),
    # ---- joining
    C("cat", lambda L, x, y: L.cat([x, y]), ((2, 3), (1, 3))),
    C("cat_dim1", lambda L, x, y: L.cat((x, y), dim=1), ((2, 3), (2, 2))),
    C("cat_neg_dim", lambda L, x, y, z: L.cat([x, y, z], -1), ((2, 1), (2, 3), (2, 2))),
    C("cat_nograd", lambda L, x, y: L.cat([x, y]), ((2, 3), (2, 3)),
      requires_grad=(False, True)),
    C("stack", lambda L, x, y: L.stack([x, y]), ((2, 3), (2, 3))),
    C("stack_dim1", lambda L, x, y: L.stack((x, y), dim=1), ((2, 3), (2, 3))),
    C("stack_neg", lambda L, x, y, z: L.stack([x, y, z], -1), ((3,), (3,), (3,))),
    C("stack_nograd", lambda L, x, y: L.stack([x, y]), ((3,), (3,)),
      requires_grad=(True, False)),
    # ---- clamp / where
    C("clamp", lambda L, x: x.clamp(-0.5, 0.5), ((3, 4),), distinct=True),
    C("clamp_min_kw", lambda L, x: x.clamp(min=0), ((3, 4),), distinct=True),
    C("clamp_max_kw", lambda L, x: L.clamp(x, max=0.3), ((3, 4),), distinct=True),
    C("clamp_min", lambda L, x: x.clamp_min(0), ((3, 4),), distinct=True),
    C("clamp_min_fn", lambda L, x: L.clamp_min(x, 0.2), ((3, 4),), distinct=True),
    C("clamp_max", lambda L, x: x.clamp_max(0.2), ((3, 4),), distinct=True),
    C("where", lambda L, x, y: L.where(x > 0, x, y), ((2, 3), (2, 3))),
    C("where_bcast", lambda L, x, y: L.where(y > 0, x, y), ((2, 3), (3,))),
    C("where_num", lambda L, x: L.where(x > 0, x, 0.0), ((2, 3),)),
    C("where_num_first", lambda L, x: L.where(x > 0, 1.0, x), ((2, 3),)),
    C("where_nograd", lambda L, x, y: L.where(x > 0, x, y), ((2, 3), (2, 3)),
      requires_grad=(False, True)),
    # ---- softmax
    C("softmax", lambda L, x: L.softmax(x, -1), ((2, 3),)),
    C("softmax_dim0", lambda L, x: x.softmax(0), ((2, 3),)),
    C("softmax_3d", lambda L, x: x.softmax(1), ((2, 3, 4),)),
    C("log_softmax", lambda L, x: L.log_softmax(x, -1), ((2, 3),)),
    C("log_softmax_dim0", lambda L, x: x.log_softmax(0), ((4, 3),)),
    # ---- dtype casts, clone
    C("double", lambda L, x: x.double(), ((2, 3),)),
    C("float", lambda L, x: x.float(), ((2, 3),)),
    C("double_float", lambda L, x: x.double().float(), ((2, 3),)),
    C("to_float64", lambda L, x: x.to(L.float64), ((2, 3),)),
    C("clone", lambda L, x: x.clone(), ((2, 3),)),
    C("clone_fn", lambda L, x: L.clone(x), ((2, 3),)),
    # ---- mixed programs
    C("seed_chain", lambda L, x: ((x + 2) * (x + 2) * 2).mean(), ((4,),)),
    C("mlp", lambda L, x, w, b: (x @ w + b).relu().sum(), ((4, 3), (3, 2), (2,)),
      distinct=True),
    C("softmax_loss", lambda L, x: -(x.log_softmax(-1)[L.arange(3), L.tensor([0, 2, 1])]).mean(),
      ((3, 4),)),
    C("reused", lambda L, x, y: (x * y + x.exp() * y).sum(), ((2, 3), (3,))),
    C("diamond", lambda L, x: (lambda h: h.sin() + h.cos())(x * 3), ((3,),)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_op(case: Case, dtype: Any) -> None:
    check_program(case.program, _arrays(case, dtype), requires_grad=case.requires_grad,
                  backward=case.backward)


# ----------------------------------------------------------------------------- details
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_no_grad_records_nothing(dtype: Any) -> None:
    def program(L, x, y):
        with L.no_grad():
            return (x * y).exp().sum(0) @ y.t()

    check_program(program, _arrays(Case("", None, ((2, 3), (2, 3))), dtype), backward=False)


def test_same_result_when_noop() -> None:
    """Ops that torch answers with the input itself (no node) behave the same."""
    for program in (lambda L, x: x.float(), lambda L, x: x.to(L.float32),
                    lambda L, x: x.flatten(), lambda L, x: x.contiguous()):
        (e,), (t,) = make_leaves([np.ones(3, np.float32)])
        assert (program(engine, e) is e) == (program(torch, t) is t)


def test_max_dim_result_type() -> None:
    (e,), (t,) = make_leaves([np.arange(6, dtype=np.float32).reshape(2, 3)])
    er, tr = e.max(1), t.max(1)
    assert type(er).__name__ == type(tr).__name__ == "max"
    assert_same_tensor(er.values, tr.values)
    assert_same_tensor(er.indices, tr.indices)
    v, i = er
    assert v is er.values and i is er.indices


def test_int_tensor_ops_promote() -> None:
    """Integer and bool tensors mixed with floats: torch's result dtypes."""
    pairs = [
        (lambda L, i, f: i + f, True), (lambda L, i, f: i * 2.5, False),
        (lambda L, i, f: i / 2, False), (lambda L, i, f: i * 2, False),
        (lambda L, i, f: f * i, True), (lambda L, i, f: (i > 1) * f, True),
        (lambda L, i, f: i.sum(), False), (lambda L, i, f: f.sum() + i, True),
        (lambda L, i, f: i.double(), False), (lambda L, i, f: f[i], True),
    ]
    for program, grad in pairs:
        e_l, t_l = make_leaves([np.array([1, 2, 0]), np.array([0.5, -1.0, 2.0], np.float32)])
        e, t = program(engine, *e_l), program(torch, *t_l)
        assert_same_tensor(e, t)
        assert_same_graph(e.grad_fn, t.grad_fn)
        if grad:
            check_backward(e, t, e_l, t_l)


def test_accumulates_over_two_backwards() -> None:
    e_l, t_l = make_leaves([np.array([1.0, 2.0, 3.0], np.float32)])
    for x in (e_l[0], t_l[0]):
        (x * x).sum().backward()
        (x.exp()).sum().backward()
    assert_same_tensor(e_l[0].grad, t_l[0].grad, check_flags=False)


def test_retain_grad_nonleaf() -> None:
    e_l, t_l = make_leaves([np.array([1.0, 2.0, 3.0], np.float32)])
    outs = []
    for x in (e_l[0], t_l[0]):
        h = x * 2
        h.retain_grad()
        (h.sin()).sum().backward()
        outs.append(h.grad)
    assert_same_tensor(outs[0], outs[1], check_flags=False)


# ----------------------------------------------------------------------------- hypothesis
_UNARY: list[tuple[str, Callable[..., Any], bool]] = [
    # name, program, needs a positive input
    ("exp", lambda L, x: (x * 0.5).exp(), False),
    ("log", lambda L, x: x.log(), True),
    ("sin", lambda L, x: x.sin(), False),
    ("cos", lambda L, x: L.cos(x), False),
    ("tanh", lambda L, x: x.tanh(), False),
    ("sigmoid", lambda L, x: x.sigmoid(), False),
    ("relu", lambda L, x: x.relu(), False),
    ("abs", lambda L, x: x.abs(), False),
    ("sqrt", lambda L, x: x.sqrt(), True),
    ("neg", lambda L, x: -x, False),
    ("square", lambda L, x: x.square(), False),
    ("pow3", lambda L, x: x ** 3, False),
    ("rpow", lambda L, x: 2 ** x, False),
    ("clone", lambda L, x: x.clone(), False),
    ("clamp", lambda L, x: x.clamp(-0.5, 0.5), False),
    ("clamp_min", lambda L, x: x.clamp_min(0.1), False),
    ("softmax", lambda L, x: x.softmax(-1), False),
    ("log_softmax", lambda L, x: x.log_softmax(0) if x.dim() else x, False),
    ("unsqueeze", lambda L, x: x.unsqueeze(0), False),
    ("flatten", lambda L, x: x.flatten(), False),
    ("transpose", lambda L, x: x.transpose(0, -1) if x.dim() else x, False),
    ("T", lambda L, x: x.t() if x.dim() <= 2 else x.permute(2, 1, 0), False),
    ("reshape", lambda L, x: x.reshape(-1, 1), False),
    ("index0", lambda L, x: x[0] if x.dim() else x, False),
    ("slice", lambda L, x: x[1:] if x.dim() else x, False),
    ("index_list", lambda L, x: x[[0, 0]] if x.dim() else x, False),
    ("double_float", lambda L, x: x.double().float(), False),
    ("add_num", lambda L, x: x + 1.5, False),
    ("rsub_num", lambda L, x: 1 - x, False),
    ("mul_num", lambda L, x: 3 * x, False),
    ("div_num", lambda L, x: x / 4, False),
    ("expand", lambda L, x: x.expand(2, *x.shape), False),
    ("view", lambda L, x: x.view(-1), False),
    ("contiguous", lambda L, x: x.contiguous(), False),
    ("mul_", lambda L, x: (x * 1).mul_(2), False),
    ("clamp_", lambda L, x: (x + 0).clamp_(-1, 1), False),
    ("max_pair", lambda L, x: x.max(-1)[0] if x.dim() else x, False),
]
_BINARY: list[tuple[str, Callable[..., Any]]] = [
    ("add", lambda L, a, b: a + b),
    ("sub", lambda L, a, b: a - b),
    ("mul", lambda L, a, b: a * b),
    ("div", lambda L, a, b: a / (b * b + 1)),
    ("maximum", lambda L, a, b: L.maximum(a, b)),
    ("minimum", lambda L, a, b: L.minimum(a, b)),
    ("where", lambda L, a, b: L.where(a > b, a, b)),
    ("pow", lambda L, a, b: (a * a + 0.5) ** (b * 0.5)),
    ("matmul", lambda L, a, b: a @ b),
    ("matmul_t", lambda L, a, b: a @ b.transpose(0, -1) if b.dim() else a * b),
    ("cat", lambda L, a, b: L.cat([a, b]) if a.dim() else a + b),
    ("stack", lambda L, a, b: L.stack([a, b], -1)),
]
_REDUCE: list[tuple[str, Callable[..., Any]]] = [
    ("sum", lambda L, x: x.sum()),
    ("mean", lambda L, x: x.mean()),
    ("max", lambda L, x: x.max()),
    ("min", lambda L, x: x.min()),
    ("sum0", lambda L, x: x.sum(0) if x.dim() else x),
    ("mean_keep", lambda L, x: x.mean(-1, keepdim=True) if x.dim() else x),
    ("max_dim", lambda L, x: x.max(0).values if x.dim() else x),
    ("min_dim_keep", lambda L, x: x.min(-1, keepdim=True)[0] if x.dim() else x),
]


def _broadcastable_shapes(draw: Any, n: int) -> list[tuple]:
    full = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    shapes = []
    for _ in range(n):
        k = draw(st.integers(0, len(full)))
        tail = full[len(full) - k:]
        shapes.append(tuple(1 if draw(st.booleans()) and draw(st.booleans()) else s
                            for s in tail))
    return shapes


@st.composite
def programs(draw: Any) -> tuple:
    n_leaves = draw(st.integers(1, 3))
    shapes = _broadcastable_shapes(draw, n_leaves)
    seed = draw(st.integers(0, 2 ** 16))
    steps = []
    n_vals = n_leaves
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["unary", "unary", "binary", "binary", "reduce"]))
        if kind == "unary":
            steps.append(("u", draw(st.integers(0, len(_UNARY) - 1)),
                          draw(st.integers(0, n_vals - 1))))
        elif kind == "binary":
            steps.append(("b", draw(st.integers(0, len(_BINARY) - 1)),
                          draw(st.integers(0, n_vals - 1)), draw(st.integers(0, n_vals - 1))))
        else:
            steps.append(("r", draw(st.integers(0, len(_REDUCE) - 1)),
                          draw(st.integers(0, n_vals - 1))))
        n_vals += 1
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return shapes, seed, steps, dtype


def _run_steps(L: Any, leaves: list, steps: list) -> Any:
    vals = list(leaves)
    for step in steps:
        if step[0] == "u":
            name, fn, positive = _UNARY[step[1]]
            x = vals[step[2]]
            if positive:
                x = x * x + 0.5
            vals.append(fn(L, x))
        elif step[0] == "b":
            a, b = vals[step[2]], vals[step[3]]
            try:
                r = _BINARY[step[1]][1](L, a, b)
            except RuntimeError:  # shapes that no longer broadcast: use the first alone
                r = a * 1.0
            vals.append(r)
        else:
            vals.append(_REDUCE[step[1]][1](L, vals[step[2]]))
    # combine every value into the output so all leaves take part
    out = vals[-1]
    return out


def _describe(steps: list) -> str:
    names = []
    for s in steps:
        table = {"u": _UNARY, "b": _BINARY, "r": _REDUCE}[s[0]]
        names.append(f"{table[s[1]][0]}{s[2:]}")
    return " -> ".join(names)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_programs(prog: tuple) -> None:
    shapes, seed, steps, dtype = prog
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(rng.standard_normal(s), dtype=dtype) for s in shapes]
    e_l, t_l = make_leaves(arrays)
    t_err = e_err = None
    try:
        t_out = _run_steps(torch, t_l, steps)
    except (RuntimeError, IndexError) as exc:
        t_err = exc
    try:
        e_out = _run_steps(engine, e_l, steps)
    except (RuntimeError, IndexError) as exc:
        e_err = exc
    if t_err is not None or e_err is not None:
        assert type(e_err) is type(t_err) and str(e_err) == str(t_err), _describe(steps)
        return
    what = f"{_describe(steps)} on {shapes}"
    assert_same_tensor(e_out, t_out, what, scale=10)
    try:
        assert_same_graph(e_out.grad_fn, t_out.grad_fn, list(zip(e_l, t_l)))
    except AssertionError as exc:
        raise AssertionError(f"{what}: {exc}\n--- torch ---\n{graph_text(t_out.grad_fn)}"
                             f"--- engine ---\n{graph_text(e_out.grad_fn)}") from None
    if not t_out.requires_grad:
        return
    # ties (max/min/maximum of equal values) may legitimately pick another subgradient only if
    # torch does too: compare exactly what torch does
    check_backward(e_out, t_out, e_l, t_l, seed, grad_scale=100)
