"""What a session holds: :class:`TensorState`, :class:`SessionState`, :func:`capture`."""

from __future__ import annotations

import keyword
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gradviz.session_file.limits import _RESERVED, SessionFileError
from gradviz.views import grad_of

if TYPE_CHECKING:
    from gradviz.workspace import Workspace


@dataclass(eq=False)
class TensorState:
    """A tensor by value: ``value`` is an array of one of the engine's dtypes. ``is_leaf`` is
    False for a tensor that code computed (its ``grad_fn`` name is kept, its graph is not)."""

    name: str
    value: np.ndarray
    requires_grad: bool = False
    grad: np.ndarray | None = None
    is_leaf: bool = True
    grad_fn: str | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TensorState):
            return NotImplemented
        return (self.name == other.name and self.requires_grad == other.requires_grad
                and self.is_leaf == other.is_leaf and self.grad_fn == other.grad_fn
                and _same(self.value, other.value) and
                (self.grad is None) == (other.grad is None)
                and (self.grad is None or _same(self.grad, other.grad)))


def _same(a: np.ndarray, b: np.ndarray | None) -> bool:
    return (b is not None and a.dtype == b.dtype and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a restored variable, or None."""
    if (not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_")
            or name in _RESERVED):
        return f"the name {name!r}, which is not a usable variable name"
    return None


@dataclass
class SessionState:
    """What a session file holds: the code, the tensors' values and the GUI's view state."""

    cells: list[str] = field(default_factory=list)
    editor_text: str = ""
    tensors: list[TensorState] = field(default_factory=list)
    view: dict[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str:
        """The code editor's text (alias of ``editor_text``)."""
        return self.editor_text

    @property
    def leaves(self) -> list[TensorState]:
        """The leaf tensors: what :meth:`apply_to` puts back."""
        return [t for t in self.tensors if t.is_leaf]

    @property
    def computed(self) -> list[TensorState]:
        """The tensors code computed: back (with their graphs) once the cells run again."""
        return [t for t in self.tensors if not t.is_leaf]

    @property
    def can_rerun(self) -> bool:
        """True when there are cells whose re-run rebuilds the graphs ("Re-run cells")."""
        return bool(self.cells)

    @classmethod
    def from_session(cls, session: Workspace, editor_text: str = "",
                     view: dict[str, Any] | None = None) -> SessionState:
        """Capture a :class:`~gradviz.session.Session` (or a window's view of a kernel's): its
        code history and every named tensor by value, each marked leaf or computed. Names a
        restored workspace could not use (``torch``, ``_x``) are left out. Raises
        :class:`SessionFileError` if a tensor's values are not all there (a window's view of a
        large kernel tensor holds only its first values: save from the kernel then)."""
        tensors = []
        for info in session.tensors():
            if _name_problem(info.name):
                continue
            t = info.tensor
            value = np.array(t.numpy(force=True), copy=True)
            shape = tuple(int(s) for s in t.shape)
            if value.shape != shape:
                if value.size != math.prod(shape):
                    raise SessionFileError(
                        f"tensor {info.name!r} has {math.prod(shape):,} values but only "
                        f"{value.size:,} reached the window; save it from the kernel")
                value = value.reshape(shape)
            fn = t.grad_fn
            fn_name = None
            if fn is not None:
                named = getattr(fn, "name", None)
                fn_name = str(named() if callable(named) else type(fn).__name__)
            g = grad_of(t)
            grad = None if g is None else np.array(g.numpy(force=True), copy=True)
            if grad is not None and grad.shape != value.shape:
                grad = grad.reshape(value.shape) if grad.size == value.size else None
            tensors.append(TensorState(info.name, value, bool(t.requires_grad), grad,
                                       fn is None, fn_name))
        return cls(list(session.history), editor_text, tensors, dict(view or {}))

    def apply_to(self, session: Workspace, computed: bool = False) -> None:
        """Replace ``session``'s workspace with this state: leaf tensors by value (with
        ``requires_grad`` and ``grad``) and the code history as text. Nothing is executed, so
        computed tensors are back only once the cells run again; with ``computed=True`` their
        values come back too, as plain tensors without a graph."""
        import engine

        built = {}
        for ts in self.tensors:  # build everything first: a failure leaves the session as is
            if not ts.is_leaf and not computed:
                continue
            rg = ts.requires_grad and ts.is_leaf
            t = engine.tensor(np.array(ts.value, copy=True), requires_grad=rg)
            if ts.grad is not None and ts.is_leaf:
                t.grad = engine.tensor(np.array(ts.grad, copy=True))
            built[ts.name] = t
        session.clear()
        session.history.extend(self.cells)
        session.namespace.update(built)
        session._notify("code")
        session._notify("tensors")


def capture(session: Workspace, code: str = "", view: dict[str, Any] | None = None) -> SessionState:
    """The state to save for ``session``, with the editor's ``code`` and the GUI's ``view``."""
    return SessionState.from_session(session, code, view)

