"""engine.optim: torch.optim's Optimizer, SGD, Adam, AdamW, RMSprop, Adagrad and Adadelta on
engine tensors, and ``lr_scheduler``.

``step()`` updates the parameters in place on their arrays (no graph is recorded, versions are
bumped as torch's in-place updates do) with torch's single-tensor formulas, so a run matches
torch's parameters step for step. ``zero_grad()`` sets gradients to None by default (torch 2.x).
When somebody listens, ``step()`` emits ``optimizer_step`` and ``zero_grad()`` emits
``grad_changed`` for each cleared gradient.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from engine.ops._fma import axpy  # torch's add(alpha=...): one fused rounding
from engine.optim import lr_scheduler
from engine.optim.optimizer import Optimizer, required  # noqa: F401 - torch.optim's names
from engine.tensor import Tensor, _make

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "lr_scheduler"]


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov and weight decay
    (torch's formulas: ``buf = momentum * buf + (1 - dampening) * g``, ``p -= lr * buf``)."""

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False, foreach: Any = None, differentiable: bool = False,
                 fused: Any = None) -> None:
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(momentum >= 0.0, f"Invalid momentum value: {momentum}")
        _check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
                    "foreach": foreach, "differentiable": differentiable, "fused": fused}
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def _update(self, p: Tensor, g: np.ndarray, group: dict, state: dict) -> None:
        d = p._data
        if group["maximize"]:
            g = -g
        wd = group["weight_decay"]
        if wd != 0:
            g = axpy(g, d, wd)
        momentum = group["momentum"]
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = _make(np.array(g, copy=True))
            else:
                b = buf._data
                b *= momentum
                b[...] = axpy(b, g, 1 - group["dampening"])
            if group["nesterov"]:
                g = axpy(g, buf._data, momentum)
            else:
                g = buf._data
        d[...] = axpy(d, g, -group["lr"])


