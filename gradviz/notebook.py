"""Notebooks as lists of cells: percent-format scripts (``# %%``) and Jupyter ``.ipynb`` files.

No Qt. Percent scripts are read by :func:`parse_percent`, which agrees cell for cell with
``jupytext.reads`` (tests/gradviz/test_notebook.py checks it) but is linear: jupytext takes
about 10 s on a 20,000-cell script (bench/bench_notebook.py). ``.ipynb`` files are parsed with
:mod:`json` (its position in the sentence when they are broken) and upgraded from nbformat 1-3
by nbformat; :func:`to_ipynb` writes them with nbformat. A cell that is meant to fail carries
``expect_error``, written in percent format as a first line ``# expect: RuntimeError``
(optionally ``: message part``) and read from a Jupyter notebook's ``raises-exception`` tag.
:func:`unsupported_torch_api` reads the code (without running it) for the torch names the
engine lacks, so the app can warn up front.
"""

from __future__ import annotations

import ast
import html
import importlib
import json
import os
import re
import types
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gradviz import safe_io
from gradviz.safe_io import FileError

__all__ = [
    "Cell",
    "NotebookError",
    "NotebookFile",
    "load_notebook",
    "parse_percent",
    "read_front_matter",
    "read_ipynb",
    "read_notebook",
    "safe_image_path",
    "is_cell_marker",
    "sanitize_markdown_images",
    "to_ipynb",
    "to_percent",
    "unsupported_torch_api",
    "torch_api_uses",
    "missing_in_engine",
    "unsupported",
]

#: the largest .py or .ipynb file gradviz opens
MAX_NOTEBOOK_BYTES = 256 * 2**20
#: code cells longer than this are not read by :func:`unsupported_torch_api`
MAX_CHECK_CHARS = 200_000
#: the largest image a markdown cell may show
MAX_IMAGE_BYTES = 32 * 2**20


class NotebookError(FileError):
    """A script or notebook gradviz cannot open; the message is one sentence naming the path
    (a ValueError, as before)."""

CellKind = Literal["code", "markdown"]

# jupytext's percent markers: ``# %%`` (``#%%``, indented, ``# %% title [markdown] key=value``),
# ``# In[3]:`` and ``# <codecell>``; ``# %%foo`` is not one. MULTILINE: found in a whole text
_CELL_MARK = re.compile(
    r"^[ \t\f\v]*#[ \t\f\v]*(?:%%(?:%*[ \t\f\v\r](?P<rest>[^\n]*?))?|<codecell>|In\[[0-9 ]*\]:?)"
    r"[ \t\f\v\r]*$", re.MULTILINE)
_EXPECT = re.compile(r"^#\s*expect:\s*(?P<what>\S.*?)\s*$")
_MARKDOWN_TAG = re.compile(r"^\s*(?:\S.*?\s)?\[(markdown|md)\]")
_RAW_TAG = re.compile(r"^\s*(?:\S.*?\s)?\[raw\]")
_RAISES_TAG = "raises-exception"


@dataclass
class Cell:
    """One notebook cell, the one cell type of the app (lessons, notebooks, the code panel).

    ``expect_error`` names the exception a code cell is meant to raise (``"RuntimeError"``, or
    ``"RuntimeError: text the message contains"``). ``line`` is the 0-based line of the text the
    cell was read from where ``source`` begins, ``end`` the line just after the cell (its next
    marker); both 0 for cells not read from a script, and not compared. An empty cell (blank
    source) is a cell like any other, as in Jupyter: it is shown, and running it does nothing
    (:attr:`runs` is False)."""

    kind: CellKind
    source: str
    expect_error: str | None = None
    line: int = field(default=0, compare=False)
    end: int = field(default=0, compare=False)

    @property
    def runs(self) -> bool:
        """True for a code cell with code in it (the cells Next cell and Run all run)."""
        return self.kind == "code" and bool(self.source.strip())

    def expects(self, exc: BaseException) -> bool:
        """True when ``exc`` is the error this cell is meant to raise."""
        if self.expect_error is None:
            return False
        name, _, text = self.expect_error.partition(":")
        names = {c.__name__ for c in type(exc).__mro__}
        return name.strip() in names and text.strip() in str(exc)


