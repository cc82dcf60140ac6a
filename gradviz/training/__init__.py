"""Training loops run twice in step, with and without their gradient zeroing.

One module per idea:

* :mod:`~gradviz.training.loop`: a script split into setup / loop / after, the body compiled
  into one iteration (backward calls become yields);
* :mod:`~gradviz.training.rewrite`: the zeroing statements found, the variant without (or with)
  them;
* :mod:`~gradviz.training.series`: what a run records per iteration (grads, loss, params);
* :mod:`~gradviz.training.guard`: engine events muted, output bounded, the user's error line;
* :mod:`~gradviz.training.run`: one run iteration by iteration (timeouts by
  :mod:`gradviz.watchdog`);
* :mod:`~gradviz.training.pair`: the two runs in step;
* :mod:`~gradviz.training.table`: the series as CSV, the runs' labels (no engine);
* :mod:`~gradviz.training.presets`: the ready-made loops in ``gradviz/assets/training`` (no
  engine).

The window imports only ``table`` and ``presets`` (no engine); the names below are imported
lazily, so ``import gradviz.training.presets`` does not import the engine.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "ZeroingSite": "rewrite", "ToggledLine": "rewrite", "Variant": "rewrite",
    "find_zeroing": "rewrite", "variant_without_zeroing": "rewrite",
    "variant_with_zeroing": "rewrite",
    "LoopParts": "loop", "split_loop": "loop", "compile_iteration": "loop", "FILENAME": "loop",
    "Series": "series", "ELEMENT_LIMIT": "series",
    "quiet_engine_events": "guard",
    "TrainingRun": "run", "ITERATION_TIMEOUT_S": "run", "SETUP_TIMEOUT_S": "run",
    "TrainingPair": "pair",
    "RUN_LABELS": "table", "series_columns": "table", "series_rows": "table",
    "write_series_csv": "table",
    "Preset": "presets", "PRESETS": "presets", "preset": "presets", "iter_presets": "presets",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    try:
        module = _HOME[name]
    except KeyError:
        raise AttributeError(f"module 'gradviz.training' has no attribute {name!r}") from None
    return getattr(importlib.import_module(f"gradviz.training.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
