"""The training panel's runs, in the kernel (no Qt): a :class:`gradviz.TrainingPair`
driven by the window's commands, its series streamed back as JSON messages.

The window (``gradviz.qt.training_panel``) only sends commands and plots what arrives. Commands
(``training_<name>``, registered on the agent) run on the kernel's main thread:

``reset``
    build both runs from the code, lr and iteration count (the setup runs), send the layout;
``play``
    run iterations at the chosen speed (None: flat out) until paused, stopped or done, in
    frames of about ``FRAME_S``: after each frame the new points go to the window, then the
    commands that came meanwhile are taken; with ``budget_s`` the command returns after that
    long (an in-process kernel plays frame by frame that way, its window stays live);
``step`` / ``run``
    one iteration of both runs / ``n`` iterations at once;
``into``
    the followed run's next forward up to its ``backward()``: its root becomes the agent's
    root with a fresh cursor, so the window's stepper (F10, Shift+F10) walks that backward;
    the next ``step`` or ``play`` finishes the iteration through that cursor;
``stop`` / ``pause`` / ``speed`` / ``follow``
    also taken while ``play`` (or any other command running user code) runs: the side
    channel's reader thread queues them (``Agent.register_direct``), the main thread applies
    them between iterations, and a Stop that finds the main thread still inside one iteration
    after ``STOP_INTERRUPT_S`` interrupts it (KeyboardInterrupt, also in ``time.sleep``).

Every message is ``{"type": "training", "gen": G, "kind": ..., ...}`` with ``gen`` the
reset's number (the window drops messages of an older pair): ``layout`` after a reset (the
runs' labels, sources, toggled lines, parameters and series, the 2-D data), ``frame`` with only
the points new since the last message (iteration rows of grads, parameter values and loss
as flat lists, non-finite numbers as the strings ``"nan"``, ``"inf"``, ``"-inf"``), each
run's state and error (with the line mapped back to the editor's code), the followed run's
current root as a snapshot (at most every ``ROOT_S`` while playing) and the decision
boundary of the 2-D data (at most every ``BOUNDARY_S``), and ``ended`` when a play ends.
"""

from __future__ import annotations

import contextlib
import math
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import Tensor
from engine.autograd import set_backward_driver
from engine.events import id_of
from gradviz.kernel.snapshot import Snapshotter
from gradviz.session import BackwardCursor
from gradviz.training.guard import quiet_engine_events
from gradviz.training.pair import TrainingPair
from gradviz.training.run import TrainingRun

if TYPE_CHECKING:
    from gradviz.kernel.agent import Agent

__all__ = ["TrainingHost", "FRAME_S", "encode_numbers"]

FRAME_S = 0.033  # one message per frame while playing flat out (about 25 per second)
ROOT_S = 0.5  # the followed run's root, at most this often while playing
BOUNDARY_S = 0.25  # the decision boundary, at most this often while playing
BOUNDARY_RES = 48
STOP_INTERRUPT_S = 0.3  # Stop interrupts an iteration still running after this long
RUN_KEYS = ("zeroed", "unzeroed")
#: commands the reader thread queues while the main thread may be busy
DIRECT = ("pause", "stop", "speed", "follow")


def encode_numbers(a: Any) -> list[Any]:
    """A float array, flat, as a JSON-safe list (non-finite values as strings)."""
    flat = np.asarray(a, dtype=np.float64).reshape(-1)
    if np.isfinite(flat).all():
        return flat.tolist()
    return [v if math.isfinite(v) else ("nan" if v != v else ("inf" if v > 0 else "-inf"))
            for v in flat.tolist()]


def _gradient_arg(args: tuple, kwargs: dict[str, Any]) -> Any:
    return args[0] if args else kwargs.get("gradient")


