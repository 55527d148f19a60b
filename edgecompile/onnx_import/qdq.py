"""Pre-quantized ONNX import: QDQ graphs (QuantizeLinear / DequantizeLinear around float ops, as
written by onnxruntime's quantize_static and by tf2onnx from int8 TFLite) and QOperator graphs
(QLinearConv, QGemm, ...), keeping every scale and zero point as given (like tflite_import).

Design: the float importer does what it already knows (NCHW -> NHWC layout, op mapping, window
geometry, Relu fusion) and the quantization rides along as annotations.
1. ``to_qdq``: each QOperator node becomes DequantizeLinear -> float op -> QuantizeLinear with the
   same parameters (QLinearConv's bias: scale s_x * s_w, as the op defines it).  Nodes without such
   a form are refused together in one ModelError naming each.
2. ``strip``: a DequantizeLinear of a constant becomes a float initializer (its exact dequantized
   float32 values) and its integers, scale, zero point and axis are recorded; a QuantizeLinear or
   DequantizeLinear of a computed tensor becomes an ``EcQuantMark`` node carrying (scale, zero
   point).  int8 / uint8 graph inputs and outputs are declared float.  uint8 becomes int8 with
   zero point - 128, which is exact (same real values, same clamp bounds); weights must fit
   symmetric int8 once their zero point is removed.  Nodes reading the integers themselves
   (tf2onnx's Reshape / Transpose between Q and DQ) may only move data; a Pad there pads with the
   real value of its integer.
3. ``load_onnx`` imports that float model; the EcQuantMark converter puts the QParams on the IR
   tensor that holds the data, whatever layout the importer chose, and emits nothing; a mark the
   importer folds (on a constant subgraph) rounds that constant onto its int8 grid.
   ``_spread_marks`` spreads them over the importer's own layout reshapes and transposes.
4. Canonicalization without fold_bn (folding rescales weights, which must stay the file's
   integers): fold_reshape, fold_pad, fuse_activation.  A Relu / Clip is fused only when it ends in
   the producer's QuantizeLinear (a Relu quantized on both sides differently has no TFLM form).
5. ``_finish``: MatMul + Add(int32 bias) merge into one FullyConnected; weights go back to their
   integers (value / scale along the output-channel axis, checked to reproduce every float exactly);
   biases take their recorded int32 values (requantized exactly, or refused, when the file's bias
   scale is not s_in * s_w); tensors the file leaves implicit (layout reshapes and transposes, max
   pool, pad) inherit their neighbour's quantization; anything TFLM cannot compute is refused by node.
The result is a quantized Graph like tflite_import's: compile_model runs only lower and plan_memory.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import ModelError
from ..ir import Graph, Op, QParams, verify
from ..ops import REGISTRY
from . import loader
from .convert import CONVERTERS
from .fold import NUMPY
from .layout import Dyn, Unsupported

MARK = "EcQuantMark"
INT_TYPES = {TensorProto.INT8: "int8", TensorProto.UINT8: "uint8"}
# QOperator op -> (float op, [(x, scale, zp) input triples], (y scale, y zp) positions, extra float inputs)
QOPS = {
    "QLinearConv": ("Conv", [(0, 1, 2), (3, 4, 5)], (6, 7)),
    "QLinearMatMul": ("MatMul", [(0, 1, 2), (3, 4, 5)], (6, 7)),
    "QLinearAdd": ("Add", [(0, 1, 2), (3, 4, 5)], (6, 7)),
    "QGemm": ("Gemm", [(0, 1, 2), (3, 4, 5)], (7, 8)),
    "QLinearAveragePool": ("AveragePool", [(0, 1, 2)], (3, 4)),
    "QLinearGlobalAveragePool": ("GlobalAveragePool", [(0, 1, 2)], (3, 4)),
    "QLinearSigmoid": ("Sigmoid", [(0, 1, 2)], (3, 4)),
    "QLinearSoftmax": ("Softmax", [(0, 1, 2)], (3, 4)),
    "QLinearConcat": ("Concat", None, (0, 1)),
}
FLOAT_ATTRS = {"Conv": {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"},
               "Gemm": {"alpha", "transA", "transB"}, "Softmax": {"axis"}, "Concat": {"axis"},
               "AveragePool": {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"}}
SAME = {Op.RESHAPE, Op.TRANSPOSE, Op.MAX_POOL2D, Op.AVG_POOL2D, Op.PAD, Op.CLAMP, Op.CONCAT}


def is_prequantized(model) -> bool:
    """True for an ONNX model (path or ModelProto) holding QuantizeLinear/DequantizeLinear or
    QOperator nodes; False for anything else (including unreadable files)."""
    try:
        m = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model), load_external_data=False)
    except Exception:  # noqa: BLE001 - not ONNX: the normal importer reports it
        return False
    return any(n.op_type in ("QuantizeLinear", "DequantizeLinear") or n.op_type in QOPS
               or n.op_type.startswith("QLinear") for n in m.graph.node)


@dataclass
class Const:
    """A DequantizeLinear'd constant: int8-domain integers, float32 scale, zero point, axis."""
    ints: np.ndarray | None            # None for a folded quantized constant (recovered on use)
    scale: np.ndarray
    zp: np.ndarray
    axis: int | None
    dtype: str