def is_cell_marker(line: str) -> bool:
    """True when ``line`` starts a percent-format cell (jupytext's rule)."""
    return "\n" not in line and _CELL_MARK.match(line) is not None


def _blank_bounds(lines: list[str], lo: int, hi: int) -> tuple[int, int]:
    """``lines[lo:hi]`` without the blank lines around it, as (first, end) indices."""
    while lo < hi and not lines[lo].strip():
        lo += 1
    while hi > lo and not lines[hi - 1].strip():
        hi -= 1
    return lo, hi


def _join(lines: list[str]) -> str:
    text = "\n".join(lines)
    return text.replace("\r\n", "\n").removesuffix("\r") if "\r" in text else text


def _trim(lines: list[str]) -> str:
    """Join lines without the blank lines around them (cells are compared this way)."""
    lo, hi = _blank_bounds(lines, 0, len(lines))
    return _join(lines[lo:hi])


def _split_expect(source: str) -> tuple[str, str | None]:
    lines = source.split("\n")
    if lines and (m := _EXPECT.match(lines[0].strip())):
        return _trim(lines[1:]), m.group("what")
    return source, None


# --------------------------------------------------------------------------- percent format
def read_front_matter(text: str) -> dict[str, str]:
    """``key: value`` pairs of a leading ``# ---`` ... ``# ---`` block (jupytext style)."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "# ---":
        return {}
    out: dict[str, str] = {}
    for line in lines[1:]:
        if line.strip() == "# ---":
            return out
        body = line[2:] if line.startswith("# ") else line.lstrip("#")
        key, sep, value = body.partition(":")
        if sep and key.strip() and not key[:1].isspace():  # top-level keys only
            out[key.strip()] = value.strip().strip("\"'")
    return {}  # unterminated: not front matter


def _front_matter_end(lines: list[str]) -> int:
    """The index of the first line after a leading ``# ---`` block (0 when there is none)."""
    if lines and lines[0].strip() == "# ---":
        for i in range(1, len(lines)):
            if lines[i].strip() == "# ---":
                return i + 1
    return 0


def _uncomment(line: str) -> str:
    return line[2:] if line.startswith("# ") else line[1:] if line.startswith("#") else line


def parse_percent(text: str) -> list[Cell]:
    """Cells of a percent-format script, the one ``# %%`` parser of the app (files, lessons and
    the code panel's editor): a marker line (jupytext's: ``# %%``, ``#%%``, ``# In[1]:``...)
    starts a code cell, ``# %% [markdown]`` (or ``[md]``) a markdown cell written as
    ``# ``-prefixed comments, ``# %% [raw]`` a raw cell, which is skipped (as in ``.ipynb``).
    Code before the first marker is a cell of its own unless it is blank; ``# ---`` front matter
    is not a cell. Blank lines around a cell's text are not part of it; empty cells are kept
    (as jupytext and Jupyter keep them). Each cell knows its lines (:attr:`Cell.line`,
    :attr:`Cell.end`). Linear in the size of ``text``; cells agree with ``jupytext.reads``."""
    lines = text.lstrip("\ufeff").split("\n")
    first = _front_matter_end(lines)
    marks, at, line_no = [], 0, 0
    body = text.lstrip("\ufeff")
    for m in _CELL_MARK.finditer(body):  # one pass in C over the text
        line_no += body.count("\n", at, m.start())
        at = m.start()
        if line_no >= first:
            marks.append(line_no)
    cells: list[Cell] = []
    if not marks or _blank_bounds(lines, first, marks[0])[0] < marks[0]:
        marks.insert(0, first - 1)  # a preamble with code in it: a cell without a marker
    for k, mark in enumerate(marks):
        lo, hi = mark + 1, marks[k + 1] if k + 1 < len(marks) else len(lines)
        if mark < first:  # the preamble
            rest = ""
        else:
            rest = _CELL_MARK.match(lines[mark])["rest"] or ""
        if _RAW_TAG.match(rest):
            continue
        if _MARKDOWN_TAG.match(rest):
            body = [_uncomment(line) for line in lines[lo:hi]]
            a, b = _blank_bounds(body, 0, len(body))
            cells.append(Cell("markdown", _join(body[a:b]), None, lo + a if a < b else lo, hi))
            continue
        a, b = _blank_bounds(lines, lo, hi)
        expect = ("Exception" if _RAISES_TAG in rest else None)
        if a < b and (m := _EXPECT.match(lines[a].strip())):
            expect = m.group("what")
            a, b = _blank_bounds(lines, a + 1, b)
        cells.append(Cell("code", _join(lines[a:b]), expect, a if a < b else lo, hi))
    return cells