def _data_of(ns: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """2-D points and their +-1 labels in a loop's namespace (``X`` and ``Y``)."""
    X, Y = ns.get("X"), ns.get("Y")
    try:
        pts = np.asarray(X.detach().numpy() if hasattr(X, "detach") else X, dtype=np.float64)
        lab = np.asarray(Y.detach().numpy() if hasattr(Y, "detach") else Y, dtype=np.float64)
    except (TypeError, ValueError, AttributeError):
        return None
    if pts.ndim != 2 or pts.shape[1] != 2 or lab.size != pts.shape[0] or pts.shape[0] < 2:
        return None
    return pts, lab.reshape(-1)


def _forward_of(ns: dict[str, Any]) -> Callable[[np.ndarray], np.ndarray] | None:
    """Grid points (M, 2) -> the model's predictions, recording no graph: a callable
    ``model``, or the MLP preset's ``output(tanh(hidden(x)))``."""
    torch = ns.get("torch")
    if torch is None:
        return None
    model = ns.get("model")
    hidden, output = ns.get("hidden"), ns.get("output")
    if callable(model):
        def net(x: Any) -> Any:
            return model(x)
    elif callable(hidden) and callable(output):
        def net(x: Any) -> Any:
            return output(torch.tanh(hidden(x)))
    else:
        return None

    def fwd(grid: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.tensor(grid)).detach().numpy()
    return fwd


class TrainingHost:
    """The training pair of the window's Training panel, in the kernel.

    ``interrupts``: a Stop may interrupt the main thread (the real kernel; never in an
    in-process kernel, whose main thread is the window's)."""

    def __init__(self, agent: Agent, interrupts: bool = False) -> None:
        self.agent = agent
        self.interrupts = interrupts
        self.pair: TrainingPair | None = None
        self.gen = 0
        self.follow = "unzeroed"
        self.speed: float | None = None
        self.token: int | None = None  # the window's command running now
        self.playing = False
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._want: str | None = None  # "pause" | "stop" asked while running
        self._sent = dict.fromkeys(RUN_KEYS, 0)
        self._status_sent: dict[str, Any] = {}
        self._data: dict[str, Any] | None = None
        self._root_t = 0.0
        self._root_sent: int | None = None
        self._boundary_t = 0.0
        self._last_send = 0.0
        self._lock = threading.Lock()
        self._entry = 0
        self._in_user = False
        self._interrupted = False
        self.frames = 0  # frame messages sent (tests, bench)
        self._credit = 0.0
        self._play_last = 0.0
        for name in ("reset", "play", "step", "run", "into", "stop", "pause", "speed",
                     "follow"):
            agent.register(f"training_{name}", getattr(self, f"_cmd_{name}"))
        if hasattr(agent, "register_direct"):
            for name in DIRECT:
                agent.register_direct(f"training_{name}", self._direct)

    # ------------------------------------------------------------------ messages
    def _send(self, kind: str, **fields: Any) -> None:
        self.agent.send({"type": "training", "gen": self.gen, "kind": kind, **fields})

    def _run_layout(self, run: TrainingRun) -> dict[str, Any]:
        return {
            "label": run.label, "source": run.source,
            "params": [{"name": p.name, "numel": p.numel, "shape": list(p.shape),
                        "col": p.col, "width": p.width} for p in run.params],
            "grad_series": [[s.label, s.param, s.column] for s in run.grad_series],
            "param_series": [[s.label, s.param, s.column] for s in run.param_series],
        }

    def _editor_line(self, run: TrainingRun, line: int | None) -> int | None:
        """A line of ``run``'s source as a line of the code as written."""
        pair = self.pair
        if line is None or pair is None or run.source == pair.code:
            return line
        added = [t for t in pair.toggled if t.action == "added"]
        if not added:
            return line  # removed lines became ``pass``: the numbers are the same
        first = added[0].line
        if line < first:
            return line
        if line < first + len(added):
            return added[0].after
        return line - len(added)

    def _status(self, run: TrainingRun) -> dict[str, Any]:
        return {"count": run.count, "state": run.state, "error": run.error,
                "error_kind": run.error_kind, "error_line": run.error_line,
                "editor_line": self._editor_line(run, run.error_line),
                "error_iteration": run.error_iteration, "stop_reason": run.stop_reason,
                "params_change": bool(run.params_change),
                "root": id_of(run.root) if isinstance(run.root, Tensor) else None}

    def _frame(self, force_root: bool = False, force_boundary: bool = False) -> None:
        """Send what is new: points, states, and (when due) root and boundary."""
        pair = self.pair
        if pair is None:
            return
        runs: dict[str, Any] = {}
        for key in RUN_KEYS:
            run = pair.run(key)
            n0, n = self._sent[key], run.count
            st = self._status(run)
            if n == n0 and self._status_sent.get(key) == st:
                continue
            runs[key] = {"from": n0, "grads": encode_numbers(run.grads[n0:n]),
                         "params": encode_numbers(run.param_values[n0:n]),
                         "loss": encode_numbers(run.loss[n0:n]), "status": st}
            self._sent[key] = n
            self._status_sent[key] = st
        now = time.perf_counter()
        msg: dict[str, Any] = {"runs": runs}
        if force_root or now - self._root_t >= ROOT_S:
            root = self._root_message(force_root)
            if root is not None:
                msg["root"] = root
                self._root_t = now
        if self._data is not None and (force_boundary or runs) and (
                force_boundary or now - self._boundary_t >= BOUNDARY_S):
            msg["boundary"] = self._boundaries()
            self._boundary_t = now
        if runs or len(msg) > 1:
            self._last_send = now
            self.frames += 1
            self._send("frame", **msg)

    def _root_message(self, force: bool) -> dict[str, Any] | None:
        run = self.pair.run(self.follow) if self.pair is not None else None
        root = run.root if run is not None else None
        if not isinstance(root, Tensor) or (id_of(root) == self._root_sent and not force):
            return None
        self._root_sent = id_of(root)
        snap = Snapshotter(run.names())
        snap.tensor(root, deep=True)
        return {"run": self.follow, "id": id_of(root),
                "names": {str(k): v for k, v in run.names().items()}, **snap.payload()}

    def _boundaries(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        grid = self._data["grid"]
        for key, fwd in self._data["fwd"].items():
            try:
                with quiet_engine_events():
                    z = np.asarray(fwd(grid), dtype=np.float64).reshape(-1)
            except Exception:  # noqa: BLE001 - a broken model leaves the map as it was
                continue
            if z.size == len(grid):
                out[key] = encode_numbers(np.round(np.clip(z, -1, 1), 4))
        return out

    def _find_data(self) -> None:
        """2-D labelled data and a model in both runs (the MLP preset): points, labels and
        the grid the boundary is evaluated on."""
        self._data = None
        pair = self.pair
        fwd: dict[str, Any] = {}
        xy = None
        for key in RUN_KEYS:
            ns = pair.run(key).namespace
            f, d = _forward_of(ns), _data_of(ns)
            if f is None or d is None:
                return
            fwd[key] = f
            xy = xy or d
        pts, lab = xy
        lo, hi = pts.min(0), pts.max(0)
        pad = 0.12 * (hi - lo)
        lo, hi = lo - pad, hi + pad
        n = BOUNDARY_RES
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n),
                             indexing="ij")
        grid = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
        self._data = {"grid": grid, "fwd": fwd,
                      "layout": {"points": encode_numbers(pts), "labels": encode_numbers(lab),
                                 "lo": lo.tolist(), "hi": hi.tolist(), "res": n}}

    # ------------------------------------------------------------------ running user code
    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """No engine events and no debugger for the runs' backward() calls (the agent would
        record every one as a walk)."""
        previous = set_backward_driver(None)
        try:
            with quiet_engine_events():
                yield
        finally:
            set_backward_driver(previous)

    @contextlib.contextmanager
    def _plain(self) -> Iterator[None]:
        """Events on (a single step narrates them), no debugger."""
        previous = set_backward_driver(None)
        try:
            yield
        finally:
            set_backward_driver(previous)

    def _user(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` (user code) where a Stop may interrupt it."""
        with self._lock:
            self._entry += 1
            self._in_user = True
        try:
            return fn()
        finally:
            with self._lock:
                self._in_user = False

    def _direct(self, cmd: dict[str, Any]) -> None:
        """A side-channel command, in the reader thread: queued for the main thread; a Stop
        also arms the interrupt of an iteration that does not end."""
        self.queue.put(cmd)
        if cmd.get("cmd") == "training_stop" and self.interrupts:
            with self._lock:
                entry = self._entry
            t = threading.Timer(STOP_INTERRUPT_S, self._interrupt, (entry, cmd.get("token")))
            t.daemon = True
            t.start()

    def _interrupt(self, entry: int, token: Any, repeat: int = 10) -> None:
        """Interrupt the main thread if it is still in the same stretch of user code; again
        a little later while it stays there (the code may catch one KeyboardInterrupt)."""
        with self._lock:
            if not (self._in_user and self._entry == entry and (token is None or
                                                                token == self.token)):
                return
            self._interrupted = True
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        if repeat > 0:
            t = threading.Timer(STOP_INTERRUPT_S, self._interrupt, (entry, token, repeat - 1))
            t.daemon = True
            t.start()

    def _take(self, timeout: float | None = None) -> None:
        """Apply the queued commands meant for the command running now (older ones are
        dropped, newer ones wait for theirs); with ``timeout``, wait that long for one."""
        keep = []
        while True:
            try:
                cmd = self.queue.get(timeout=timeout) if timeout else self.queue.get_nowait()
            except queue.Empty:
                break
            timeout = None
            tok = cmd.get("token")
            if tok is not None and self.token is not None and tok > self.token:
                keep.append(cmd)
                continue
            if tok is not None and tok != self.token:
                continue
            self._apply(cmd)
        for cmd in keep:
            self.queue.put(cmd)

    def _apply(self, cmd: dict[str, Any]) -> None:
        name = cmd.get("cmd", "")[len("training_"):]
        if name == "pause":
            self._want = self._want or "pause"
        elif name == "stop":
            self._want = "stop"
        elif name == "speed":
            self.speed = cmd.get("speed")
        elif name == "follow":
            self._set_follow(cmd.get("which", self.follow))

    def _set_follow(self, which: str) -> None:
        if which in RUN_KEYS and which != self.follow:
            self.follow = which
            self._root_sent = None

    def _begin(self, token: int | None) -> None:
        self.token = token
        self._want = None
        self._interrupted = False
        self._take()

    def _after_interrupt(self) -> None:
        """A Stop interrupted user code: both runs end as stopped."""
        pair = self.pair
        if pair is None:
            return
        for r in pair.runs:
            r.stopped_by_interrupt("stopped")
        pair.stop("stopped")

    def _guard(self, fn: Callable[[], Any]) -> bool:
        """Run ``fn`` where a Stop may interrupt it; False when it was interrupted."""
        try:
            self._user(fn)
        except KeyboardInterrupt:
            self._interrupted = True
        if self._interrupted or self._want == "stop":
            self._after_interrupt()
            return False
        return True

    # ------------------------------------------------------------------ commands
    def _cmd_reset(self, code: str, lr: float | None = None, iterations: int = 100,
                   iteration_timeout: float | None = None, seed: int | None = 0,
                   follow: str | None = None, token: int | None = None) -> dict[str, Any]:
        self._begin(token)
        self._forget_root()
        if follow is not None:
            self._set_follow(follow)
        self.gen += 1
        self._sent = dict.fromkeys(RUN_KEYS, 0)
        self._status_sent = {}
        self._root_sent = None
        self._data = None
        pair = TrainingPair(code, lr=lr, iterations=int(iterations), seed=seed,
                                     iteration_timeout=iteration_timeout, setup_timeout=None)
        self.pair = pair
        with self._quiet():
            self._guard(pair.start)
        if all(r.state != "error" for r in pair.runs):
            self._find_data()
        self._send("layout", code=pair.code, limit=pair.limit, note=pair.note,
                   as_written=pair.as_written,
                   toggled=[{"line": t.line, "text": t.text, "action": t.action,
                             "kind": t.kind, "after": t.after} for t in pair.toggled],
                   runs={k: self._run_layout(pair.run(k)) for k in RUN_KEYS},
                   data=self._data["layout"] if self._data is not None else None)
        self._frame(force_root=True, force_boundary=True)
        return self._reply()

    def _reply(self) -> dict[str, Any]:
        pair = self.pair
        if pair is None:
            return {"gen": self.gen, "count": 0, "active": False}
        return {"gen": self.gen, "count": pair.count, "active": pair.active,
                "pending": self._pending_key()}

    def _pending_key(self) -> str | None:
        pair = self.pair
        if pair is None:
            return None
        return next((k for k in RUN_KEYS if pair.run(k).state == "in_backward"), None)

    def _forget_root(self) -> None:
        """The agent's root was a training iteration's: the user's graph comes back."""
        a = self.agent
        pair = self.pair
        if pair is None or a.root is None or getattr(a, "paused", False):
            return
        if any(a.root is r.root for r in pair.runs):
            a.root, a.root_chosen, a.gradient, a.cursor = None, False, None, None

    def _finish_pending(self, discard: bool = False) -> bool:
        """Complete an iteration paused at its backward (through the agent's cursor when it
        walks that root: what was stepped stays stepped)."""
        key = self._pending_key()
        if key is None:
            return False
        run = self.pair.run(key)
        c = self.agent.cursor
        cursor = c if c is not None and c.root is run.root else None
        if discard:
            run.stop("stopped")
        else:
            self._guard(lambda: self.pair.finish_iteration(key, cursor))
        return True

    def _cmd_step(self, token: int | None = None) -> dict[str, Any]:
        self._begin(token)
        if self.pair is not None:
            with self._plain():
                if not self._finish_pending():
                    self._guard(self.pair.step)
            self._frame(force_root=True, force_boundary=True)
        return self._reply()

    def _cmd_run(self, n: int, token: int | None = None) -> dict[str, Any]:
        self._begin(token)
        if self.pair is not None:
            with self._quiet():
                self._finish_pending()
                self._guard(lambda: self.pair.advance(int(n)))
            self._frame(force_root=True, force_boundary=True)
        return self._reply()

    def _cmd_play(self, token: int | None = None, speed: float | None = None,
                  budget_s: float | None = None, first: bool = True) -> dict[str, Any]:
        """Iterations until paused, stopped, done or ``budget_s`` is spent."""
        self.speed = speed
        self._begin(token)
        pair = self.pair
        if pair is None:
            return self._reply()
        clock = time.perf_counter
        t0 = last = clock()
        end = None if budget_s is None else t0 + budget_s
        credit = 1.0 if first else self._credit
        last = t0 if first else self._play_last
        self.playing = True
        try:
            with self._quiet():
                ok = self._guard(self._finish_pending)
                while ok and self._want is None and pair.active:
                    now = clock()
                    if end is not None and now >= end:
                        break
                    speed = self.speed
                    if speed is None:
                        n, budget = 1_000_000_000, FRAME_S
                    else:
                        credit = min(credit + speed * (now - last), max(1.0, speed * 0.25))
                        last = now
                        n = int(credit)
                        if n <= 0:
                            if end is not None:
                                break  # frame by frame: the next frame's turn
                            wait = (1.0 - credit) / max(speed, 1e-9)
                            self._take(timeout=min(max(wait, 0.001), FRAME_S))
                            continue
                        credit -= n
                        budget = FRAME_S
                    if end is not None:
                        budget = min(budget, max(end - now, 0.001))
                    if not self._guard(lambda n=n, b=budget: pair.advance(n, b)):
                        break
                    if not pair.active or speed is not None or \
                            clock() - self._last_send >= FRAME_S * 0.9:
                        self._frame()
                    self._take()
        except KeyboardInterrupt:  # a Stop's interrupt landing between iterations
            self._after_interrupt()
        finally:
            self.playing = False
            self._credit = credit
            self._play_last = last
        if self._want == "pause" and not self._interrupted:
            self._level()
        if self._interrupted:
            self._want = "stop"
        if self._want == "stop":
            pair.stop("stopped")
        reason = "stopped" if self._want == "stop" else "paused" if self._want else \
            "done" if not pair.active else "budget"
        if reason == "budget":
            self._frame()
        else:
            self._frame(force_root=True, force_boundary=True)
            self._send("ended", token=token, reason=reason)
        return {**self._reply(), "reason": reason}

    def _level(self) -> None:
        """After a pause the runs show the same iteration (the frame may have ended between
        the two runs' turns)."""
        pair = self.pair
        goal = pair.count
        lagging = [r for r in pair.runs if r.state == "ready" and r.count < goal]
        if lagging:
            with self._quiet():
                self._guard(lambda: [r.run_to(goal) for r in lagging])

    def _cmd_into(self, which: str | None = None, token: int | None = None) -> dict[str, Any]:
        """The followed run's next forward up to its backward(): its root becomes the agent's
        root, with a cursor at step 0 for the window's stepper."""
        self._begin(token)
        if which is not None:
            self._set_follow(which)
        pair = self.pair
        if pair is None:
            return self._reply()
        key = self.follow
        run = pair.run(key)
        with self._plain():
            if run.state != "in_backward":
                self._finish_pending()
                other = pair.run("zeroed" if key == "unzeroed" else "unzeroed")

                def forward() -> None:
                    if other.active and other.count < run.count:
                        other.run_to(run.count)
                    pair.begin_iteration(key)
                self._guard(forward)
        root = run.root if run.state == "in_backward" else None
        if root is not None:
            a = self.agent
            if a.cursor is None or a.cursor.root is not root:
                grad = _gradient_arg(run.backward_args, run.backward_kwargs)
                grad = grad if isinstance(grad, Tensor) else None
                retain = bool(run.backward_kwargs.get("retain_graph") or False)
                a.root, a.root_chosen, a.gradient = root, True, grad
                a.cursor = BackwardCursor(root, grad, retain_graph=retain)
                a.walks += 1
                a._sent_steps = 0
        self._frame(force_root=True, force_boundary=True)
        return {**self._reply(), "root": id_of(root)}

    def _cmd_stop(self, token: int | None = None) -> dict[str, Any]:
        if self.pair is not None:
            self._finish_pending(discard=True)
            self.pair.stop("stopped")
            self._frame(force_root=True)
        return self._reply()

    def _cmd_pause(self, token: int | None = None) -> dict[str, Any]:
        return self._reply()  # nothing plays now: a play in progress takes it from the queue

    def _cmd_speed(self, speed: float | None = None, token: int | None = None) -> None:
        self.speed = speed

    def _cmd_follow(self, which: str, token: int | None = None) -> dict[str, Any]:
        self._set_follow(which)
        self._frame(force_root=True)
        return self._reply()
