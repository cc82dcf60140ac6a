"""Colour palettes and font sizes of the graph view, as plain hex strings (no Qt needed).

``light`` uses torchviz's colours (lightblue leaves, darkolivegreen1 outputs, orange saved
tensors, lightgrey functions); ``dark`` and ``high-contrast`` keep the same meaning per hue.
State colours: ``current`` (amber border and glow), ``done`` (dimmed, green check),
``breakpoint`` (red dot) and ``error`` (red).

Every other colour the app draws is here too: each theme's ``syntax`` (the editor's
highlighting), ``events`` (the event log's kinds) and ``ui`` (panel text roles, the
inspector, the editor's gutter, lesson cell states, notices). The Qt side reads the current
theme through ``gradviz.qt.theming.theme_for(widget)``; no other module holds a colour.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["THEMES", "EventColours", "SyntaxColours", "Theme", "UiColours", "get_theme",
           "theme_names", "PlotColours", "PLOT_COLOURS"]


@dataclass(frozen=True)
class SyntaxColours:
    """The code editor's (and lesson cells', transcript's) Python highlighting."""

    keyword: str
    builtin: str
    constant: str
    number: str
    string: str
    comment: str
    name: str
    def_: str
    marker: str
    error: str

    def of(self, role: str) -> str:
        """The colour of ``role`` (``"def"`` included)."""
        return self.def_ if role == "def" else getattr(self, role)


@dataclass(frozen=True)
class EventColours:
    """The event log's colour per event kind (fields named by the kind strings)."""

    tensor_created: str
    op_recorded: str
    backward_started: str
    node_started: str
    node_finished: str
    grad_accumulated: str
    backward_finished: str
    grad_changed: str
    requires_grad_changed: str
    graph_freed: str
    optimizer_step: str
    error: str

    def of(self, kind: str) -> str:
        """The colour of events of ``kind`` (an ``EventKind`` or its string)."""
        return getattr(self, str(kind))


@dataclass(frozen=True)
class UiColours:
    """The panels' colours: text roles, the inspector's accents, the editor's gutter and
    error line, lesson cell states, notices."""

    text: str  # the panels' body text (the window palette's)
    muted: str  # secondary text (headers, hints, "None")
    error: str  # error text
    ok: str  # a check mark for what ran
    value: str  # a cell's value in the output
    accent: str  # the inspector's headings
    code_bg: str  # the inspector's code boxes
    rule_bg: str  # the inspector's gradient-rule box
    rule: str
    freed: str  # "freed" buffers
    plus: str  # "+=" of accumulation
    dim: str  # a False / None cell in the tensor table
    gutter_bg: str  # the editor's line numbers
    gutter_text: str
    gutter_current: str
    error_line_bg: str  # the editor's line that raised
    error_bg: str  # a boxed error message
    cell_code_bg: str  # a lesson's code cell
    cell_running: str  # the bar of a lesson cell that runs
    cell_paused: str  # ... that stopped at a breakpoint
    warning_bg: str  # a lesson's unsupported-API warning
    warning_text: str
    base: str  # the window's text-entry background
    highlighted_text: str  # text on the selection colour
    current_line_mix: float  # the current line: base blended this far towards the selection
    disabled: str = ""  # text of a disabled button or menu item ("": the muted text colour)


@dataclass(frozen=True)
class PlotColours:
    """Colours of the training plots and notes in one theme: runs are told apart by colour
    (``zeroed``, ``unzeroed``), the iteration marker is neutral, data classes (``pos``,
    ``neg``) use neither run's hue."""

    background: str
    text: str
    muted: str
    axis: str
    grid_alpha: float
    zeroed: str
    unzeroed: str
    marker: str
    hover: str
    note_bg: str
    note_border: str
    info_bg: str
    info_border: str
    error: str
    warn: str
    removed_line: str
    added_line: str
    error_line: str
    pos: str
    neg: str


PLOT_COLOURS: dict[str, PlotColours] = {
    "light": PlotColours("#ffffff", "#1a1a1a", "#555555", "#444444", 0.25,
                         "#1658c7", "#e8590c", "#707070", "#555555",
                         "#fff4d6", "#e0b040", "#eef4ff", "#9bb7e8", "#b71c1c", "#8a5a00",
                         "#ffe08a", "#d5f5d5", "#ffc4c4", "#7b3294", "#1b7837"),
    "dark": PlotColours("#1d1f23", "#ececec", "#a9adb4", "#a9adb4", 0.22,
                        "#64b5f6", "#ffa657", "#8d939c", "#c0c4cb",
                        "#33301f", "#8a6d2a", "#1f2a3a", "#3d5a85", "#ff6b6b", "#e0b060",
                        "#5a4a1a", "#1f4a2a", "#5c2b2b", "#c2a5cf", "#7fbf7b"),
    "high-contrast": PlotColours("#ffffff", "#000000", "#000000", "#000000", 0.35,
                                 "#0033cc", "#b34700", "#000000", "#000000",
                                 "#ffffff", "#000000", "#ffffff", "#000000", "#d00000",
                                 "#6b3e00", "#ffd95a", "#b6f5b6", "#ffb3b3", "#6a00a8",
                                 "#006b1f"),
}


