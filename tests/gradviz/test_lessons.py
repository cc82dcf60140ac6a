"""The lessons run as written, raise the errors they promise, and draw the nodes they name."""

from __future__ import annotations

import ast
import contextlib
import io
import re
from pathlib import Path

import pytest

import engine
import gradviz
from gradviz.graph import build_graph
from gradviz.lessons import (
    LESSONS_DIR,
    CellRun,
    LessonInfo,
    LessonRunner,
    install_torch_alias,
    list_lessons,
)
from gradviz.notebook import Cell, read_front_matter, read_ipynb, unsupported_torch_api
from gradviz.session import Session

LESSONS = list_lessons()
SEED = Path(__file__).resolve().parents[1] / "data" / "seed_notebook.ipynb"
NODE_NAME = re.compile(r"\b[A-Z][A-Za-z]*Backward\d+\b|\bAccumulateGrad\b")


def _node_names(session: Session) -> set[str]:
    """grad_fn names drawn in the graph of the workspace's tensors."""
    roots = [i.tensor for i in session.tensors() if i.tensor.grad_fn is not None]
    if not roots:
        return set()
    g = build_graph(roots, session.names())
    return {d["label"] for _, d in g.nodes(data=True) if d["kind"] in ("grad_fn", "accumulate")}


def _run_lesson(info: LessonInfo) -> tuple[list[CellRun], set[str], set[str]]:
    """Run the lesson up to the first cell using API the engine lacks: (results, node names
    seen after any cell, names the engine lacks)."""
    cells = info.cells()
    missing = unsupported_torch_api(cells)
    stop = min((c for c, _, _ in missing), default=len(cells))
    runner = LessonRunner(Session(), cells[:stop])
    results, seen = [], set()
    while (r := runner.run_next()) is not None:
        results.append(r)
        seen |= _node_names(runner.session)
    return results, seen, {n for _, _, n in missing}


def test_list_lessons_covers_the_nine_topics():
    assert [i.number for i in LESSONS][:9] == list(range(1, 10))
    assert len({i.path for i in LESSONS}) == len(LESSONS) >= 9
    for info in LESSONS:
        assert info.title == read_front_matter(info.path.read_text(encoding="utf-8"))["title"]
        assert info.path.parent == LESSONS_DIR
        assert LESSONS_DIR == Path(gradviz.__file__).resolve().parent / "assets" / "lessons"


def test_list_lessons_other_directory(tmp_path):
    (tmp_path / "02_second_one.py").write_text("# %%\nx = 1\n", encoding="utf-8")
    (tmp_path / "10_tenth.py").write_text("# ---\n# title: Ten\n# ---\n", encoding="utf-8")
    (tmp_path / "helper.py").write_text("", encoding="utf-8")
    assert [(i.number, i.title) for i in list_lessons(tmp_path)] == [(2, "Second one"),
                                                                    (10, "Ten")]