# ---------------------------------------------------------------- 1. QOperator -> QDQ
def to_qdq(m: onnx.ModelProto, source: str) -> str:
    """Rewrite QOperator nodes in place; returns "qoperator" if there were any, else "qdq"."""
    nodes, bad, fmt = [], [], "qdq"
    for k, n in enumerate(m.graph.node):
        name = n.name or f"{n.op_type}_{k}"
        if n.op_type not in QOPS:
            if n.op_type.startswith("QLinear") or n.op_type in ("QAttention", "DynamicQuantizeLinear",
                                                                "MatMulInteger", "ConvInteger", "QEmbedLayerNorm"):
                bad.append(f"{name!r} ({n.op_type})")
            nodes.append(n)
            continue
        fmt = "qoperator"
        op, triples, (ys, yz) = QOPS[n.op_type]
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        ins = list(n.input)
        if n.op_type == "QLinearConcat":
            triples = [(i, i + 1, i + 2) for i in range(2, len(ins), 3)]
        why = _qop_problem(n.op_type, attrs, ins, ys)
        if why:
            bad.append(f"{name!r} ({n.op_type}: {why})")
            nodes.append(n)
            continue
        xs = []
        w_axis = {"Conv": 0, "Gemm": 0 if int(attrs.get("transB", 0)) else 1, "MatMul": 1}.get(op)
        for j, (x, s, z) in enumerate(triples):
            xs.append(f"{name}/in{j}")
            nodes.append(helper.make_node("DequantizeLinear", [ins[x], ins[s], ins[z]], [xs[-1]], name=f"{name}/dq{j}",
                                          **({"axis": w_axis} if j == 1 and w_axis is not None else {})))
        b = {"Conv": 8, "Gemm": 6}.get(op)
        if b is not None and len(ins) > b and ins[b]:
            xs.append(_bias(m, ins, b, name, nodes))
        keep = {k: v for k, v in attrs.items() if k in FLOAT_ATTRS.get(op, set())}
        nodes.append(helper.make_node(op, xs, [f"{name}/out"], name=name, **keep))
        nodes.append(helper.make_node("QuantizeLinear", [f"{name}/out", ins[ys], ins[yz]], list(n.output),
                                      name=f"{name}/q"))
    if bad:
        raise ModelError(f"{source}: {len(bad)} quantized node(s) have no int8 TFLM equivalent: "
                         f"{'; '.join(bad)} (supported QOperator ops: {', '.join(QOPS)})")
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    return fmt


def _qop_problem(op: str, attrs: dict, ins: list, ys: int) -> str:
    if attrs.get("channels_last", 0):
        return "channels_last=1"
    if len(ins) <= ys + 1 or not ins[ys]:
        return "float output (no output scale)"
    if op == "QLinearSoftmax" and int(attrs.get("opset", 13)) < 13 and int(attrs.get("axis", 1)) != -1:
        return "opset<13 softmax over a flattened block"
    return ""


