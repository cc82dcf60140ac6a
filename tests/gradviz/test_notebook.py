"""Notebooks: percent format and .ipynb read/write, the seed notebook, the torch API check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import engine
from gradviz.lessons import LessonRunner, list_lessons
from gradviz.notebook import (
    Cell,
    load_notebook,
    parse_percent,
    read_front_matter,
    read_ipynb,
    to_percent,
    unsupported_torch_api,
)
from gradviz.session import Session

SEED = Path(__file__).resolve().parents[1] / "data" / "seed_notebook.ipynb"
NON_SCALAR = "RuntimeError: grad can be implicitly created only for scalar outputs"


# --------------------------------------------------------------------------- percent format
def test_parse_percent_cells_markdown_and_expect():
    text = (
        "# ---\n# title: Demo: one\n# nested:\n#   key: no\n# ---\n\n"
        "# %% [markdown]\n# # Heading\n#\n# Some *text*.\n\n"
        "# %%\nimport torch\nx = torch.ones(2)\n\n\n"
        "# %%\n# expect: RuntimeError: grad can be\nx.backward()\n"
        "# %% [md]\n# short\n"
        "# %%\n\n"
    )
    assert read_front_matter(text) == {"title": "Demo: one", "nested": ""}
    assert parse_percent(text) == [
        Cell("markdown", "# Heading\n\nSome *text*."),
        Cell("code", "import torch\nx = torch.ones(2)"),
        Cell("code", "x.backward()", "RuntimeError: grad can be"),
        Cell("markdown", "short"),
    ]


def test_plain_script_is_one_code_cell_and_crlf_is_read():
    assert parse_percent("a = 1\r\nb = 2\r\n") == [Cell("code", "a = 1\nb = 2")]
    assert read_front_matter("a = 1") == {}
    assert read_front_matter("# ---\n# title: never closed\n") == {}


def test_jupytext_raises_exception_tag():
    cells = parse_percent('# %% tags=["raises-exception"]\n1 / 0\n')
    assert cells == [Cell("code", "1 / 0", "Exception")]
    assert cells[0].expects(ZeroDivisionError())


def test_cell_expects_matches_type_hierarchy_and_message():
    c = Cell("code", "", "RuntimeError: scalar outputs")
    assert c.expects(RuntimeError("grad can be implicitly created only for scalar outputs"))
    assert not c.expects(RuntimeError("something else"))
    assert not c.expects(ValueError("scalar outputs"))
    assert Cell("code", "", "LookupError").expects(KeyError("k"))
    assert not Cell("code", "").expects(RuntimeError())


def test_to_percent_round_trip_with_front_matter():
    cells = [Cell("markdown", "# Title\n\n- a\n  - b"), Cell("code", "x = 1\n\ny = 2"),
             Cell("code", "1 / 0", "ZeroDivisionError")]
    text = to_percent(cells, {"title": "T"})
    assert text.startswith("# ---\n# title: T\n# ---\n\n# %% [markdown]\n# # Title\n#\n# - a")
    assert "# %%\n# expect: ZeroDivisionError\n1 / 0\n" in text
    assert parse_percent(text) == cells
    assert read_front_matter(text) == {"title": "T"}


@pytest.mark.parametrize("info", list_lessons(), ids=lambda i: i.path.stem)
def test_lessons_round_trip_through_percent(info):
    text = info.path.read_text(encoding="utf-8")
    cells = parse_percent(text)
    assert parse_percent(to_percent(cells, read_front_matter(text))) == cells


# --------------------------------------------------------------------------- ipynb
def test_seed_notebook_reads_as_cells():
    cells = read_ipynb(SEED)
    code = [c for c in cells if c.kind == "code"]
    assert len(code) == 14 and len(cells) == 21
    assert cells[0] == Cell("markdown", "# Calculation Gradient\n"
                                        "   - Tracking the history of the computation")
    assert code[0].source == '"""import modules"""\nimport torch'
    raising = [c for c in code if c.expect_error]
    assert len(raising) == 1 and raising[0] is code[6]  # In [7]
    assert raising[0].expect_error == "RuntimeError"
    assert "z.backward() # dz/dx\nprint(x.grad)" in code[6].source


def test_seed_notebook_round_trip_through_percent():
    cells = read_ipynb(SEED)
    assert parse_percent(to_percent(cells)) == cells
    assert read_ipynb(SEED.read_text(encoding="utf-8")) == cells  # JSON text works too
    assert load_notebook(SEED) == cells


def test_seed_notebook_runs_cell_by_cell_with_cell_7_raising():
    session = Session()
    cells = read_ipynb(SEED)
    runner = LessonRunner(session, cells)
    results = runner.run_all()
    assert len(results) == 14
    assert all(r.passed for r in results), [r.note for r in results if not r.passed]
    errors = [r for r in results if r.error is not None]
    assert len(errors) == 1 and errors[0].cell_index == cells.index(
        next(c for c in cells if c.expect_error))
    assert errors[0].error_text == NON_SCALAR
    assert isinstance(session.namespace["torch"], type(engine))
    assert session.namespace["torch"] is engine  # `import torch` ran the engine
    assert "gradient value in the epoch 2 is: tensor([3., 3., 3., 3.])" in results[-1].output
    assert "gradient value in the epoch 2 is: tensor([9., 9., 9., 9.])" in results[-2].output


def _nb(cells: list, **top) -> str:
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
                       **top})


def test_read_ipynb_source_forms_raw_cells_and_expect_comment():
    text = _nb([
        {"cell_type": "code", "source": ["a = 1\n", "b = 2\n"], "metadata": {}, "outputs": []},
        {"cell_type": "raw", "source": "ignored", "metadata": {}},
        {"cell_type": "markdown", "source": "", "metadata": {}},
        {"cell_type": "code", "source": "# expect: KeyError\n{}['k']", "metadata": {},
         "outputs": []},
        {"cell_type": "code", "source": "1/0", "metadata": {"tags": ["raises-exception"]},
         "outputs": [{"output_type": "error", "ename": "ZeroDivisionError", "evalue": "",
                      "traceback": []}]},
    ])
    assert read_ipynb(text) == [Cell("code", "a = 1\nb = 2"), Cell("code", "{}['k']", "KeyError"),
                                Cell("code", "1/0", "ZeroDivisionError")]


@pytest.mark.parametrize(("text", "message"), [
    ('{"cells": [', "broken JSON at line 1"),
    ("[1, 2]", "not a Jupyter notebook"),
    ('{"nbformat": 4}', "not a Jupyter notebook"),
    ('{"cells": [], "nbformat": 3}', "nbformat 3 is not supported"),
    (_nb(["text"]), "cell 0 is not a notebook cell"),
    (_nb([{"cell_type": "code", "source": 5}]), "cell 0 has a source that is not text"),
])
def test_read_ipynb_refuses_broken_notebooks(text, message):
    with pytest.raises(ValueError, match=message):
        read_ipynb(text)


def test_read_ipynb_names_the_file(tmp_path):
    p = tmp_path / "broken.ipynb"
    p.write_text('{"cells": [{"cell_type": "code", "source": "x"', encoding="utf-8")
    with pytest.raises(ValueError, match=r"^broken.ipynb is not a valid notebook: broken JSON"):
        load_notebook(p)


def test_load_notebook_by_extension(tmp_path):
    py = tmp_path / "lesson.py"
    py.write_text("# %%\nx = 1\n", encoding="utf-8")
    assert load_notebook(py) == [Cell("code", "x = 1")]
    with pytest.raises(ValueError, match="not a notebook"):
        load_notebook(tmp_path / "notes.txt")


# --------------------------------------------------------------------------- torch API check
def _check(code: str) -> list[tuple[int, int, str]]:
    return unsupported_torch_api(parse_percent(code))


def test_unsupported_api_names_missing_module_functions_and_methods(monkeypatch):
    if hasattr(engine.Tensor, "cumsum"):
        monkeypatch.delattr(engine.Tensor, "cumsum")
    cells = [Cell("markdown", "text"),
             Cell("code", "import torch\nx = torch.randn(3, requires_grad=True)"),
             Cell("code", "y = x.cumsum(0)\nz = torch.fft.fft(x)\nw = (x * 2).frobnicate_()")]
    assert unsupported_torch_api(cells) == [
        (2, 1, "x.cumsum"), (2, 2, "torch.fft.fft"), (2, 3, "(x * 2).frobnicate_")]


def test_unsupported_api_follows_the_engine_at_call_time(monkeypatch):
    code = "w = torch.ones(4, requires_grad=True)\n(w * 3).sum().backward()\nw.grad.zero_()\n"
    assert _check(code) == []
    monkeypatch.delattr(engine.Tensor, "zero_")
    assert _check(code) == [(0, 3, "w.grad.zero_")]


def test_unsupported_api_aliases_imports_nn_optim_and_f():
    code = ("import torch as th\nimport torch.nn.functional as F\nfrom torch import fft\n"
            "from torch.nn import Frobnicate\nx = th.ones(2)\n"
            "a = th.fft.rfft(x)\nb = F.grid_sample_3000(x)\nc = th.optim.Frob([x])\n"
            "d = th.nn.Frob(2)\n")
    found = {name for _, _, name in _check(code)}
    assert {"torch.fft", "torch.nn.Frobnicate", "th.fft.rfft", "F.grid_sample_3000",
            "th.optim.Frob", "th.nn.Frob"} <= found
    assert all(line >= 1 for _, line, _ in _check(code))


def test_unsupported_api_no_false_positives():
    code = ("import numpy as np\nimport torch\nx = torch.ones(3, requires_grad=True)\n"
            "n = x.detach().numpy()\nm = np.cumsum(n)\nparts = []\nparts.append(1)\n"
            "s = '{}'.format(x)\nt = x.tolist()\nt.sort()\nfor i in range(3):\n"
            "    i.bit_length()\nx.shape.numel()\nk = x.size(0).bit_length()\n"
            "%matplotlib inline\nwith torch.no_grad():\n    x.mul_(2)\n"
            "torch.float32.is_floating_point\ntorch.Tensor.add\n")
    assert _check(code) == []


def test_unsupported_api_skips_cells_that_do_not_parse():
    assert _check("x = (\n") == []


def test_lessons_and_seed_use_only_engine_api():
    """Every name the lessons use exists in the engine (torch.optim until engine.optim lands)."""
    pending = set() if hasattr(engine, "optim") else {"torch.optim.SGD"}
    for info in list_lessons():
        names = {n for _, _, n in unsupported_torch_api(info.cells())}
        assert names <= pending, (info.path.name, names)
    assert unsupported_torch_api(read_ipynb(SEED)) == []