@dataclass(frozen=True)
class Theme:
    """A palette (``#rrggbb`` strings), line widths and font sizes in points at scale 1."""

    name: str
    background: str
    text: str
    text_muted: str
    # node fills, by kind
    grad_fn: str
    accumulate: str
    leaf: str
    output: str
    saved: str
    node_border: str
    shadow: str
    # edges
    edge: str
    edge_saved: str
    edge_flow: str  # an edge whose gradient is shown
    edge_label_text: str
    edge_label_bg: str
    # states
    current: str
    current_glow: str
    done: str
    breakpoint: str
    error: str
    error_fill: str
    selection: str
    banner_bg: str
    banner_text: str
    # geometry
    border_width: float = 1.5
    edge_width: float = 1.8
    shadow_alpha: float = 0.18
    done_opacity: float = 0.5
    # fonts
    font_family: str = "DejaVu Sans"
    mono_family: str = "DejaVu Sans Mono"
    title_pt: float = 14.0
    mono_pt: float = 12.0
    edge_label_pt: float = 11.0
    font_scale: float = 1.0
    # the panels' colours (the light ones unless a theme sets its own)
    syntax: SyntaxColours = SyntaxColours(
        keyword="#7b1fa2", builtin="#1565c0", constant="#b35c00", number="#b35c00",
        string="#2e7d32", comment="#6b7280", name="#00695c", def_="#1565c0",
        marker="#b35c00", error="#c62828")
    events: EventColours = EventColours(
        tensor_created="#546e7a", op_recorded="#1565c0", backward_started="#6a1b9a",
        node_started="#b35c00", node_finished="#2e7d32", grad_accumulated="#00695c",
        backward_finished="#6a1b9a", grad_changed="#00838f",
        requires_grad_changed="#795548", graph_freed="#757575", optimizer_step="#ad1457",
        error="#c62828")
    ui: UiColours = UiColours(
        text="#000000", muted="#5f6368", error="#c62828",
        ok="#2e7d32", value="#1565c0", accent="#1a56a8",
        code_bg="#f3f4f6", rule_bg="#eef7ee", rule="#1b5e20", freed="#b35c00",
        plus="#b35c00", dim="#8a8a8a", gutter_bg="#f1f3f4", gutter_text="#9aa0a6",
        gutter_current="#202124", error_line_bg="#fde0dc", error_bg="#fdecea",
        cell_code_bg="#f1f1f1", cell_running="#2e7d32", cell_paused="#f9a825",
        warning_bg="#fff4ce", warning_text="#5c4400", base="#ffffff",
        highlighted_text="#ffffff", current_line_mix=0.14)
    #: the training plots' colours (``PLOT_COLOURS[name]``, attached below)
    plots: PlotColours | None = None

    def fill(self, kind: str) -> str:
        """Fill colour of a node of ``kind`` (grad_fn, accumulate, leaf, output, saved)."""
        return getattr(self, kind, self.grad_fn) if kind in _KIND_FIELDS else self.grad_fn

    def scaled(self, font_scale: float) -> Theme:
        """The same palette with another font scale."""
        return replace(self, font_scale=float(font_scale))


_KIND_FIELDS = frozenset({"grad_fn", "accumulate", "leaf", "output", "saved"})

LIGHT = Theme(
    name="light",
    background="#ffffff", text="#1a1a1a", text_muted="#555555",
    grad_fn="#d3d3d3", accumulate="#d3d3d3", leaf="#add8e6", output="#caff70",
    saved="#ffa500", node_border="#595959", shadow="#000000",
    edge="#3c3c3c", edge_saved="#b86e00", edge_flow="#7b1fa2",
    edge_label_text="#4a148c", edge_label_bg="#f6edfa",
    current="#ff8f00", current_glow="#ffc400", done="#2e7d32", breakpoint="#d50000",
    error="#c62828", error_fill="#ffd7d7", selection="#1565c0",
    banner_bg="#b71c1c", banner_text="#ffffff",
)

