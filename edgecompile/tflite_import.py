"""TFLite import: a full-int8 .tflite flatbuffer -> an already-quantized NHWC Graph.

TFLite is channels-last with OHWI conv weights, [1, KH, KW, C*mult] depthwise weights and [O, I]
FC weights, exactly our IR, so tensors map one to one.  Every scale and zero point is kept as
stored (float32 scales, int32 zero points); constants keep their int8 / int32 data.  Fused
activations become real-valued ``act_min``/``act_max`` attrs, which ``_common.act_range`` turns
back into TFLM's clamp bounds.  The graph skips the quantize pass (compile_model runs only lower
and plan_memory).  ``dequantized(g)`` gives the float twin (constants dequantized) used for float
references and input handling.

Parsing uses the flatbuffer schema module shipped with the ``tflite-micro`` pip package (no
TensorFlow).
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
from pathlib import Path

import numpy as np

from .errors import ModelError
from .ir import Graph, Node, Op, QParams, Tensor

INF = math.inf
SUPPORTED = ("CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, "
             "SOFTMAX, LOGISTIC, TANH, RELU, RELU6, RELU_N1_TO_1, CONCATENATION, PAD, TRANSPOSE, "
             "RESHAPE, SQUEEZE")


def schema():
    """The TFLite flatbuffer schema module bundled with tflite-micro (clear error when missing)."""
    try:
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated
    except ImportError as e:          # pragma: no cover - depends on the environment
        raise ModelError("reading or writing .tflite needs the 'tflite-micro' package "
                         "(pip install 'edgecompile[tflite]')") from e
    return schema_py_generated


def is_tflite(model) -> bool:
    """True for a path ending in .tflite or a flatbuffer with the TFL3 identifier."""
    if isinstance(model, (bytes, bytearray)):
        return bytes(model[4:8]) == b"TFL3"
    try:
        p = Path(model)
    except TypeError:
        return False
    if p.suffix.lower() == ".tflite":
        return True
    try:
        with open(p, "rb") as f:
            return f.read(8)[4:8] == b"TFL3"
    except OSError:
        return False


def _act(code: int, sch) -> dict:
    A = sch.ActivationFunctionType
    if code == A.NONE:
        return {}
    if code == A.RELU:
        return dict(act_min=0.0, act_max=INF)
    if code == A.RELU6:
        return dict(act_min=0.0, act_max=6.0)
    if code == A.RELU_N1_TO_1:
        return dict(act_min=-1.0, act_max=1.0)
    raise ModelError(f"fused activation {code} is not supported (only NONE, RELU, RELU6, RELU_N1_TO_1)")


def _same_pads(size: int, k: int, stride: int, dilation: int, same: bool) -> tuple[int, int, int]:
    """(out, pad_before, pad_after) as TFLM's ComputePaddingHeightWidth."""
    eff = (k - 1) * dilation + 1
    out = (size + stride - 1) // stride if same else (size - eff + stride) // stride
    total = max((out - 1) * stride + eff - size, 0) if same else 0
    return out, total // 2, total - total // 2


def _window(opt, sch, x_shape, kh, kw, dil=(1, 1)) -> dict:
    same = opt.padding == sch.Padding.SAME
    sh, sw = int(opt.strideH), int(opt.strideW)
    _, pt, pb = _same_pads(x_shape[1], kh, sh, dil[0], same)
    _, pl, pr = _same_pads(x_shape[2], kw, sw, dil[1], same)
    return dict(strides=(sh, sw), pads=(pt, pl, pb, pr))


def _c_name(name: str, idx: int, used: set) -> str:
    n = name or f"t{idx}"
    if n in used:
        n = f"{n}_{idx}"
    used.add(n)
    return n


