"""The inspector: everything about one tensor, one grad_fn node, or one backward step, as large
rich text for the projector. The node view explains its local derivative: the rule the node
carries (``node.rule``: the engine's text beside the op, or the kernel's record of it)."""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QTimer
from PySide6.QtGui import QTextOption
from PySide6.QtWidgets import QTextBrowser, QVBoxLayout, QWidget

from gradviz.formatting import short_repr, size_text, values_text
from gradviz.graph_events import EventKind
from gradviz.qt.bridge import Bridge
from gradviz.qt.theming import theme_for
from gradviz.views import grad_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from gradviz.views import StepView
    from gradviz.workspace import Workspace

__all__ = ["Inspector"]

Tensor = Node = Any  # the kernel's tensors and nodes, as gradviz.views shows them

_REFRESH_EVENTS = frozenset({EventKind.GRAD_CHANGED, EventKind.GRAD_ACCUMULATED,
                             EventKind.REQUIRES_GRAD_CHANGED, EventKind.BACKWARD_FINISHED,
                             EventKind.GRAPH_FREED})
_MONO = "'DejaVu Sans Mono', 'Menlo', 'Consolas', monospace"


class Inspector(QWidget):
    """Shows a tensor, a node or a backward step; re-renders when the workspace changes.

    ``show_tensor(tensor, name)``, ``show_node(node)``, ``show_step(step)``, ``clear()``."""

    def __init__(self, session: Workspace, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inspector")
        self.session = session
        self.bridge = bridge
        self._subject: tuple[str, Any, Any] | None = None
        self.view = QTextBrowser(objectName="inspectorView")
        self.view.setOpenLinks(False)
        self.view.setReadOnly(True)
        # wrap between words only: never inside a name or a number ("MulBackwa rd0")
        self.view.setWordWrapMode(QTextOption.WrapMode.WordWrap)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self.refresh)
        bridge.changed.connect(self._on_changed)
        bridge.events.connect(self._on_events)
        self.clear()

    # ------------------------------------------------------------------ public
    def show_tensor(self, tensor: Tensor, name: str | None = None) -> None:
        """A tensor's attributes, values, .grad and hooks."""
        self._subject = ("tensor", tensor, name)
        self.refresh()

    def show_node(self, node: Node) -> None:
        """A grad_fn: its rule, next_functions, saved tensors and hooks."""
        self._subject = ("node", node, None)
        self.refresh()

    def show_step(self, step: StepView) -> None:
        """One backward step (gradviz.views.StepView): gradients in and out."""
        self._subject = ("step", step, None)
        self.refresh()

    def clear(self) -> None:
        self._subject = None
        self.refresh()

    def subject(self) -> tuple[str, Any, Any] | None:
        """``(kind, object, name)`` of what is shown, or None."""
        return self._subject

    def text(self) -> str:
        """The shown text without formatting (for tests and copy)."""
        return self.view.toPlainText()

    def refresh(self) -> None:
        """Render the current subject again."""
        self._timer.stop()
        kind = self._subject[0] if self._subject else None
        try:
            if kind == "tensor":
                body = self._tensor_html(self._subject[1], self._subject[2])
            elif kind == "node":
                body = self._node_html(self._subject[1])
            elif kind == "step":
                body = self._step_html(self._subject[1])
            else:
                body = (f"<p style='color:{self._c('muted')}'>Select a tensor, a graph node or "
                        "a backward step to inspect it.</p>")
        except Exception as e:  # a view must never crash the app
            body = f"<p style='color:{self._c('error')}'>{_e(type(e).__name__)}: {_e(e)}</p>"
        self.view.setHtml(self._page(body))

    # ------------------------------------------------------------------ refreshing
    def _on_changed(self, what: str) -> None:
        if what == "tensors" and self._subject and self._subject[0] != "step":
            self._timer.start()

    def _on_events(self, evs: list) -> None:
        for ev in evs:
            self._on_event(ev)

    def _on_event(self, ev: Any) -> None:
        if (ev.kind in _REFRESH_EVENTS and self._subject and self._subject[0] != "step"
                and not self._timer.isActive()):
            self._timer.start()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.PaletteChange):
            self.refresh()

    # ------------------------------------------------------------------ styling
    def _c(self, role: str) -> str:
        """The current theme's colour for ``role`` (text, muted, error, accent, code_bg,
        rule_bg, rule, freed, plus)."""
        return getattr(theme_for(self).ui, role)

    def _page(self, body: str) -> str:
        pt = max(self.font().pointSizeF(), 9.0) * 1.25
        mono = pt * 1.1
        return (
            "<html><head><style>"
            f"body {{ font-size: {pt:.1f}pt; color: {self._c('text')}; }}"
            f"h2 {{ font-size: {pt * 1.45:.1f}pt; margin: 0 0 4px 0; }}"
            f"h3 {{ font-size: {pt * 1.1:.1f}pt; color: {self._c('accent')}; "
            "margin: 10px 0 2px 0; }"
            f".k {{ color: {self._c('muted')}; padding-right: 14px; }}"
            f".m {{ font-family: {_MONO}; font-size: {mono:.1f}pt; }}"
            f"pre {{ font-family: {_MONO}; font-size: {mono:.1f}pt; margin: 0; "
            "white-space: pre-wrap; "
            f"background-color: {self._c('code_bg')}; }}"
            f".muted {{ color: {self._c('muted')}; }}"
            f".err {{ color: {self._c('error')}; font-weight: bold; }}"
            f".freed {{ color: {self._c('freed')}; font-weight: bold; }}"
            f".rule {{ font-family: {_MONO}; font-size: {mono:.1f}pt; color: {self._c('rule')};"
            f" background-color: {self._c('rule_bg')}; font-weight: bold; }}"
            f".op {{ font-family: {_MONO}; font-size: {pt * 1.5:.1f}pt; font-weight: bold; "
            f"color: {self._c('plus')}; }}"
            f".big {{ font-size: {pt * 1.4:.1f}pt; }}"
            "</style></head><body>" + body + "</body></html>")

    # ------------------------------------------------------------------ names
    def _tensor_name(self, t: Tensor | None) -> str | None:
        if t is None:
            return None
        # the user's variable name, else the module parameter's (``0.weight``), as the graph
        return self.session.names().get(self.session.id_of(t)) or getattr(t, "param_name",
                                                                           None)

    def _node_label(self, node: Node | None) -> str:
        if node is None:
            return "None"
        label = node.name().replace("torch::autograd::", "")
        if hasattr(node, "variable"):
            n = self._tensor_name(node.variable)
            return f"{label} ({n})" if n else label
        return label

    # ------------------------------------------------------------------ tensor
    def _tensor_html(self, t: Tensor, name: str | None) -> str:
        name = name or self._tensor_name(t) or f"tensor #{self.session.id_of(t)}"
        fn = t.grad_fn
        kind = "leaf" if fn is None else "non-leaf"
        hooks = len(t._backward_hooks or ())
        rows = [
            ("shape", size_text(t.shape)),
            ("dtype", f"torch.{t.dtype.name}"),
            ("requires_grad", str(t.requires_grad)),
            ("is_leaf", str(fn is None)),
            ("grad_fn", f"&lt;{_e(fn.name())}&gt;" if fn is not None else "None"),
            ("_version", str(t._version)),
            ("hooks", str(hooks)),
        ]
        if fn is not None:
            rows.append(("retains_grad", str(t.retains_grad)))
        out = [f"<h2>{_e(name)} <span class='muted'>· tensor, {kind}</span></h2>",
               _table(rows), "<h3>values</h3>", _pre(repr(t))]
        out.append("<h3>.grad</h3>")
        grad = grad_of(t)
        if grad is not None:
            out.append(_pre(repr(grad)))
        elif fn is not None and not t.retains_grad:
            out.append("<p class='m'>None <span class='muted'>(a non-leaf keeps no .grad "
                       f"unless you call {_e(name)}.retain_grad())</span></p>")
        elif not t.requires_grad:
            out.append("<p class='m'>None <span class='muted'>(requires_grad=False: no "
                       "gradient will arrive)</span></p>")
        else:
            out.append("<p class='m'>None <span class='muted'>(no backward has reached it "
                       "yet)</span></p>")
        return "".join(out)

    # ------------------------------------------------------------------ node
    def _node_html(self, node: Node) -> str:
        out = [f"<h2>{_e(node.name())} <span class='muted'>· node "
               f"#{self.session.id_of(node)}</span></h2>"]
        out.append(self._rule_html(node))
        if hasattr(node, "variable"):
            var = node.variable
            vname = self._tensor_name(var) or f"tensor #{self.session.id_of(var)}"
            out.append("<h3>variable</h3>")
            out.append(_table([("leaf", _e(vname)), ("shape", size_text(var.shape))]))
            out.append(f"<h3>{_e(vname)}.grad</h3>")
            out.append(_pre(repr(var.grad)) if var.grad is not None else
                       "<p class='m'>None</p>")
        else:
            out.append("<h3>next_functions</h3>")
            edges = []
            for i, (fn, nr) in enumerate(node.next_functions):
                label = "(None, 0)" if fn is None else f"({_e(self._node_label(fn))}, {nr})"
                edges.append((f"[{i}]", label))
            out.append(_table(edges) if edges else "<p class='muted'>()</p>")
            out.append("<h3>saved tensors</h3>")
            out.append(self._saved_html(node))
            attrs = _attributes(node)
            if attrs:
                out.append("<h3>attributes</h3>")
                out.append(_table([(_e(k), _e(v)) for k, v in attrs]))
        registered = node.registered_hooks()
        hooks = len(registered.hooks)
        pre = len(registered.prehooks) + len(registered.tensor_prehooks)
        out.append("<h3>hooks</h3>")
        out.append(_table([("hooks", str(hooks)), ("prehooks", str(pre))]))
        return "".join(out)

    def _rule_html(self, node: Node) -> str:
        rule = rule_of(node)
        sym = "<br>".join(_e(s) for s in rule.symbols)
        out = ["<h3>local derivative rule</h3>", f"<p>{_e(rule.words)}</p>",
               "<table cellpadding='6' width='100%'><tr><td class='rule'>" + sym +
               "</td></tr></table>"]
        if rule.math:
            out.append(f"<p class='m muted'>{_e(rule.math)}</p>")
        return "".join(out)

    def _saved_html(self, node: Node) -> str:
        if node.is_freed:
            names = ", ".join(node.freed_names)
            return (f"<p class='freed'>freed{(' (' + _e(names) + ')') if names else ''}</p>"
                    "<p class='muted'>backward ran without retain_graph=True: the saved values "
                    "are gone, and a second backward through this node raises an error.</p>")
        saved = node.saved_tensors
        if not saved:
            return "<p class='muted'>nothing saved (this rule needs no values from the "\
                   "forward pass)</p>"
        if isinstance(saved, (tuple, list)):  # a custom Function's ctx.saved_tensors
            saved = {f"saved_tensors[{i}]": v for i, v in enumerate(saved)}
            prefix = ""
        else:
            prefix = "_saved_"
        out = []
        for k, v in saved.items():
            src = self._tensor_name(v) if hasattr(v, "grad_fn") else None
            note = f" <span class='muted'>(is {_e(src)})</span>" if src else ""
            if k == "result":
                note = " <span class='muted'>(this node's own output)</span>"
            out.append(f"<p class='m' style='margin: 6px 0 0 0'>{prefix}{_e(k)}{note}</p>")
            out.append(_pre(_repr(v)))
        return "".join(out)

    def _input_value(self, fn: Any) -> Any:
        """The tensor a next function stands for: a leaf's variable, else the named tensor
        that ``fn`` produced."""
        var = getattr(fn, "variable", None)
        if var is not None:
            return var
        fid = self.session.id_of(fn)
        for name in self.session.names().values():
            try:
                t = self.session.get(name)
            except Exception:  # noqa: BLE001 - gone since
                continue
            g = getattr(t, "grad_fn", None)
            if g is not None and (g is fn or self.session.id_of(g) == fid):
                return t
        return None

    # ------------------------------------------------------------------ step
    def _step_html(self, step: StepView) -> str:
        node = step.node
        head = (f"<h2>step {step.index + 1}: {_e(self._node_label(node))} "
                f"<span class='muted'>· node #{self.session.id_of(node)}</span></h2>")
        if step.is_accumulate or getattr(step, "captured", False):
            return head + self._accumulate_html(step)
        rule = rule_of(node)
        out = [head, "<table cellpadding='6' width='100%'><tr><td class='rule'>" +
               "<br>".join(_e(s) for s in rule.symbols) + "</td></tr></table>"]
        numbers = substituted(rule.symbols, step, self._input_value)
        if numbers:
            out.append("<h3>with this step's numbers</h3>")
            out.append("".join(f"<p class='m' style='margin: 4px 0'>{_e(line)}</p>"
                               for line in numbers))
        out.append("<h3>grad_outputs <span class='muted'>(in: dL/d output)</span></h3>")
        for i, g in enumerate(step.grad_outputs):
            out.append(f"<p class='m' style='margin: 6px 0 0 0'>[{i}] <span class='muted'>"
                       f"from the output of {_e(self._node_label(node))}</span></p>")
            out.append(_pre(_repr(g)))
        out.append("<h3>grad_inputs <span class='muted'>(out: one per next function)"
                   "</span></h3>")
        lhs = gradient_names(rule.symbols)
        named = len(lhs) == len(node.next_functions)
        for i, ((fn, _nr), g) in enumerate(zip(node.next_functions, step.grad_inputs)):
            who = f"{lhs[i]} " if named else ""
            target = "(None, 0)" if fn is None else self._node_label(fn)
            out.append(f"<p class='m' style='margin: 6px 0 0 0'>[{i}] {_e(who)}"
                       f"<span class='muted'>→ {_e(target)}</span></p>")
            if fn is None and g is None:
                out.append("<p class='muted'>no gradient flows (this input needs none)</p>")
            else:
                out.append(_pre(_repr(g)))
        out.append("<h3>saved tensors</h3>")
        out.append(self._saved_html(node))
        attrs = _attributes(node)
        if attrs:
            out.append("<h3>attributes</h3>")
            out.append(_table([(_e(k), _e(v)) for k, v in attrs]))
        return "".join(out)

    def _accumulate_html(self, step: StepView) -> str:
        var = step.variable if step.variable is not None else getattr(step.node, "variable",
                                                                      None)
        vname = (self._tensor_name(var) or f"tensor #{self.session.id_of(var)}"
                 if var is not None else "this input")
        before = step.grad_before
        incoming = step.grad_outputs[0]
        after = step.grad_after
        if getattr(step, "captured", False):  # torch.autograd.grad: returned, not stored
            return ("<table cellpadding='8' width='100%'><tr><td class='rule'><span class='big'>"
                    f"grad() returns this for {_e(vname)}</span></td></tr></table>"
                    f"<p class='muted'>torch.autograd.grad captures the gradient here and "
                    f"hands it back to the code; {_e(vname)}.grad is left as it was "
                    f"({_e(_repr(before)) if before is not None else 'None'}).</p>"
                    + _pre(_repr(incoming)))
        out = ["<table cellpadding='8' width='100%'><tr><td class='rule'><span class='big'>"
               f"{_e(vname)}.grad += grad</span></td></tr></table>"]
        if before is None:
            out.append(f"<p class='muted'>{_e(vname)}.grad was None: this is its first "
                       f"gradient, so {_e(vname)}.grad = grad.</p>")
        else:
            out.append("<p class='muted'>gradients add up: this one is added to what "
                       f"{_e(vname)}.grad already held.</p>")
        rows = [
            ("", f"<span class='k'>{_e(vname)}.grad before</span>",
             _pre(_repr(before)) if before is not None else "<span class='m'>None</span>"),
            ("<span class='op'>+</span>", "<span class='k'>incoming grad</span>",
             _pre(_repr(incoming))),
            ("<span class='op'>=</span>", f"<span class='k'>{_e(vname)}.grad after</span>",
             _pre(_repr(after))),
        ]
        body = "".join(f"<tr><td align='center' valign='middle'>{a}</td>"
                       f"<td valign='middle' nowrap>{b}</td><td>{c}</td></tr>" for a, b, c in rows)
        out.append(f"<table cellpadding='4' cellspacing='0'>{body}</table>")
        return "".join(out)


