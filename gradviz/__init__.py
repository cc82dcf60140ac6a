"""gradviz: see automatic differentiation happen.

A desktop app that draws the autograd graph of a computation and steps through backward.
"""

__version__ = "0.1.0"

from gradviz.show import load_walk, save_walk, show  # noqa: E402

__all__ = ["show", "save_walk", "load_walk", "__version__"]
