"""Every error in PYTORCH_REFERENCE.md, and the shape / index errors of the ops, raised by the
engine with torch 2.13's exception type and message (``torch.`` type names read ``engine.``)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from oracle import assert_same_error, capture_error, require_torch

import engine

torch = require_torch()

pytestmark = pytest.mark.torch


def leaf(L: Any, shape: tuple = (3,), requires_grad: bool = True, dtype: Any = np.float32) -> Any:
    n = int(np.prod(shape)) if shape else 1
    a = (np.arange(n, dtype=np.float64).reshape(shape) * 0.5 - 0.7).astype(dtype)
    return L.tensor(a, requires_grad=requires_grad)


def _double_backward(L: Any) -> None:
    x = leaf(L)
    y = (x * x).sum()
    y.backward()
    y.backward()


def _saved_modified(L: Any) -> None:
    x = leaf(L)
    y = x.exp()
    z = (y * 2).sum() + y.sum()
    y2 = y.exp()  # ExpBackward0 of y2 saves y2; y is saved by nothing else but exp's result
    y.add_(1)
    (z + y2.sum()).backward()


def _saved_modified_simple(L: Any) -> None:
    x = leaf(L)
    y = x.exp()
    y.add_(1)
    y.sum().backward()


def _saved_input_modified(L: Any) -> None:
    x = leaf(L)
    h = x * 1
    y = h.sin()
    h.mul_(2)
    y.sum().backward()


def _saved_double(L: Any) -> None:
    x = leaf(L, dtype=np.float64)
    y = x.sigmoid()
    y.mul_(2)
    y.sum().backward()


def _nonleaf_requires_grad_false(L: Any) -> None:
    x = leaf(L)
    (x * 2).requires_grad_(False)


def _nonleaf_requires_grad_attr(L: Any) -> None:
    x = leaf(L)
    y = x * 2
    y.requires_grad = False


REFERENCE: list[tuple[str, Callable[[Any], Any]]] = [
    ("nonscalar_backward", lambda L: (leaf(L) * 2).backward()),
    ("second_backward", _double_backward),
    ("backward_no_grad", lambda L: leaf(L, requires_grad=False).sum().backward()),
    ("backward_under_no_grad", lambda L: _under_no_grad(L)),
    ("backward_after_detach", lambda L: (leaf(L) * 2).detach().sum().backward()),
    ("inplace_leaf", lambda L: leaf(L).add_(1)),
    ("inplace_leaf_mul", lambda L: leaf(L).mul_(2)),
    ("inplace_leaf_setitem", lambda L: leaf(L).__setitem__(0, 1.0)),
    ("inplace_leaf_iadd", lambda L: _iadd(leaf(L))),
    ("inplace_view_of_leaf", lambda L: leaf(L, (2, 3))[0].add_(1)),
    ("inplace_view_of_leaf_t", lambda L: leaf(L, (2, 3)).t().mul_(1)),
    ("inplace_leaf_setitem_list", lambda L: leaf(L, (2, 3)).__setitem__([0], 1.0)),
    ("inplace_leaf_setitem_mask", lambda L: _setmask(leaf(L, (2, 3)))),
    ("inplace_leaf_setitem_full", lambda L: leaf(L, (2, 3)).__setitem__(slice(None), 1.0)),
    ("inplace_leaf_setitem_ellipsis", lambda L: leaf(L, (2, 3)).__setitem__(..., 1.0)),
    ("inplace_leaf_setitem_int_list", lambda L: leaf(L, (2, 3)).__setitem__((0, [1]), 1.0)),
    ("inplace_leaf_setitem_slice", lambda L: leaf(L, (2, 3)).__setitem__(slice(1, 2), 1.0)),
    ("inplace_leaf_fill", lambda L: leaf(L).fill_(0.0)),
    ("inplace_leaf_zero", lambda L: leaf(L).zero_()),
    ("inplace_leaf_copy", lambda L: leaf(L).copy_(L.ones(3))),
    ("inplace_leaf_clamp", lambda L: leaf(L).clamp_(0, 1)),
    ("inplace_leaf_div", lambda L: leaf(L).div_(2)),
    ("inplace_leaf_sub", lambda L: leaf(L).sub_(2)),
    ("inplace_view_of_leaf_view", lambda L: leaf(L, (2, 3)).view(6).fill_(0)),
    ("inplace_view_of_leaf_setitem", lambda L: leaf(L, (2, 3))[0].__setitem__(0, 1.0)),
    ("backward_wrong_shape", lambda L: (leaf(L) * 2).backward(L.ones(2))),
    ("backward_wrong_shape_2d", lambda L: (leaf(L, (2, 3)) * 2).backward(L.ones(3, 2))),
    ("saved_modified", _saved_modified_simple),
    ("saved_modified_later_use", _saved_modified),
    ("saved_input_modified", _saved_input_modified),
    ("saved_modified_double", _saved_double),
    ("requires_grad_false_nonleaf", _nonleaf_requires_grad_false),
    ("requires_grad_attr_nonleaf", _nonleaf_requires_grad_attr),
    ("int_requires_grad_", lambda L: L.tensor([1, 2]).requires_grad_()),
    ("int_requires_grad_attr", lambda L: setattr(L.tensor([1, 2]), "requires_grad", True)),
    ("int_tensor_requires_grad", lambda L: L.tensor([1, 2], requires_grad=True)),
    ("retain_grad_no_grad", lambda L: leaf(L, requires_grad=False).retain_grad()),
    ("grad_zero_before_backward", lambda L: leaf(L).grad.zero_()),
    ("numpy_requires_grad", lambda L: leaf(L).numpy()),
    ("numpy_nonleaf", lambda L: (leaf(L) * 2).numpy()),
    ("item_two", lambda L: L.tensor([1.0, 2.0]).item()),
    ("item_six", lambda L: leaf(L, (2, 3)).item()),
    ("broadcast", lambda L: leaf(L, (2,)) + leaf(L, (3,))),
    ("matmul_mismatch", lambda L: leaf(L, (2, 3)) @ leaf(L, (2, 3))),
]


def _under_no_grad(L: Any) -> None:
    x = leaf(L)
    with L.no_grad():
        y = (x * 2).sum()
    y.backward()


def _setmask(x: Any) -> None:
    x[x > 0] = 0.0


def _iadd(x: Any) -> None:
    x += 1


@pytest.mark.parametrize("program", [p for _, p in REFERENCE], ids=[i for i, _ in REFERENCE])
def test_reference_error(program: Callable[[Any], Any]) -> None:
    assert_same_error(lambda: program(engine), lambda: program(torch))


def test_reference_texts_verbatim() -> None:
    """The texts of PYTORCH_REFERENCE.md themselves (no torch needed to read them)."""
    e = capture_error(lambda: _saved_modified_simple(engine))
    assert str(e) == (
        "one of the variables needed for gradient computation has been modified by an inplace "
        "operation: [torch.FloatTensor [3]], which is output 0 of Exp, is at version 1; "
        "expected version 0 instead. Hint: enable anomaly detection to find the operation that "
        "failed to compute its gradient, with torch.autograd.set_detect_anomaly(True, "
        "check_nan=False).")
    e = capture_error(lambda: (leaf(engine) * 2).backward(engine.ones(2)))
    assert str(e) == ("Mismatch in shape: grad_output[0] has a shape of torch.Size([2]) and "
                      "output[0] has a shape of torch.Size([3]).")


def test_nonleaf_grad_warning() -> None:
    msgs = []
    for L in (engine, torch):
        y = leaf(L) * 2
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            assert y.grad is None
        # torch adds where in its C++ sources it warned from
        msgs.append([(x.category, re.sub(r" \(Triggered internally at .*\)$", "",
                                          str(x.message))) for x in w])
    assert msgs[0] == msgs[1] and len(msgs[0]) == 1
    # no warning for a leaf, or a non-leaf that retains its grad
    for L in (engine, torch):
        y = leaf(L) * 2
        y.retain_grad()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert y.grad is None
            assert leaf(L).grad is None


# ----------------------------------------------------------------------------- op errors
def _m(L: Any, *shape: int) -> Any:
    return leaf(L, shape)


OP_ERRORS: list[tuple[str, Callable[[Any], Any]]] = [
    # broadcasting
    ("add_bcast", lambda L: _m(L, 2, 3) + _m(L, 4, 3)),
    ("add_bcast_trailing", lambda L: _m(L, 2, 3) + _m(L, 2)),
    ("sub_bcast", lambda L: _m(L, 3, 1, 2) - _m(L, 4, 3)),
    ("mul_bcast", lambda L: _m(L, 5) * _m(L, 2, 3)),
    ("div_bcast", lambda L: _m(L, 2, 3) / _m(L, 3, 2)),
    ("pow_bcast", lambda L: _m(L, 2, 3) ** _m(L, 2)),
    ("maximum_bcast", lambda L: L.maximum(_m(L, 2, 3), _m(L, 4))),
    ("minimum_bcast", lambda L: L.minimum(_m(L, 3), _m(L, 4, 1, 2))),
    ("where_bcast", lambda L: L.where(_m(L, 3) > 0, _m(L, 3), _m(L, 2))),
    ("gt_bcast", lambda L: _m(L, 3) > _m(L, 2)),
    ("nograd_bcast", lambda L: leaf(L, (2, 3), False) * leaf(L, (3, 2), False)),
    # matrix products
    ("mm", lambda L: _m(L, 2, 3).mm(_m(L, 4, 2))),
    ("mm_fn", lambda L: L.mm(_m(L, 3, 3), _m(L, 2, 3))),
    ("mm_1d", lambda L: L.mm(_m(L, 3), _m(L, 3, 2))),
    ("mm_1d_second", lambda L: L.mm(_m(L, 2, 3), _m(L, 3))),
    ("mm_dtype", lambda L: L.mm(_m(L, 2, 3), _m(L, 3, 2).double())),
    ("mv", lambda L: _m(L, 2, 3).mv(_m(L, 4))),
    ("matmul_mv", lambda L: _m(L, 2, 3) @ _m(L, 2)),
    ("dot", lambda L: L.dot(_m(L, 3), _m(L, 4))),
    ("matmul_dot", lambda L: _m(L, 3) @ _m(L, 4)),
    ("dot_2d", lambda L: _m(L, 2, 3).dot(_m(L, 3))),
    ("matmul_vm", lambda L: _m(L, 3) @ _m(L, 4, 2)),
    ("matmul_0d", lambda L: L.matmul(_m(L), _m(L, 3))),
    ("matmul_3d_2d", lambda L: _m(L, 2, 3, 4) @ _m(L, 5, 2)),
    ("matmul_3d_3d", lambda L: _m(L, 2, 3, 4) @ _m(L, 2, 5, 2)),
    ("matmul_batch_bcast", lambda L: _m(L, 2, 3, 4) @ _m(L, 3, 4, 2)),
    ("matmul_3d_1d", lambda L: _m(L, 2, 3, 4) @ _m(L, 3)),
    # view / reshape
    ("view_size", lambda L: _m(L, 2, 3).view(4)),
    ("view_size_neg", lambda L: _m(L, 2, 3).view(-1, 4)),
    ("view_two_neg", lambda L: _m(L, 2, 3).view(-1, -1)),
    ("reshape_size", lambda L: _m(L, 2, 3).reshape(5)),
    ("view_stride", lambda L: _m(L, 2, 3).t().view(6)),
    ("view_stride_nograd", lambda L: leaf(L, (2, 3), False).t().view(-1)),
    ("expand_size", lambda L: _m(L, 2, 3).expand(4, 3)),
    ("expand_fewer", lambda L: _m(L, 2, 3).expand(3)),
    ("t_3d", lambda L: _m(L, 2, 3, 4).t()),
    ("permute_len", lambda L: _m(L, 2, 3).permute(0)),
    ("cat_sizes", lambda L: L.cat([_m(L, 2, 3), _m(L, 2, 4)])),
    ("stack_sizes", lambda L: L.stack([_m(L, 2, 3), _m(L, 3, 2)])),
    ("stack_ndim", lambda L: L.stack([_m(L, 2), _m(L, 2, 2)])),
    ("cat_0d", lambda L: L.cat([_m(L, 1), leaf(L, ())])),
    ("cat_ndim", lambda L: L.cat([_m(L, 2, 2), _m(L, 2)])),
    ("cat_dim", lambda L: L.cat([_m(L, 2, 2)], 2)),
    # dims
    ("sum_dim", lambda L: _m(L, 2, 3).sum(2)),
    ("sum_dim_neg", lambda L: _m(L, 2, 3).sum(-3)),
    ("mean_dim", lambda L: _m(L, 2, 3).mean(5)),
    ("max_dim", lambda L: _m(L, 2, 3).max(2)),
    ("softmax_dim", lambda L: _m(L, 2, 3).softmax(2)),
    ("unsqueeze_dim", lambda L: _m(L, 2, 3).unsqueeze(4)),
    ("transpose_dim", lambda L: _m(L, 2, 3).transpose(0, 2)),
    ("squeeze_dim", lambda L: _m(L, 2, 3).squeeze(3)),
    ("mean_int", lambda L: L.tensor([1, 2]).mean()),
    # indexing
    ("index_int", lambda L: _m(L, 3, 4)[3]),
    ("index_neg", lambda L: _m(L, 3, 4)[-4]),
    ("index_second_dim", lambda L: _m(L, 3, 4)[0, 4]),
    ("index_second_dim_nograd", lambda L: leaf(L, (3, 4), False)[1, -5]),
    ("index_too_many", lambda L: _m(L, 3, 4)[0, 0, 0]),
    ("index_list", lambda L: _m(L, 3, 4)[[0, 3]]),
    ("index_list_second", lambda L: _m(L, 3, 4)[:, [0, 7]]),
    ("index_tensor", lambda L: _m(L, 3, 4)[L.tensor([5])]),
    ("index_mask_shape", lambda L: _m(L, 3, 4)[L.tensor([True, False])]),
    ("index_0d", lambda L: _m(L)[0] if False else leaf(L, ())[0]),
    ("index_float", lambda L: _m(L, 3)[L.tensor([0.0])]),
]


@pytest.mark.parametrize("program", [p for _, p in OP_ERRORS], ids=[i for i, _ in OP_ERRORS])
def test_op_error(program: Callable[[Any], Any]) -> None:
    assert_same_error(lambda: program(engine), lambda: program(torch))


# ----------------------------------------------------------------------------- annotations
SHAPE_ERRORS = [
    ("add", lambda: _m(engine, 2, 3) + _m(engine, 4, 3), ((2, 3), (4, 3))),
    ("mul", lambda: _m(engine, 5) * _m(engine, 2, 3), ((5,), (2, 3))),
    ("maximum", lambda: engine.maximum(_m(engine, 2), _m(engine, 3)), ((2,), (3,))),
    ("mm", lambda: _m(engine, 2, 3) @ _m(engine, 2, 3), ((2, 3), (2, 3))),
    ("mv", lambda: _m(engine, 2, 3).mv(_m(engine, 4)), ((2, 3), (4,))),
    ("dot", lambda: _m(engine, 3) @ _m(engine, 4), ((3,), (4,))),
    ("bmm", lambda: _m(engine, 2, 3, 4) @ _m(engine, 2, 5, 2), ((2, 3, 4), (2, 5, 2))),
    ("view", lambda: _m(engine, 2, 3).view(4), ((2, 3), (4,))),
    ("reshape", lambda: _m(engine, 2, 3).reshape(5), ((2, 3), (5,))),
    ("view", lambda: _m(engine, 2, 3).t().view(6), ((3, 2), (6,))),
]


@pytest.mark.parametrize("op,program,shapes", SHAPE_ERRORS,
                         ids=[f"{i}-{k}" for k, (i, _, _) in enumerate(SHAPE_ERRORS)])
def test_shape_errors_carry_op_and_shapes(op: str, program: Callable[[], Any],
                                          shapes: tuple) -> None:
    e = capture_error(program)
    assert e.op == op
    assert tuple(tuple(s) for s in e.shapes) == shapes