def _bias(m: onnx.ModelProto, ins: list, b: int, name: str, nodes: list) -> str:
    """DequantizeLinear of the int32 bias with scale s_x * s_w (a new initializer)."""
    inits = {t.name: t for t in m.graph.initializer}
    sx = numpy_helper.to_array(inits[ins[1]]).astype(np.float32)
    sw = numpy_helper.to_array(inits[ins[4]]).astype(np.float32)
    s = (sx * sw).astype(np.float32).reshape(-1)
    sname, zname = f"{name}/bias_scale", f"{name}/bias_zp"
    m.graph.initializer.extend([numpy_helper.from_array(s, sname),
                                numpy_helper.from_array(np.zeros(s.shape, np.int32), zname)])
    out = f"{name}/bias"
    nodes.append(helper.make_node("DequantizeLinear", [ins[b], sname, zname], [out], name=f"{name}/dqb",
                                  **({"axis": 0} if s.size > 1 else {})))
    return out


# ---------------------------------------------------------------- 2. QDQ -> float model with marks
def _qparams(s: np.ndarray, z: np.ndarray | None, zdtype: str, what: str, source: str):
    """(float32 scale, int8-domain zero point) of a Q/DQ node; uint8 shifted by -128."""
    s = np.asarray(s, np.float32).reshape(-1)
    z = np.zeros(s.shape, np.int64) if z is None else np.asarray(z, np.int64).reshape(-1)
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ModelError(f"{source}: {what}: scale must be positive and finite")
    return s, z - (128 if zdtype == "uint8" else 0)


def strip(m: onnx.ModelProto, source: str):
    """(float model with EcQuantMark nodes, {initializer name: Const}, {input: int type})."""
    consts = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "Constant" and not n.input and n.attribute and n.attribute[0].name == "value":
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    recs, nodes, drop = {}, [], set()
    int_inputs = {}
    for vi in loader.real_inputs(m):
        et = vi.type.tensor_type.elem_type
        if et in INT_TYPES:
            int_inputs[vi.name] = INT_TYPES[et]
            vi.type.tensor_type.elem_type = TensorProto.FLOAT
    ints = {i: None for i in int_inputs}       # integer tensors -> (scale, zero point) when known
    for k, n in enumerate(m.graph.node):
        name = n.name or f"{n.op_type}_{k}"
        if n.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            nodes.append(_int_domain(n, name, ints, m, source))
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        what = f"node {name!r} ({n.op_type})"
        if attrs.get("block_size"):
            raise ModelError(f"{source}: {what}: blocked quantization (block_size) is not supported")
        if len(n.input) < 2 or n.input[1] not in consts or (len(n.input) > 2 and n.input[2] and n.input[2] not in consts):
            raise ModelError(f"{source}: {what}: scale and zero point must be constants")
        s = consts[n.input[1]]
        z = consts[n.input[2]] if len(n.input) > 2 and n.input[2] else None
        zt = str(z.dtype) if z is not None else ("int32" if n.input[0] in consts and consts[n.input[0]].dtype == np.int32
                                                 else "uint8")
        if zt not in ("int8", "uint8") and not (zt == "int32" and n.op_type == "DequantizeLinear"):
            raise ModelError(f"{source}: {what} uses {zt} quantization; only int8 and uint8 "
                             "(int32 for biases) can run on TFLM's int8 kernels")
        s, z = _qparams(s, z, zt, what, source)
        axis = attrs.get("axis", 1) if s.size > 1 else None
        x = n.input[0]
        if x in consts and n.op_type == "DequantizeLinear":        # a weight, bias or other constant
            q = consts[x].astype(np.int64) - (128 if zt == "uint8" else 0)
            shape = [1] * q.ndim
            if axis is not None:
                shape[axis % q.ndim] = -1
            d = q - z.reshape(shape)
            f = (d.astype(np.float32) * s.reshape(shape)).astype(np.float32) if zt != "int32" else \
                (d.astype(np.float64) * s.reshape(shape)).astype(np.float32)
            m.graph.initializer.append(numpy_helper.from_array(f, n.output[0]))
            recs[n.output[0]] = Const(q, s, z, None if axis is None else axis % q.ndim, zt)
            drop.add(x)
            continue
        if x in consts:                                             # Q of a constant: quantize it here
            raise ModelError(f"{source}: {what} quantizes the constant {x!r}; store it quantized (int8) instead")
        if s.size > 1:
            raise ModelError(f"{source}: {what}: per-axis quantization of an activation is not supported")
        nodes.append(helper.make_node(MARK, [x], [n.output[0]], name=name, scale=float(s[0]), zero_point=int(z[0])))
        recs.setdefault(n.output[0], Const(None, s, z, None, "int8"))     # read if it folds to a constant
        if n.op_type == "QuantizeLinear":
            ints[n.output[0]] = (float(s[0]), int(z[0]))
        elif x in ints and ints[x] is None:
            ints[x] = (float(s[0]), int(z[0]))
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    used = {i for n in nodes for i in n.input}
    keep = [t for t in m.graph.initializer if t.name in used or t.name in recs]
    del m.graph.initializer[:]
    m.graph.initializer.extend(keep)
    gone = drop - {t.name for t in keep}
    vis = [vi for vi in m.graph.input if vi.name not in gone]
    del m.graph.input[:]
    m.graph.input.extend(vis)
    for vi in m.graph.output:
        if vi.type.tensor_type.elem_type in INT_TYPES:
            vi.type.tensor_type.elem_type = TensorProto.FLOAT
    return m, recs, int_inputs


