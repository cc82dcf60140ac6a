"""One training script run iteration by iteration in a namespace of its own (no Qt).

``TrainingRun`` runs the setup, then one iteration per ``step()`` (the body compiled by
:mod:`gradviz.training.loop`), records what the plots show (:mod:`gradviz.training.series`)
and keeps its own random numbers and printed output. An iteration that raises, or leaves a
non-finite loss, grad or parameter, stops its run with state ``"error"`` and torch's message;
an iteration that runs longer than ``iteration_timeout`` seconds is interrupted (the main
thread only, by :class:`gradviz.watchdog.Watchdog`) the way ``Session.run`` stops a runaway
cell.
"""

from __future__ import annotations

import ast
import contextlib
import math
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import engine
from engine import Tensor
from engine import autograd as _autograd
from engine.events import id_of
from gradviz.session import BackwardCursor, engine_namespace, format_error
from gradviz.training.guard import BoundedText, user_line
from gradviz.training.loop import FILENAME, compile_iteration, split_loop
from gradviz.training.series import RunSeries
from gradviz.watchdog import Watchdog

__all__ = ["TrainingRun", "ITERATION_TIMEOUT_S", "SETUP_TIMEOUT_S"]

ITERATION_TIMEOUT_S = 5.0
SETUP_TIMEOUT_S = 10.0