def to_percent(cells: Iterable[Cell], front_matter: Mapping[str, str] | None = None) -> str:
    """Write cells as a percent-format script (the inverse of :func:`parse_percent`, and read
    the same by ``jupytext.reads``)."""
    parts: list[str] = []
    if front_matter:
        parts.append("\n".join(["# ---", *(f"# {k}: {v}" for k, v in front_matter.items()),
                                "# ---"]))
    for cell in cells:
        if cell.kind == "markdown":
            md = "\n".join(f"# {line}" if line else "#" for line in cell.source.split("\n"))
            parts.append(f"# %% [markdown]\n{md}" if cell.source else "# %% [markdown]")
        else:
            head = f"# %%\n# expect: {cell.expect_error}\n" if cell.expect_error else "# %%\n"
            parts.append((head + cell.source).rstrip("\n"))
    return "\n\n".join(parts) + "\n"


# --------------------------------------------------------------------------- ipynb
class _Bad(Exception):
    """Why a notebook is refused (the caller adds the path)."""


def _ipynb_cells(text: str | bytes) -> list[Cell]:
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as e:
        end = " (the file ends early: truncated?)" if e.pos >= len(e.doc.rstrip()) else ""
        raise _Bad(f"it is not a valid notebook: broken JSON at line {e.lineno} column "
                   f"{e.colno} ({e.msg}){end}") from None
    except RecursionError:
        raise _Bad("it is not a valid notebook: JSON nested too deeply") from None
    except ValueError as e:  # an integer of more than 4300 digits
        raise _Bad(f"it is not a notebook gradviz can read: {str(e).split(';')[0]}") from None
    if isinstance(nb, dict) and type(nb.get("nbformat")) is int and 1 <= nb["nbformat"] < 4:
        nb = _upgrade(nb)
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise _Bad("it is not a Jupyter notebook: no list of cells")
    if nb.get("nbformat") != 4:
        shown = repr(nb.get("nbformat"))
        shown = shown if len(shown) <= 24 else shown[:20] + "..."
        raise _Bad(f"nbformat {shown} is not supported (only 1 to 4; re-save it with a recent "
                   "Jupyter)")
    cells: list[Cell] = []
    for i, c in enumerate(nb["cells"]):
        if not isinstance(c, dict) or not isinstance(c.get("cell_type"), str):
            raise _Bad(f"cell {i} is not a notebook cell")
        src = c.get("source", "")
        if isinstance(src, list) and all(isinstance(s, str) for s in src):
            src = "".join(src)
        if not isinstance(src, str):
            raise _Bad(f"cell {i} has a source that is not text")
        src = _trim(src.replace("\r\n", "\n").split("\n"))
        if c["cell_type"] == "markdown":
            cells.append(Cell("markdown", src))
        elif c["cell_type"] == "code":
            src, expect = _split_expect(src)
            meta = c.get("metadata")
            tags = meta.get("tags") if isinstance(meta, dict) else None
            if expect is None and isinstance(tags, list) and _RAISES_TAG in tags:
                expect = _error_name(c.get("outputs")) or "Exception"
            cells.append(Cell("code", src, expect))
    return cells


def _upgrade(nb: dict) -> dict:
    """An nbformat 1-3 notebook as nbformat 4 (nbformat's own conversion)."""
    import nbformat

    try:
        old = nbformat.versions[nb["nbformat"]].to_notebook_json(nb)  # lines joined
        return nbformat.convert(old, 4)
    except Exception as e:  # noqa: BLE001 - nbformat raises what the broken input provokes
        raise _Bad(f"it is an nbformat {nb['nbformat']} notebook that cannot be upgraded to "
                   f"nbformat 4 ({type(e).__name__}: {str(e)[:80]})") from None