INT_SAFE = {"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Identity", "MaxPool", "Concat", "Shape",
            "Size"}


def _int_domain(n: onnx.NodeProto, name: str, ints: dict, m: onnx.ModelProto, source: str) -> onnx.NodeProto:
    """A node reading quantized integers (between QuantizeLinear and DequantizeLinear) must only move
    them (then it computes the same on the real values); a Pad's integer constant becomes real."""
    src = [i for i in n.input if i in ints]
    if not src:
        return n
    if n.op_type not in INT_SAFE | {"Pad"}:
        raise ModelError(f"{source}: node {name!r} ({n.op_type}) computes on quantized integers directly; "
                         "only data movement (Reshape, Transpose, MaxPool, Concat, Pad, ...) is supported there")
    if n.op_type == "Pad":
        q = ints[n.input[0]]
        if q is None:
            raise ModelError(f"{source}: node {name!r} (Pad) pads integers of unknown quantization")
        consts = {t.name: t for t in m.graph.initializer}
        v = 0
        if len(n.input) > 2 and n.input[2]:
            if n.input[2] not in consts:
                raise ModelError(f"{source}: node {name!r} (Pad): constant_value must be a constant")
            c = numpy_helper.to_array(consts[n.input[2]])
            v = int(c.reshape(-1)[0]) - (128 if c.dtype == np.uint8 else 0)
        real = numpy_helper.from_array(np.float32((v - q[1]) * q[0]), f"{name}/value")
        m.graph.initializer.append(real)
        ins = list(n.input) + [""] * (3 - len(n.input))
        ins[2] = real.name
        n = helper.make_node("Pad", ins, list(n.output), name=n.name,
                             **{a.name: helper.get_attribute_value(a) for a in n.attribute})
    for o in n.output:
        ints[o] = ints[src[0]]
    return n


def _mark(b, ins, a, c):
    """EcQuantMark: the quantization goes on the IR tensor holding the data (any layout); no node."""
    x = ins[0]
    if not isinstance(x, Dyn):
        raise Unsupported("quantizes a constant")
    q, t = QParams.make(np.float32(a["scale"]), int(a["zero_point"])), b.tensors[x.name]
    if t.q is not None and not t.q.same(q):
        raise Unsupported(f"a QuantizeLinear/DequantizeLinear pair requantizes from (scale {t.q.s}, zero point "
                          f"{t.q.zp}) to ({q.s}, {q.zp}); TFLM has no such op")
    b.tensors[x.name] = dataclasses.replace(t, q=q)
    return x


def _fake_quant(ins, a):
    """A mark on a constant (computed from constants): the constant rounded onto its int8 grid."""
    s, z = np.float32(a["scale"]), int(a["zero_point"])
    q = np.clip(np.rint(np.asarray(ins[0], np.float64) / np.float64(s)) + z, -128, 127)
    return ((q - z).astype(np.float32) * s).astype(np.float32)


CONVERTERS[MARK] = _mark
NUMPY[MARK] = _fake_quant


