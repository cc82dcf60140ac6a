"""The seed notebook's printed results, reproduced by the engine (golden numbers, no torch).

The notebook printed x to 4 decimals only, and z = 2(x+2)^2 amplifies that rounding 12-fold, so
x is taken back from the most sensitive printed output (z = 2y^2, so y = sqrt(z/2)); with that x
every printed value must come out to the printed digit, give or take one in the last place. The
same cells run from the printed x must agree within the rounding they inherit.
"""

import numpy as np
import pytest

import engine as torch

PRINTED_Z = [1.0825, 18.1908, 10.1292]


def seed_x() -> torch.Tensor:
    x = np.sqrt(np.array(PRINTED_Z) / 2) - 2
    return torch.tensor(x.astype(np.float32), requires_grad=True)


def close_to_print(t: torch.Tensor, printed: list[float], ulp: float = 1e-4) -> None:
    np.testing.assert_allclose(t.detach().numpy(), printed, rtol=0, atol=ulp * 1.01)


def test_cells_2_to_6_reprs_and_gradient():
    x = seed_x()
    assert repr(x) == "tensor([-1.2643,  1.0159,  0.2505], requires_grad=True)"
    y = x + 2
    assert repr(y) == "tensor([0.7357, 3.0159, 2.2505], grad_fn=<AddBackward0>)"
    z = y * y * 2
    assert repr(z) == "tensor([ 1.0825, 18.1908, 10.1292], grad_fn=<MulBackward0>)"
    z = z.mean()
    assert repr(z) == "tensor(9.8008, grad_fn=<MeanBackward0>)"
    assert x.grad is None
    z.backward()
    assert repr(x.grad) == "tensor([0.9809, 4.0211, 3.0006])"


def test_printed_x_reproduces_within_inherited_rounding():
    x = torch.tensor([-1.2643, 1.0159, 0.2505], requires_grad=True)
    y = x + 2
    close_to_print(y, [0.7357, 3.0159, 2.2505])
    z = y * y * 2
    # dz/dx = 4y: rounding of x by 5e-5 moves z by up to 4|y| * 5e-5
    tol = 4 * np.abs(y.detach().numpy()) * 5e-5 + 1e-4
    np.testing.assert_array_less(np.abs(z.detach().numpy() - PRINTED_Z), tol)
    m = z.mean()
    assert abs(m.item() - 9.8008) < tol.mean() + 1e-4
    m.backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.9809, 4.0211, 3.0006], atol=4 / 3 * 5e-5 + 1e-4)


def test_cell_7_non_scalar_backward_error():
    x = seed_x()
    z = (x + 2) * (x + 2) * 2
    assert repr(z) == "tensor([ 1.0825, 18.1908, 10.1292], grad_fn=<MulBackward0>)"
    with pytest.raises(RuntimeError, match="^grad can be implicitly created only for scalar "
                                           "outputs$"):
        z.backward()
    assert x.grad is None


def test_cell_10_backward_with_vector_accumulates():
    # the notebook ran cell 10 three times (In [8] to In [10]) after cell 6's backward
    x = seed_x()
    y = x + 2
    (y * y * 2).mean().backward()
    v = torch.tensor([0.1, 1.0, 0.001], dtype=torch.float32)
    for _ in range(3):
        z = y * y * 2  # y's AddBackward0 saved nothing, so its graph can run again
        z.backward(v)
    close_to_print(x.grad, [1.8638, 40.2115, 3.0276])


def test_cells_11_to_14_three_ways_to_stop_tracking():
    x = torch.tensor([-0.8556, 0.9844, 2.5797], requires_grad=True)
    assert repr(x) == "tensor([-0.8556,  0.9844,  2.5797], requires_grad=True)"
    x.requires_grad_(False)
    assert repr(x) == "tensor([-0.8556,  0.9844,  2.5797])"
    assert not x.requires_grad and x.is_leaf
    x.requires_grad_(True)
    y = x.detach()
    assert repr(y) == "tensor([-0.8556,  0.9844,  2.5797])"
    assert not y.requires_grad and y.grad_fn is None
    with torch.no_grad():
        y = x + 2
    assert repr(y) == "tensor([1.1444, 2.9844, 4.5797])"
    assert y.grad_fn is None and not y.requires_grad


def _loop(zero: bool) -> list[str]:
    weights = torch.ones(4, requires_grad=True)
    lines = []
    for epoch in range(3):
        model_output = (weights * 3).sum()
        model_output.backward()
        lines.append("gradient value in the epoch {} is: {}".format(epoch, weights.grad))  # noqa: UP032 - the notebook's own line
        if zero:
            weights.grad.zero_()
    return lines


def test_cell_16_wrong_approach_accumulates():
    assert _loop(zero=False) == [
        "gradient value in the epoch 0 is: tensor([3., 3., 3., 3.])",
        "gradient value in the epoch 1 is: tensor([6., 6., 6., 6.])",
        "gradient value in the epoch 2 is: tensor([9., 9., 9., 9.])",
    ]


def test_cell_18_right_approach_zeroes():
    assert _loop(zero=True) == [f"gradient value in the epoch {i} is: tensor([3., 3., 3., 3.])"
                                for i in range(3)]


def test_grad_identity_survives_accumulation():
    w = torch.ones(4, requires_grad=True)
    (w * 3).sum().backward()
    g = w.grad
    (w * 3).sum().backward()
    assert w.grad is g  # accumulated in place, as torch does
    assert g.tolist() == [6.0] * 4


def test_zero_before_any_backward_is_the_notebooks_attribute_error():
    w = torch.ones(4, requires_grad=True)
    with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'zero_'"):
        w.grad.zero_()
