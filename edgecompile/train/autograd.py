"""Reverse-mode differentiation over a float Graph, batched along axis 0.

``GraphModel`` wraps a batch-1 float graph (``reference.batchable``) whose trainable constants
(weights and biases of Conv2D / DepthwiseConv2D / FullyConnected, optionally Add constants) live
in ``params`` as float32 arrays.  ``forward`` runs the nodes with ``OpSpec.ref_float`` on N samples
and keeps every activation on a ``Tape``; ``backward`` walks the nodes in reverse with
``OpSpec.grad`` and returns the gradient of every parameter.  ``to_graph`` writes the parameters
back into a new graph (the input graph is never mutated).

BatchNorm nodes (a 1x1 DepthwiseConv2D the importer tagged with ``attrs["bn"]``) run in one of two
modes: "frozen" (a fixed per-channel affine whose scale and shift train like any depthwise weights)
or "batch" (normalize with the batch's mean and variance, train gamma and beta, and update running
statistics with momentum, as a framework's training mode).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from .. import data as D
from ..ir import WEIGHTED, Graph, Node, Op
from ..ops import REGISTRY
from ..ops._common import act_mask, apply_act
from ..reference import batchable

BN_MOMENTUM = 0.1         # running = (1 - m) * running + m * batch, the PyTorch convention


def bn_attr(n: Node) -> dict | None:
    """The BatchNormalization statistics an imported BN node carries, or None."""
    if n.op != Op.DEPTHWISE_CONV2D or len(n.inputs) < 3 or not n.inputs[2]:
        return None
    return n.attrs.get("bn")


def trainable_tensors(g: Graph, include_add: bool = False) -> list[str]:
    """Names of the constant weights and biases of weighted ops (and of Add constants), in node order."""
    names: list[str] = []
    for n in g.nodes:
        if n.op in WEIGHTED:
            idx = [1, 2]
        elif include_add and n.op == Op.ADD:
            idx = [0, 1]
        else:
            continue
        for i in idx:
            if i < len(n.inputs) and n.inputs[i] and g.tensors[n.inputs[i]].is_const and n.inputs[i] not in names:
                names.append(n.inputs[i])
    return names


def weight_tensors(g: Graph) -> list[str]:
    """The weight (not bias) tensors of weighted ops, BatchNorm nodes excluded: what pruning and
    weight decay act on."""
    out = []
    for n in g.nodes:
        if n.op in WEIGHTED and not bn_attr(n) and g.tensors[n.inputs[1]].is_const and n.inputs[1] not in out:
            out.append(n.inputs[1])
    return out


def batch_inputs(g: Graph, data) -> dict[str, np.ndarray]:
    """User data -> {input name: float32 [N, *shape[1:]]}.  ``data`` is one array (single-input
    graph) or a dict of arrays as in an .npz (label keys such as ``y`` are ignored)."""
    if hasattr(data, "keys"):                      # dict, NpzFile
        data = {k: data[k] for k in data}
    else:
        if len(g.inputs) != 1:
            raise ValueError(f"graph has {len(g.inputs)} inputs: pass a dict of arrays")
        data = {g.inputs[0]: np.asarray(data)}
    arrays = D.input_arrays(g, data, "training data")
    return {k: v.reshape((v.shape[0],) + tuple(g.tensors[k].shape[1:])) for k, v in arrays.items()}


@dataclass
class Tape:
    """What the forward pass keeps for backward."""
    batch: int
    env: dict[str, np.ndarray] = field(default_factory=dict)      # values (after fake quantization)
    pre: dict[str, np.ndarray] = field(default_factory=dict)      # node outputs before fake quantization
    qmask: dict[str, np.ndarray] = field(default_factory=dict)    # straight-through masks (QAT)
    args: dict[str, list] = field(default_factory=dict)           # per node: the inputs it read
    bn: dict[str, tuple] = field(default_factory=dict)            # per BN node: (xhat, inv_std, batch stats?)


class GraphModel:
    """A float graph with trainable parameters; see the module docstring."""

    def __init__(self, g: Graph, trainable: list[str] | None = None, *, bn_mode: str = "frozen",
                 bn_momentum: float = BN_MOMENTUM, qat=None):
        if bn_mode not in ("frozen", "batch"):
            raise ValueError(f"bn_mode must be 'frozen' or 'batch', not {bn_mode!r}")
        if not batchable(g):
            raise ValueError(f"graph {g.name!r} cannot run batched (axis 0 is moved, merged or padded); "
                             "training needs a batch axis")
        for k, t in g.tensors.items():
            if t.is_const and t.data.dtype.kind != "f":
                raise ValueError(f"graph {g.name!r} is quantized (constant {k!r} is {t.data.dtype}); "
                                 "train the float graph")
        self.g = g
        self.bn_mode = bn_mode
        self.bn_momentum = bn_momentum
        self.qat = qat
        names = trainable_tensors(g) if trainable is None else list(trainable)
        self.params: dict[str, np.ndarray] = {k: np.array(g.tensors[k].data, np.float32) for k in names}
        # BatchNorm in batch mode: gamma / beta replace the node's scale / shift constants
        self.bn: dict[str, Node] = {}
        self.running: dict[str, list[np.ndarray]] = {}
        if bn_mode == "batch":
            for n in g.nodes:
                st = bn_attr(n)
                if not st:
                    continue
                w, b = self._const(n.inputs[1]).reshape(-1), self._const(n.inputs[2])
                gamma, beta = _gamma_beta(w, b, st)
                for t in n.inputs[1:3]:
                    self.params.pop(t, None)
                self.params[f"{n.name}:gamma"] = gamma
                self.params[f"{n.name}:beta"] = beta
                self.running[n.name] = [np.array(st["mean"], np.float32), np.array(st["var"], np.float32)]
                self.bn[n.name] = n
        # tensors whose value depends on a parameter: the only ones backward needs gradients for
        self._needs: set[str] = set()
        for n in g.nodes:
            if n.name in self.bn or any(i in self.params or i in self._needs for i in n.inputs if i):
                self._needs.add(n.outputs[0])

    # ------------------------------------------------------------------ values
    def _const(self, name: str) -> np.ndarray:
        return self.params[name] if name in self.params else self.g.tensors[name].data

    def _args(self, n: Node, env: dict) -> list:
        args = []
        spec = REGISTRY[n.op]
        for k, i in enumerate(n.inputs):
            if not i:
                args.append(None)
            elif self.g.tensors[i].is_const:
                v = self._const(i)
                if self.qat is not None and k in spec.weights:
                    v = self.qat.weight(i, v, spec.weights[k])
                args.append(v)
            else:
                args.append(env[i])
        return args

    # ------------------------------------------------------------------ forward
    def forward(self, feeds: dict[str, np.ndarray], *, train: bool = False, until=None) -> Tape:
        """Run N samples (feeds: input name -> [N, *shape[1:]]).  ``train`` selects batch statistics
        for BatchNorm (batch mode) and updates running / QAT ranges; ``until`` (tensor names) stops
        as soon as those are computed."""
        g = self.g
        n_batch = len(next(iter(feeds.values())))
        tape = Tape(n_batch)
        stop = set(until) if until else None
        for name in g.inputs:
            x = np.asarray(feeds[name], np.float32).reshape((n_batch,) + tuple(g.tensors[name].shape[1:]))
            tape.pre[name] = x
            if self.qat is not None and self.qat.quantizes(name):
                x, tape.qmask[name] = self.qat.act(name, x, train)
            tape.env[name] = x
        for n in g.nodes:
            if stop is not None and stop <= tape.env.keys():
                break
            out = n.outputs[0]
            args = self._args(n, tape.env)
            tape.args[n.name] = args
            if n.name in self.bn:
                y = self._bn_forward(n, args[0], train, tape)
            elif n.op == Op.RESHAPE:
                y = args[0].reshape((n_batch,) + tuple(n.attrs["shape"][1:]))
            else:
                y = REGISTRY[n.op].ref_float(*args, **n.attrs)
            tape.pre[out] = y
            if self.qat is not None and self.qat.quantizes(out):
                y, tape.qmask[out] = self.qat.act(out, y, train)
            tape.env[out] = y
        return tape

    def _bn_forward(self, n: Node, x: np.ndarray, train: bool, tape: Tape) -> np.ndarray:
        st = n.attrs["bn"]
        axes = tuple(range(x.ndim - 1))
        gamma, beta = self.params[f"{n.name}:gamma"], self.params[f"{n.name}:beta"]
        if train:
            mu = x.mean(axis=axes, dtype=np.float64)
            var = np.maximum((np.square(x, dtype=np.float64)).mean(axis=axes) - mu * mu, 0.0)
            m = x.size // x.shape[-1]
            r = self.running[n.name]
            k = self.bn_momentum
            r[0] = ((1 - k) * r[0] + k * mu).astype(np.float32)
            r[1] = ((1 - k) * r[1] + k * var * (m / max(m - 1, 1))).astype(np.float32)
            mu, var = mu.astype(np.float32), var.astype(np.float32)
        else:
            mu, var = self.running[n.name]
        inv = (1.0 / np.sqrt(var + np.float32(st["eps"]))).astype(np.float32)
        xhat = (x - mu) * inv
        tape.bn[n.name] = (xhat, inv, train)
        return apply_act(xhat * gamma + beta, n.attrs.get("act_min", -math.inf), n.attrs.get("act_max", math.inf))

    # ------------------------------------------------------------------ backward
    def backward(self, tape: Tape, seeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Gradients of every parameter, given dL/d(tensor) for some tensors (usually the output)."""
        grads = {k: np.asarray(v, np.float32) for k, v in seeds.items()}
        pgrads: dict[str, np.ndarray] = {}

        def add(store, name, v):
            store[name] = v if name not in store else store[name] + v

        for n in reversed(self.g.nodes):
            out = n.outputs[0]
            dy = grads.pop(out, None)
            if dy is None or out not in self._needs:
                continue
            if out in tape.qmask:
                dy = dy * tape.qmask[out]
            if n.name in self.bn:
                dx, dgamma, dbeta = self._bn_backward(n, dy, tape)
                add(pgrads, f"{n.name}:gamma", dgamma)
                add(pgrads, f"{n.name}:beta", dbeta)
                if n.inputs[0] in self._needs:
                    add(grads, n.inputs[0], dx)
                continue
            want = [k for k, i in enumerate(n.inputs) if i and (i in self.params or i in self._needs)]
            if not want:
                continue
            gs = REGISTRY[n.op].grad(dy, *tape.args[n.name], y=tape.pre[out], **n.attrs)
            for k in want:
                i = n.inputs[k]
                if gs[k] is None:
                    continue
                add(pgrads if i in self.params else grads, i, gs[k].astype(np.float32, copy=False))
        return pgrads

    def _bn_backward(self, n: Node, dy: np.ndarray, tape: Tape):
        xhat, inv, batch_stats = tape.bn[n.name]
        gamma = self.params[f"{n.name}:gamma"]
        dz = act_mask(dy, tape.pre[n.outputs[0]], n.attrs.get("act_min", -math.inf),
                      n.attrs.get("act_max", math.inf))
        axes = tuple(range(dz.ndim - 1))
        dgamma = (dz * xhat).sum(axis=axes)
        dbeta = dz.sum(axis=axes)
        if batch_stats:
            m = dz.size // dz.shape[-1]
            dx = (gamma * inv) * (dz - dbeta / m - xhat * (dgamma / m))
        else:
            dx = dz * (gamma * inv)
        return dx, dgamma, dbeta

    # ------------------------------------------------------------------ results
    def bn_constants(self, n: Node) -> tuple[np.ndarray, np.ndarray, dict]:
        """(scale [1,1,1,C], shift [C], new bn attr) of a batch-mode BN node from gamma, beta and the
        running statistics."""
        st = n.attrs["bn"]
        gamma, beta = self.params[f"{n.name}:gamma"], self.params[f"{n.name}:beta"]
        mean, var = self.running[n.name]
        w = (gamma / np.sqrt(var + np.float32(st["eps"]))).astype(np.float32)
        b = (beta - mean * w).astype(np.float32)
        return w.reshape(1, 1, 1, -1), b, dict(st, gamma=gamma.copy(), beta=beta.copy(), mean=mean.copy(),
                                                var=var.copy())

    def to_graph(self) -> Graph:
        """A new graph holding the current parameters (BN scale / shift recomputed, bn attrs updated)."""
        g = self.g.copy()
        for k, v in self.params.items():
            if k in g.tensors:
                g.tensors[k] = dataclasses.replace(g.tensors[k], data=np.array(v, np.float32))
        for n in g.nodes:
            if n.name in self.bn:
                w, b, st = self.bn_constants(self.bn[n.name])
            elif bn_attr(n):        # frozen: the stats stay, gamma / beta follow the trained scale / shift
                w, b = g.tensors[n.inputs[1]].data, g.tensors[n.inputs[2]].data
                gamma, beta = _gamma_beta(w.reshape(-1), b, n.attrs["bn"])
                st = dict(n.attrs["bn"], gamma=gamma, beta=beta)
            else:
                continue
            g.tensors[n.inputs[1]] = dataclasses.replace(g.tensors[n.inputs[1]], data=w)
            g.tensors[n.inputs[2]] = dataclasses.replace(g.tensors[n.inputs[2]], data=b)
            n.attrs["bn"] = st
        return g


def _gamma_beta(w: np.ndarray, b: np.ndarray, st: dict) -> tuple[np.ndarray, np.ndarray]:
    """gamma, beta such that the node's scale / shift equal BN(gamma, beta, stored mean / var)."""
    std = np.sqrt(np.asarray(st["var"], np.float32) + np.float32(st["eps"]))
    return (w * std).astype(np.float32), (b + np.asarray(st["mean"], np.float32) * w).astype(np.float32)
