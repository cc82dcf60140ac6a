"""gradviz: see automatic differentiation happen.

A desktop app that draws the autograd graph of a computation and steps through backward.
"""

__version__ = "0.1.0"
