"""torch's default_collate / default_convert: a list of samples becomes one batch (tensors are
stacked, numbers become a tensor, dicts and sequences are collated field by field)."""

from __future__ import annotations

import collections.abc
import copy
import re
from typing import Any

import numpy as np

_STR_OBJ = re.compile(r"[SaUO]")
ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
       "found {}")



def _same_sequence(like: Any, items: list) -> Any:
    """``items`` in a sequence of ``like``'s type, as torch's collate rebuilds one: a copy of a
    mutable sequence with its items replaced, else ``type(like)(items)``, else the list."""
    try:
        if isinstance(like, collections.abc.MutableSequence):
            clone = copy.copy(like)
            for i, item in enumerate(items):
                clone[i] = item
            return clone
        return type(like)(items)
    except TypeError:
        return items

def _leaf(batch: list) -> Any:
    """Collate a batch of tensors / arrays / numbers / strings, or return NotImplemented."""
    import engine
    elem = batch[0]
    if isinstance(elem, engine.Tensor):
        return engine.stack(batch, 0)
    if isinstance(elem, np.ndarray):
        if _STR_OBJ.search(elem.dtype.str) is not None:
            raise TypeError(ERR.format(elem.dtype))
        return collate([engine.as_tensor(b) for b in batch])
    if isinstance(elem, (np.bool_, np.number, np.object_)):
        return engine.as_tensor(np.asarray(batch))
    if isinstance(elem, float):
        return engine.tensor(batch, dtype=engine.float64)
    if isinstance(elem, int):
        return engine.tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    return NotImplemented


def collate(batch: list) -> Any:
    """torch's ``collate`` with the default function map."""
    out = _leaf(batch)
    if out is not NotImplemented:
        return out
    elem = batch[0]
    elem_type = type(elem)
    if isinstance(elem, collections.abc.Mapping):
        fields = {key: collate([d[key] for d in batch]) for key in elem}
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = copy.copy(elem)
                clone.update(fields)
                return clone
            return elem_type(fields)
        except TypeError:
            return fields
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return elem_type(*(collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = [list(s) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return [collate(s) for s in transposed]
        return _same_sequence(elem, [collate(s) for s in transposed])
    raise TypeError(ERR.format(elem_type))


def default_collate(batch: list) -> Any:
    """Stack a list of samples into a batch, as ``torch.utils.data.default_collate``."""
    return collate(batch)


def default_convert(data: Any) -> Any:
    """Arrays to tensors inside a sample, without batching (``batch_size=None``)."""
    import engine
    if isinstance(data, engine.Tensor):
        return data
    if isinstance(data, np.ndarray):
        if _STR_OBJ.search(data.dtype.str) is not None:
            return data
        return engine.as_tensor(data)
    if isinstance(data, (np.bool_, np.number)):
        return engine.as_tensor(np.asarray(data))
    elem_type = type(data)
    if isinstance(data, collections.abc.Mapping):
        fields = {key: default_convert(data[key]) for key in data}
        try:
            if isinstance(data, collections.abc.MutableMapping):
                clone = copy.copy(data)
                clone.update(fields)
                return clone
            return elem_type(fields)
        except TypeError:
            return fields
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _same_sequence(data, [default_convert(d) for d in data])
    return data
