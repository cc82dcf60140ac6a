"""``python -m gradviz.kernel -f CONNECTION_FILE [--backend engine|torch]``: an IPython
kernel with gradviz inside.

Before the kernel starts: a memory cap (a share of RAM, so a runaway allocation is a
MemoryError in the kernel, not a dead machine), ``import torch`` resolving to the engine (with
``--backend torch`` or ``GRADVIZ_BACKEND=torch``: the real torch, nothing aliased), and
output bounded per cell."""

from __future__ import annotations

import os
import sys


def memory_cap_bytes() -> int | None:
    """The address-space cap: ``GRADVIZ_KERNEL_MEMORY_MB`` or 60% of physical memory."""
    env = os.environ.get("GRADVIZ_KERNEL_MEMORY_MB")
    if env:
        return int(float(env) * 2**20) if float(env) > 0 else None
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.6)
    except (ValueError, OSError, AttributeError):
        return None


def _limit_memory() -> None:
    cap = memory_cap_bytes()
    if cap is None:
        return
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (ImportError, ValueError, OSError):
        pass  # not on this platform: the kernel still runs


def main(argv: list[str] | None = None) -> None:
    from gradviz.kernel.backend import backend_name, get_backend

    name, argv = backend_name(argv if argv is not None else sys.argv[1:])
    try:
        backend = get_backend(name)
    except (ImportError, ValueError) as e:
        raise SystemExit(str(e)) from None
    _limit_memory()
    backend.install()
    from ipykernel.kernelapp import IPKernelApp

    from gradviz.kernel.agent import install
    from gradviz.kernel.output import BoundedStream

    app = IPKernelApp.instance()
    app.initialize(argv)
    shell = app.shell
    streams = []
    for name in ("stdout", "stderr"):
        s = BoundedStream(getattr(sys, name))
        setattr(sys, name, s)
        streams.append(s)
    shell.events.register("pre_run_cell", lambda _info: [s.start_cell() for s in streams])
    shell.events.register("post_run_cell", lambda _res: [s.end_cell() for s in streams])
    shell.user_ns["__name__"] = "__main__"
    install(shell, backend)
    app.start()


if __name__ == "__main__":
    main()
