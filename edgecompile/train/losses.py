"""Losses, each ``f(...) -> (mean loss over the batch, gradient w.r.t. the prediction)``, and the
``Objective`` that combines a label loss with knowledge distillation."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Graph, Op


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of integer class labels [N] given logits [N, K] (any [N, ..., K] shape)."""
    z = logits.reshape(len(logits), -1).astype(np.float64)
    y = np.asarray(labels).reshape(-1).astype(np.int64)
    if y.size != len(z) or y.min(initial=0) < 0 or y.max(initial=0) >= z.shape[1]:
        raise ValueError(f"labels must be {len(z)} class indices in [0, {z.shape[1]})")
    rows = np.arange(len(z))
    ls = _log_softmax(z)
    loss = -ls[rows, y].mean()
    p = np.exp(ls)
    p[rows, y] -= 1.0
    return float(loss), (p / len(z)).reshape(logits.shape).astype(np.float32)


def distillation(student: np.ndarray, teacher: np.ndarray, temperature: float = 4.0) -> tuple[float, np.ndarray]:
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)), mean over the batch (Hinton et al.);
    the T^2 keeps gradient magnitudes comparable with the label loss across temperatures."""
    t = float(temperature)
    ls = _log_softmax(student.reshape(len(student), -1).astype(np.float64) / t)
    lt = _log_softmax(teacher.reshape(len(teacher), -1).astype(np.float64) / t)
    pt = np.exp(lt)
    kl = (pt * (lt - ls)).sum(axis=1).mean()
    grad = t * (np.exp(ls) - pt) / len(ls)
    return float(t * t * kl), grad.reshape(student.shape).astype(np.float32)


def mse(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error over all elements (autoencoders: target = the input)."""
    p = pred.astype(np.float64)
    d = p - np.asarray(target, np.float64).reshape(p.shape)
    return float(np.mean(d * d)), (2.0 * d / d.size).astype(np.float32)


def find_head(g: Graph) -> tuple[str, float | None]:
    """(tensor to train on, softmax beta or None).  A graph ending in Softmax (possibly followed by
    Reshapes) trains on the Softmax's input: the logits."""
    if len(g.outputs) != 1:
        raise ValueError(f"training needs a single-output graph ({len(g.outputs)} outputs)")
    prod = g.producer()
    name = g.outputs[0]
    while name in prod and prod[name].op == Op.RESHAPE:
        name = prod[name].inputs[0]
    if name in prod and prod[name].op == Op.SOFTMAX:
        n = prod[name]
        return n.inputs[0], float(n.attrs.get("beta", 1.0))
    return g.outputs[0], None


@dataclass
class Objective:
    """loss = alpha * label loss + (1 - alpha) * distillation loss (either term may be absent).

    task "classify": labels are class indices, the prediction is logits (scaled by the Softmax's
    beta when the graph ended in one), distillation is the temperature-softened KL.  task
    "regress": labels are target arrays (autoencoders: the input), distillation is the MSE to the
    teacher's output."""
    task: str
    alpha: float
    temperature: float = 4.0
    beta: float = 1.0

    def __call__(self, pred, labels=None, teacher=None) -> tuple[float, np.ndarray, dict]:
        z = pred * np.float32(self.beta) if self.task == "classify" else pred
        total, grad, parts = 0.0, np.zeros_like(pred, dtype=np.float32), {}
        w_label = self.alpha if teacher is not None else 1.0
        w_kd = 1.0 - self.alpha if labels is not None else 1.0
        if labels is not None and w_label > 0:
            loss, d = softmax_cross_entropy(z, labels) if self.task == "classify" else mse(z, labels)
            parts["label"] = loss
            total += w_label * loss
            grad += np.float32(w_label) * d
        if teacher is not None and w_kd > 0:
            tz = teacher * np.float32(self.beta) if self.task == "classify" else teacher
            loss, d = distillation(z, tz, self.temperature) if self.task == "classify" else mse(z, tz)
            parts["kd"] = loss
            total += w_kd * loss
            grad += np.float32(w_kd) * d
        if self.task == "classify" and self.beta != 1.0:
            grad *= np.float32(self.beta)
        return total, grad, parts
