"""Grad mode: no_grad, enable_grad and set_grad_enabled, per thread, as in torch.autograd.grad_mode.

Each is a context manager and a decorator; ``set_grad_enabled(False)`` also works as a plain call.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
           "inference_mode"]

F = TypeVar("F", bound=Callable[..., Any])


class _State(threading.local):
    enabled = True


_state = _State()


def is_grad_enabled() -> bool:
    """True when operations on tensors that require grad are recorded."""
    return _state.enabled


def _set(mode: bool) -> None:
    _state.enabled = bool(mode)


class _DecoratorContextManager:
    """Base: a context manager that can also decorate functions and generators."""

    def __call__(self, func: F) -> F:
        if inspect.isclass(func):
            raise RuntimeError(f"{type(self).__name__} cannot decorate a class")
        ctx_factory = self.clone
        if inspect.isgeneratorfunction(func):
            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                gen = func(*args, **kwargs)
                try:
                    with ctx_factory():
                        response = gen.send(None)
                    while True:
                        try:
                            request = yield response
                        except GeneratorExit:
                            with ctx_factory():
                                gen.close()
                            raise
                        except BaseException as exc:  # noqa: B902 - forwarded into the generator
                            with ctx_factory():
                                response = gen.throw(exc)
                        else:
                            with ctx_factory():
                                response = gen.send(request)
                except StopIteration as e:
                    return e.value
            return gen_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with ctx_factory():
                return func(*args, **kwargs)
        return wrapper  # type: ignore[return-value]

    def clone(self) -> _DecoratorContextManager:
        return self.__class__()


class no_grad(_DecoratorContextManager):
    """Disable gradient recording inside the block or the decorated function."""

    def __init__(self) -> None:
        self.prev = False

    def __enter__(self) -> None:
        self.prev = _state.enabled
        _state.enabled = False

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self.prev


class enable_grad(_DecoratorContextManager):
    """Enable gradient recording inside the block, even within ``no_grad``."""

    def __init__(self) -> None:
        self.prev = False

    def __enter__(self) -> None:
        self.prev = _state.enabled
        _state.enabled = True

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self.prev


class set_grad_enabled(_DecoratorContextManager):
    """Set grad mode: immediately when called, restored on leaving a ``with`` block."""

    def __init__(self, mode: bool) -> None:
        self.prev = _state.enabled
        self.mode = bool(mode)
        _state.enabled = self.mode

    def __call__(self, func: F) -> F:  # used as a decorator: undo the immediate switch
        _state.enabled = self.prev
        return super().__call__(func)

    def __enter__(self) -> None:
        _state.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self.prev

    def clone(self) -> set_grad_enabled:
        return self.__class__(self.mode)


class inference_mode(no_grad):
    """Alias of no_grad here (the engine has no separate inference tensors)."""

    def __init__(self, mode: bool = True) -> None:
        super().__init__()
        self.mode = mode

    def __enter__(self) -> None:
        self.prev = _state.enabled
        _state.enabled = not self.mode

    def clone(self) -> inference_mode:
        return self.__class__(self.mode)
