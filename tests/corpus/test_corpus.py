"""Each teaching program in programs/ prints under the engine exactly what it prints under torch.

The whole corpus runs once per session (torch and engine workers side by side, see harness.py);
each program is one test. Programs listed in known_gaps.txt are expected to fail
(``xfail(strict=True)``): when one starts passing, its test fails until its line is removed.
"""

from __future__ import annotations

import os
from pathlib import Path

import harness
import pytest

if os.environ.get("GRADVIZ_REQUIRE_TORCH") == "1":
    import torch  # noqa: F401
else:
    pytest.importorskip("torch")

GAPS_FILE = Path(__file__).with_name("known_gaps.txt")
PROGRAMS = harness.programs()


def known_gaps() -> dict[str, str]:
    """name -> why, from known_gaps.txt (``name  reason``; ``#`` starts a comment)."""
    gaps = {}
    for line in GAPS_FILE.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, why = line.partition(" ")
            gaps[name] = why.strip()
    return gaps


GAPS = known_gaps()


def test_known_gaps_name_real_programs():
    names = {p.stem for p in PROGRAMS}
    assert not set(GAPS) - names, f"known_gaps.txt names no such program: {set(GAPS) - names}"


def test_corpus_is_a_corpus():
    assert len(PROGRAMS) >= 40
    for p in PROGRAMS:
        first = p.read_text().splitlines()[0]
        assert first.startswith("# Imitates "), f"{p.name}: first line must name its tutorial"


@pytest.fixture(scope="session")
def outcomes() -> dict[str, harness.Outcome]:
    jobs = int(os.environ.get("GRADVIZ_CORPUS_JOBS", "1"))
    return {o.name: o for o in harness.run_corpus(PROGRAMS, jobs=jobs)}


def _param(p: Path):
    marks = []
    if p.stem in GAPS:
        marks.append(pytest.mark.xfail(strict=True, raises=AssertionError, reason=GAPS[p.stem]))
    return pytest.param(p.stem, id=p.stem, marks=marks)


@pytest.mark.torch
@pytest.mark.parametrize("name", [_param(p) for p in PROGRAMS])
def test_program_prints_what_torch_prints(name: str, outcomes: dict[str, harness.Outcome]):
    o = outcomes[name]
    if o.status == "torch-failed":  # not an AssertionError: a known gap does not hide it
        raise RuntimeError(f"the program itself fails under torch: {o.detail}")
    assert o.status == "identical", f"{o.status}: {o.detail}"
