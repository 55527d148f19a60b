"""ONNX import: a float ONNX model (PyTorch NCHW or tf2onnx NHWC, opsets 7..25) -> float NHWC Graph.

The walk goes through the nodes once, in order (twice with channels_last_input).  Each ONNX tensor
becomes either a constant (initializers, Constant nodes and every node whose inputs are all
constant, folded here), or a ``Dyn``: an IR tensor plus its layout (see layout.py).  Converters
(convert.py) emit IR nodes.  Nodes that cannot be converted, including those behind another
unsupported node (probed on stand-in inputs), are collected and reported together in one ModelError.
Canonicalization (BN folding, activation fusion, reshape chains) is left to passes/canonical.py.
"""
from __future__ import annotations

import logging
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import ModelError
from ..ir import Graph, Op
from . import loader
from .convert import CONVERTERS, Ctx
from .fold import NUMPY, attributes, fold
from .layout import Builder, Dyn, Unsupported, channels_last, identity

log = logging.getLogger("edgecompile.onnx_import")


class _Bad:
    """Placeholder for the outputs of an unsupported node (shape from ONNX inference, if any)."""

    def __init__(self, shape):
        self.shape = shape


def load_onnx(model, name: str | None = None, channels_last_input: bool = False) -> Graph:
    """Import an ONNX model (a path or a ModelProto) into a float NHWC Graph (not canonicalized).

    ``channels_last_input``: every input the model would first transpose from N, C, spatial... to
    channels-last is instead taken channels-last (its IR tensor, and so the C API, has shape
    [N, spatial..., C]) and the transpose disappears.  Inputs already consumed in their declared
    layout (tf2onnx's NHWC) stay as declared.  g.meta["input_layouts"] maps each moved input to the
    permutation from its declared layout; data loaders apply it (data.input_arrays).
    """
    m, source, sha = loader.read(model)
    opset = loader.opset_of(m, source)
    input_shapes = loader.fix_batch(m, source)
    inferred = loader.infer_shapes(m)
    b, graph_in, graph_out = _walk(m, opset, inferred, source)
    layouts = {}
    if channels_last_input:
        moved = {n.inputs[0] for n in b.nodes if n.op == Op.TRANSPOSE
                 and n.attrs["perm"] == channels_last(len(n.attrs["perm"]))}
        layouts = {i: channels_last(len(b.shape(i))) for i in graph_in if i in moved}
        if layouts:
            b, graph_in, graph_out = _walk(m, opset, inferred, source, layouts)
        else:
            warnings.warn(f"{source}: channels-last input requested, but no input needs a transpose to "
                          f"channels-last (the inputs keep their declared layout)", stacklevel=2)
    if name is None:
        name = (m.graph.name or "model") if isinstance(model, onnx.ModelProto) else Path(model).stem
    g = Graph(name, b.tensors, b.nodes, graph_in, graph_out)
    g.meta = {"source": source, "sha256": sha, "opset": opset,
              "producer": f"{m.producer_name} {m.producer_version}".strip(),
              "input_shapes": input_shapes, "input_layouts": layouts,
              "output_shapes": {o: g.tensors[o].shape for o in graph_out}}
    return g.prune_unused()