def load_tflite(model, name: str | None = None) -> Graph:
    """Import the first subgraph of an int8 .tflite file (path or bytes) into a quantized Graph."""
    sch = schema()
    buf = bytes(model) if isinstance(model, (bytes, bytearray)) else Path(model).read_bytes()
    source = "<bytes>" if isinstance(model, (bytes, bytearray)) else str(model)
    if buf[4:8] != b"TFL3":
        raise ModelError(f"{source}: not a TFLite flatbuffer (no TFL3 identifier)")
    m = sch.ModelT.InitFromPackedBuf(buf, 0)
    if len(m.subgraphs) != 1:
        raise ModelError(f"{source}: {len(m.subgraphs)} subgraphs; only single-subgraph models are supported")
    sg = m.subgraphs[0]
    op_names = {v: k for k, v in vars(sch.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k for k, v in vars(sch.TensorType).items() if not k.startswith("_")}

    used: set[str] = set()
    names = [_c_name(t.name.decode() if isinstance(t.name, bytes) else (t.name or ""), i, used)
             for i, t in enumerate(sg.tensors)]
    tensors: dict[str, Tensor] = {}

    def tensor(i: int, role: str = "act", axis_hint: int | None = None) -> str:
        """Create (once) the IR tensor for tflite tensor i and return its name."""
        nm = names[i]
        if nm in tensors:
            return nm
        t = sg.tensors[i]
        ttype = type_names.get(t.type, str(t.type))
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
        data = None
        b = m.buffers[t.buffer] if t.buffer < len(m.buffers) else None
        if b is not None and b.data is not None and len(b.data):
            dt = {"INT8": np.int8, "INT32": np.int32, "FLOAT32": np.float32, "INT64": np.int64}.get(ttype)
            if dt is None:
                raise ModelError(f"{source}: constant tensor {nm!r} has unsupported type {ttype}")
            data = np.frombuffer(np.asarray(b.data, np.uint8).tobytes(), dtype=dt).reshape(shape).copy()
        q = None
        qp = t.quantization
        if qp is not None and qp.scale is not None and len(qp.scale):
            scale = np.asarray(qp.scale, np.float32)
            zp = np.asarray(qp.zeroPoint if qp.zeroPoint is not None else [0] * len(scale), np.int64)
            axis = int(qp.quantizedDimension) if scale.size > 1 else None
            q = QParams.make(scale, zp.astype(np.int32), axis)
        if role == "act":
            if ttype != "INT8":
                raise ModelError(f"{source}: tensor {nm!r} is {ttype}; only full-int8 models are supported "
                                 "(int8 activations, inputs and outputs)")
            if q is None or q.scale.size != 1:
                raise ModelError(f"{source}: activation tensor {nm!r} needs per-tensor quantization")
        elif role == "weight":
            if ttype != "INT8" or q is None or np.any(q.zero_point != 0):
                raise ModelError(f"{source}: weight tensor {nm!r} must be int8 symmetric (got {ttype})")
            if q.scale.size > 1 and axis_hint is not None and q.axis != axis_hint:
                raise ModelError(f"{source}: weight tensor {nm!r} is quantized along axis {q.axis}, "
                                 f"expected {axis_hint}")
        elif role == "bias":
            if ttype != "INT32" or q is None:
                raise ModelError(f"{source}: bias tensor {nm!r} must be int32 and quantized (got {ttype})")
            if q.scale.size > 1:
                q = QParams(q.scale, q.zero_point, 0)
        tensors[nm] = Tensor(nm, shape, {"INT8": "int8", "INT32": "int32"}.get(ttype, "float32"), data=data, q=q)
        return nm

    def const(i: int) -> np.ndarray:
        """The int32/int64 data of a constant index tensor (axes, paddings, perm)."""
        t = sg.tensors[i]
        b = m.buffers[t.buffer]
        dt = {"INT32": np.int32, "INT64": np.int64}.get(type_names.get(t.type))
        if b.data is None or dt is None:
            raise ModelError(f"{source}: tensor {names[i]!r} must be an int32/int64 constant")
        return np.frombuffer(np.asarray(b.data, np.uint8).tobytes(), dtype=dt)

    nodes: list[Node] = []
    for k, op in enumerate(sg.operators):
        oc = m.operatorCodes[op.opcodeIndex]
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        opname = op_names.get(code, str(code))
        ins = [int(i) for i in (op.inputs if op.inputs is not None else [])]
        outs = [int(i) for i in op.outputs]
        opt = op.builtinOptions
        if len(outs) != 1:
            raise ModelError(f"{source}: operator {k} ({opname}) has {len(outs)} outputs")
        y = tensor(outs[0])
        nname = f"{opname.lower()}_{k}"
        x_shape = tuple(int(d) for d in sg.tensors[ins[0]].shape) if ins else ()

        def node(o, inputs, **attrs):
            nodes.append(Node(nname, o, inputs, [y], attrs, source_op=opname))

        if opname in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            dw = opname == "DEPTHWISE_CONV_2D"
            w = tensor(ins[1], "weight", 3 if dw else 0)
            b = tensor(ins[2], "bias") if len(ins) > 2 and ins[2] >= 0 else ""
            kh, kw = tensors[w].shape[1:3]
            dil = (int(opt.dilationHFactor), int(opt.dilationWFactor))
            attrs = dict(_window(opt, sch, x_shape, kh, kw, dil), dilations=dil, **_act(opt.fusedActivationFunction, sch))
            x = tensor(ins[0])
            if dw:
                node(Op.DEPTHWISE_CONV2D, [x, w, b], **attrs)
            else:
                groups = x_shape[3] // tensors[w].shape[3]
                node(Op.CONV2D, [x, w, b], groups=groups, **attrs)
        elif opname == "FULLY_CONNECTED":
            if opt is not None and int(opt.weightsFormat) != 0:
                raise ModelError(f"{source}: operator {k} (FULLY_CONNECTED) uses shuffled weights")
            x = tensor(ins[0])
            w = tensor(ins[1], "weight", 0)
            b = tensor(ins[2], "bias") if len(ins) > 2 and ins[2] >= 0 else ""
            n_in = tensors[w].shape[1]
            act = _act(opt.fusedActivationFunction, sch) if opt is not None else {}
            rows = int(np.prod(x_shape)) // n_in
            out_shape = tensors[y].shape
            if x_shape[-1] != n_in or (not (opt and opt.keepNumDims) and x_shape != (rows, n_in)):
                flat = f"{x}_flat{k}"
                tensors[flat] = dataclasses.replace(tensors[x], name=flat, shape=(rows, n_in))
                nodes.append(Node(f"{nname}_flatten", Op.RESHAPE, [x], [flat], dict(shape=(rows, n_in)),
                                  source_op=opname))
                x = flat
            if out_shape != (rows, tensors[w].shape[0]) and out_shape != x_shape[:-1] + (tensors[w].shape[0],):
                raise ModelError(f"{source}: operator {k} (FULLY_CONNECTED): output shape {out_shape}")
            if tensors[x].shape[:-1] + (tensors[w].shape[0],) != out_shape:
                mid = f"{y}_rows{k}"
                tensors[mid] = dataclasses.replace(tensors[y], name=mid, shape=(rows, tensors[w].shape[0]))
                nodes.append(Node(nname, Op.FULLY_CONNECTED, [x, w, b], [mid], act, source_op=opname))
                nodes.append(Node(f"{nname}_reshape", Op.RESHAPE, [mid], [y], dict(shape=out_shape),
                                  source_op=opname))
            else:
                node(Op.FULLY_CONNECTED, [x, w, b], **act)
        elif opname == "ADD":
            a, b = tensor(ins[0]), tensor(ins[1])
            node(Op.ADD, [a, b], **_act(opt.fusedActivationFunction, sch))
        elif opname in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            kh, kw = int(opt.filterHeight), int(opt.filterWidth)
            node(Op.AVG_POOL2D if opname.startswith("AVERAGE") else Op.MAX_POOL2D, [tensor(ins[0])],
                 kernel=(kh, kw), **_window(opt, sch, x_shape, kh, kw), **_act(opt.fusedActivationFunction, sch))
        elif opname == "MEAN":
            axes = sorted(int(a) % len(x_shape) for a in const(ins[1]))
            if axes != [1, 2] or len(x_shape) != 4:
                raise ModelError(f"{source}: operator {k} (MEAN) over axes {axes}; only H,W of NHWC is supported")
            node(Op.MEAN, [tensor(ins[0])], keepdims=bool(opt.keepDims))
        elif opname == "SOFTMAX":
            node(Op.SOFTMAX, [tensor(ins[0])], beta=float(opt.beta))
        elif opname in ("LOGISTIC", "TANH"):
            node(Op.LOGISTIC if opname == "LOGISTIC" else Op.TANH, [tensor(ins[0])])
        elif opname in ("RELU", "RELU6", "RELU_N1_TO_1"):
            lo, hi = {"RELU": (0.0, INF), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}[opname]
            x = tensor(ins[0])
            if not tensors[x].q.same(tensors[y].q):
                raise ModelError(f"{source}: operator {k} ({opname}) with different input/output "
                                 "quantization is not supported")
            node(Op.CLAMP, [x], act_min=lo, act_max=hi)
        elif opname == "CONCATENATION":
            if opt.fusedActivationFunction:
                raise ModelError(f"{source}: operator {k} (CONCATENATION) with a fused activation")
            node(Op.CONCAT, [tensor(i) for i in ins], axis=int(opt.axis) % len(x_shape))
        elif opname in ("PAD", "PADV2"):
            p = const(ins[1]).reshape(-1, 2)
            value = 0.0
            x = tensor(ins[0])
            if opname == "PADV2" and len(ins) > 2:
                cv = tensor(ins[2], "const")
                value = float((int(tensors[cv].data.ravel()[0]) - tensors[y].q.zp) * tensors[y].q.s)
            node(Op.PAD, [x], pads=tuple(int(v) for v in p[:, 0]) + tuple(int(v) for v in p[:, 1]), value=value)
        elif opname == "TRANSPOSE":
            node(Op.TRANSPOSE, [tensor(ins[0])], perm=tuple(int(v) for v in const(ins[1])))
        elif opname in ("RESHAPE", "SQUEEZE"):
            node(Op.RESHAPE, [tensor(ins[0])], shape=tensors[y].shape)
        else:
            raise ModelError(f"{source}: TFLite operator {opname} (operator {k}) is not supported; "
                             f"supported: {SUPPORTED}")
    for n in nodes:
        if n.op in (Op.RESHAPE, Op.TRANSPOSE, Op.PAD, Op.CONCAT, Op.MAX_POOL2D, Op.AVG_POOL2D, Op.CLAMP):
            src, dst = tensors[n.inputs[0]], tensors[n.outputs[0]]
            if not src.q.same(dst.q) and n.op in (Op.RESHAPE, Op.TRANSPOSE, Op.MAX_POOL2D, Op.AVG_POOL2D):
                raise ModelError(f"{source}: {n.source_op} node {n.name!r} changes the quantization "
                                 "(input and output scale/zero point differ); not supported")
    for i in list(sg.inputs) + list(sg.outputs):
        tensor(int(i))
    g = Graph(name or Path(source).stem, tensors, nodes, [names[int(i)] for i in sg.inputs],
              [names[int(i)] for i in sg.outputs])
    g.meta = {"source": source, "source_name": Path(source).name, "format": "tflite",
              "sha256": hashlib.sha256(buf).hexdigest(),
              "quantized": {"method": "tflite", "per_channel": None, "samples": 0},
              "tflite_tensors": {names[i]: i for i in range(len(names)) if names[i] in tensors},
              "input_shapes": {i: g.tensors[i].shape for i in g.inputs},
              "output_shapes": {o: g.tensors[o].shape for o in g.outputs}}
    from .ir import verify
    verify(g)
    return g.prune_unused()


def dequantized(g: Graph) -> Graph:
    """The float twin of a quantized graph: constants dequantized, every tensor float32, no QParams."""
    f = g.copy()
    for k, t in f.tensors.items():
        data = t.data
        if data is not None and t.q is not None:
            s = t.q.scale.astype(np.float64)
            z = t.q.zero_point.astype(np.float64)
            if t.q.axis is not None and s.size > 1:
                shape = [1] * data.ndim
                shape[t.q.axis] = -1
                s, z = s.reshape(shape), z.reshape(shape)
            data = ((data.astype(np.float64) - z) * s).astype(np.float32)
        f.tensors[k] = dataclasses.replace(t, dtype="float32", data=data, q=None)
    f.meta = {k: v for k, v in g.meta.items() if k != "quantized"}
    return f
