"""The rule a snapshot shows for a node: the engine's own (``node.rule``, kept beside each op's
backward in ``engine/``), or for the few nodes only real torch creates, this module's table.
No Qt; the kernel puts the rule into the node record (``rule_record``) and the window reads it
from the record, never from here.

Symbols follow the engine's vocabulary (``engine._rule``): ``grad`` is the incoming gradient,
``grad_<input>`` what goes to that input, saved values and attributes by torch's names.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from engine.autograd import GENERIC_RULE as GENERIC
from engine.autograd import CustomRule, Rule
from engine.autograd import rule_for as engine_rule_for

__all__ = ["Rule", "TORCH_ONLY", "GENERIC", "rule_for", "rule_for_node", "rule_record",
           "node_rule_record", "custom_rule"]

_PREFIX = "torch::autograd::"

TORCH_ONLY: dict[str, Rule] = {
    "RsubBackward0": Rule("Reversed subtraction other − alpha·self: self gets minus alpha "
                          "times the gradient, other the gradient.",
                          ("grad_self = -alpha * grad", "grad_other = grad"),
                          "∂(b − α·a)/∂a = −α,  ∂/∂b = 1"),
    "SqueezeBackward2": Rule("squeeze(dims): the size-1 dims are put back.",
                             ("grad_self = reshape(grad, self_sym_sizes)",)),
    "SqueezeBackward3": Rule("squeeze_(): the size-1 dims are put back.",
                             ("grad_self = reshape(grad, self_sym_sizes)",)),
    "SqueezeBackward5": Rule("squeeze_(dims): the size-1 dims are put back.",
                             ("grad_self = reshape(grad, self_sym_sizes)",)),
    "ThresholdBackward0": Rule("threshold(x, threshold, value): the gradient passes where "
                               "x > threshold; the replaced elements get none.",
                               ("grad_self = where(self > threshold, grad, 0)",),
                               "1 if x > t else 0"),
    "AsStridedBackward0": Rule("as_strided: every view element sends its gradient back to the "
                               "storage element it reads (size, stride, storage_offset); "
                               "overlapping views add up.",
                               ("grad_self = put(self_sym_sizes, as_strided_index, grad)",)),
}
"""Rules for nodes the torch backend can show that the engine never creates (the engine's
own nodes keep theirs beside their code; nothing here repeats one of them)."""


def custom_rule(fn_name: str) -> Rule:
    """The rule of a custom ``autograd.Function`` called ``fn_name``: its own backward."""
    return Rule(CustomRule.words, (f"grads = {fn_name}.backward(ctx, grad)",),
                "∂L/∂x = backward(ctx, ∂L/∂y)")


@lru_cache(maxsize=1024)
def rule_for(name: str) -> Rule:
    """The rule of node ``name`` (``MulBackward0``, ``torch::autograd::AccumulateGrad``...):
    the engine's, else torch's table, else the generic chain-rule description."""
    rule = engine_rule_for(name)
    if rule is not None:
        return rule
    return TORCH_ONLY.get(name.removeprefix(_PREFIX), GENERIC)


def rule_for_node(node: Any) -> Rule:
    """The rule of a graph node, engine or torch; a custom autograd.Function's node names its
    class."""
    fn = getattr(node, "_forward_cls", None)
    if fn is not None:
        return custom_rule(fn.__name__)
    rule = getattr(node, "rule", None)
    if isinstance(rule, Rule) and rule is not GENERIC:
        return rule
    name = node.name() if hasattr(node, "name") else type(node).__name__
    return rule_for(name)


def rule_record(rule: Rule) -> dict[str, Any]:
    """A rule as JSON-safe data for a node record."""
    return {"words": rule.words, "symbols": list(rule.symbols), "math": rule.math,
            "generic": rule is GENERIC}


_RECORDS: dict[Any, dict[str, Any]] = {}


def node_rule_record(node: Any) -> dict[str, Any]:
    """``rule_record(rule_for_node(node))``, computed once per kind of node (the snapshot of a
    large graph asks for it per node)."""
    fn = getattr(node, "_forward_cls", None)
    key = (type(node), node.name(), getattr(fn, "__name__", None))
    rec = _RECORDS.get(key)
    if rec is None:
        rec = _RECORDS[key] = rule_record(rule_for_node(node))
    return rec