DARK = Theme(
    name="dark",
    background="#1d1f23", text="#ececec", text_muted="#a9adb4",
    grad_fn="#3d424b", accumulate="#3d424b", leaf="#1c5777", output="#4b6a12",
    saved="#93560a", node_border="#9aa0a8", shadow="#000000",
    edge="#b7bcc4", edge_saved="#e6a23c", edge_flow="#ce93d8",
    edge_label_text="#f3e5f5", edge_label_bg="#4a2456",
    current="#ffb300", current_glow="#ffd54f", done="#66bb6a", breakpoint="#ff5252",
    error="#ff5252", error_fill="#5a1d1d", selection="#64b5f6",
    banner_bg="#c62828", banner_text="#ffffff",
    shadow_alpha=0.35, done_opacity=0.45,
    syntax=SyntaxColours(
        keyword="#c792ea", builtin="#82aaff", constant="#f78c6c", number="#f78c6c",
        string="#c3e88d", comment="#8a93a5", name="#ffcb6b", def_="#82aaff",
        marker="#ffcb6b", error="#ff6b6b"),
    events=EventColours(
        tensor_created="#b0bec5", op_recorded="#82aaff", backward_started="#ce93d8",
        node_started="#ffb74d", node_finished="#a5d6a7", grad_accumulated="#80cbc4",
        backward_finished="#ce93d8", grad_changed="#80deea",
        requires_grad_changed="#bcaaa4", graph_freed="#bdbdbd", optimizer_step="#f48fb1",
        error="#ff6b6b"),
    ui=UiColours(
        text="#ececec", muted="#9aa0a6", error="#ff6b6b",
        ok="#66bb6a", value="#82aaff", accent="#82aaff",
        code_bg="#252932", rule_bg="#1f2a1f", rule="#a5d6a7", freed="#ffb74d",
        plus="#ffcb6b", dim="#8a8a8a", gutter_bg="#262a33", gutter_text="#7a808a",
        gutter_current="#e0e0e0", error_line_bg="#5c2b2b", error_bg="#3a1f1f",
        cell_code_bg="#2d3037", cell_running="#2e7d32", cell_paused="#f9a825",
        warning_bg="#4a3b00", warning_text="#ffe08a", base="#24272c",
        highlighted_text="#ffffff", current_line_mix=0.22),
)

HIGH_CONTRAST = Theme(
    name="high-contrast",
    background="#ffffff", text="#000000", text_muted="#000000",
    grad_fn="#e8e8e8", accumulate="#e8e8e8", leaf="#7cc8ff", output="#b6f542",
    saved="#ffb020", node_border="#000000", shadow="#000000",
    edge="#000000", edge_saved="#8a4b00", edge_flow="#6a00a8",
    edge_label_text="#ffffff", edge_label_bg="#4a0080",
    current="#ff6d00", current_glow="#ffab00", done="#007a00", breakpoint="#e00000",
    error="#d00000", error_fill="#ffc9c9", selection="#0033cc",
    banner_bg="#000000", banner_text="#ffff00",
    border_width=3.0, edge_width=2.8, shadow_alpha=0.0, done_opacity=0.6,
    title_pt=15.0, mono_pt=13.0, edge_label_pt=12.0,
    # panels: pure black text and dark saturated hues, each at least 7:1 on white
    syntax=SyntaxColours(
        keyword="#5a00a0", builtin="#0033cc", constant="#8a3b00", number="#8a3b00",
        string="#005a00", comment="#333333", name="#004d40", def_="#0033cc",
        marker="#8a3b00", error="#b00000"),
    events=EventColours(
        tensor_created="#263238", op_recorded="#0033cc", backward_started="#4a0080",
        node_started="#8a3b00", node_finished="#005a00", grad_accumulated="#004d40",
        backward_finished="#4a0080", grad_changed="#005662",
        requires_grad_changed="#4e2c1c", graph_freed="#333333", optimizer_step="#880e4f",
        error="#b00000"),
    ui=UiColours(
        text="#000000", muted="#333333", error="#b00000",
        ok="#005a00", value="#0033cc", accent="#0033cc",
        code_bg="#f0f0f0", rule_bg="#e8f5e8", rule="#004d00", freed="#8a3b00",
        plus="#8a3b00", dim="#555555", gutter_bg="#e8e8e8", gutter_text="#333333",
        gutter_current="#000000", error_line_bg="#ffc9c9", error_bg="#ffe0e0",
        cell_code_bg="#eeeeee", cell_running="#007a00", cell_paused="#e65100",
        warning_bg="#ffff00", warning_text="#000000", base="#ffffff",
        highlighted_text="#ffffff", current_line_mix=0.14,
        disabled="#8a8a8a"),  # its muted text is black: disabled must still look disabled
)

LIGHT, DARK, HIGH_CONTRAST = (replace(t, plots=PLOT_COLOURS[t.name])
                              for t in (LIGHT, DARK, HIGH_CONTRAST))
THEMES: dict[str, Theme] = {t.name: t for t in (LIGHT, DARK, HIGH_CONTRAST)}


def theme_names() -> list[str]:
    """Names of the built-in palettes."""
    return list(THEMES)


def get_theme(name: str = "light", font_scale: float = 1.0) -> Theme:
    """The palette called ``name`` (light, dark, high-contrast) at ``font_scale``."""
    try:
        base = THEMES[name]
    except KeyError:
        raise ValueError(f"unknown theme {name!r}; choose one of {', '.join(THEMES)}") from None
    return base if font_scale == 1.0 else base.scaled(font_scale)