def to_ipynb(cells: Iterable[Cell]) -> str:
    """Cells as an nbformat-4 notebook (JSON text, written by nbformat and valid to its
    schema): a cell that expects an error is tagged ``raises-exception``, with its
    ``# expect:`` line kept so the exact expectation reads back."""
    import nbformat
    from nbformat import v4

    out = []
    for cell in cells:
        if cell.kind == "markdown":
            out.append(v4.new_markdown_cell(cell.source))
        elif cell.expect_error:
            out.append(v4.new_code_cell(f"# expect: {cell.expect_error}\n{cell.source}",
                                        metadata={"tags": [_RAISES_TAG]}))
        else:
            out.append(v4.new_code_cell(cell.source))
    return nbformat.writes(v4.new_notebook(cells=out))


def read_ipynb(path_or_text: str | os.PathLike[str]) -> list[Cell]:
    """Code and markdown cells of an nbformat-4 notebook (a path, or the JSON text itself).

    Outputs are ignored, except that a cell tagged ``raises-exception`` expects the error its
    saved output shows (``Exception`` when there is none). Raises :class:`NotebookError` (a
    ValueError) for anything that is not an nbformat-4 notebook, in one sentence naming the
    file; FIFOs, devices and folders are refused without blocking.
    """
    if isinstance(path_or_text, str) and path_or_text.lstrip()[:1] in ("{", "["):
        try:
            return _ipynb_cells(path_or_text)
        except _Bad as e:
            raise NotebookError(f"cannot read the notebook: {e}", None, str(e)) from None
    text = _read(path_or_text)
    try:
        return _ipynb_cells(text)
    except _Bad as e:
        raise NotebookError(f"cannot open {os.fspath(path_or_text)}: {e}", path_or_text,
                            str(e)) from None


def _read(path: str | os.PathLike[str]) -> str:
    try:
        return safe_io.read_text(path, MAX_NOTEBOOK_BYTES)
    except FileError as e:
        raise NotebookError(str(e), path, e.reason) from None


def _error_name(outputs: Any) -> str | None:
    for out in outputs if isinstance(outputs, list) else ():
        if isinstance(out, dict) and out.get("output_type") == "error":
            name = out.get("ename")
            return name if isinstance(name, str) and name.isidentifier() else None
    return None


@dataclass
class NotebookFile:
    """A script or notebook as read from disk: its cells and (for a ``.py`` script) the
    ``# ---`` front matter."""

    path: Path
    cells: list[Cell]
    front_matter: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """The front matter's title, else the file name without extension."""
        return self.front_matter.get("title") or self.path.stem.replace("_", " ")


def read_notebook(path: str | os.PathLike[str]) -> NotebookFile:
    """Read a ``.ipynb`` notebook or a ``.py`` percent-format script (chosen by extension)
    once, safely: FIFOs, devices, folders, symlink loops, binary data and files over
    :data:`MAX_NOTEBOOK_BYTES` are refused in one sentence naming ``path``
    (:class:`NotebookError`, a ValueError), never blocking; reading is linear in the size."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".ipynb", ".py"):
        reason = "it is not a notebook (open a .py percent script or an .ipynb file)"
        raise NotebookError(f"cannot open {os.fspath(path)}: {reason}", path, reason)
    text = _read(path)
    if suffix == ".py":
        return NotebookFile(p, parse_percent(text), read_front_matter(text))
    try:
        return NotebookFile(p, _ipynb_cells(text))
    except _Bad as e:
        raise NotebookError(f"cannot open {os.fspath(path)}: {e}", path, str(e)) from None


def load_notebook(path: str | os.PathLike[str]) -> list[Cell]:
    """Cells of a ``.ipynb`` notebook or a ``.py`` percent-format script, chosen by extension
    (see :func:`read_notebook`)."""
    return read_notebook(path).cells


# --------------------------------------------------------------------------- markdown images
_MD_IMAGE = re.compile(
    r"!\[(?P<alt>[^\]\n]*)\]\(\s*(?P<src><[^>\n]*>|[^)\s]+)"
    r"(?P<title>\s+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^)\n]*\)))?\s*\)")
_MD_REFDEF = re.compile(r"^(?P<lead> {0,3}\[[^\]\n]+\]:[ \t]*)(?P<src><[^>\n]*>|\S+)",
                        re.MULTILINE)
_HTML_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_HTML_SRC = re.compile(r"""\bsrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_REMOTE = ("http", "https", "ftp", "ftps", "ws", "wss", "smb", "sftp", "qrc")


