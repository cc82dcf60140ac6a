"""The one family of value and shape formatters (gradviz.formatting): shapes read as torch
and Python print them, previews cut to their limit, and the panels show these same texts."""

from __future__ import annotations

import os

import numpy as np
import pytest

from gradviz.formatting import (
    clip,
    compact_values,
    label_values,
    number_text,
    repr_preview,
    shape_text,
    short_repr,
    short_values,
    size_text,
    value_summary,
    values_text,
)


@pytest.fixture(scope="module")
def torch():
    if os.environ.get("GRADVIZ_REQUIRE_TORCH") == "1":
        import torch
        return torch
    return pytest.importorskip("torch")


SHAPES = [(), (3,), (2, 3), (1, 0, 4)]


@pytest.mark.parametrize("shape", SHAPES)
def test_shapes_read_as_torch_prints_them(torch, shape) -> None:
    t = torch.zeros(shape)
    assert size_text(t) == size_text(t.shape) == str(t.shape)
    assert shape_text(t) == shape_text(t.shape) == str(tuple(t.shape))


def test_shape_text_without_a_shape() -> None:
    assert shape_text(object()) == "(?)"


def test_clip_and_short_repr() -> None:
    assert clip("abc", 3) == "abc"
    assert clip("abcd", 3) == "ab…" and len(clip("x" * 100, 20)) == 20
    assert short_repr("abc") == "'abc'"
    assert short_repr(list(range(100)), 40).endswith("…") and len(short_repr(
        list(range(100)), 40)) == 40

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert short_repr(Broken()) == "<Broken>"


def test_repr_preview_is_torchs_repr(torch) -> None:
    for t in (torch.tensor([1.0, 2.5], requires_grad=True), torch.tensor([[1, 2], [3, 4]]),
              torch.tensor(3.0)):
        want = " ".join(repr(t).split())
        assert want.startswith("tensor(") and want[7:].startswith(repr_preview(t))
    assert repr_preview(None) == "None" and repr_preview(7) == "7"
    long = repr_preview(torch.arange(100), 20)
    assert long.endswith("…") and len(long) == 20


def test_values_in_four_digits(torch) -> None:
    t = torch.tensor([2 / 3, 2 / 3, 2 / 3])
    want = "[" + ", ".join(f"{v:.4g}" for v in t.tolist()) + "]"
    assert values_text(t) == short_values(t) == want
    m = torch.arange(6.0).reshape(2, 3) / 10
    assert short_values(m) == values_text(m) == "[2, 3] [0, 0.1, 0.2, 0.3, …]"
    assert values_text(torch.tensor(1.0)) == short_values(torch.tensor(1.0)) == "1"
    assert values_text(None) == "None" and short_values(None) == ""
    assert values_text(2) == "2" and values_text("grad") == "grad"
    assert values_text(np.float32(0.5)) == "0.5"


def test_compact_values_follow_torchs_print_style(torch) -> None:
    for vals in ([0.3333333, 1.0, 2.5], [[1.0, 2.0], [3.0, 4.0]], [1e-7, 1.0]):
        text = repr(torch.tensor(vals, dtype=torch.float64))
        want = " ".join(text[7:text.rindex("]") + 1].split()).replace(",\n", ", ")
        assert compact_values(vals, 200) == want


def test_numbers_and_labels() -> None:
    assert [number_text(v) for v in (None, float("nan"), 0.0, 1 / 3, 1.2e-5, 3e6)] == \
        ["–", "–", "0", "0.3333", "1.20e-05", "3.00e+06"]
    assert label_values(2.0) == ["2"] and label_values([1e-5, True]) == ["[1e-5, 1]"]
    assert label_values([[1, 2], [3, 4]]) == ["[1, 2]", "[3, 4]"]
    assert label_values(np.arange(7)) == []
    s = value_summary(np.arange(30.0))
    assert s.startswith("[0, 1, 2") and ", …]" in s and "min 0  max 29  mean 14.5" in s


def test_node_keys_name_the_built_graphs_nodes(torch) -> None:
    from gradviz.graph import build_graph, node_id_of, node_key, tensor_key

    x = torch.tensor([1.0, 2.0], requires_grad=True)
    z = (x * 3).sum()
    g = build_graph(z, names={id(x): "x"})
    assert g.nodes[tensor_key(id(x))]["name"] == "x"
    assert g.nodes[node_key(id(z.grad_fn))]["label"].startswith("SumBackward0")
    assert node_id_of(node_key(id(z.grad_fn))) == id(z.grad_fn)
    assert [node_id_of(k) for k in (tensor_key(3), "nx", None, 5)] == [None] * 4
