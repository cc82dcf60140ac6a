"""torch.backends on a CPU-only build: flags tutorials set (cudnn.deterministic, benchmark) are
kept and change nothing; mps and cuda report unavailable."""

from engine.backends import cuda, cudnn, mps  # noqa: F401