def safe_image_path(src: str, base_dir: str | os.PathLike[str] | None,
                    max_bytes: int = MAX_IMAGE_BYTES) -> Path:
    """The absolute local file a markdown image ``src`` names (relative to ``base_dir``;
    ``file:`` URLs and %-escapes understood) if it is a regular file of at most ``max_bytes``;
    else :class:`~gradviz.safe_io.FileError` saying why (a device, a FIFO, a folder, missing,
    too large, remote). Nothing is opened."""
    src = src.strip()
    if src.startswith("<") and src.endswith(">"):
        src = src[1:-1].strip()
    parsed = urllib.parse.urlsplit(src)
    scheme = parsed.scheme.lower()
    if scheme in _REMOTE or (scheme and len(scheme) > 1 and scheme != "file"):
        raise FileError(f"cannot show {src}: gradviz shows only images stored on this "
                        "computer", src, "gradviz shows only images stored on this computer")
    if scheme == "file":
        path = Path(urllib.request.url2pathname(parsed.path))
    else:
        path = Path(urllib.parse.unquote(src))
    if not path.is_absolute():
        if base_dir is None:
            raise FileError(f"cannot show {src}: the image is relative to a folder that is not "
                            "known", src, "the image is relative to a folder that is not known")
        path = Path(base_dir) / path
    path = Path(os.path.abspath(path))
    safe_io.check_readable(path, max_bytes, "show")
    return path


def sanitize_markdown_images(markdown: str, base_dir: str | os.PathLike[str] | None = None,
                             max_bytes: int = MAX_IMAGE_BYTES) -> str:
    """``markdown`` with every image (``![alt](src)``, reference definitions, ``<img>``) that
    is not a local regular file of at most ``max_bytes`` replaced by a short note saying why,
    and every other image pointed at its absolute path: rendering it then never opens a
    device, a FIFO or a huge file. ``data:`` images up to ``max_bytes`` are kept."""

    def check(src: str) -> tuple[str | None, str]:
        """(new src or None, why not)."""
        raw = src.strip().strip("<>").strip()
        if raw.lower().startswith("data:"):
            return (src, "") if len(raw) <= max_bytes * 4 // 3 + 200 else \
                (None, "an inline image larger than gradviz shows")
        try:
            return str(safe_image_path(raw, base_dir, max_bytes)), ""
        except FileError as e:
            return None, str(e)

    def note(alt: str, why: str) -> str:
        alt = alt.strip()
        what = f"image \u201c{alt}\u201d" if alt else "image"
        return f"*[{what} not shown: {why}]*"

    def image(m: re.Match[str]) -> str:
        new, why = check(m.group("src"))
        if new is None:
            return note(m.group("alt"), why)
        if new.startswith("data:") or new == m.group("src"):
            return m.group(0)
        return f"![{m.group('alt')}](<{new}>{m.group('title') or ''})"

    def refdef(m: re.Match[str]) -> str:
        new, why = check(m.group("src"))
        if new is None:
            return f"{m.group('lead')}#"  # the label stays defined, pointing nowhere
        return m.group(0) if new.startswith("data:") else f"{m.group('lead')}<{new}>"

    def img_tag(m: re.Match[str]) -> str:
        tag = m.group(0)
        sm = _HTML_SRC.search(tag)
        if sm is None:
            return tag
        src = html.unescape(next(g for g in sm.groups() if g is not None))
        new, why = check(src)
        alt = re.search(r"""\balt\s*=\s*(?:"([^"]*)"|'([^']*)')""", tag, re.IGNORECASE)
        if new is None:
            return note(html.unescape(next((g for g in alt.groups() if g is not None), ""))
                        if alt else "", why)
        if new.startswith("data:"):
            return tag
        return tag[:sm.start()] + f'src="{html.escape(new, quote=True)}"' + tag[sm.end():]

    out = _MD_IMAGE.sub(image, markdown)
    out = _MD_REFDEF.sub(refdef, out)
    return _HTML_IMG.sub(img_tag, out)


