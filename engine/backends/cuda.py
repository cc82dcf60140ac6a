"""torch.backends.cuda: not built; ``matmul.allow_tf32`` is kept as a flag."""


class _Matmul:
    allow_tf32 = False
    allow_fp16_reduced_precision_reduction = True


matmul = _Matmul()


def is_built() -> bool:
    return False