def _walk(m: onnx.ModelProto, opset: int, inferred: dict, source: str, layouts: dict | None = None):
    b = Builder()
    env: dict[str, object] = {}
    for t in m.graph.initializer:
        env[t.name] = numpy_helper.to_array(t)
    graph_in = []
    for vi in loader.real_inputs(m):
        dims = tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)
        if len(dims) > 4:
            raise ModelError(f"{source}: input {vi.name!r} has rank {len(dims)} (at most 4 supported)")
        env[vi.name] = b.add_input(vi.name, dims, (layouts or {}).get(vi.name))
        graph_in.append(vi.name)
    used = {i for n in m.graph.node for i in n.input} | {o.name for o in m.graph.output}
    opsets = list(m.opset_import)
    problems: list[tuple[str, str, str]] = []           # (node name, op type, reason)

    for idx, node in enumerate(m.graph.node):
        nname = node.name or f"{node.op_type}_{idx}"
        b.node_name, b.source_op = nname, node.op_type
        for i in node.input:
            if i and i not in env:
                raise ModelError(f"{source}: node {nname!r} ({node.op_type}) reads {i!r}, which is not "
                                 f"produced before it (graph not topologically sorted?)")
        ins = [env[i] if i else None for i in node.input]
        if node.op_type == "Shape" and isinstance(ins[0], _Bad) and ins[0].shape and None not in ins[0].shape:
            ins = [np.zeros(ins[0].shape, np.float32)]
        known = node.domain in ("", "ai.onnx") and node.op_type in CONVERTERS
        try:
            if any(isinstance(v, _Bad) for v in ins):
                outs = None                       # behind an unsupported node: reported if unsupported itself
                if not known and node.op_type not in NUMPY:
                    raise Unsupported("")
                if known:
                    _probe(node, ins, opset)
            elif all(not isinstance(v, Dyn) for v in ins):
                outs = fold(node, ins, opsets)
            elif _reads_only_shapes(node, ins):
                outs = fold(node, [np.zeros(v.shape, np.float32) if isinstance(v, Dyn) else v for v in ins], opsets)
            elif known:
                c = Ctx(opset, node.op_type, list(node.input), node.output[0])
                extra = [o for o in node.output[1:] if o and o in used]
                if extra:
                    raise Unsupported(f"uses the extra output(s) {extra}")
                outs = [CONVERTERS[node.op_type](b, ins, attributes(node), c)]
                _check_shape(outs[0], inferred.get(node.output[0]), nname)
            else:
                raise Unsupported("")
        except Unsupported as e:
            problems.append((nname, node.op_type if not node.domain else f"{node.domain}.{node.op_type}",
                             str(e)))
            outs = None
        except Exception as e:  # a constant the folder could not evaluate, or a malformed node
            log.debug("node %s (%s) failed", nname, node.op_type, exc_info=True)
            problems.append((nname, node.op_type, f"{type(e).__name__}: {e}"))
            outs = None
        if outs is None:
            outs = [_Bad(inferred.get(o)) for o in node.output]
        for o, v in zip(node.output, outs):
            if o:
                env[o] = v

    graph_out = []
    for vi in m.graph.output:
        v = env.get(vi.name)
        if isinstance(v, _Bad):
            continue
        if not isinstance(v, Dyn):
            problems.append((vi.name, "output", "graph output is a constant"))
            continue
        graph_out.append(_finish_output(b, v, vi.name, graph_in, graph_out))
    if problems:
        raise ModelError(_report(source, problems))
    return b, graph_in, graph_out


# ops that read only the shape (and float32 type) of the inputs at these positions
SHAPE_READERS = {"Shape": {0}, "Size": {0}, "CastLike": {1}}


def _reads_only_shapes(node: onnx.NodeProto, ins: list) -> bool:
    """True if every computed input of ``node`` is one whose values it ignores (constant result)."""
    pos = SHAPE_READERS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
    return pos is not None and all(i in pos for i, v in enumerate(ins) if isinstance(v, Dyn))


def _probe(node: onnx.NodeProto, ins: list, opset: int) -> None:
    """Convert a node that sits behind an unsupported one on stand-in inputs (ONNX-inferred shapes),
    in a scratch builder, so that its own problems are reported too: raises Unsupported."""
    if any(isinstance(v, _Bad) and (not v.shape or None in v.shape) for v in ins):
        return
    scratch = Builder()
    stand = [scratch.add_input(f"in{i}", v.shape) if isinstance(v, _Bad) else v for i, v in enumerate(ins)]
    c = Ctx(opset, node.op_type, list(node.input), node.output[0])
    try:
        CONVERTERS[node.op_type](scratch, stand, attributes(node), c)
    except Unsupported:
        raise
    except Exception:  # noqa: BLE001 - a stand-in the converter cannot digest says nothing about the node
        log.debug("probe of %s (%s) failed", node.name, node.op_type, exc_info=True)


def _check_shape(v, want, nname):
    if isinstance(v, Dyn) and want and None not in want and tuple(want) != v.shape:
        log.debug("node %s: ONNX shape inference says %s, the importer computed %s", nname, want, v.shape)


def _finish_output(b: Builder, v: Dyn, name: str, graph_in: list, done: list) -> str:
    """The graph output in logical (row-major) order, in a tensor named after the ONNX output."""
    b.node_name, b.source_op = f"{name}/output", "Output"
    t = b.need(v, identity(v.rank))
    if t == name:
        return name
    if name in b.tensors:                     # the ONNX name holds another layout: move it aside
        b.rename(name, b.fresh(f"{name}/phys"))
    if t in graph_in or t in done:
        return b.emit(Op.RESHAPE, [t], {"shape": b.shape(t)}, name)
    b.rename(t, name)
    return name


def _report(source: str, problems: list) -> str:
    counts = Counter(op for _, op, _ in problems)
    kinds = ", ".join(f"{op} x{k}" if k > 1 else op for op, k in counts.items())
    items = "; ".join(f"{name!r} ({op}{': ' + why if why else ''})" for name, op, why in problems)
    return (f"{source}: {len(problems)} node(s) cannot be imported [{kinds}]: {items}")
