"""torch.utils: the data-loading part (``engine.utils.data``)."""

from engine.utils import data  # noqa: F401
