"""``gradviz.show(tensor)`` and walk files: a graph and its backward, saved as the kernel's own
messages, opened again without torch (or the engine).

``save_walk(tensor, path)`` records the backward of ``tensor`` (engine or torch) node by node,
writes the kernel's ``state`` message of the finished walk (tensors, nodes, every step) as
JSON, and leaves every tensor as it was (its graph retained, each ``.grad`` restored).
``load_walk(path)`` gives back those messages, for a window to draw as if a kernel sent them.
``show(tensor)`` saves a walk to a temporary file and opens the window on it in a separate
process (``python -m gradviz --open-walk FILE``), returning when the window closes, as
``plt.show()`` does; nothing here imports Qt.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from typing import Any

__all__ = ["FORMAT", "walk_messages", "save_walk", "load_walk", "show"]

FORMAT = "gradviz-walk"
VERSION = 2  # 2: arrays as base64 bytes (b64)


def _backend_for(t: Any) -> Any:
    from gradviz.kernel.backend import EngineBackend, TorchBackend

    if EngineBackend().is_tensor(t):
        return EngineBackend()
    mod = type(t).__module__ or ""
    if mod.startswith("torch"):
        return TorchBackend()
    raise TypeError(f"gradviz.show() takes an engine or torch tensor, not {type(t).__name__}")


def _caller_namespace(depth: int) -> dict[str, Any]:
    try:
        f = sys._getframe(depth + 1)
    except ValueError:
        return {}
    ns = dict(f.f_globals)
    ns.update(f.f_locals)
    return ns


def walk_messages(tensor: Any, gradient: Any = None,
                  namespace: Mapping[str, Any] | None = None, backward: bool = True
                  ) -> list[dict[str, Any]]:
    """The kernel's messages for ``tensor``'s graph and (``backward``) its whole walk: tensors
    named as ``namespace`` names them, nn.Modules there grouping the nodes. The tensors end as
    they were."""
    from gradviz.kernel.agent import Agent
    from gradviz.kernel.snapshot import fill_texts

    backend = _backend_for(tensor)
    ns: dict[str, Any] = {}
    for k, v in (namespace or {}).items():
        if not k.startswith("_") and (backend.is_tensor(v) or _is_module(v)):
            ns[k] = v
    out: list[dict[str, Any]] = []
    agent = Agent(ns, lambda m: out.append(json.loads(json.dumps(m, allow_nan=False))),
                  install_driver=False, backend=backend)
    try:
        agent.root, agent.root_chosen, agent.gradient = tensor, True, gradient
        cursor = None
        if backward and tensor.requires_grad:
            cursor = backend.cursor(tensor, gradient, retain_graph=True)
            agent.cursor = cursor
            agent.walks += 1
            cursor.run()
        agent.send_state()
        if cursor is not None:
            cursor.reset()
    finally:
        agent.close()
    msg = out[-1]
    fill_texts(msg)  # no kernel to ask for a repr later
    msg["backend"] = backend.name
    return [msg]


def _is_module(v: Any) -> bool:
    for cls in type(v).__mro__:
        if cls.__name__ == "Module" and cls.__module__.startswith(("torch.nn", "engine.nn")):
            return True
    return False


def save_walk(tensor: Any, path: str | os.PathLike[str], gradient: Any = None,
              namespace: Mapping[str, Any] | None = None, backward: bool = True) -> str:
    """Write ``tensor``'s graph and backward walk to ``path`` (JSON); names come from the
    caller's variables unless ``namespace`` is given. Returns the path."""
    if namespace is None:
        namespace = _caller_namespace(1)
    doc = {"format": FORMAT, "version": VERSION,
           "messages": walk_messages(tensor, gradient, namespace, backward)}
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, allow_nan=False, separators=(",", ":"))
    os.replace(tmp, path)
    return path


def load_walk(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The messages a walk file holds (as ``walk_messages`` made them); ValueError when the
    file is not one. Needs neither torch nor the engine."""
    with open(os.fspath(path), encoding="utf-8") as f:
        try:
            doc = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{os.fspath(path)} is not a gradviz walk file: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{os.fspath(path)} is not a gradviz walk file")
    if int(doc.get("version", 0)) > VERSION:
        raise ValueError(f"{os.fspath(path)} was written by a newer gradviz (walk format "
                         f"{doc.get('version')}; this one reads {VERSION})")
    msgs = doc.get("messages")
    if not isinstance(msgs, list) or not all(isinstance(m, dict) for m in msgs):
        raise ValueError(f"{os.fspath(path)} holds no messages")
    return msgs


def show(tensor: Any, gradient: Any = None, namespace: Mapping[str, Any] | None = None,
         block: bool = True) -> subprocess.Popen | None:
    """Open the gradviz window on ``tensor``'s graph and backward (engine or torch tensor);
    returns when the window closes (``block=False``: at once, with the window's process)."""
    if namespace is None:
        namespace = _caller_namespace(1)
    fd, path = tempfile.mkstemp(prefix="gradviz-", suffix=".walk.json")
    os.close(fd)
    save_walk(tensor, path, gradient, namespace)
    cmd = [sys.executable, "-m", "gradviz", "--open-walk", path]
    proc = subprocess.Popen(cmd)  # noqa: S603 - our own interpreter and module
    if not block:
        return proc
    try:
        proc.wait()
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
    return None
