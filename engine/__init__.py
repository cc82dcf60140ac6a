"""engine: PyTorch's autograd on numpy, with graph events and one-node-at-a-time backward.

``import engine as torch`` runs lesson code written for torch: same names, reprs, grad_fn
nodes and error messages. The engine imports numpy only.
"""

import builtins
import sys

from engine import _methods, events  # noqa: F401
from engine._dtype import bool_ as bool  # noqa: F401
from engine._dtype import (  # noqa: F401
    dtype,
    float16,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    uint8,
)
from engine._sampling import bernoulli, multinomial, poisson  # noqa: F401
from engine.creation import (  # noqa: F401
    Generator,
    arange,
    as_tensor,
    default_generator,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    get_rng_state,
    initial_seed,
    linspace,
    manual_seed,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    seed,
    set_rng_state,
    zeros,
    zeros_like,
)
from engine.grad_mode import (  # noqa: F401
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from engine.ops.linalg import addmm, dot, matmul, mm, mv, outer  # noqa: F401
from engine.ops.pointwise import (  # noqa: F401
    abs,
    add,
    clamp,
    clamp_max,
    clamp_min,
    clone,
    cos,
    div,
    exp,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    reciprocal,
    relu,
    sigmoid,
    sin,
    sqrt,
    square,
    sub,
    tanh,
    where,
)
from engine.ops.reduce import (  # noqa: F401
    amax,
    amin,
    argmax,
    argmin,
    log_softmax,
    max,
    mean,
    min,
    norm,
    softmax,
    sum,
)
from engine.ops.shape import (  # noqa: F401
    cat,
    expand,
    flatten,
    permute,
    reshape,
    squeeze,
    stack,
    transpose,
    unsqueeze,
)
from engine.ops.shape import t as t  # noqa: F401
from engine.tensor import Size, Tensor, tensor  # noqa: F401

_methods.bind()

from engine import (  # noqa: E402,F401
    _api,
    _torch_names,
    autograd,
    backends,
    cuda,
    functional,
    grad_mode,
    linalg,
    nn,
    optim,
    random,
    trace,
    utils,
)
from engine.device import device, get_default_device, set_default_device  # noqa: E402,F401
from engine.legacy import (  # noqa: E402,F401
    BoolTensor,
    ByteTensor,
    CharTensor,
    DoubleTensor,
    FloatTensor,
    HalfTensor,
    IntTensor,
    LongTensor,
    ShortTensor,
)
from engine.legacy import range_ as range  # noqa: E402,F401,A001
from engine.serialization import load, save  # noqa: E402,F401

_torch_names.apply(nn, optim, grad_mode)

float = float32  # noqa: A001 - torch.float
double = float64
half = float16
long = int64
int = int32  # noqa: A001
short = int16
clip = clamp
concat = concatenate = cat
subtract = sub
multiply = mul
divide = true_divide = div
negative = neg
__version__ = "0.1.0"


_api.install(globals())

from engine import accelerator  # noqa: E402,F401
from engine import autograd_functional as _autograd_functional  # noqa: E402

autograd.functional = _autograd_functional  # torch.autograd.functional
sys.modules.setdefault("engine.autograd.functional", _autograd_functional)
from engine.ops import select as _select  # noqa: E402

_select.install(globals())
linalg.matmul = matmul  # torch.linalg.matmul is torch.matmul

_deterministic = {"mode": False, "warn_only": False}


def use_deterministic_algorithms(mode: "builtins.bool", *,
                                 warn_only: "builtins.bool" = False) -> None:
    """Recorded only: every engine op is deterministic."""
    _deterministic.update(mode=builtins.bool(mode), warn_only=builtins.bool(warn_only))


def are_deterministic_algorithms_enabled() -> "builtins.bool":
    return _deterministic["mode"]


def is_deterministic_algorithms_warn_only_enabled() -> "builtins.bool":
    return _deterministic["warn_only"]


def get_deterministic_debug_mode() -> "builtins.int":
    if not _deterministic["mode"]:
        return 0
    return 1 if _deterministic["warn_only"] else 2


def set_deterministic_debug_mode(debug_mode: "builtins.int | str") -> None:
    modes = {"default": 0, "warn": 1, "error": 2}
    m = modes[debug_mode] if isinstance(debug_mode, str) else builtins.int(debug_mode)
    _deterministic.update(mode=m > 0, warn_only=m == 1)


def is_tensor(obj: object) -> "builtins.bool":
    """True for engine tensors."""
    return isinstance(obj, Tensor)


def numel(t: Tensor) -> "builtins.int":
    return t.numel()


def get_default_dtype() -> dtype:
    return float32


def result_type(a: object, b: object) -> dtype:
    from engine._dtype import from_numpy_dtype
    from engine._dtype import result_type as _rt
    return from_numpy_dtype(_rt(a, b))


def equal(a: Tensor, b: Tensor) -> "builtins.bool":
    return a.equal(b)


def allclose(a: Tensor, b: Tensor, rtol: "builtins.float" = 1e-05,  # noqa: F821
             atol: "builtins.float" = 1e-08, equal_nan: "builtins.bool" = False
             ) -> "builtins.bool":
    return a.allclose(b, rtol, atol, equal_nan)


def set_printoptions(**_: object) -> None:
    """Accepted for compatibility; the engine prints with torch's defaults."""
