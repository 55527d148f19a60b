"""Layout tracking and the graph builder used by the converters.

Every dynamic ONNX tensor is a ``Dyn``: the IR tensor holding its data, its logical (ONNX) shape
and ``perm``, the physical order of its logical axes (physical axis i holds logical axis perm[i]).
A logical NCHW tensor stored channels-last has perm (0, 2, 3, 1).  An ONNX Transpose only changes
``perm``; ``Builder.need`` materializes a layout when an op requires one, as a RESHAPE when the
element order does not change (only size-1 axes move) and as a real TRANSPOSE otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Node, Op, Tensor
from ..ops import REGISTRY
from ..passes import moves_only_ones


class Unsupported(Exception):
    """A node the importer cannot express in the IR (collected, then reported all at once)."""


@dataclass(frozen=True)
class Dyn:
    name: str                      # IR tensor with the data in physical order
    shape: tuple[int, ...]         # logical ONNX shape
    perm: tuple[int, ...]          # physical axis i holds logical axis perm[i]

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def phys(self) -> tuple[int, ...]:
        return tuple(self.shape[p] for p in self.perm)


def identity(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def channels_last(rank: int) -> tuple[int, ...]:
    """(0, 2, .., r-1, 1): logical N C spatial... stored as N spatial... C."""
    return (0,) + tuple(range(2, rank)) + (1,)


def to_phys(data: np.ndarray, rank: int, perm) -> np.ndarray:
    """A constant operand broadcast against a rank-``rank`` logical tensor, in physical order."""
    data = np.asarray(data)
    data = data.reshape((1,) * (rank - data.ndim) + data.shape)
    return np.ascontiguousarray(np.transpose(data, perm))


class Builder:
    """Accumulates IR tensors and nodes; every node's output shape comes from its OpSpec.infer."""

    def __init__(self):
        self.tensors: dict[str, Tensor] = {}
        self.nodes: list[Node] = []
        self._node_names: set[str] = set()
        self._layouts: dict[tuple, str] = {}
        self.node_name = ""        # ONNX node being converted (for generated names)
        self.source_op = ""

    # names ---------------------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        name, i = base, 1
        while name in self.tensors:
            name, i = f"{base}_{i}", i + 1
        return name

    def _fresh_node(self, base: str) -> str:
        name, i = base, 1
        while name in self._node_names:
            name, i = f"{base}_{i}", i + 1
        self._node_names.add(name)
        return name

    # records -------------------------------------------------------------------------------
    def add_input(self, name: str, shape, perm=None) -> Dyn:
        """A graph input of logical ``shape``, stored with its axes in order ``perm`` (default: as declared)."""
        v = Dyn(name, tuple(int(d) for d in shape), tuple(perm or identity(len(shape))))
        self.tensors[name] = Tensor(name, v.phys)
        return v

    def const(self, data, hint: str) -> str:
        data = np.ascontiguousarray(np.asarray(data, dtype=np.float32))
        name = self.fresh(hint)
        self.tensors[name] = Tensor(name, tuple(data.shape), data=data)
        return name

    def emit(self, op: Op, inputs: list[str | None], attrs: dict, out: str | None = None,
             suffix: str = "") -> str:
        """Append one node; returns its output tensor name (``out`` if free, else a fresh one)."""
        shapes = [self.tensors[i].shape if i else None for i in inputs]
        for s in shapes:
            if s is not None and len(s) > 4:
                raise Unsupported(f"needs a rank-{len(s)} tensor (at most 4 supported)")
        try:
            shape = tuple(int(d) for d in REGISTRY[op].infer(*shapes, **attrs))
        except (ValueError, TypeError) as e:
            raise Unsupported(str(e)) from None
        if len(shape) > 4:
            raise Unsupported(f"produces a rank-{len(shape)} tensor (at most 4 supported)")
        base = self.node_name + (f"/{suffix}" if suffix else "")
        name = self.fresh(out if out is not None else base)
        self.tensors[name] = Tensor(name, shape)
        self.nodes.append(Node(self._fresh_node(base), op, [i or "" for i in inputs], [name],
                               dict(attrs), source_op=self.source_op))
        return name

    def shape(self, name: str) -> tuple[int, ...]:
        return self.tensors[name].shape

    def rename(self, old: str, new: str) -> None:
        t = self.tensors.pop(old)
        t.name = new
        self.tensors[new] = t
        for n in self.nodes:
            n.inputs = [new if i == old else i for i in n.inputs]
            n.outputs = [new if o == old else o for o in n.outputs]
        self._layouts = {k: (new if v == old else v) for k, v in self._layouts.items()}

    # layout --------------------------------------------------------------------------------
    def reshape(self, src: str, shape, out: str | None = None, suffix: str = "reshape") -> str:
        shape = tuple(int(d) for d in shape)
        if self.shape(src) == shape:
            return src
        return self.emit(Op.RESHAPE, [src], {"shape": shape}, out, suffix)

    def need(self, v: Dyn, perm) -> str:
        """The IR tensor holding ``v`` with its logical axes in physical order ``perm``."""
        perm = tuple(int(p) for p in perm)
        if perm == v.perm:
            return v.name
        where = {a: i for i, a in enumerate(v.perm)}
        rel = tuple(where[a] for a in perm)
        target = tuple(v.shape[a] for a in perm)
        key = (v.name, rel, target)
        if key not in self._layouts:
            saved = self.node_name
            self.node_name = f"{v.name}/perm{''.join(map(str, perm))}"
            if moves_only_ones(v.phys, rel):
                t = self.emit(Op.RESHAPE, [v.name], {"shape": target})
            else:
                t = self.emit(Op.TRANSPOSE, [v.name], {"perm": rel})
            self.node_name = saved
            self._layouts[key] = t
        return self._layouts[key]

    def pad_rank(self, v: Dyn, rank: int) -> Dyn:
        """``v`` with leading size-1 logical axes up to ``rank`` (free: same physical order)."""
        k = rank - v.rank
        if k <= 0:
            return v
        perm = identity(k) + tuple(p + k for p in v.perm)
        shape = (1,) * k + v.shape
        return Dyn(self.reshape(v.name, tuple(shape[p] for p in perm)), shape, perm)

    def view(self, v: Dyn, shape, out: str | None = None) -> Dyn:
        """Reshape ``v`` to a new logical shape, keeping the physical order when possible."""
        shape = tuple(int(d) for d in shape)
        if shape == v.shape and out is None:
            return v
        phys_big = [p for p in v.perm if v.shape[p] != 1]
        row_major = phys_big == sorted(phys_big)
        if row_major or [d for d in v.shape if d != 1] != [d for d in shape if d != 1]:
            src = v.name if row_major else self.need(v, identity(v.rank))
            return Dyn(self.reshape(src, shape, out), shape, identity(len(shape)))
        # only size-1 axes appear or vanish: keep the physical order of the non-1 axes
        old_big = [a for a in range(v.rank) if v.shape[a] != 1]
        new_big = [a for a in range(len(shape)) if shape[a] != 1]
        mapping = dict(zip(old_big, new_big))
        ones = [a for a in range(len(shape)) if shape[a] == 1]
        perm = tuple(ones) + tuple(mapping[p] for p in phys_big)
        return Dyn(self.reshape(v.name, tuple(shape[p] for p in perm), out), shape, perm)
