"""SGD with momentum, Adam(W), and learning-rate schedules (step, cosine, polynomial; linear warmup)."""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

SCHEDULES = ("constant", "step", "cosine", "polynomial")


class SGD:
    """p -= lr * v with v = momentum * v + (g + weight_decay * p) (PyTorch's convention); Nesterov
    uses g + momentum * v instead of v.  Weight decay applies only to the names in ``decay``
    (weights, not biases or BatchNorm parameters).  Parameters are updated in place."""

    def __init__(self, params: dict[str, np.ndarray], lr: float = 0.01, momentum: float = 0.9,
                 nesterov: bool = False, weight_decay: float = 0.0, decay=None):
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.params = params
        self.lr = lr
        self.momentum = momentum
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.decay = set(params) if decay is None else set(decay)
        self.velocity = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads: dict[str, np.ndarray], lr: float | None = None) -> None:
        lr = self.lr if lr is None else lr
        mu = self.momentum
        for k, g in grads.items():
            p = self.params[k]
            if self.weight_decay and k in self.decay:
                g = g + np.float32(self.weight_decay) * p
            if mu:
                v = self.velocity[k]
                v *= np.float32(mu)
                v += g
                g = g + np.float32(mu) * v if self.nesterov else v
            p -= np.float32(lr) * g

    def apply_masks(self, masks: dict[str, np.ndarray]) -> None:
        """Zero parameters and their momentum where the mask is False."""
        for k, m in masks.items():
            self.params[k] *= m
            self.velocity[k] *= m


class Adam:
    """Adam with decoupled weight decay (AdamW) on the names in ``decay``: per-parameter step sizes,
    so one learning rate suits layers whose gradients differ by orders of magnitude (e.g. a first
    conv fed raw 0..255 pixels), where plain SGD needs a per-model learning rate."""

    def __init__(self, params: dict[str, np.ndarray], lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decay=None):
        self.params = params
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.decay = set(params) if decay is None else set(decay)
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, grads: dict[str, np.ndarray], lr: float | None = None) -> None:
        lr = self.lr if lr is None else lr
        b1, b2 = self.betas
        self.t += 1
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for k, g in grads.items():
            p, m, v = self.params[k], self.m[k], self.v[k]
            m *= np.float32(b1)
            m += np.float32(1 - b1) * g
            v *= np.float32(b2)
            v += np.float32(1 - b2) * (g * g)
            if self.weight_decay and k in self.decay:
                p *= np.float32(1 - lr * self.weight_decay)
            p -= np.float32(lr / c1) * m / (np.sqrt(v / np.float32(c2)) + np.float32(self.eps))

    def apply_masks(self, masks: dict[str, np.ndarray]) -> None:
        for k, mk in masks.items():
            self.params[k] *= mk
            self.m[k] *= mk
            self.v[k] *= mk


def make_schedule(kind: str, base_lr: float, total_steps: int, *, warmup: int = 0, step_size: int | None = None,
                  gamma: float = 0.1, power: float = 1.0, min_lr: float = 0.0) -> Callable[[int], float]:
    """lr(step) for step = 0 .. total_steps - 1.

    constant: base_lr.  step: base_lr * gamma ** (step // step_size) (step_size default: a third of
    the steps).  cosine: min_lr + (base_lr - min_lr) * (1 + cos(pi * t)) / 2.  polynomial:
    min_lr + (base_lr - min_lr) * (1 - t) ** power.  t = (step - warmup) / (total_steps - warmup)
    (the last step's t is just below 1); during the warmup lr rises linearly to base_lr."""
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r} (choose from {', '.join(SCHEDULES)})")
    total = max(int(total_steps), 1)
    warmup = max(0, min(int(warmup), total - 1))
    size = step_size or max(1, (total - warmup) // 3)

    def lr(step: int) -> float:
        if step < warmup:
            return base_lr * (step + 1) / warmup
        s = step - warmup
        t = min(s / max(total - warmup, 1), 1.0)
        if kind == "constant":
            return base_lr
        if kind == "step":
            return base_lr * gamma ** (s // size)
        if kind == "cosine":
            return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))
        return min_lr + (base_lr - min_lr) * (1.0 - t) ** power

    return lr
