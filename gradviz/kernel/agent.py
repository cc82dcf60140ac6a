"""The kernel side of gradviz: owns the workspace, the chosen root and the backward cursor,
and reports them to the window as plain-data updates.

It runs inside the IPython kernel (``python -m gradviz.kernel``) on the kernel's main thread.
The window reaches it two ways:

* while no cell runs, as silent ``execute_request``s on the shell channel
  (``__gradviz__.handle({...})``), so commands keep their order with cells;
* while a cell is paused inside ``backward()``, on a side channel (a zmq PULL socket read by
  a thread) whose commands the paused main thread takes from a queue.

Updates always go back on the side channel (a zmq PUSH socket), as JSON.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from engine import events
from engine.autograd import BackwardStep
from gradviz.kernel.backend import Backend, EngineBackend
from gradviz.session import BackwardCursor, Session, format_error

__all__ = ["Agent", "Channel"]

#: commands after which only the walk and the leaves' grads need sending, not the graph
LIGHT_COMMANDS = frozenset({"step", "step_back", "run", "reset", "continue", "breakpoints"})

#: how many finished walks stay replayable
WALK_LOG_SIZE = 20

#: commands that drive a backward walk (accepted while a cell is paused in backward())
WALK_COMMANDS = frozenset({"step", "step_back", "run", "reset", "continue", "breakpoints",
                           "state", "inspect", "tensor_texts"})

#: commands answered with a reply only (no update follows): the window's look-ups
QUERY_COMMANDS = frozenset({"tensor_texts", "api_missing"})


class Channel:
    """The side channel: ``send(dict)`` from the main thread, commands arrive in ``inbox``."""

    def __init__(self, push_addr: str, pull_addr: str) -> None:
        import zmq

        self._ctx = zmq.Context.instance()
        self._push = self._ctx.socket(zmq.PUSH)
        self._push.setsockopt(zmq.LINGER, 1000)
        self._push.connect(push_addr)
        self._pull_addr = pull_addr
        self._lock = threading.Lock()
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        #: takes each command in the reader thread (answers it or queues it), if set
        self.direct: Callable[[dict[str, Any]], None] | None = None
        self._thread = threading.Thread(target=self._read, name="gradviz-channel", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        import zmq

        pull = self._ctx.socket(zmq.PULL)
        pull.connect(self._pull_addr)
        while True:
            try:
                msg = json.loads(pull.recv())
            except Exception:  # noqa: BLE001 - a bad message is dropped, the reader lives on
                continue
            if self.direct is not None:
                self.direct(msg)
            else:
                self.inbox.put(msg)

    def send(self, msg: dict[str, Any]) -> None:
        data = json.dumps(msg, allow_nan=False).encode()
        with self._lock:
            self._push.send(data)


class Agent:
    """The workspace model in the kernel: the window's commands in, snapshots out."""

    def __init__(self, namespace: dict[str, Any], send: Callable[[dict[str, Any]], None],
                 inbox: queue.Queue | None = None, install_driver: bool = True,
                 backend: Backend | None = None) -> None:
        #: the library user code runs on (gradviz.kernel.backend): the engine by default
        self.backend = backend if backend is not None else EngineBackend()
        self.session = Session()
        self.session.backend = self.backend
        self.session.namespace = namespace
        for k, v in self.backend.namespace_defaults().items():
            namespace.setdefault(k, v)
        self.send = send
        self.inbox = inbox if inbox is not None else queue.Queue()
        #: more commands by name (``register``): each returns a JSON-able reply or None
        self.commands: dict[str, Callable[..., Any]] = {}
        #: side-channel commands taken in the reader thread (``register_direct``)
        self.direct_commands: dict[str, Callable[[dict[str, Any]], None]] = {}
        self.pause_at_backward = False
        self.show_saved = False
        self.breakpoints: set[int] = set()
        self.root: Any = None
        self.root_chosen = False  # the user picked the root (else: the newest one)
        self.gradient: Any = None
        self.cursor: BackwardCursor | None = None
        self.paused = False
        self._pause_lock = threading.Lock()
        #: the kernel's main-thread event loop (seen on the first shell command) and whether
        #: a user cell runs: an idle kernel takes side-channel commands on that loop, without
        #: an IPython execute round trip
        self._loop: asyncio.AbstractEventLoop | None = None
        self.cell_active = False
        self._handling = False  # the main thread is inside handle() (a command runs)
        #: the latest backward walks, each replayable (id -> cursor, oldest first)
        self.walk_log: collections.OrderedDict[int, BackwardCursor] = collections.OrderedDict()
        self._live_grads: dict[int, tuple[Any, Any]] | None = None
        self.walks = 0
        self._sent_steps = 0
        self._graph_sig: Any = None
        self._graph_leaves: list[Any] = []
        self._events: list[str] = []
        self._events_dropped = 0
        self._last_error: dict[str, Any] | None = None
        self._events_handle = events.subscribe(self._on_event)
        self._undo_driver: Callable[[], None] | None = None
        if install_driver:
            self._undo_driver = self.backend.install_driver(self._drive)

    def register(self, name: str, fn: Callable[..., Any]) -> None:
        """Add command ``name`` (called with the command's arguments on the main thread)."""
        self.commands[name] = fn

    def register_direct(self, name: str, fn: Callable[[dict[str, Any]], None]) -> None:
        """Side-channel command ``name`` goes to ``fn(cmd)`` in the reader thread (it may only
        queue the command or set flags: the main thread may be busy running something long)."""
        self.direct_commands[name] = fn

    def close(self) -> None:
        """Stop listening to the engine (an in-process kernel goes away); a driver this agent
        installed is removed."""
        self._events_handle.remove()
        if self._undo_driver is not None:
            self._undo_driver()
            self._undo_driver = None

    # ------------------------------------------------------------------ commands
    def handle(self, cmd: dict[str, Any] | str) -> None:
        """Run one command from the window and send the update it causes."""
        if isinstance(cmd, str):
            cmd = json.loads(cmd)
        if self._loop is None:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:  # not inside the kernel's loop (an in-process kernel)
                pass
        name = cmd.get("cmd")
        seq = cmd.get("seq")
        fn = self.commands.get(name) or getattr(self, f"_cmd_{name}", None)
        was, self._handling = self._handling, True
        try:
            if fn is None:
                raise ValueError(f"unknown command {name!r}")
            reply = fn(**{k: v for k, v in cmd.items() if k not in ("cmd", "seq")})
        except Exception as e:  # noqa: BLE001 - a bad command is reported, never fatal
            self.send({"type": "reply", "seq": seq, "ok": False, "error": format_error(e)})
            return
        finally:
            self._handling = was
        if name in QUERY_COMMANDS:
            self.send({"type": "reply", "seq": seq, "ok": True, "reply": reply})
            return
        light = name in LIGHT_COMMANDS and not (self.cursor is not None and
                                                self.cursor.finished)
        self.send_state(seq=seq, reply=reply, deep=not light)

    def _handle_on_loop(self, cmd: dict[str, Any]) -> None:
        """``handle`` run by the kernel's loop, as a shell request would run it: SIGINT (Stop)
        raises KeyboardInterrupt meanwhile (ipykernel ignores it between requests), and one
        that escapes is an error reply, never the loop's end."""
        try:
            old = signal.signal(signal.SIGINT, signal.default_int_handler)
        except ValueError:  # not the main thread
            old = None
        try:
            self.handle(cmd)
        except KeyboardInterrupt:
            self.send({"type": "reply", "seq": cmd.get("seq"), "ok": False,
                       "error": "KeyboardInterrupt"})
        finally:
            if old is not None:
                signal.signal(signal.SIGINT, old)

    def handle_direct(self, cmd: dict[str, Any]) -> None:
        """A side-channel command, in the reader thread: queued for the paused backward(), or
        answered at once when nothing is paused (Pause at backward() then takes effect at the
        next backward(); a walk command is refused, so the window never waits for it)."""
        direct = self.direct_commands.get(cmd.get("cmd"))
        if direct is not None and (self._loop is None or self.cell_active or self._handling):
            direct(cmd)  # the main thread is busy (e.g. playing a training run): queue it
            return
        with self._pause_lock:
            if self.paused:
                self.inbox.put(cmd)
                return
        if cmd.get("cmd") == "pause":
            self.pause_at_backward = bool(cmd.get("on"))
            self.send({"type": "reply", "seq": cmd.get("seq"), "ok": True})
        elif self._loop is not None and not self.cell_active:
            # idle: the main thread runs it next (a cell that starts first delays it, as the
            # shell channel would)
            self._loop.call_soon_threadsafe(self._handle_on_loop, cmd)
        else:
            self._refuse(cmd)

    def _refuse(self, cmd: dict[str, Any]) -> None:
        self.send({"type": "reply", "seq": cmd.get("seq"), "ok": False,
                   "error": "RuntimeError: no backward() is paused now"})

    def _cmd_state(self) -> None:
        self._graph_sig = None  # the window wants everything again

    def _cmd_clear(self) -> None:
        """An empty workspace: the user's names go, the kernel's own stay."""
        ns = self.session.namespace
        keep = {"__gradviz__", "__builtins__", "__name__", "__doc__", "In", "Out",
                "get_ipython", "exit", "quit", "open"}
        for k in [k for k in ns if k not in keep and not k.startswith("_")]:
            del ns[k]
        ns.update(self.backend.namespace_defaults())
        self.root, self.root_chosen, self.gradient, self.cursor = None, False, None, None
        self.walk_log.clear()
        self._graph_sig = None
        from gradviz.kernel.snapshot import LAZY

        LAZY.clear()  # nor the graphs its left-out reprs would read

    def leave_replay(self) -> None:
        """Leave an earlier walk's replay: the grads become what the code left them again."""
        live, self._live_grads = self._live_grads, None
        if live is None:
            return
        self.backend.restore_grads(live)

    def _cmd_save_session(self, path: str, cells: list[str], editor_text: str = "",
                          view: dict | None = None, autosave: bool = False) -> dict:
        """Write the workspace to ``path`` from here, where every value is whole."""
        from gradviz import session_file

        state = session_file.capture(self.session, editor_text, view)
        state.cells = list(cells)
        if autosave:
            session_file.write_autosave_file(path, state)
        else:
            session_file.save_session(path, state)
        return {"saved": path}

    def _cmd_load_session(self, path: str) -> dict:
        """Replace the workspace with a saved session's leaves; return its cells and text."""
        from gradviz import session_file

        state = session_file.load_session(path)  # refuses broken files, workspace untouched
        agent = self

        class _Target:  # what SessionState.apply_to needs of a session
            namespace = self.session.namespace
            history: list[str] = []

            def clear(self) -> None:
                agent._cmd_clear()

            def _notify(self, what: str) -> None:
                pass

        state.apply_to(_Target())
        return {"cells": list(state.cells), "editor_text": state.editor_text,
                "view": state.view, "can_rerun": bool(state.can_rerun)}

    def _cmd_pause(self, on: bool) -> None:
        self.pause_at_backward = bool(on)

    def _cmd_show_saved(self, on: bool) -> None:
        self.show_saved = bool(on)
        self._graph_sig = None

    def _cmd_breakpoints(self, ids: list[int]) -> None:
        self.breakpoints = {int(i) for i in ids}

    def _cmd_set_root(self, root: int | None, gradient: str | None = None) -> dict | None:
        if self.paused:
            raise RuntimeError("backward is paused: finish it (F5) before choosing a root")
        t = self._tensor_by_id(root) if root is not None else None
        self.root_chosen = t is not None
        grad = None
        if t is not None and gradient and self.backend.numel(t) != 1:
            grad = self.backend.make_gradient(gradient, t)
        changed_grad = (grad is None) != (self.gradient is None) or (
            grad is not None and not self.backend.same_values(grad, self.gradient))
        root_changed = t is not self.root
        if root_changed or changed_grad:
            self.root, self.gradient = t, grad
            c = self.cursor
            if c is not None and (root_changed or c.position == 0 or c.error is not None):
                self.cursor = None
        return None

    def _cmd_step(self) -> None:
        c = self._ensure_cursor()
        if c is not None:
            c.step()

    def _cmd_step_back(self) -> None:
        if self.cursor is not None:
            self.cursor.step_back()

    def _cmd_run(self, max_steps: int | None = None) -> None:
        c = self._ensure_cursor()
        if c is not None:
            c.run(self.breakpoints, max_steps)

    def _cmd_continue(self) -> None:
        c = self._ensure_cursor()
        if c is not None:
            c.run(frozenset())

    def _cmd_reset(self) -> None:
        if self.cursor is not None:
            self.cursor.reset()

    def _cmd_api_missing(self, keys: list[str]) -> dict:
        """Which torch names a notebook uses (``gradviz.notebook.torch_api_uses`` keys) the
        library code runs on here lacks: the engine's answer; real torch has them all."""
        if self.backend.name != "engine":
            return {"missing": []}
        from gradviz.notebook import missing_in_engine
        return {"missing": sorted(missing_in_engine(keys))}

    def _cmd_inspect(self, tensor: int | None = None, node: int | None = None) -> dict:
        snap = self.backend.snapshotter(self.session.names(), self.session.namespace)
        if tensor is not None:
            snap.tensor(self._tensor_by_id(tensor))
        return {"inspect": snap.payload()}

    def _cmd_tensor_texts(self, ids: list[int]) -> dict:
        """torch's reprs of tensors a big snapshot sent without them (``lazy``)."""
        from gradviz.kernel.snapshot import tensor_texts

        return {"tensors": tensor_texts(ids)}

    def _ensure_cursor(self) -> BackwardCursor | None:
        if self.cursor is None and self.root is not None and not self.paused:
            self._new_walk(self.backend.cursor(self.root, self.gradient, retain_graph=False))
        return self.cursor

    def _new_walk(self, cursor: BackwardCursor) -> None:
        self.walks += 1
        self.cursor = cursor
        self._sent_steps = 0
        self.walk_log[self.walks] = cursor
        while len(self.walk_log) > WALK_LOG_SIZE:
            self.walk_log.popitem(last=False)

    def _cmd_select_walk(self, id: int) -> None:  # noqa: A002 - the walk's id
        """Show an earlier walk again (replayed from its record, grads as they were)."""
        if self.paused:
            raise RuntimeError("backward is paused: finish it (F5) first")
        c = self.walk_log.get(int(id))
        if c is None:
            raise KeyError(f"walk {id} is no longer kept")
        self.leave_replay()
        if c is not next(reversed(self.walk_log.values())):
            # replaying an earlier walk moves leaf grads back in time: keep today's to restore
            self._live_grads = self.backend.leaf_grads(c)
        self.cursor, self.root, self.root_chosen = c, c.root, True
        self.gradient = c.gradient
        self._sent_steps = 0
        self._graph_sig = None

    def _tensor_by_id(self, tid: int) -> Any:
        b = self.backend
        for v in self.session.namespace.values():
            if b.is_tensor(v) and b.tensor_id(v) == tid:
                return v
        c = self.cursor
        if c is not None and b.tensor_id(c.root) == tid:
            return c.root
        if self.root is not None and b.tensor_id(self.root) == tid:
            return self.root
        raise KeyError(f"the tensor #{tid} is gone")

    # ------------------------------------------------------------------ backward() in code
    def _drive(self, steps: Iterator[BackwardStep], tensors: list, grads: list,
               retain_graph: bool) -> None:
        """Every ``backward()`` and ``torch.autograd.grad()`` that user code calls comes here:
        recorded as the current walk, and with Pause at backward() on, stepped from the window
        while the cell waits (a grad() walk's ``kind`` is ``"grad"``: no ``.grad`` moves)."""
        self.backend.check_roots(tensors, grads)  # torch's errors at once, before any pause
        root = tensors[0]
        cursor = self.backend.cursor(root, grads[0] if grads else None, retain_graph,
                                     steps=steps)
        cursor.kind = getattr(steps, "kind", "backward")
        self.root = root
        self._new_walk(cursor)
        if not self.pause_at_backward:
            cursor.run(frozenset())
        else:
            with self._pause_lock:
                self.paused = True
            try:
                self.send_state(paused=True)
                self._wait(cursor)
            finally:
                with self._pause_lock:
                    self.paused = False
                    while not self.inbox.empty():  # sent as the walk ended: answered now
                        self._refuse(self.inbox.get_nowait())
                self.send_state(paused=False)
        if cursor.error is not None:
            err = cursor.error
            raise err.with_traceback(None)

    def _wait(self, cursor: BackwardCursor) -> None:
        """The paused cell's loop: take walk commands until the walk ends."""
        while not (cursor.at_end or cursor.error is not None):
            try:
                cmd = self.inbox.get(timeout=0.05)
            except queue.Empty:
                continue
            if cmd.get("cmd") in WALK_COMMANDS or cmd.get("cmd") in ("pause", "show_saved"):
                self.handle(cmd)
            else:
                self.send({"type": "reply", "seq": cmd.get("seq"), "ok": False,
                           "error": "RuntimeError: a cell is paused in backward(): step it to "
                           "the end (F5) first"})

    # ------------------------------------------------------------------ events
    def _on_event(self, ev: Any) -> None:
        if len(self._events) >= 2000:
            self._events_dropped += 1
            del self._events[0]
        self._events.append(ev.to_json())
        if ev.kind == "error":
            self._last_error = {"message": f"{ev.error_type}: {ev.message}",
                                "node_id": ev.node_id, "tensor_id": ev.tensor_id}

    def run_cell(self, code: str) -> Any:
        """Run one cell in this process (the in-process kernel of the tests): the code's
        backward() calls reach this agent's driver meanwhile; then the window's update."""
        self.leave_replay()
        undo = self.backend.install_driver(self._drive)
        try:
            res = self.session.run(code, timeout=None)
        finally:
            undo()
        self.cell_finished(res.error)
        return res

    # ------------------------------------------------------------------ updates
    def cell_finished(self, error: BaseException | None = None) -> None:
        """After each cell: the window gets the workspace as the cell left it."""
        err = None
        if error is not None:
            err = {"message": format_error(error),
                   "node_id": getattr(error, "node_id", None), "tensor_id": None}
            last = self._last_error
            if last is not None and last["message"] == err["message"]:
                err.update(node_id=last["node_id"], tensor_id=last["tensor_id"])
        self._last_error = None
        self.send_state(cell_error=err)

    def send_state(self, seq: int | None = None, reply: Any = None, paused: bool | None = None,
                   cell_error: dict | None = None, deep: bool = True) -> None:
        """Send the window the workspace: named tensors, the root's graph (whole when ``deep``
        or when it changed; else only its leaves, whose grads a step changes), the walk."""
        t0 = time.perf_counter()
        b = self.backend
        names = self.session.names()
        snap = b.snapshotter(names, self.session.namespace)
        named = [snap.tensor(info.tensor) for info in self.session.tensors()]
        if not self.root_chosen or (self.root is not None and b.tensor_id(self.root) not in names
                                    and self.cursor is None):
            default = b.default_root(self.session)
            if self.cursor is None or self.cursor.root is not self.root:
                self.root = default
        root = self.root
        graph_sig = None
        if root is not None:
            graph_sig = (b.tensor_id(root),
                         b.node_id(root.grad_fn) if root.grad_fn is not None else None,
                         self.show_saved, self.walks)
            if deep or graph_sig != self._graph_sig:
                snap.tensor(root, deep=True)
                self._graph_leaves = [n.variable for n in _graph_nodes(root)
                                      if getattr(n, "variable", None) is not None]
            else:
                snap.tensor(root)
                for leaf in self._graph_leaves:
                    snap.tensor(leaf)
        msg: dict[str, Any] = {
            "type": "state", "seq": seq, "tensors_named": named, "names": {str(k): v for k, v
                                                                           in names.items()},
            "root": b.tensor_id(root) if root is not None else None,
            "root_chosen": self.root_chosen,
            "graph_changed": graph_sig != self._graph_sig,
            "show_saved": self.show_saved, "pause_at_backward": self.pause_at_backward,
            "paused": self.paused if paused is None else paused,
            "cell_error": cell_error, "reply": reply,
        }
        self._graph_sig = graph_sig
        c = self.cursor
        if c is not None:
            if c.root is not root:
                snap.tensor(c.root, deep=deep)
            new = c.steps[self._sent_steps:]
            wid = next((k for k, v in self.walk_log.items() if v is c), self.walks)
            recs = snap.steps(new)
            for rec, s in zip(recs, new):
                if getattr(s, "captured", False):  # grad(): the input's grad, captured there
                    rec["captured"] = True
            msg["walk"] = {
                "id": wid, "root": b.tensor_id(c.root), "from": self._sent_steps,
                "kind": getattr(c, "kind", "backward"),
                "steps": recs, "position": c.position, "finished": c.finished,
                "error": format_error(c.error) if c.error is not None else None,
                "error_node": c.error_node_id,
                "retain_graph": c.retain_graph,
                "seed": _seed_text(c.gradient),
            }
            self._sent_steps = len(c.steps)
        else:
            msg["walk"] = None
        msg["walk_log"] = [{"id": k, "root": _walk_name(v, names.get(b.tensor_id(v.root)) or (
            v.root.grad_fn.name() if v.root.grad_fn is not None else "tensor")),
            "kind": getattr(v, "kind", "backward"),
            "steps": len(v.steps), "done": v.at_end} for k, v in self.walk_log.items()]
        msg.update(snap.payload())
        if self._events:
            msg["events"], self._events = self._events, []
            msg["events_dropped"], self._events_dropped = self._events_dropped, 0
        msg["build_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        self.send(msg)


def _walk_name(cursor: Any, root: str) -> str:
    """How the walk log names a walk: its root, as ``grad(root)`` for an autograd.grad walk."""
    return f"grad({root})" if getattr(cursor, "kind", "backward") == "grad" else root


def _seed_text(gradient: Any) -> str:
    """The gradient a walk starts from, as its root edge shows it: 1, or the vector v."""
    if gradient is None:
        return "1"
    values = gradient.numpy(force=True) if hasattr(gradient, "numpy") else gradient
    flat = [float(v) for v in values.reshape(-1)[:4]]
    more = ", …" if getattr(gradient, "numel", lambda: len(flat))() > 4 else ""
    return "[" + ", ".join(f"{v:.4g}" for v in flat) + more + "]"


def _graph_nodes(root: Any) -> list[Any]:
    """Every node reachable from ``root``'s grad_fn."""
    out, seen, stack = [], set(), [root.grad_fn] if root.grad_fn is not None else []
    while stack:
        n = stack.pop()
        if n is None or id(n) in seen:  # the list keeps each one alive (torch's wrappers)
            continue
        seen.add(id(n))
        out.append(n)
        stack.extend(nxt for nxt, _ in n.next_functions)
    return out


def install(shell: Any, backend: Backend | None = None) -> Agent:
    """Start the agent in an IPython shell: side channel from the environment, hooks on the
    shell's events, and ``__gradviz__`` in the user namespace for the window's commands."""
    chan = Channel(os.environ["GRADVIZ_KERNEL_OUT"], os.environ["GRADVIZ_KERNEL_IN"])
    agent = Agent(shell.user_ns, chan.send, chan.inbox, backend=backend)
    chan.direct = agent.handle_direct
    shell.user_ns["__gradviz__"] = agent
    shell.user_ns_hidden["__gradviz__"] = agent

    def post_run_cell(result: Any) -> None:
        if result.info is not None and not getattr(result.info, "silent", False):
            err = result.error_in_exec or result.error_before_exec
            agent.cell_finished(err)

    def pre_run_cell(_info: Any) -> None:
        agent.cell_active = True
        agent.leave_replay()

    def post_run_cell_end(_result: Any) -> None:
        agent.cell_active = False

    shell.events.register("post_run_cell", post_run_cell)
    shell.events.register("post_run_cell", post_run_cell_end)
    shell.events.register("pre_run_cell", pre_run_cell)
    from gradviz.kernel.training_host import TrainingHost

    agent.training = TrainingHost(agent, interrupts=True)  # the training panel's runs
    chan.send({"type": "hello", "pid": os.getpid(), "backend": agent.backend.name,
               "side_commands": True})
    return agent