class Adam(Optimizer):
    """Adam (torch's single-tensor formulas, bias-corrected), with weight decay (L2, or
    decoupled as AdamW), amsgrad and maximize."""

    def __init__(self, params: Iterable, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach: Any = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: Any = None,
                 decoupled_weight_decay: bool = False) -> None:
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(eps >= 0.0, f"Invalid epsilon value: {eps}")
        _check(0.0 <= betas[0] < 1.0, f"Invalid beta parameter at index 0: {betas[0]}")
        _check(0.0 <= betas[1] < 1.0, f"Invalid beta parameter at index 1: {betas[1]}")
        _check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
                    "capturable": capturable, "differentiable": differentiable, "fused": fused,
                    "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def _update(self, p: Tensor, g: np.ndarray, group: dict, state: dict) -> None:
        d = p._data
        if not state:
            state["step"] = _make(np.zeros((), dtype=np.float32))
            state["exp_avg"] = _make(np.zeros_like(d))
            state["exp_avg_sq"] = _make(np.zeros_like(d))
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = _make(np.zeros_like(d))
        if group["maximize"]:
            g = -g
        beta1, beta2 = group["betas"]
        lr, wd = group["lr"], group["weight_decay"]
        step_t = state["step"]._data
        step_t += 1
        if wd != 0:
            if group["decoupled_weight_decay"]:
                d *= 1 - lr * wd
            else:
                g = g + wd * d
        m = state["exp_avg"]._data
        v = state["exp_avg_sq"]._data
        m += (g - m) * (1 - beta1)  # torch's lerp_(grad, 1 - beta1)
        v *= beta2
        v += (1 - beta2) * (g * g)
        step = float(step_t)
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        step_size = lr / bias_correction1
        bc2_sqrt = math.sqrt(bias_correction2)
        if group["amsgrad"]:
            mx = state["max_exp_avg_sq"]._data
            np.maximum(mx, v, out=mx)
            denom = np.sqrt(mx) / bc2_sqrt + group["eps"]
        else:
            denom = np.sqrt(v) / bc2_sqrt + group["eps"]
        d -= step_size * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (default 1e-2), as torch.optim.AdamW."""

    def __init__(self, params: Iterable, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: Any = None, capturable: bool = False, differentiable: bool = False,
                 fused: Any = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)


def _zeros_state(d: np.ndarray) -> Tensor:
    return _make(np.zeros_like(d))


def _step_state() -> Tensor:
    return _make(np.zeros((), dtype=np.float32))


class RMSprop(Optimizer):
    """RMSprop (torch's single-tensor formulas): a running mean of squared gradients divides
    the step; optional momentum and centering."""

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False, capturable: bool = False, foreach: Any = None,
                 maximize: bool = False, differentiable: bool = False) -> None:
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(eps >= 0.0, f"Invalid epsilon value: {eps}")
        _check(momentum >= 0.0, f"Invalid momentum value: {momentum}")
        _check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        _check(alpha >= 0.0, f"Invalid alpha value: {alpha}")
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                    "centered": centered, "weight_decay": weight_decay,
                    "capturable": capturable, "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _update(self, p: Tensor, g: np.ndarray, group: dict, state: dict) -> None:
        d = p._data
        if not state:
            state["step"] = _step_state()
            state["square_avg"] = _zeros_state(d)
            if group["momentum"] > 0:
                state["momentum_buffer"] = _zeros_state(d)
            if group["centered"]:
                state["grad_avg"] = _zeros_state(d)
        if group["maximize"]:
            g = -g
        state["step"]._data += 1
        wd, alpha = group["weight_decay"], group["alpha"]
        if wd != 0:
            g = g + wd * d
        sq = state["square_avg"]._data
        sq *= alpha
        sq += (1 - alpha) * (g * g)
        if group["centered"]:
            ga = state["grad_avg"]._data
            ga += (g - ga) * (1 - alpha)
            avg = np.sqrt(sq - ga * ga)
        else:
            avg = np.sqrt(sq)
        avg += group["eps"]
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]._data
            buf *= group["momentum"]
            buf += g / avg
            d -= group["lr"] * buf
        else:
            d -= group["lr"] * (g / avg)


class Adagrad(Optimizer):
    """Adagrad: the step is divided by the root of the summed squared gradients (state made
    at construction, as torch does)."""

    def __init__(self, params: Iterable, lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, foreach: Any = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: Any = None) -> None:
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(lr_decay >= 0.0, f"Invalid lr_decay value: {lr_decay}")
        _check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        _check(initial_accumulator_value >= 0.0,
               f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        _check(eps >= 0.0, f"Invalid epsilon value: {eps}")
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value,
                    "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["step"] = _step_state()
                self.state[p]["sum"] = _make(np.full_like(
                    p._data, group["initial_accumulator_value"]))

    def _update(self, p: Tensor, g: np.ndarray, group: dict, state: dict) -> None:
        d = p._data
        step_t = state["step"]._data
        step_t += 1
        step = float(step_t)
        if group["maximize"]:
            g = -g
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * d
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        s = state["sum"]._data
        s += g * g
        std = np.sqrt(s)
        std += group["eps"]
        d -= clr * (g / std)


class Adadelta(Optimizer):
    """Adadelta: steps scaled by the ratio of running RMS of updates and of gradients."""

    def __init__(self, params: Iterable, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: Any = None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False) -> None:
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(0.0 <= rho <= 1.0, f"Invalid rho value: {rho}")
        _check(eps >= 0.0, f"Invalid epsilon value: {eps}")
        _check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize, "capturable": capturable, "foreach": foreach,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _update(self, p: Tensor, g: np.ndarray, group: dict, state: dict) -> None:
        d = p._data
        if not state:
            state["step"] = _step_state()
            state["square_avg"] = _zeros_state(d)
            state["acc_delta"] = _zeros_state(d)
        state["step"]._data += 1
        if group["maximize"]:
            g = -g
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * d
        rho, eps = group["rho"], group["eps"]
        sq = state["square_avg"]._data
        acc = state["acc_delta"]._data
        sq *= rho
        sq += (1 - rho) * (g * g)
        std = np.sqrt(sq + eps)
        delta = np.sqrt(acc + eps)
        delta /= std
        delta *= g
        acc *= rho
        acc += (1 - rho) * (delta * delta)
        d -= group["lr"] * delta