# ---------------------------------------------------------------- 3-5. import, annotate, finish
def load_qdq(model, name: str | None = None, channels_last_input: bool = False) -> Graph:
    """Import a QDQ or QOperator ONNX model (path or ModelProto) into a quantized NHWC Graph."""
    from ..passes import run_pipeline
    from ..passes.fold_pad import fold_pad
    from ..passes.fold_reshape import fold_reshape
    from ..passes.fuse_activation import fuse_activation
    from . import load_onnx
    m, source, sha = loader.read(model)
    fmt = to_qdq(m, source)
    m, recs, int_inputs = strip(m, source)
    m.graph.name = source                       # the float importer's messages name the file
    g = load_onnx(m, channels_last_input=channels_last_input)
    g = _spread_marks(g, source)
    g = run_pipeline(g, [fold_reshape, fold_pad, fuse_activation, fold_reshape])
    g = _finish(g, recs, source)
    g.name = name or (Path(model).stem if not isinstance(model, onnx.ModelProto) else "model")
    per_channel = any(r.scale.size > 1 for r in recs.values() if r.dtype != "int32" and r.ints is not None)
    g.meta.update(source=source, sha256=sha, format=f"onnx-{fmt}", int_inputs=int_inputs,
                  quantized={"method": f"onnx-{fmt}", "per_channel": per_channel, "samples": 0})
    if not isinstance(model, onnx.ModelProto):
        g.meta["source_name"] = Path(model).name
    verify(g)
    return g


def _spread_marks(g: Graph, source: str) -> Graph:
    """Spread the marks' quantization to the importer's layout reshapes and transposes; refuse a
    Relu / Clip / Pad quantized differently on its two sides."""
    g = g.copy()
    _propagate(g)                               # before canonicalization drops annotated tensors
    for n in g.nodes:
        x, y = (g.tensors[n.inputs[0]] if n.inputs else None), g.tensors[n.outputs[0]]
        if n.op in (Op.CLAMP, Op.PAD) and x.q is not None and y.q is not None and not x.q.same(y.q):
            raise ModelError(f"{source}: node {n.name!r} ({n.source_op}) has different input and output "
                             "quantization; TFLM's int8 kernels cannot requantize in this op")
    return g


def _lookup(recs: dict, name: str) -> Const | None:
    """The record of an IR constant: its name, or the DequantizeLinear output it was made from
    (the importer appends "/nhwc" to re-ordered FC weights and "_N" to names already taken)."""
    for cand in (name, name.rsplit("/", 1)[0], name.rsplit("_", 1)[0]):
        if cand in recs:
            return recs[cand]
    return None


def _fold_bias_add(g: Graph, recs: dict) -> None:
    """FullyConnected (no bias) -> Add(int32 constant) becomes one FullyConnected with that bias."""
    cons = g.consumers()
    for fc in [n for n in g.nodes if n.op == Op.FULLY_CONNECTED]:
        y = fc.outputs[0]
        if (len(fc.inputs) > 2 and fc.inputs[2]) or y in g.outputs or len(cons.get(y, [])) != 1:
            continue
        add = cons[y][0]
        if add.op != Op.ADD or g.tensors[y].q is not None:
            continue
        other = next(i for i in add.inputs if i != y) if add.inputs.count(y) == 1 else None
        rec = _lookup(recs, other) if other else None
        o = g.tensors[fc.inputs[1]].shape[0]
        if rec is None or rec.dtype != "int32" or rec.ints.size != o:
            continue
        t = g.tensors[other]
        g.tensors[other] = dataclasses.replace(t, shape=(o,), data=t.data.reshape(o))
        fc.inputs = fc.inputs[:2] + [other]
        fc.attrs.update({k: v for k, v in add.attrs.items() if k in ("act_min", "act_max")})
        g.tensors.pop(y)
        fc.outputs = list(add.outputs)
        g.nodes.remove(add)


