"""engine.nn: torch.nn's training layer for the engine (Module, Parameter, Linear, Sequential,
activations, losses) and ``engine.nn.functional`` / ``engine.nn.init``."""

from engine.nn import functional, init  # noqa: F401
from engine.nn.modules import (  # noqa: F401
    CrossEntropyLoss,
    Dropout,
    Flatten,
    Identity,
    L1Loss,
    LeakyReLU,
    Linear,
    LogSoftmax,
    Module,
    ModuleList,
    MSELoss,
    NLLLoss,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from engine.nn.parameter import Buffer, Parameter  # noqa: F401