# ============================================================================ one run
class TrainingRun(RunSeries):
    """One training script executed iteration by iteration in a namespace of its own.

    ``start()`` runs the setup; ``step()`` runs one iteration; ``run_to(goal, deadline)`` runs
    iterations until ``count == goal``, the time is up, or the run stops. ``state`` is
    ``"new"``, ``"ready"`` (iterations may follow), ``"in_backward"`` (an iteration's forward
    ran and its backward waits for :meth:`finish_iteration`), ``"finished"`` or ``"error"``
    (``error`` holds torch's message, ``error_line`` the line).
    """

    def __init__(self, source: str, label: str = "", *, variables: dict[str, Any] | None = None,
                 limit: int = 100, seed: int | None = 0,
                 iteration_timeout: float | None = ITERATION_TIMEOUT_S,
                 setup_timeout: float | None = SETUP_TIMEOUT_S) -> None:
        super().__init__()
        self.source = source
        self.label = label
        self.variables = dict(variables or {})
        self.limit = int(limit)
        self.seed = seed
        self.iteration_timeout = iteration_timeout
        self.setup_timeout = setup_timeout
        self.namespace: dict[str, Any] = {}
        self.state = "new"
        self.error: str | None = None
        self.error_kind: str | None = None  # "exception" | "nan" | "timeout" | "syntax"
        self.error_line: int | None = None
        self.error_iteration: int | None = None
        self.exception: BaseException | None = None
        self.stop_reason = ""
        self.root: Tensor | None = None  # root of the current (or last) iteration's backward
        self.backward_args: tuple = ()
        self.backward_kwargs: dict[str, Any] = {}
        self._out = BoundedText()
        self._rng_engine: dict | None = None
        self._rng_numpy: Any = None
        # numpy's global generator is swapped only for code that may use it (150 µs a swap)
        self._uses_np_global_random = bool(_NP_GLOBAL_RANDOM.search(source))
        self._iteration: Callable[..., Any] | None = None
        self._iter: Iterator[Any] | None = None
        self._test_code: Any = None
        self._after_code: Any = None
        self._gen: Any = None
        self._pending: tuple | None = None
        self._grads_taken = False
        self._present = np.empty(0, dtype=bool)

    # ----- output, rng
    @property
    def output(self) -> str:
        """What the run printed (the last 20,000 characters)."""
        return self._out.getvalue()

    @property
    def active(self) -> bool:
        """True while iterations may follow (``ready`` or ``in_backward``)."""
        return self.state in ("ready", "in_backward")

    @contextlib.contextmanager
    def _context(self) -> Iterator[None]:
        """Own random numbers and captured output while the run's code runs."""
        outer_engine = engine.get_rng_state()
        np_global = self._uses_np_global_random
        outer_numpy = np.random.get_state() if np_global else None
        if self._rng_engine is not None:
            engine.set_rng_state(self._rng_engine)
            if np_global:
                np.random.set_state(self._rng_numpy)
        try:
            with contextlib.redirect_stdout(self._out), contextlib.redirect_stderr(self._out):
                yield
        finally:
            self._rng_engine = engine.get_rng_state()
            engine.set_rng_state(outer_engine)
            if np_global:
                self._rng_numpy = np.random.get_state()
                np.random.set_state(outer_numpy)

    # ----- setup
    def start(self) -> TrainingRun:
        """Run the setup (seeded with ``seed`` so both runs of a pair start alike)."""
        if self.state != "new":
            return self
        ns = self.namespace
        ns.update(engine_namespace("__training__"))
        ns.update(self.variables)
        ns.setdefault("iterations", self.limit)
        try:
            parts = split_loop(self.source)
        except SyntaxError as e:
            self._fail(f"SyntaxError: {e.msg}", "syntax", e.lineno, e)
            return self
        except ValueError as e:
            self._fail(str(e), "syntax", None, e)
            return self
        self.loop_line = parts.loop.lineno
        try:
            code, it_code, test_code = compile_iteration(parts.loop)
            setup_code = compile(ast.Module(parts.setup, []), FILENAME, "exec")
            self._after_code = compile(ast.Module(parts.after, []), FILENAME, "exec") \
                if parts.after else None
        except SyntaxError as e:  # e.g. ``return`` at top level
            self._fail(f"SyntaxError: {e.msg}", "syntax", e.lineno, e)
            return self
        outer_engine = engine.get_rng_state()
        outer_numpy = np.random.get_state()
        if self.seed is not None:
            engine.manual_seed(self.seed)
            np.random.seed(self.seed)
        self._rng_engine = engine.get_rng_state()
        self._rng_numpy = np.random.get_state()
        engine.set_rng_state(outer_engine)
        np.random.set_state(outer_numpy)
        ok = self._guarded(lambda: self._setup(setup_code, code, it_code, test_code),
                           self.setup_timeout, where="setup")
        if not ok:
            return self
        self._discover()
        self._alloc(min(max(self.limit, 1), 4096))  # grows by doubling
        self.state = "ready"
        if self.limit <= 0:
            self._finish("the iteration count is 0")
        return self

    def _setup(self, setup_code: Any, code: Any, it_code: Any, test_code: Any) -> None:
        ns = self.namespace
        exec(setup_code, ns)
        exec(code, ns)
        self._iteration = ns.pop("__gv_iteration__")
        if it_code is not None:
            self._iter = iter(eval(it_code, ns))
        self._test_code = test_code

    def _guarded(self, fn: Callable[[], Any], timeout: float | None, where: str) -> bool:
        """Run user code with the watchdog, output capture and the run's rng; on failure set
        the error state. True when it went through."""
        wd = Watchdog.get()
        try:
            with self._context():
                if wd is not None:
                    wd.arm(timeout)
                try:
                    fn()
                finally:
                    if wd is not None and wd.disarm():
                        wd.absorb()
                        raise _Timeout()
        except _Timeout:
            self._fail(f"TimeoutError: the {where} ran longer than {timeout:g} s and was "
                       "stopped", "timeout", None, None)
            return False
        except KeyboardInterrupt as e:
            if wd is not None and wd.fired:
                self._fail(f"TimeoutError: the {where} ran longer than {timeout:g} s and was "
                           "stopped", "timeout", user_line(e), e)
            else:
                self._fail("KeyboardInterrupt", "exception", user_line(e), e)
            return False
        except BaseException as e:  # user code: anything may happen, the app must survive
            if isinstance(e, SystemExit):
                e = RuntimeError("exit() is not available inside gradviz")
            self._fail(format_error(e), "exception", user_line(e), e)
            return False
        return True

    def _fail(self, message: str, kind: str, line: int | None,
              exc: BaseException | None) -> None:
        self.state = "error"
        self.error = message
        self.error_kind = kind
        self.error_line = line
        self.exception = exc
        self.error_iteration = self.count + 1 if self._iteration is not None else None
        self.stop_reason = message
        self._close_gen()

    def _finish(self, reason: str) -> None:
        self.state = "finished"
        self.stop_reason = reason
        self._close_gen()
        if self._after_code is not None:
            code, self._after_code = self._after_code, None
            self._guarded(lambda: exec(code, self.namespace), self.setup_timeout,
                          where="code after the loop")
            if self.state == "error":
                self.error_iteration = None

    def stop(self, reason: str = "stopped") -> None:
        """End the run now (no more iterations; the series are kept)."""
        if self.active or self.state == "new":
            self.state = "finished"
            self.stop_reason = reason
            self._close_gen()

    def _close_gen(self) -> None:
        gen, self._gen = self._gen, None
        self._pending = None
        if gen is not None:
            with contextlib.suppress(BaseException):
                gen.close()

    # ----- parameters and buffers
    def _discover(self) -> None:
        """Find the parameters: leaf tensors requiring grad named in the namespace, module
        parameters, optimizer parameters (in that order, each once)."""
        ns = self.namespace
        found: list[tuple[str, Callable[[], Any], Tensor]] = []
        seen: set[int] = set()
        optimizers = []
        skip = {"torch", "engine", "np", "__builtins__"}
        for name, v in list(ns.items()):
            if name.startswith("_") or name in skip:
                continue
            if isinstance(v, Tensor):
                if v.requires_grad and v.grad_fn is None and id_of(v) not in seen:
                    seen.add(id_of(v))
                    found.append((name, _ns_getter(ns, name), v))
            elif hasattr(v, "param_groups"):
                optimizers.append((name, v))
            elif callable(getattr(v, "named_parameters", None)) and not isinstance(v, type):
                try:
                    named = list(v.named_parameters())
                except Exception:
                    continue
                for pname, p in named:
                    if isinstance(p, Tensor) and id_of(p) not in seen:
                        seen.add(id_of(p))
                        found.append((f"{name}.{pname}", _const_getter(p), p))
        for oname, opt in optimizers:
            self.has_optimizer = True
            try:
                groups = list(opt.param_groups)
            except Exception:
                continue
            i = 0
            for g in groups:
                for p in (g.get("params", ()) if isinstance(g, dict) else ()):
                    if isinstance(p, Tensor) and id_of(p) not in seen:
                        seen.add(id_of(p))
                        found.append((f"{oname}.param{i}", _const_getter(p), p))
                    i += 1
        self._columns(found)

    # ----- iterations
    def step(self) -> bool:
        """Run one iteration. False when the run is (now) finished or failed."""
        if self.state == "new":
            self.start()
        if self.state == "in_backward":
            self.finish_iteration()
            return self.active
        if self.state != "ready":
            return False
        with self._batch():
            self._one()
        return self.active

    def run_to(self, goal: int, deadline: float | None = None) -> int:
        """Run iterations until ``count >= goal``, ``time.perf_counter() >= deadline``, or the
        run stops. Returns the number of iterations run."""
        if self.state == "new":
            self.start()
        if self.state == "in_backward" and self.count < goal:
            self.finish_iteration()
        if self.state != "ready" or self.count >= goal:
            return 0
        n0 = self.count
        clock = time.perf_counter
        with self._batch():
            while self.state == "ready" and self.count < goal:
                self._one()
                if deadline is not None and clock() >= deadline:
                    break
        return self.count - n0

    @contextlib.contextmanager
    def _batch(self) -> Iterator[None]:
        try:
            with self._context():
                yield
        except BaseException as e:  # noqa: BLE001 - only a late interrupt can land here
            if not isinstance(e, KeyboardInterrupt):
                raise
            wd = Watchdog.get()
            if wd is not None and wd.fired:
                self._fail("TimeoutError: the iteration ran longer than "
                           f"{self.iteration_timeout:g} s and was stopped", "timeout", None, e)
            else:
                self._fail("KeyboardInterrupt", "exception", user_line(e), e)

    @property
    def interrupted(self) -> bool:
        """The run failed with a KeyboardInterrupt (a Stop in the kernel, Ctrl+C)."""
        return self.state == "error" and isinstance(self.exception, KeyboardInterrupt) and \
            self.error_kind == "exception"

    def stopped_by_interrupt(self, reason: str = "stopped") -> bool:
        """A run that failed with the KeyboardInterrupt of a Stop: finished with ``reason``
        instead (the series are kept). True when it was one."""
        if self.interrupted:
            self.state = "finished"
            self.error = self.error_kind = self.error_line = self.error_iteration = None
            self.exception = None
            self.stop_reason = reason
            return True
        return False

    def _one(self, pause: bool = False) -> None:
        """One iteration (inside ``_context``): start the body, drive it, record."""
        if self.count >= self.limit:
            self._finish(f"ran {self.count} iterations")
            return
        ns = self.namespace
        item = None
        if self._iter is not None:
            try:
                item = next(self._iter)
            except StopIteration:
                self._finish(f"the loop ended after {self.count} iterations")
                return
            except Exception as e:
                self._fail(format_error(e), "exception", user_line(e), e)
                return
        elif self._test_code is not None:
            try:
                if not eval(self._test_code, ns):
                    self._finish(f"the loop ended after {self.count} iterations")
                    return
            except Exception as e:
                self._fail(format_error(e), "exception", user_line(e), e)
                return
        if self.count >= self._cap:
            self._alloc(max(2 * self._cap, 16))
        self._grads_taken = False
        self.root = None
        self._gen = self._iteration(item)
        self._drive(None, None, pause)

    def _drive(self, send: Any, throw: BaseException | None, pause: bool) -> None:
        """Run the body until it ends, or (``pause``) until it asks for a backward."""
        gen = self._gen
        wd = Watchdog.get()
        if wd is not None:
            wd.arm(self.iteration_timeout)
        try:
            while True:
                try:
                    if throw is not None:
                        exc, throw = throw, None
                        req = gen.throw(exc)
                    else:
                        req = gen.send(send)
                except StopIteration as stop:
                    if wd is not None and wd.disarm():
                        wd.absorb()
                    self._gen = None
                    self._end(stop.value)
                    return
                obj, args, kwargs = req
                root = _root_of(obj, args, kwargs)
                if root is not None:
                    self.root = root
                    self.backward_args = args
                    self.backward_kwargs = kwargs
                    if pause and isinstance(obj, Tensor):
                        if wd is not None and wd.disarm():
                            wd.absorb()
                        self._pending = req
                        self.state = "in_backward"
                        return
                try:
                    send = obj.backward(*args, **kwargs)
                except Exception as e:
                    send, throw = None, e
                    continue
                if root is not None:
                    self._after_backward()
        except KeyboardInterrupt as e:
            if wd is not None and (wd.disarm() or wd.fired):
                self._fail("TimeoutError: the iteration ran longer than "
                           f"{self.iteration_timeout:g} s and was stopped", "timeout",
                           user_line(e), e)
            else:
                self._fail("KeyboardInterrupt", "exception", user_line(e), e)
        except BaseException as e:  # user code: anything may happen, the app must survive
            if wd is not None and wd.disarm():
                wd.absorb()
            if isinstance(e, SystemExit):
                e = RuntimeError("exit() is not available inside gradviz")
            self._fail(format_error(e), "exception", user_line(e), e)

    def _after_backward(self) -> None:
        k = self.count
        if not self._write(self.grads, k, grad=True):
            self._bad_grad = True
        else:
            self._bad_grad = False
        self._grads_taken = True

    def _end(self, value: Any) -> None:
        """The body finished: record loss, params (and grads if no backward ran)."""
        k = self.count
        ns = self.namespace
        grads_ok = not getattr(self, "_bad_grad", False) if self._grads_taken else \
            self._write(self.grads, k, grad=True)
        self._bad_grad = False
        params_ok = self._write(self.param_values, k, grad=False)
        if k and not self._params_moved:  # bytes: NaN placeholders compare equal
            self._params_moved = self.param_values[k].tobytes() != \
                self.param_values[0].tobytes()
        loss = _scalar(ns.get("loss"))
        if loss is None and self.root is not None:
            loss = _scalar(self.root)
        self.loss[k] = np.nan if loss is None else loss
        self.count = k + 1
        bad = None
        if loss is not None and not math.isfinite(loss):
            bad = f"the loss is {loss} at iteration {k + 1}"
        elif not grads_ok:
            bad = self._nonfinite_name(self.grads[k], "grad", k)
        elif not params_ok:
            bad = self._nonfinite_name(self.param_values[k], "", k)
        if bad is not None:
            self._fail(f"FloatingPointError: {bad}: the values overflowed (NaN or inf), so "
                       "the run stopped", "nan", None, None)
            self.error_iteration = k + 1
            return
        if value == "break":
            self._finish(f"the loop broke after {self.count} iterations")
        elif self.count >= self.limit:
            self._finish(f"ran {self.count} iterations")

    # ----- one iteration's backward, step by step
    def begin_iteration(self) -> Tensor | None:
        """Run the next iteration's forward up to its first ``backward()`` and stop there:
        returns the root (hand it to a BackwardCursor), or None when the iteration ended
        without a capturable backward (then it is complete)."""
        if self.state == "new":
            self.start()
        if self.state == "in_backward":
            return self.root
        if self.state != "ready":
            return None
        with self._batch():
            self._one(pause=True)
        return self.root if self.state == "in_backward" else None

    def finish_iteration(self, cursor: BackwardCursor | None = None) -> None:
        """Complete the iteration paused by :meth:`begin_iteration`: the backward runs to the
        end through ``cursor`` when it is a BackwardCursor of this root (replaying what was
        stepped), else in one go; then the rest of the body runs and the iteration is
        recorded."""
        if self.state != "in_backward":
            return
        req, self._pending = self._pending, None
        self.state = "ready"
        obj, args, kwargs = req
        with self._batch():
            throw = None
            try:
                if cursor is not None and getattr(cursor, "root", None) is obj:
                    cursor.run()
                    if cursor.error is not None:
                        throw = cursor.error
                else:
                    obj.backward(*args, **kwargs)
            except Exception as e:
                throw = e
            if throw is None:
                self._after_backward()
            self._drive(None, throw, pause=False)

    def names(self) -> dict[int, str]:
        """Tensor id -> name in this run (namespace names, module parameters)."""
        out: dict[int, str] = {}
        for p in self.params:
            t = p.getter()
            if isinstance(t, Tensor):
                out[id_of(t)] = p.name
        for k, v in self.namespace.items():
            if isinstance(v, Tensor) and not k.startswith("_"):
                out[id_of(v)] = k
        return out


_NP_GLOBAL_RANDOM = re.compile(
    r"\brandom\.(?!default_rng\b|Generator\b|PCG64\b|SeedSequence\b|BitGenerator\b)\w+"
    r"|import\s+random\b|from\s+random\b|numpy\.random|from\s+numpy\s+import")


class _Timeout(Exception):
    pass


def _ns_getter(ns: dict[str, Any], name: str) -> Callable[[], Any]:
    return lambda: ns.get(name)


def _const_getter(t: Tensor) -> Callable[[], Any]:
    return lambda: t


def _root_of(obj: Any, args: tuple, kwargs: dict[str, Any]) -> Tensor | None:
    if isinstance(obj, Tensor):
        return obj
    if obj is _autograd:
        t = args[0] if args else kwargs.get("tensors")
        if isinstance(t, Tensor):
            return t
        if isinstance(t, (list, tuple)) and t and isinstance(t[0], Tensor):
            return t[0]
    return None


def _scalar(v: Any) -> float | None:
    if isinstance(v, Tensor):
        if v.numel() == 1:
            return float(v.numpy(force=True).reshape(-1)[0])
        return None
    if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool):
        return float(v)
    return None
