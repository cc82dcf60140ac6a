"""The app's settings file: :func:`validate_settings` keeps what is valid and says what is not."""

from __future__ import annotations

from typing import Any

SETTINGS_DEFAULTS: dict[str, Any] = {"theme": "light", "font_scale": 1.0, "recent": []}
FONT_SCALE_RANGE = (0.5, 4.0)
MAX_RECENT = 10


def validate_settings(settings: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The settings with every bad value replaced by its default, and one warning sentence per
    replaced value (``theme=purple``, ``font_scale=abc``). Values come as the settings file
    gives them (often text); unknown keys are kept as they are."""
    from gradviz.theme import theme_names

    clean = dict(settings)
    warnings: list[str] = []

    def fallback(key: str, shown: Any, why: str) -> None:
        default = SETTINGS_DEFAULTS.get(key)
        clean[key] = list(default) if isinstance(default, list) else default
        text = str(shown)
        text = text if len(text) <= 40 else text[:37] + "..."
        use = f"using {default}" if key in SETTINGS_DEFAULTS else "ignoring it"
        warnings.append(f"The setting {key}={text} {why}; {use}.")

    for key, default in SETTINGS_DEFAULTS.items():
        if settings.get(key) is None:
            clean[key] = default if not isinstance(default, list) else list(default)
    theme = settings.get("theme")
    if theme is not None and theme not in theme_names():
        fallback("theme", theme, f"is not a theme gradviz has ({', '.join(theme_names())})")
    fs = settings.get("font_scale")
    if fs is not None:
        try:
            if isinstance(fs, bool):
                raise TypeError
            value = float(fs)
        except (TypeError, ValueError, OverflowError):
            fallback("font_scale", fs, "is not a number")
        else:
            lo, hi = FONT_SCALE_RANGE
            if not lo <= value <= hi:  # NaN fails too
                fallback("font_scale", fs, f"is outside {lo} to {hi}")
            else:
                clean["font_scale"] = value
    recent = settings.get("recent")
    if recent is not None:
        items = [recent] if isinstance(recent, str) else recent
        if not isinstance(items, (list, tuple)):
            fallback("recent", recent, "is not a list of files")
        else:
            good = [r for r in items if isinstance(r, str) and r and "\0" not in r]
            if len(good) != len(items):
                warnings.append(f"The recent files list held {len(items) - len(good)} "
                                "entries that are not file names; they were dropped.")
            clean["recent"] = list(dict.fromkeys(good))[:MAX_RECENT]
    for key in ("geometry", "state"):
        v = settings.get(key)
        if v is not None and not (isinstance(v, (bytes, bytearray, memoryview))
                                  or type(v).__name__ == "QByteArray"):
            clean.pop(key)
            warnings.append(f"The setting {key} is not saved window layout data; the default "
                            "layout is used.")
    return clean, warnings

