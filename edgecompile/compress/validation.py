"""Validation scores for model selection while fine-tuning (``--validate VAL.npz``).

A validation set is held-out data: arrays keyed by input name, labels ``y`` and optionally ``group``
(one id per sample; the samples of a group, e.g. the windows of one audio clip, are scored together).
Higher is better:
- classifiers (graph ending in Softmax, or integer labels and an output that is not the input's
  size): top-1 accuracy;
- autoencoders (output size == input size): ROC AUC of the anomaly score, the mean squared
  reconstruction error (averaged over each group), against ``y`` (1 = anomalous, 0 = normal);
- other regressors (``y`` holds target arrays): minus the mean squared error.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import DataError
from ..ir import Graph

GROUP_KEYS = ("group", "groups")


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied ranks averaged)."""
    s, y = np.asarray(scores, np.float64), np.asarray(labels).astype(bool)
    if y.all() or not y.any():
        raise DataError("validation labels need both classes (0 = normal, 1 = anomalous) for an AUC")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    bounds = np.flatnonzero(np.diff(sorted_s)) + 1
    starts, ends = np.r_[0, bounds], np.r_[bounds, len(s)]
    for a, b in zip(starts, ends):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    npos = int(y.sum())
    return float((ranks[y].sum() - npos * (npos + 1) / 2) / (npos * (len(s) - npos)))


def scorer(g: Graph, data: dict, labels, groups=None, batch_size: int = 512) -> tuple[str, Callable[[Graph], float]]:
    """(metric name, score(graph) -> float) for the float graph ``g``'s task on validation ``data``
    ({input: [N, ...]}), ``labels`` [N] (or [N, ...] regression targets) and optional ``groups`` [N]."""
    from ..train.autograd import batch_inputs
    from ..train.finetune import predict
    from ..train.losses import find_head
    if labels is None:
        raise DataError("validation data needs labels 'y'")
    feeds = batch_inputs(g, data)
    n = len(next(iter(feeds.values())))
    y = np.asarray(labels)
    if len(y) != n or (groups is not None and len(groups) != n):
        raise DataError(f"validation data: {n} samples but {len(y)} labels"
                        + ("" if groups is None else f" and {len(groups)} group ids"))
    head, beta = find_head(g)
    autoencoder = beta is None and len(g.inputs) == 1 and g.tensors[g.inputs[0]].size == g.tensors[head].size
    if autoencoder:
        x = feeds[g.inputs[0]].reshape(n, -1)
        gid = np.arange(n) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1].ravel()
        count = np.bincount(gid)
        glab = np.bincount(gid, weights=y.reshape(n).astype(np.float64)) / count
        if np.any((glab != 0) & (glab != 1)):
            raise DataError("validation data: a group mixes normal and anomalous samples")

        def auc(m: Graph) -> float:
            err = np.square(predict(m, feeds, batch_size=batch_size).reshape(n, -1) - x).mean(axis=1)
            return roc_auc(np.bincount(gid, weights=err) / count, glab)
        return "AUC", auc
    if beta is not None or (y.ndim == 1 and y.dtype.kind in "iub"):
        def accuracy(m: Graph) -> float:
            return float(np.mean(predict(m, feeds, batch_size=batch_size).reshape(n, -1).argmax(1) == y.ravel()))
        return "accuracy", accuracy

    def neg_mse(m: Graph) -> float:
        out = predict(m, feeds, batch_size=batch_size)
        return -float(np.mean(np.square(out.reshape(n, -1) - y.reshape(n, -1))))
    return "-MSE", neg_mse