def _finish(g: Graph, recs: dict, source: str) -> Graph:
    g = g.copy()
    _fold_bias_add(g, recs)
    done = set()
    for n in g.nodes:                           # constants back to their integers
        spec = REGISTRY[n.op]
        for idx, name in enumerate(n.inputs):
            if not name or not g.tensors[name].is_const or name in done:
                continue
            if idx == spec.bias:
                continue
            g.tensors[name] = _int_const(g, n, name, spec.weights.get(idx), _lookup(recs, name), source)
            done.add(name)
    _propagate(g)
    for n in g.nodes:
        spec = REGISTRY[n.op]
        if spec.bias is not None and len(n.inputs) > spec.bias and n.inputs[spec.bias]:
            b = n.inputs[spec.bias]
            g.tensors[b] = _int_bias(g, n, b, _lookup(recs, b), source)
    problems = []
    for n in g.nodes:
        y, x = g.tensors[n.outputs[0]], g.tensors[n.inputs[0]]
        if y.q is None or x.q is None:
            t = y if y.q is None else x
            problems.append(f"{t.name!r} (around node {n.name!r}, {n.source_op}) has no quantization "
                            "(no QuantizeLinear/DequantizeLinear on it)")
            continue
        if n.op in SAME and not all(g.tensors[i].q.same(y.q) for i in n.inputs if i and not g.tensors[i].is_const):
            if n.op == Op.AVG_POOL2D and _is_global(g, n) and not any(k.startswith("act") for k in n.attrs):
                n.op, n.attrs = Op.MEAN, dict(keepdims=True)         # MEAN requantizes
                continue
            problems.append(f"node {n.name!r} ({n.source_op}) changes the quantization (input and output "
                            "scale / zero point differ); TFLM's int8 kernel for it cannot requantize")
        fixed = spec_fixed(n.op)
        if fixed and (y.q.zp != fixed[1] or not math.isclose(y.q.s, fixed[0], rel_tol=1e-6)):
            problems.append(f"node {n.name!r} ({n.source_op}): TFLM's int8 kernel needs the output quantized "
                            f"with scale {fixed[0]}, zero point {fixed[1]}; the file has ({y.q.s}, {y.q.zp})")
        elif fixed:
            g.tensors[y.name] = dataclasses.replace(y, q=QParams.make(fixed[0], fixed[1]))
    if problems:
        raise ModelError(f"{source}: " + "; ".join(problems))
    for k, t in g.tensors.items():
        if not t.is_const:
            g.tensors[k] = dataclasses.replace(t, dtype="int8")
    return g


def spec_fixed(op: Op):
    fixed = REGISTRY[op].out_quant
    return fixed if isinstance(fixed, tuple) else None


def _is_global(g: Graph, n) -> bool:
    x = g.tensors[n.inputs[0]]
    return (tuple(n.attrs["kernel"]) == tuple(x.shape[1:3]) and not any(n.attrs.get("pads", ()))
            and g.tensors[n.outputs[0]].shape[1:3] == (1, 1))


def _propagate(g: Graph) -> None:
    """Give the tensors the file leaves implicit the quantization of their data-movement neighbour."""
    changed = True
    while changed:
        changed = False
        for n in g.nodes:
            ins = [g.tensors[i] for i in n.inputs if i and not g.tensors[i].is_const]
            y = g.tensors[n.outputs[0]]
            fixed = spec_fixed(n.op)
            if y.q is None and fixed:
                g.tensors[y.name] = dataclasses.replace(y, q=QParams.make(*fixed))
                changed = True
            if n.op not in SAME or not ins:
                continue
            if y.q is None and ins[0].q is not None:
                g.tensors[y.name] = dataclasses.replace(y, q=ins[0].q)
                changed = True
            elif y.q is not None:
                for x in ins:
                    if x.q is None:
                        g.tensors[x.name] = dataclasses.replace(x, q=y.q)
                        changed = True