# --------------------------------------------------------------------------- torch API check
#: torch functions that return something other than a tensor
_NON_TENSOR_FUNCS = frozenset({
    "manual_seed", "seed", "initial_seed", "no_grad", "enable_grad", "inference_mode",
    "set_grad_enabled", "is_grad_enabled", "is_tensor", "numel", "get_default_dtype",
    "set_default_dtype", "set_printoptions", "equal", "allclose", "result_type",
    "is_floating_point", "get_rng_state", "Generator", "device", "Size", "dtype", "finfo", "iinfo",
})
#: tensor methods and attributes whose result is not a tensor
_NON_TENSOR_METHODS = frozenset({
    "item", "tolist", "numpy", "size", "dim", "numel", "nelement", "element_size", "backward",
    "register_hook", "retain_grad", "is_leaf", "requires_grad", "grad_fn", "shape", "dtype",
    "device", "ndim", "is_floating_point", "equal", "allclose", "data_ptr", "storage",
    "retains_grad", "output_nr", "_version", "__len__", "stride", "is_contiguous",
})
_DEFAULT_ALIASES = {"torch": "torch", "F": "torch.nn.functional"}
_IDENTIFIER = re.compile(r"[^\W\d]\w*")


def _engine_object(dotted: str) -> tuple[bool, Any]:
    """Resolve a ``torch.a.b`` name in the engine: (found, object); submodules are imported."""
    import engine

    parts = dotted.split(".")
    obj: Any = engine
    path = "engine"
    for part in parts[1:]:
        if not isinstance(obj, (types.ModuleType, type)):
            return True, None  # an attribute of a value: not checked statically
        path = f"{path}.{part}"
        if hasattr(obj, part):
            obj = getattr(obj, part)
        elif isinstance(obj, types.ModuleType):
            try:
                obj = importlib.import_module(path)
            except Exception:  # noqa: BLE001 - missing, or a half-written engine module
                return False, None
        else:
            return False, None
    return True, obj


def _attr_chain(node: ast.AST) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


