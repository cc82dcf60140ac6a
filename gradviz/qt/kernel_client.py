"""The window's handle on the kernel process: start, run, interrupt, restart, notice death.

An IPython kernel (``python -m gradviz.kernel``) is started and driven with jupyter_client;
its shell and iopub channels run in jupyter_client's thread and reach the GUI thread as Qt
signals. gradviz's own traffic (snapshots, backward walks) comes back on a side channel, a zmq
PULL socket read by a thread of ours. Nothing here runs user code.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEventLoop, QObject, QTimer, Signal

__all__ = ["KernelClient", "death_sentence", "strip_ansi"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


_SIGNAL_WORDS = {"SIGSEGV": "a segmentation fault", "SIGKILL": "SIGKILL (out of memory, or "
                 "killed)", "SIGABRT": "an abort", "SIGBUS": "a bus error",
                 "SIGFPE": "a floating-point exception", "SIGTERM": "SIGTERM"}


def death_sentence(code: int | None) -> str:
    """One sentence for how the kernel ended, from its exit status."""
    if code is None:
        return "The kernel stopped answering."
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"The kernel died of {_SIGNAL_WORDS.get(name, name)}."
    return f"The kernel exited with status {code}."


class _Relay(QObject):
    """Carries messages from other threads to the GUI thread (queued signal)."""

    message = Signal(str, object)


class KernelClient(QObject):
    """One kernel process and its channels.

    Signals: ``started`` (the kernel answers), ``state(dict)`` (a snapshot from the agent),
    ``stream(str msg_id, str name, str text)``, ``finished(str msg_id, dict outcome)`` when a
    cell is done (outcome: status, value, error), ``died(str sentence)``, ``busy(bool)``.
    """

    started = Signal()
    state = Signal(dict)
    stream = Signal(str, str, str)
    finished = Signal(str, dict)
    died = Signal(str)
    busy = Signal(bool)
    message = Signal(dict)  # any other side-channel message

    def __init__(self, parent: QObject | None = None, env: dict[str, str] | None = None) -> None:
        super().__init__(parent)
        self._relay = _Relay()
        self._relay.message.connect(self._on_message)
        self._extra_env = env or {}
        self.km: Any = None
        self.kc: Any = None
        self.alive = True  # starting counts as alive; death or shutdown ends it
        self.ready = False
        self.running: dict[str, dict[str, Any]] = {}  # msg_id -> what we know of that cell
        self._order: list[str] = []
        self.paused = False
        self.last_state: dict[str, Any] | None = None
        self._seq = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self._zmq_ctx: Any = None
        self._push: Any = None
        self._reader: threading.Thread | None = None
        self._tmp = tempfile.mkdtemp(prefix="gradviz-kernel-")
        self._poll = QTimer(self)
        self._poll.setInterval(200)
        self._poll.timeout.connect(self._check_alive)
        self._generation = 0
        self._stopping = False
        self._cleanup: threading.Thread | None = None
        self._hello = self._iopub_up = False
        self._side_commands = False  # the agent takes idle commands on the side channel
        self._shell_seen = False  # the agent answered from its main thread (knows its loop)
        self._probe = QTimer(self)
        self._probe.setInterval(150)
        self._probe.timeout.connect(self._probe_iopub)
        self.death: str | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the kernel process (returns at once; ``started`` follows)."""
        import zmq
        from jupyter_client import KernelManager
        from jupyter_client.kernelspec import KernelSpec

        if self._zmq_ctx is None:
            self._zmq_ctx = zmq.Context()
            self._pull = self._zmq_ctx.socket(zmq.PULL)
            out_addr = f"ipc://{self._tmp}/out"
            self._pull.bind(out_addr)
            self._push = self._zmq_ctx.socket(zmq.PUSH)
            self._push.setsockopt(zmq.LINGER, 0)
            in_addr = f"ipc://{self._tmp}/in"
            self._push.bind(in_addr)
            self._addrs = (out_addr, in_addr)
            self._reader = threading.Thread(target=self._read_side, daemon=True,
                                            name="gradviz-side-channel")
            self._reader.start()
        km = KernelManager(transport="ipc", ip=str(Path(self._tmp) / "kernel"))
        km._kernel_spec = KernelSpec(
            argv=[sys.executable, "-m", "gradviz.kernel", "-f", "{connection_file}"],
            display_name="gradviz", language="python")
        env = dict(os.environ)
        env.update(self._extra_env)
        env["GRADVIZ_KERNEL_OUT"], env["GRADVIZ_KERNEL_IN"] = self._addrs
        env.pop("QT_QPA_PLATFORM", None)
        env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
        km.start_kernel(env=env)
        self.km = km
        self._connect_channels()
        self.alive, self.ready, self.death = True, False, None
        self._hello = self._iopub_up = False
        self._side_commands = self._shell_seen = False
        self._generation += 1
        self._poll.start()

    def _connect_channels(self) -> None:
        from jupyter_client.threaded import ThreadedKernelClient

        kc = ThreadedKernelClient(parent=self.km, **self.km.get_connection_info(session=True))
        relay = self._relay
        gen = self._generation + 1
        kc.start_channels(shell=True, iopub=True, stdin=True, hb=False, control=False)
        kc.shell_channel.call_handlers = lambda m: relay.message.emit("shell", (gen, m))
        kc.iopub_channel.call_handlers = lambda m: relay.message.emit("iopub", (gen, m))
        kc.stdin_channel.call_handlers = lambda m: relay.message.emit("stdin", (gen, m))
        kc.allow_stdin = False
        self.kc = kc

    def _read_side(self) -> None:
        """The reader thread: owns the PULL socket (zmq sockets stay in one thread)."""
        import zmq

        poller = zmq.Poller()
        poller.register(self._pull, zmq.POLLIN)
        while not self._stopping:
            try:
                if not poller.poll(100):
                    continue
                data = self._pull.recv(zmq.NOBLOCK)
            except zmq.ZMQError:
                continue
            try:
                msg = json.loads(data)
            except ValueError:
                continue
            self._relay.message.emit("side", msg)
        self._pull.close(linger=0)

    def shutdown(self) -> None:
        """Stop the kernel and our sockets (the window closes)."""
        self._poll.stop()
        self.alive = False
        self._stop_kernel()
        self._fail_pending("The kernel was shut down.")
        if self._cleanup is not None:
            self._cleanup.join(3.0)  # the old channels' sockets close before the context
        if self._zmq_ctx is not None:
            self._stopping = True
            if self._reader is not None:
                self._reader.join(2.0)
            self._push.close(linger=0)
            self._zmq_ctx.term()
            self._zmq_ctx = None

    BACKENDS = ("engine", "torch")

    @property
    def backend(self) -> str:
        """What user code runs on: ``"engine"`` (gradviz's) or ``"torch"`` (real PyTorch)."""
        return self._extra_env.get("GRADVIZ_BACKEND") or os.environ.get(
            "GRADVIZ_BACKEND", "engine")

    def set_backend(self, name: str) -> None:
        """Run user code on ``name`` from now on: the kernel restarts (the workspace empties)."""
        if name not in self.BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(self.BACKENDS)}, not {name!r}")
        self._extra_env["GRADVIZ_BACKEND"] = name
        self.restart()

    def restart(self) -> None:
        """A fresh kernel: the workspace is empty again (cells and editor text stay)."""
        self._poll.stop()
        self._stop_kernel()
        self._fail_pending("The kernel was restarted.")
        self.paused = False
        self.last_state = None
        self.start()

    def _stop_kernel(self) -> None:
        """End the kernel process at once (SIGKILL: it may be stuck or dead already); its
        channels and the manager's cleanup (reaping, connection files) end in a thread, so
        the window never waits for them (a restart is instant)."""
        km, kc = self.km, self.kc
        self.km = self.kc = None
        if km is not None:
            try:
                proc = km.provisioner.process if km.provisioner is not None else None
                if proc is not None and proc.poll() is None:
                    proc.kill()
            except Exception:  # noqa: BLE001
                pass

        def cleanup() -> None:
            import logging
            import warnings

            logging.getLogger("tornado.general").setLevel(logging.CRITICAL)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for fn in ((kc.stop_channels if kc is not None else None),
                           (lambda: km.shutdown_kernel(now=True)) if km is not None else None):
                    if fn is None:
                        continue
                    try:
                        fn()
                    except Exception:  # noqa: BLE001 - best effort
                        pass

        self._cleanup = threading.Thread(target=cleanup, daemon=True,
                                         name="gradviz-kernel-cleanup")
        self._cleanup.start()

    def interrupt(self) -> None:
        """Stop the running cell (KeyboardInterrupt in the kernel, also in time.sleep)."""
        if self.km is not None and self.alive:
            self.km.interrupt_kernel()

    def _check_alive(self) -> None:
        if self.km is None or not self.alive:
            return
        try:
            alive = self.km.is_alive()
        except Exception:  # noqa: BLE001
            alive = False
        if alive:
            return
        code = None
        try:
            prov = self.km.provisioner
            code = prov.process.poll() if prov is not None and prov.process else None
        except Exception:  # noqa: BLE001
            code = None
        self.alive = False
        self._poll.stop()
        self.death = death_sentence(code)
        self.paused = False
        self._fail_pending(self.death)
        self.died.emit(self.death)

    def _fail_pending(self, why: str) -> None:
        for mid in list(self.running):
            info = self.running.pop(mid)
            self.finished.emit(mid, {"status": "dead", "error": {"ename": "KernelDied",
                                                                 "evalue": why,
                                                                 "traceback": []},
                                     "output": info.get("output", "")})
        self._order.clear()
        self.busy.emit(False)

    # ------------------------------------------------------------------ running code
    @property
    def is_busy(self) -> bool:
        return bool(self.running)

    def execute(self, code: str) -> str:
        """Run a cell (returns its msg_id at once; ``finished`` follows)."""
        if not self.alive:
            raise RuntimeError(self.death or "the kernel is not running")
        mid = self.kc.execute(code, silent=False, store_history=True, allow_stdin=False)
        self.running[mid] = {"started": time.monotonic(), "output": "", "value": None,
                             "error": None, "idle": False, "reply": None}
        self._order.append(mid)
        self.busy.emit(True)
        return mid

    def command(self, cmd: str, **args: Any) -> int:
        """Send a command to the agent: on the shell channel when idle, on the side channel
        while a cell is paused in backward(). Returns its sequence number."""
        self._seq += 1
        msg = {"cmd": cmd, "seq": self._seq, **args}
        if self.paused or self.running or (self._side_commands and self._shell_seen):
            # the side channel: the agent answers at once when idle (no IPython execute)
            self._push.send(json.dumps(msg).encode())
        else:
            self.kc.execute(f"__gradviz__.handle({json.dumps(json.dumps(msg))})", silent=True,
                            store_history=False, allow_stdin=False)
        return self._seq

    def command_side(self, cmd: str, **args: Any) -> int:
        """Send a command on the side channel whatever the kernel is doing (for a command the
        kernel's main thread takes while it runs something long, e.g. Pause of a training
        loop playing). Returns its sequence number."""
        self._seq += 1
        self._push.send(json.dumps({"cmd": cmd, "seq": self._seq, **args}).encode())
        return self._seq

    # ------------------------------------------------------------------ waiting
    def wait_for(self, predicate: Callable[[], object], timeout: float | None = None) -> bool:
        """Turn the event loop (the window stays live) until ``predicate()`` or death."""
        if predicate():
            return True
        loop = QEventLoop()
        timer = QTimer()  # a fallback: every message that can answer also wakes the check
        timer.setInterval(50)
        deadline = None if timeout is None else time.monotonic() + timeout

        def check() -> None:
            if predicate() or not self.alive or (deadline and time.monotonic() > deadline):
                loop.quit()

        timer.timeout.connect(check)
        timer.start()
        conns = [self.state.connect(lambda *_: check()), self.finished.connect(
            lambda *_: check()), self.message.connect(lambda *_: check()),
            self.started.connect(lambda *_: check()), self.died.connect(lambda *_: loop.quit())]
        loop.exec()
        timer.stop()
        for c in conns:
            QObject.disconnect(c)
        return bool(predicate())

    def command_sync(self, cmd: str, timeout: float | None = 30.0, **args: Any
                     ) -> dict[str, Any] | None:
        """``command`` and wait for its update (None if the kernel died or is busy running)."""
        if not self.alive or not self.ready:
            return None
        if self.running and not self.paused:
            return None
        seq = self.command(cmd, **args)
        self.wait_for(lambda: seq in self._replies, timeout)
        return self._replies.pop(seq, None)

    # ------------------------------------------------------------------ messages
    def _on_message(self, channel: str, payload: Any) -> None:
        if channel == "side":
            self._on_side(payload)
            return
        gen, msg = payload
        if gen != self._generation:
            return  # from a kernel that was restarted
        parent = msg.get("parent_header", {}).get("msg_id")
        mtype = msg.get("msg_type") or msg.get("header", {}).get("msg_type")
        content = msg.get("content", {})
        if channel == "iopub" and not self._iopub_up:
            self._iopub_up = True  # outputs can no longer be lost to a late subscription
            self._maybe_ready()
        if mtype == "iopub_welcome":
            return
        info = self.running.get(parent)
        if channel == "iopub":
            if info is None:
                return
            if mtype == "stream":
                text = content.get("text", "")
                info["output"] = _bounded_join(info["output"], text)
                self.stream.emit(parent, content.get("name", "stdout"), text)
            elif mtype in ("execute_result", "display_data"):
                data = content.get("data", {})
                text = data.get("text/plain")
                if text is not None:
                    if mtype == "execute_result":
                        info["value"] = text
                    else:
                        info["output"] = _bounded_join(info["output"], text + "\n")
                        self.stream.emit(parent, "stdout", text + "\n")
            elif mtype == "error":
                info["error"] = {"ename": content.get("ename", "Error"),
                                 "evalue": content.get("evalue", ""),
                                 "traceback": [strip_ansi(t) for t in
                                               content.get("traceback", [])]}
            elif mtype == "status" and content.get("execution_state") == "idle":
                info["idle"] = True
                self._maybe_finish(parent)
        elif channel == "shell" and mtype == "execute_reply" and info is not None:
            info["reply"] = content
            if content.get("status") == "error" and info["error"] is None:
                info["error"] = {"ename": content.get("ename", "Error"),
                                 "evalue": content.get("evalue", ""),
                                 "traceback": [strip_ansi(t) for t in
                                               content.get("traceback", [])]}
            self._maybe_finish(parent)

    def _maybe_ready(self) -> None:
        if self._hello and self._iopub_up and not self.ready:
            self._probe.stop()
            self.ready = True
            self.started.emit()
        elif self._hello and not self._iopub_up and not self._probe.isActive():
            self._probe.start()  # kernel_info makes the kernel publish: iopub is then up

    def _probe_iopub(self) -> None:
        if self.kc is not None and self.alive:
            self.kc.kernel_info()

    def _maybe_finish(self, mid: str) -> None:
        info = self.running.get(mid)
        if info is not None and info["reply"] is not None and not info["idle"] \
                and not info.get("late"):
            # the reply came first: its outputs follow on iopub; never wait forever for them
            info["late"] = True
            QTimer.singleShot(2000, lambda: self._finish(mid))
        if info is None or not info["idle"] or info["reply"] is None:
            return
        if not info.get("state_seen"):
            # the agent's update for this cell is sent before the reply; give it a moment
            if not info.get("grace"):
                info["grace"] = True
                QTimer.singleShot(300, lambda: self._finish(mid))
            return
        self._finish(mid)

    def _finish(self, mid: str) -> None:
        info = self.running.pop(mid, None)
        if info is None:
            return
        if mid in self._order:
            self._order.remove(mid)
        status = "error" if info["error"] is not None else "ok"
        info["elapsed"] = time.monotonic() - info["started"]
        self.finished.emit(mid, {"status": status, "output": info["output"],
                                 "value": info["value"], "error": info["error"],
                                 "elapsed": info["elapsed"]})
        if not self.running:
            self.busy.emit(False)

    def _on_side(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "hello":
            self._hello = True
            self._side_commands = bool(msg.get("side_commands"))
            self._maybe_ready()
            return
        if kind == "reply":
            seq = msg.get("seq")
            if seq is not None:
                self._replies[seq] = msg
            self.message.emit(msg)
            return
        if kind == "state":
            if msg.get("seq") is not None:
                self._shell_seen = True  # the agent's main thread answered a command
            self.paused = bool(msg.get("paused"))
            self.last_state = msg
            if self._order and msg.get("seq") is None and not msg.get("paused"):
                info = self.running.get(self._order[0])
                if info is not None:
                    info["state_seen"] = True
            seq = msg.get("seq")
            if seq is not None:
                self._replies[seq] = msg
            self.state.emit(msg)
            if self._order:
                self._maybe_finish(self._order[0])
            return
        self.message.emit(msg)


_OUTPUT_LIMIT = 2_000_000


def _bounded_join(acc: str, text: str) -> str:
    """Cell output kept in the window: at most ``_OUTPUT_LIMIT`` characters, head and tail."""
    joined = acc + text
    if len(joined) <= _OUTPUT_LIMIT:
        return joined
    half = _OUTPUT_LIMIT // 2
    return joined[:half] + "\n… (output cut) …\n" + joined[-half:]