@pytest.mark.parametrize("info", LESSONS, ids=lambda i: i.path.stem)
def test_lesson_shape(info):
    """Front matter, markdown that asks for a prediction, `import torch` first."""
    cells = info.cells()
    assert cells[0].kind == "markdown" and cells[0].source.startswith(f"# {info.number:02d} ")
    markdown = "\n".join(c.source for c in cells if c.kind == "markdown")
    assert "**Predict" in markdown
    first = next(c for c in cells if c.kind == "code")
    stmts = [s for s in ast.parse(first.source).body
             if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    assert isinstance(stmts[0], ast.Import) and stmts[0].names[0].name == "torch"
    assert sum(c.kind == "code" for c in cells) >= 3


@pytest.mark.parametrize("info", LESSONS, ids=lambda i: i.path.stem)
def test_lesson_runs_and_draws_the_nodes_it_names(info):
    results, seen, missing = _run_lesson(info)
    for r in results:
        assert r.passed, f"cell {r.cell_index}: {r.note}"
        if r.expect_error:
            assert r.error is not None
    markdown = "\n".join(c.source for c in info.cells() if c.kind == "markdown")
    named = set(NODE_NAME.findall(markdown))
    assert named, "a lesson names the nodes to look at"
    assert named <= seen, named - seen
    if missing:
        pytest.skip(f"the engine lacks {sorted(missing)}: later cells not run")


def _code_lines(source: str) -> list[str]:
    return [ln for ln in source.splitlines()
            if ln.strip() and not ln.startswith("#") and ln != "import torch"]


def test_lesson_01_starts_on_the_seed_example_the_app_starts_on():
    info = LESSONS[0]
    first = next(c for c in info.cells() if c.kind == "code")
    assert _code_lines(first.source) == [
        "x = torch.tensor([-1.2643, 1.0159, 0.2505], requires_grad=True)",
        "y = x + 2", "z = y * y * 2", "out = z.mean()"]
    try:
        from gradviz.app import STARTER
    except ImportError:  # pragma: no cover - the app module is optional here
        STARTER = first.source
    assert _code_lines(first.source) == _code_lines(STARTER)
    session = Session()
    assert LessonRunner(session, info.cells()).run_next().passed
    assert _node_names(session) == {"AddBackward0", "MulBackward0", "MeanBackward0",
                                    "AccumulateGrad"}
    # the seed's own cells make the same chain
    seed = Session()
    for c in read_ipynb(SEED)[:8]:
        if c.kind == "code":
            install_torch_alias(seed.namespace)
            assert seed.run(c.source).ok
    assert _node_names(seed) == _node_names(session)


def test_every_lesson_expects_errors_torch_raises():
    """Lessons 03, 04, 05, 07 and 09 each show at least one of torch's errors on purpose."""
    expecting = {i.number for i in LESSONS for c in i.cells() if c.expect_error}
    assert {3, 4, 5, 7, 9} <= expecting


# --------------------------------------------------------------------------- runner
def test_runner_steps_skips_markdown_and_resets():
    session = Session()
    cells = [Cell("markdown", "intro"), Cell("code", "a = torch.ones(2, requires_grad=True)"),
             Cell("markdown", "more"), Cell("code", " \n"), Cell("code", "b = (a * 2).sum()")]
    r = LessonRunner(session, cells)
    assert r.next_index == 1 and r.position == 0 and not r.done
    first = r.run_next()
    assert isinstance(first, CellRun) and first.passed and first.cell_index == 1
    assert r.position == 2 and r.next_index == 4 and r.last_index == 1  # the empty cell: skipped
    second = r.run_next()
    assert second.cell_index == 4 and "b" in second.new_names
    assert r.done and r.run_next() is None and r.position == 5
    r.reset()
    assert r.position == 0 and r.last_index is None and "a" not in session.namespace
    assert [x.cell_index for x in r.run_all()] == [1, 4] and session.history[0].startswith("a")


@pytest.mark.parametrize(("cell", "passed", "note"), [
    (Cell("code", "x = 1"), True, ""),
    (Cell("code", "1 / 0"), False, "unexpected error: ZeroDivisionError: division by zero"),
    (Cell("code", "x = 1", "RuntimeError"), False,
     "expected RuntimeError, but the cell ran without error"),
    (Cell("code", "{}['k']", "RuntimeError"), False, "expected RuntimeError, got KeyError: 'k'"),
    (Cell("code", "raise RuntimeError('other')", "RuntimeError: scalar"), False,
     "expected RuntimeError: scalar, got RuntimeError: other"),
    (Cell("code", "torch.ones(3, requires_grad=True).backward()", "RuntimeError: scalar"),
     True, ""),
])
def test_runner_judges_expected_errors(cell, passed, note):
    r = LessonRunner(Session(), [cell]).run_next()
    assert (r.passed, r.note) == (passed, note)


def test_import_torch_resolves_to_the_engine():
    session = Session()
    install_torch_alias(session.namespace)
    install_torch_alias(session.namespace)  # idempotent
    res = session.run("import torch\nimport torch.autograd as ag\nfrom torch import no_grad\n"
                      "import numpy\nt = torch.ones(2)")
    assert res.ok, res.error_text
    ns = session.namespace
    assert ns["torch"] is engine and ns["ag"] is engine.autograd
    assert ns["no_grad"] is engine.no_grad and ns["numpy"].__name__ == "numpy"
    res = session.run("import torch.fft_that_is_not_there")
    assert res.error_text == ("ModuleNotFoundError: No module named 'torch.fft_that_is_not_there'"
                              " (the gradviz engine has no torch.fft_that_is_not_there)")


@pytest.mark.torch
@pytest.mark.parametrize("info", LESSONS, ids=lambda i: i.path.stem)
def test_lesson_is_valid_pytorch(info):
    """The lessons are real PyTorch: under torch itself every cell does what it says."""
    torch = pytest.importorskip("torch")
    ns: dict = {"__name__": "__lesson__"}
    for cell in info.cells():
        if cell.kind != "code":
            continue
        error = None
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(cell.source, "<cell>", "exec"), ns)
        except Exception as e:  # noqa: BLE001 - judged below
            error = e
        if cell.expect_error:
            assert error is not None and cell.expects(error), (cell.source, error)
        else:
            assert error is None, (cell.source, error)
    assert ns["torch"] is torch