class _ApiChecker(ast.NodeVisitor):
    """Walks code in notebook order, tracking torch aliases and which names hold tensors."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = dict(_DEFAULT_ALIASES)
        self.tensors: set[str] = set()
        self.found: list[tuple[int, int, str, str]] = []  # cell, line, shown name, key
        self.cell = 0
        self._known: dict[str, bool] = {}

    def report(self, node: ast.AST, what: str, key: str) -> None:
        """A torch name the code uses: shown as ``what``, looked up as ``key`` (``torch.a.b``,
        or ``Tensor.attr`` for an attribute of a name that holds a tensor)."""
        self.found.append((self.cell, getattr(node, "lineno", 1), what, key))

    def may_matter(self, source: str) -> bool:
        """False for code that names no torch alias and no name holding a tensor: it can
        neither use torch nor bind or unbind a tensor, so it need not be walked."""
        if len(source) > MAX_CHECK_CHARS:
            return False  # not walked at all (see _parse_code)
        names = set(_IDENTIFIER.findall(source))
        return "torch" in names or not (names.isdisjoint(self.aliases)
                                        and names.isdisjoint(self.tensors))

    def visit_Name(self, node: ast.Name) -> None:  # a leaf: nothing under it to check
        return

    def visit_Constant(self, node: ast.Constant) -> None:
        return

    # ----- imports
    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.name != "torch" and not a.name.startswith("torch."):
                continue
            self.report(node, a.name, a.name)
            if a.asname:
                self.aliases[a.asname] = a.name
            else:
                self.aliases["torch"] = "torch"

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        if node.level or (mod != "torch" and not mod.startswith("torch.")):
            return
        for a in node.names:
            full = f"{mod}.{a.name}"
            if a.name != "*":
                self.report(node, full, full)
            if a.name != "*":
                self.aliases[a.asname or a.name] = full

    # ----- names that hold tensors
    def is_tensor(self, node: ast.AST | None) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.tensors
        if isinstance(node, ast.BinOp):
            return self.is_tensor(node.left) or self.is_tensor(node.right)
        if isinstance(node, ast.UnaryOp):
            return self.is_tensor(node.operand)
        if isinstance(node, ast.Subscript):
            return self.is_tensor(node.value)
        if isinstance(node, ast.Attribute):
            return node.attr in ("grad", "T", "mT", "data") and self.is_tensor(node.value)
        if isinstance(node, ast.Call):
            func = node.func
            chain = _attr_chain(func)
            if chain and chain[0] in self.aliases and len(chain) > 1:
                return chain[-1][:1].islower() and chain[-1] not in _NON_TENSOR_FUNCS
            if isinstance(func, ast.Attribute):
                return self.is_tensor(func.value) and func.attr not in _NON_TENSOR_METHODS
        return False

    def bind(self, target: ast.AST, is_tensor: bool) -> None:
        if isinstance(target, ast.Name):
            if is_tensor:
                self.tensors.add(target.id)
            else:
                self.tensors.discard(target.id)
                self.aliases.pop(target.id, None)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self.bind(elt.value if isinstance(elt, ast.Starred) else elt, is_tensor)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for t in node.targets:
            self.visit(t)
            self.bind(t, self.is_tensor(node.value))

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            self.bind(node.target, self.is_tensor(node.value))

    def visit_For(self, node: ast.For) -> None:
        self.visit(node.iter)
        self.bind(node.target, self.is_tensor(node.iter))
        for stmt in (*node.body, *node.orelse):
            self.visit(stmt)

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self.bind(item.optional_vars, self.is_tensor(item.context_expr))
        for stmt in node.body:
            self.visit(stmt)

    # ----- uses
    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain = _attr_chain(node)
        if chain and chain[0] in self.aliases and isinstance(node.ctx, ast.Load):
            full = ".".join([self.aliases[chain[0]], *chain[1:]])
            self.report(node, ".".join(chain), full)
            return
        if isinstance(node.ctx, ast.Load) and self.is_tensor(node.value):
            base = ast.unparse(node.value)
            if not isinstance(node.value, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)):
                base = f"({base})"
            self.report(node, f"{base if len(base) <= 24 else '<tensor>'}.{node.attr}",
                        f"Tensor.{node.attr}")
        self.generic_visit(node)


def _parse_code(source: str) -> ast.Module | None:
    # IPython magics and shell escapes are blanked so line numbers stay right
    if len(source) > MAX_CHECK_CHARS:
        return None  # a huge cell (a 10 MB data line): not worth freezing for
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n")]
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # NUL bytes, deep nesting
        return None


def torch_api_uses(cells: Iterable[Cell]) -> list[tuple[int, int, str, str]]:
    """``(cell index, line, name, key)`` for each torch name the code uses: ``torch.X`` (any
    depth, ``torch.nn.X`` and ``torch.optim.X`` included), ``F.X``, imports of torch modules,
    and attributes of names that hold tensors (``x.cumsum``, key ``Tensor.cumsum``). Read from
    the code alone (no engine, nothing runs: the window calls it); cells that do not parse,
    and cells longer than :data:`MAX_CHECK_CHARS`, are skipped."""
    checker = _ApiChecker()
    for i, cell in enumerate(cells):
        if cell.kind != "code":
            continue
        if not checker.may_matter(cell.source):
            continue
        tree = _parse_code(cell.source)
        if tree is None:
            continue
        checker.cell = i
        for stmt in tree.body:
            try:
                checker.visit(stmt)
            except RecursionError:  # an expression nested thousands deep: skip it
                continue
    return sorted(set(checker.found))


def missing_in_engine(keys: Iterable[str]) -> set[str]:
    """The keys of :func:`torch_api_uses` the engine lacks (imports it: the kernel's side)."""
    import engine

    missing = set()
    for key in set(keys):
        if key.startswith("Tensor."):
            if not hasattr(engine.Tensor, key[len("Tensor."):]):
                missing.add(key)
        elif not _engine_object(key)[0]:
            missing.add(key)
    return missing


def unsupported(uses: Iterable[tuple[int, int, str, str]], missing: set[str]
                ) -> list[tuple[int, int, str]]:
    """``(cell index, line, name)`` of the uses whose key is ``missing``."""
    return sorted({(i, line, name) for i, line, name, key in uses if key in missing})


def unsupported_torch_api(cells: Iterable[Cell]) -> list[tuple[int, int, str]]:
    """``(cell index, line, name)`` for each torch name the code uses that the engine lacks
    (:func:`torch_api_uses` checked against the engine as it is now; nothing runs)."""
    uses = torch_api_uses(cells)
    return unsupported(uses, missing_in_engine(key for *_, key in uses))