# ----------------------------------------------------------------------------- rules
class _Generic:
    words = ("Chain rule: multiply the incoming gradient by this node's local derivative, one "
             "result per input.")
    symbols = ("grad_input = grad * d output / d input",)
    math = "∂L/∂x = ∂L/∂y · ∂y/∂x"
    generic = True


def rule_of(node: Any) -> Any:
    """The rule a node carries (``words``, ``symbols``, ``math``): an engine node's class
    attribute or a kernel record's ``NodeView.rule``; the generic chain rule otherwise."""
    rule = getattr(node, "rule", None)
    return rule if rule is not None and getattr(rule, "symbols", None) else _Generic


def gradient_names(symbols: tuple[str, ...]) -> list[str]:
    """The left-hand sides that are gradients (``grad_self``...), in input order; the other
    lines name helper values (``mask = ...``)."""
    return [n for n in (s.split(" = ", 1)[0].strip() for s in symbols if " = " in s)
            if n.startswith("grad_")]


# ----------------------------------------------------------------------------- numbers
_IDENT = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def _attributes(node: Any) -> list[tuple[str, str]]:
    """An op's attributes with their values (alpha, dim, keepdim...): the kernel's
    ``attributes`` dict, else the node's public fields."""
    attrs = [(k, str(v)) for k, v in sorted((getattr(node, "attributes", None) or {}).items())]
    attrs += [(k, short_repr(v, 60)) for k, v in sorted(vars(node).items())
              if not k.startswith("_") and k != "attributes"]
    return attrs