def _int_const(g: Graph, n, name: str, axis: int | None, rec: Const | None, source: str):
    """The int8 form of a constant input: its recorded integers, recovered exactly from the floats."""
    t = g.tensors[name]
    what = f"node {n.name!r} ({n.source_op})"
    if rec is None or rec.dtype == "int32":
        raise ModelError(f"{source}: {what} cannot keep the file's quantization: its constant {name!r} is "
                         "not an int8 constant of the file (weights must be DequantizeLinear of int8 values; "
                         "Mul / Div / BatchNormalization by a constant have no int8 kernel)")
    s, z = rec.scale, rec.zp
    if s.size > 1:
        if axis is None or t.shape[axis] != s.size:
            raise ModelError(f"{source}: {what}: {name!r} is quantized per axis, but not along the output channels")
        shape = [1] * t.data.ndim
        shape[axis] = -1
        s, z = s.reshape(shape), z.reshape(shape)
    d = np.rint(t.data.astype(np.float64) / s.astype(np.float64))       # the integers minus zero point
    if not np.array_equal((d.astype(np.float32) * s).astype(np.float32), t.data):
        raise ModelError(f"{source}: {what}: the constant {name!r} was transformed on import and is no "
                         "longer its file integers")
    ints = d if axis is not None else d + z       # weights become symmetric: exact when they fit int8
    if ints.min(initial=0) < -128 or ints.max(initial=0) > 127:
        raise ModelError(f"{source}: {what}: {name!r} (zero point {rec.zp.tolist()[:4]}) does not fit int8"
                         + ("; TFLM's kernels need symmetric int8 weights" if axis is not None else ""))
    q = QParams.make(rec.scale, rec.zp.reshape(-1) if axis is None else 0, axis if rec.scale.size > 1 else None)
    return dataclasses.replace(t, dtype="int8", data=ints.astype(np.int8), q=q)


def _int_bias(g: Graph, n, name: str, rec: Const | None, source: str):
    """int32 bias with scale s_in * s_w.  The file's integers are kept when its bias scale equals that
    product up to float32 rounding (TFLM ignores the bias scale); otherwise they are requantized when
    that is exact, else refused."""
    t = g.tensors[name]
    what = f"node {n.name!r} ({n.source_op})"
    if rec is None or rec.dtype != "int32":
        raise ModelError(f"{source}: {what}: the bias {name!r} must be DequantizeLinear of int32 values")
    if g.tensors[n.inputs[0]].q is None:
        raise ModelError(f"{source}: {what}: its input {n.inputs[0]!r} has no quantization "
                         "(no QuantizeLinear/DequantizeLinear on it)")
    w = g.tensors[n.inputs[1]].q.scale.astype(np.float64)
    s_in = np.float64(g.tensors[n.inputs[0]].q.s)
    want = (s_in * w).astype(np.float32)
    o = t.shape[0]
    ints = rec.ints.reshape(-1).astype(np.int64) - rec.zp.reshape(-1)
    if ints.size != o:
        raise ModelError(f"{source}: {what}: bias {name!r} has {ints.size} values for {o} channels")
    ratio = np.broadcast_to(rec.scale.astype(np.float64), (o,)) / np.broadcast_to(want.astype(np.float64), (o,))
    if np.max(np.abs(ratio - 1.0)) > 2.0 ** -20:
        r = ints * ratio
        if np.max(np.abs(r - np.rint(r)), initial=0) > 1e-3 or np.max(np.abs(r), initial=0) >= 2 ** 31:
            raise ModelError(f"{source}: {what}: bias {name!r} has scale {rec.scale.tolist()[:4]}, not "
                             f"s_in * s_w = {want.tolist()[:4]}, and cannot be requantized exactly")
        ints = np.rint(r).astype(np.int64)
    q = QParams.make(want if want.size > 1 else want[:1], 0, 0 if want.size > 1 else None)
    return dataclasses.replace(t, shape=(o,), dtype="int32", data=ints.astype(np.int32), q=q)


def int_arrays_to_real(g: Graph, arrays: dict) -> dict:
    """Integer data for inputs the file declares int8 / uint8 (as the model consumes them) -> the
    real values the data loaders expect: (x - zero point) * scale, uint8 shifted to int8 first."""
    declared = g.meta.get("int_inputs") or {}
    data = [k for k in arrays if k not in ("y", "labels", "label", "files")]
    out = dict(arrays)
    for name, kind in declared.items():
        key = name if name in arrays else (data[0] if len(g.inputs) == 1 and len(data) == 1 else None)
        if key is None or arrays[key].dtype.kind not in "iu":
            continue
        q = g.tensors[name].q
        x = arrays[key].astype(np.int64) - (128 if kind == "uint8" else 0)
        out[key] = ((x - q.zp).astype(np.float32) * np.float32(q.s)).astype(np.float32)
    return out
