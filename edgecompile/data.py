"""Loading user data (.npz) and matching it to a graph's inputs (DESIGN.md §5).

One array per model input, keyed by the input's name (a file with a single input array may use
any key); shape [N, *input_shape] or [N, *input_shape_without_batch]; float values in the float
model's input space.  An optional ``y`` array holds labels (ignored as an input)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .errors import DataError
from .ir import Graph

LABEL_KEYS = ("y", "labels", "label")


def load_npz(path) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npz file ({e})") from None


def input_arrays(g: Graph, arrays: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    """Match arrays to the graph inputs; returns {input name: float32 [N, *shape]}.  Arrays are in the
    model's declared layout; an input imported channels-last (g.meta["input_layouts"]) is transposed."""
    data = {k: v for k, v in arrays.items() if k in g.inputs or (k not in LABEL_KEYS and k != "files")}
    if not data:
        raise DataError(f"{source}: no input arrays (keys: {', '.join(arrays) or 'none'})")
    out = {}
    if len(g.inputs) == 1 and len(data) == 1:
        pairs = [(g.inputs[0], next(iter(data.values())), next(iter(data)))]
    else:
        missing = [n for n in g.inputs if n not in data]
        if missing:
            raise DataError(f"{source}: no array for model input(s) {', '.join(map(repr, missing))} "
                            f"(keys present: {', '.join(data)})")
        pairs = [(n, data[n], n) for n in g.inputs]
    n_samples = None
    layouts = g.meta.get("input_layouts") or {}
    for name, arr, key in pairs:
        perm = layouts.get(name)
        shape = tuple(g.meta["input_shapes"][name] if perm else g.tensors[name].shape)
        if arr.dtype.kind not in "fiub":
            raise DataError(f"{source}: array {key!r} has dtype {arr.dtype}; expected numbers (float32)")
        if arr.ndim >= 1 and tuple(arr.shape[1:]) == shape:
            pass
        elif shape and shape[0] == 1 and arr.ndim >= 1 and tuple(arr.shape[1:]) == shape[1:]:
            arr = arr.reshape((arr.shape[0],) + shape)
        else:
            raise DataError(f"{source}: array {key!r} has shape {list(arr.shape)}; model input {name!r} "
                            f"needs [N, {', '.join(map(str, shape))}] or [N, {', '.join(map(str, shape[1:]))}]")
        if n_samples is not None and arr.shape[0] != n_samples:
            raise DataError(f"{source}: arrays have different sample counts")
        n_samples = arr.shape[0]
        if n_samples == 0:
            raise DataError(f"{source}: array {key!r} holds no samples")
        arr = arr.astype(np.float32)
        if not np.all(np.isfinite(arr)):
            raise DataError(f"{source}: array {key!r} contains NaN or infinity")
        if perm:                          # declared layout -> the IR's (channels-last) layout
            arr = np.ascontiguousarray(arr.transpose((0,) + tuple(1 + p for p in perm)))
        out[name] = arr
    return out


def labels(arrays: dict[str, np.ndarray]) -> np.ndarray | None:
    for k in LABEL_KEYS:
        if k in arrays:
            return np.asarray(arrays[k])
    return None


def samples(inputs: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Split {name: [N, ...]} into N feed dicts."""
    n = len(next(iter(inputs.values())))
    return [{k: v[i] for k, v in inputs.items()} for i in range(n)]


def random_inputs(g: Graph, n: int = 32, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal((n,) + tuple(g.tensors[name].shape)).astype(np.float32)
            for name in g.inputs}
