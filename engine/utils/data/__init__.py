"""torch.utils.data: datasets, samplers, the DataLoader (in-process) and default_collate."""

from engine.utils.data._collate import default_collate, default_convert  # noqa: F401
from engine.utils.data.dataloader import DataLoader, get_worker_info  # noqa: F401
from engine.utils.data.dataset import (  # noqa: F401
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from engine.utils.data.sampler import (  # noqa: F401
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
)