def substituted(symbols: tuple[str, ...], step: Any,
                input_value: Callable[[Any], Any] | None = None) -> list[str]:
    """The rule with this step's numbers: ``grad_self = grad * other = [...] * [...] =
    [...]``. ``grad`` is the step's grad_outputs[0]; other names are the node's saved
    tensors (``self``, ``other``, ``result``...) and attributes (``alpha``, ``dim``...);
    the result is the grad_inputs entry of that input. Once a node ran its saved values are
    freed: ``self`` and ``other`` are then the values of its first and second input, found
    by ``input_value(next_function)``. A name still unknown stays a name."""
    node = step.node
    values: dict[str, str] = {}
    gout = step.grad_outputs[0] if step.grad_outputs else None
    if gout is not None:
        values["grad"] = values_text(gout)
    try:
        saved = (getattr(node, "saved_when_ran", None) if getattr(node, "is_freed", False)
                 else node.saved_tensors) or {}
    except Exception:  # noqa: BLE001 - freed or unreadable
        saved = {}
    if isinstance(saved, dict):
        for k, v in saved.items():
            values.setdefault(k, values_text(v))
    for k, v in _attributes(node):
        values.setdefault(k, v)
    if input_value is not None:
        for i, k in enumerate(("self", "other")):
            if k in values or i >= len(node.next_functions):
                continue
            fn = node.next_functions[i][0]
            t = input_value(fn) if fn is not None else None
            if t is not None:
                values[k] = values_text(t)
    named = len(gradient_names(symbols)) == len(step.grad_inputs)
    out = []
    k = -1  # the input the current grad_ line is for
    for sym in symbols:
        if " = " not in sym:
            continue
        left, expr = (x.strip() for x in sym.split(" = ", 1))
        is_grad = left.startswith("grad_")
        k += is_grad
        nexts = node.next_functions
        if is_grad and named and k < len(nexts) and nexts[k][0] is None:
            out.append(f"{left}: not computed ({left[5:]} needs no gradient)")
            continue
        names = [m.group(0) for m in _IDENT.finditer(expr)]
        if not names or not any(n in values for n in names):
            continue
        filled = _IDENT.sub(lambda m: values.get(m.group(0), m.group(0)), expr)
        line = f"{left} = {expr} = {filled}"
        gi = step.grad_inputs[k] if is_grad and named and k < len(step.grad_inputs) else None
        if gi is not None:
            line += f" = {values_text(gi)}"
        out.append(line)
    return out


# ----------------------------------------------------------------------------- helpers
def _e(x: Any) -> str:
    return html.escape(str(x), quote=False)


def _repr(t: Any) -> str:
    return "None" if t is None else repr(t)


def _pre(text: str) -> str:
    return f"<pre>{_e(text)}</pre>"


def _table(rows: list[tuple[str, str]]) -> str:
    """Two columns: muted keys, monospace values (both already HTML)."""
    cells = "".join(f"<tr><td class='k' valign='top' nowrap>{k}</td><td class='m' valign='top'>{v}"
                    "</td></tr>" for k, v in rows)
    return f"<table cellpadding='2' cellspacing='0'>{cells}</table>"
