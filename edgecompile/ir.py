"""The intermediate representation: tensors, nodes and graphs, plus the op vocabulary.

Layout is channels-last (NHWC) everywhere inside the IR; the importer converts ONNX's NCHW at
the edges.  Constants live on tensors (``Tensor.data``); arrays are treated as immutable, so a
pass that changes a constant stores a new array.  ``Graph.copy()`` is cheap: new containers and
records, shared arrays.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum

import numpy as np


class Op(str, Enum):
    # compute
    CONV2D = "Conv2D"                    # weights [O, KH, KW, I/groups], groups >= 1
    DEPTHWISE_CONV2D = "DepthwiseConv2D"  # weights [1, KH, KW, C*multiplier]
    FULLY_CONNECTED = "FullyConnected"    # weights [O, I]
    # pooling and reduction
    MAX_POOL2D = "MaxPool2D"
    AVG_POOL2D = "AvgPool2D"
    MEAN = "Mean"                         # mean over spatial axes (GlobalAveragePool, ReduceMean)
    # elementwise
    ADD = "Add"
    CLAMP = "Clamp"                       # standalone Relu / Relu6 / Clip that could not be fused
    LOGISTIC = "Logistic"
    TANH = "Tanh"
    SOFTMAX = "Softmax"                   # over the last axis
    # data movement
    CONCAT = "Concat"
    PAD = "Pad"
    TRANSPOSE = "Transpose"
    # shape-only (free at run time)
    RESHAPE = "Reshape"

    def __str__(self) -> str:
        return self.value


WEIGHTED = {Op.CONV2D, Op.DEPTHWISE_CONV2D, Op.FULLY_CONNECTED}
POOL = {Op.MAX_POOL2D, Op.AVG_POOL2D}
LUT = {Op.LOGISTIC, Op.TANH}
SHAPE_ONLY = {Op.RESHAPE}
# ops that take a fused activation ({act_min, act_max} attrs in real units)
FUSABLE = WEIGHTED | POOL | {Op.ADD}


@dataclass
class QParams:
    """Affine quantization: real = (q - zero_point) * scale.  Per-tensor when ``axis`` is None."""
    scale: np.ndarray                 # float32, shape (1,) or (C,)
    zero_point: np.ndarray            # int32, same shape as scale
    axis: int | None = None

    @staticmethod
    def make(scale, zero_point=0, axis=None) -> "QParams":
        s = np.atleast_1d(np.asarray(scale, dtype=np.float32))
        z = np.atleast_1d(np.asarray(zero_point, dtype=np.int32))
        if z.size == 1 and s.size > 1:
            z = np.full(s.shape, int(z[0]), np.int32)
        return QParams(s, z, axis)

    @property
    def s(self) -> float:
        """The per-tensor scale as a Python float (float32 value)."""
        assert self.scale.size == 1, "per-channel QParams has no single scale"
        return float(self.scale[0])

    @property
    def zp(self) -> int:
        assert self.zero_point.size == 1, "per-channel QParams has no single zero point"
        return int(self.zero_point[0])

    def same(self, other: "QParams | None") -> bool:
        return (other is not None and self.axis == other.axis
                and np.array_equal(self.scale, other.scale)
                and np.array_equal(self.zero_point, other.zero_point))


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"            # "float32" | "int8" | "int32"
    data: np.ndarray | None = None    # constants only
    q: QParams | None = None

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize


@dataclass
class Node:
    name: str                         # the ONNX node name it came from (for messages and comments)
    op: Op
    inputs: list[str]                 # tensor names; "" marks an absent optional input
    outputs: list[str]                # every op in the vocabulary has exactly one output
    attrs: dict = field(default_factory=dict)
    kernel: str | None = None         # set by lower
    params: dict | None = None        # set by lower: every integer the kernel needs
    variant: str | None = None        # set by lower when a specialised kernel (OpSpec.variants) is used
    source_op: str = ""               # the ONNX op type it came from


@dataclass
class Graph:
    name: str
    tensors: dict[str, Tensor]
    nodes: list[Node]
    inputs: list[str]
    outputs: list[str]
    meta: dict = field(default_factory=dict)

    def copy(self) -> "Graph":
        return Graph(self.name,
                     {k: dataclasses.replace(t) for k, t in self.tensors.items()},
                     [dataclasses.replace(n, inputs=list(n.inputs), outputs=list(n.outputs),
                                          attrs=dict(n.attrs),
                                          params=None if n.params is None else dict(n.params))
                      for n in self.nodes],
                     list(self.inputs), list(self.outputs), dict(self.meta))

    def producer(self) -> dict[str, Node]:
        return {o: n for n in self.nodes for o in n.outputs}

    def consumers(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in n.inputs:
                if i:
                    out.setdefault(i, []).append(n)
        return out

    def node_inputs(self, node: Node) -> list[Tensor | None]:
        return [self.tensors[i] if i else None for i in node.inputs]

    def prune_unused(self) -> "Graph":
        """Drop nodes whose outputs nobody reads and tensors nobody references (in place)."""
        live = set(self.outputs)
        kept = []
        for n in reversed(self.nodes):
            if any(o in live for o in n.outputs):
                kept.append(n)
                live.update(i for i in n.inputs if i)
        self.nodes = kept[::-1]
        live.update(self.inputs)
        self.tensors = {k: t for k, t in self.tensors.items() if k in live}
        return self

    def summary(self) -> str:
        lines = [f"graph {self.name}: {len(self.nodes)} nodes, inputs {self.inputs}, outputs {self.outputs}"]
        for i, n in enumerate(self.nodes):
            shapes = ", ".join(str(self.tensors[o].shape) for o in n.outputs)
            k = f" -> {n.kernel}" if n.kernel else ""
            lines.append(f"  {i:3d} {n.op.value:16s} {n.name:30s} {shapes}{k}")
        return "\n".join(lines)


class GraphError(ValueError):
    """A graph that breaks an IR invariant (a bug in a pass or importer, not user input)."""


def verify(g: Graph, lowered: bool = False) -> None:
    """Check topological order, producers, shapes (via OpSpec.infer) and, after lower, params."""
    from .ops import REGISTRY
    known = set(g.inputs) | {k for k, t in g.tensors.items() if t.is_const}
    for name in known:
        if name not in g.tensors:
            raise GraphError(f"input {name!r} has no tensor record")
    for n in g.nodes:
        for i in n.inputs:
            if i and i not in known:
                raise GraphError(f"node {n.name} ({n.op}) reads {i!r} before it is produced")
        spec = REGISTRY[n.op]
        shapes = [g.tensors[i].shape if i else None for i in n.inputs]
        want = tuple(spec.infer(*shapes, **n.attrs))
        got = g.tensors[n.outputs[0]].shape
        if len(n.outputs) != 1 or want != got:
            raise GraphError(f"node {n.name} ({n.op}): stored output shapes {got} but infer gives {want}")
        if lowered and spec.kernel is not None and (n.kernel is None or n.params is None):
            raise GraphError(f"node {n.name} ({n.op}) was not lowered")
        for o in n.outputs:
            if o in known:
                raise GraphError(f"tensor {o!r} produced twice")
            known.add(o)
    for o in g.outputs:
        if o not in known:
            raise GraphError(f"graph output {o!r} is never produced")
