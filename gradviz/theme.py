"""Colour palettes and font sizes of the graph view, as plain hex strings (no Qt needed).

``light`` uses torchviz's colours (lightblue leaves, darkolivegreen1 outputs, orange saved
tensors, lightgrey functions); ``dark`` and ``high-contrast`` keep the same meaning per hue.
State colours: ``current`` (amber border and glow), ``done`` (dimmed, green check),
``breakpoint`` (red dot) and ``error`` (red).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["THEMES", "Theme", "get_theme", "theme_names"]


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
)

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


def theme_for_colours(window: str, text: str) -> str:
    """The built-in theme a window palette belongs to, from its window and text colours
    (``#rrggbb``): dark backgrounds are ``dark``, pure black on pure white is
    ``high-contrast``, anything else ``light``. Panels use it to follow a theme switch."""
    def lightness(h: str) -> float:
        h = h.lstrip("#")[-6:]
        r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
        return (max(r, g, b) + min(r, g, b)) / 2
    if lightness(window) < 128:
        return "dark"
    if window.lower().endswith("ffffff") and text.lower().endswith("000000"):
        return "high-contrast"
    return "light"


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
