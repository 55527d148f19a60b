"""TFLite export: a quantized (or lowered) Graph -> a full-int8 .tflite flatbuffer.

Written with the flatbuffer schema module of the ``tflite-micro`` pip package (no TensorFlow), so
the model edgecompile quantized can run unchanged in TFLM.  Every tensor keeps its name, shape and
QParams (per-channel weights: quantized_dimension 0 for CONV_2D/FULLY_CONNECTED, 3 for
DEPTHWISE_CONV_2D).  Explicit convolution padding that is neither SAME nor VALID becomes a PAD
operator (padding with the input zero point, which is what our kernels do).  Ops or attributes
TFLite cannot express raise ModelError naming the node.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .errors import ModelError
from .ir import Graph, Op, QParams
from .tflite_import import _same_pads, schema

_DT = {"int8": "INT8", "int32": "INT32"}


class _Writer:
    def __init__(self, g: Graph):
        self.s = schema()
        self.g = g
        self.buffers = [self.s.BufferT()]
        self.tensors: list = []
        self.index: dict[str, int] = {}
        self.codes: list[int] = []
        self.ops: list = []

    def tensor(self, name: str) -> int:
        if name in self.index:
            return self.index[name]
        t = self.g.tensors[name]
        if t.dtype not in _DT:
            raise ModelError(f"tensor {name!r} is {t.dtype}; only quantized int8/int32 graphs can be exported")
        return self._add(name, t.shape, t.dtype, t.data, t.q)

    def _add(self, name, shape, dtype, data=None, q: QParams | None = None) -> int:
        tt = self.s.TensorT()
        tt.name = name
        tt.shape = [int(d) for d in shape]
        tt.type = getattr(self.s.TensorType, _DT[dtype])
        tt.buffer = 0
        if data is not None:
            b = self.s.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data, dtype=dtype).tobytes(), np.uint8)
            self.buffers.append(b)
            tt.buffer = len(self.buffers) - 1
        if q is not None:
            qp = self.s.QuantizationParametersT()
            qp.scale = [float(v) for v in q.scale]
            qp.zeroPoint = [int(v) for v in q.zero_point]
            qp.quantizedDimension = int(q.axis or 0)
            tt.quantization = qp
        self.tensors.append(tt)
        self.index[name] = len(self.tensors) - 1
        return self.index[name]

    def const(self, name, arr) -> int:
        arr = np.asarray(arr, np.int32)
        return self._add(name, arr.shape, "int32", arr)

    def op(self, builtin: str, inputs: list[int], outputs: list[int], opt_type=None, opt=None):
        code = getattr(self.s.BuiltinOperator, builtin)
        if code not in self.codes:
            self.codes.append(code)
        o = self.s.OperatorT()
        o.opcodeIndex = self.codes.index(code)
        o.inputs, o.outputs = list(inputs), list(outputs)
        o.builtinOptionsType = opt_type if opt_type is not None else self.s.BuiltinOptions.NONE
        o.builtinOptions = opt
        self.ops.append(o)

    def finish(self) -> bytes:
        import flatbuffers
        s = self.s
        sub = s.SubGraphT()
        sub.tensors = self.tensors
        sub.inputs = [self.index[i] for i in self.g.inputs]
        sub.outputs = [self.index[o] for o in self.g.outputs]
        sub.operators = self.ops
        sub.name = "main"
        m = s.ModelT()
        m.version = 3
        m.description = "edgecompile"
        m.subgraphs = [sub]
        m.buffers = self.buffers
        codes = []
        for c in self.codes:
            oc = s.OperatorCodeT()
            oc.builtinCode = c
            oc.deprecatedBuiltinCode = min(c, 127)
            oc.version = 1
            codes.append(oc)
        m.operatorCodes = codes
        b = flatbuffers.Builder(1 << 16)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def _act(s, n) -> int:
    lo, hi = n.attrs.get("act_min", -math.inf), n.attrs.get("act_max", math.inf)
    A = s.ActivationFunctionType
    table = {(-math.inf, math.inf): A.NONE, (0.0, math.inf): A.RELU, (0.0, 6.0): A.RELU6, (-1.0, 1.0): A.RELU_N1_TO_1}
    if (lo, hi) not in table:
        raise ModelError(f"node {n.name!r} ({n.op}): fused activation [{lo}, {hi}] has no TFLite equivalent "
                         "(only Relu, Relu6, Relu_n1_to_1)")
    return table[(lo, hi)]


def _padding(w: _Writer, n, x_name: str, k_hw, strides, dil, pool: bool):
    """(padding enum, input tensor index): SAME/VALID when the explicit pads match, else a PAD op."""
    s = w.s
    x = w.g.tensors[x_name]
    pads = tuple(int(p) for p in n.attrs.get("pads", (0, 0, 0, 0)))
    out = w.g.tensors[n.outputs[0]].shape
    same = [_same_pads(x.shape[1 + a], k_hw[a], strides[a], dil[a], True) for a in (0, 1)]
    if all(same[a][0] == out[1 + a] for a in (0, 1)) and pads == (same[0][1], same[1][1], same[0][2], same[1][2]):
        return s.Padding.SAME, w.tensor(x_name)
    valid = [_same_pads(x.shape[1 + a], k_hw[a], strides[a], dil[a], False) for a in (0, 1)]
    if pads == (0, 0, 0, 0) and all(valid[a][0] == out[1 + a] for a in (0, 1)):
        return s.Padding.VALID, w.tensor(x_name)
    if pool:
        raise ModelError(f"node {n.name!r} ({n.op}): padding {pads} is neither SAME nor VALID")
    # explicit PAD (value = input zero point, i.e. real 0) then VALID; trailing rows the window never
    # reads are cut from the bottom/right pads so the VALID output size matches
    pt, pl, pb, pr = pads
    ph = x.shape[1] + pt + pb
    pw = x.shape[2] + pl + pr
    eff = [(k_hw[a] - 1) * dil[a] + 1 for a in (0, 1)]
    pb -= ph - ((out[1] - 1) * strides[0] + eff[0])
    pr -= pw - ((out[2] - 1) * strides[1] + eff[1])
    if pb < 0 or pr < 0:
        raise ModelError(f"node {n.name!r} ({n.op}): padding {pads} cannot be expressed in TFLite")
    padded = f"{x_name}_pad_{n.name}"
    pshape = (x.shape[0], x.shape[1] + pt + pb, x.shape[2] + pl + pr, x.shape[3])
    pi = w._add(padded, pshape, "int8", None, x.q)
    ci = w.const(f"{padded}_paddings", [[0, 0], [pt, pb], [pl, pr], [0, 0]])
    w.op("PAD", [w.tensor(x_name), ci], [pi], s.BuiltinOptions.PadOptions, s.PadOptionsT())
    return s.Padding.VALID, pi


def _bias(w: _Writer, n, ins, omit: bool = False) -> int:
    """The bias tensor, or an explicit zero bias (TFLM's DEPTHWISE_CONV_2D crashes without one);
    ``omit``: -1 (TFLite's absent optional input) for a CONV_2D / FULLY_CONNECTED without bias."""
    if len(ins) > 2 and ins[2]:
        return w.tensor(ins[2])
    if omit and n.op != Op.DEPTHWISE_CONV2D:
        return -1
    x, wt = w.g.tensors[ins[0]], w.g.tensors[ins[1]]
    o = wt.shape[3] if n.op == Op.DEPTHWISE_CONV2D else wt.shape[0]
    scale = (np.float32(x.q.s) * wt.q.scale.astype(np.float32)).astype(np.float32)
    q = QParams.make(scale, 0, 0 if scale.size > 1 else None)
    return w._add(f"{n.outputs[0]}_zero_bias", (o,), "int32", np.zeros(o, np.int32), q)


def export_tflite(g: Graph, path=None, *, omit_bias: bool = False) -> bytes:
    """Serialize a quantized graph as .tflite; also write it to ``path`` when given.  ``omit_bias``
    writes CONV_2D / FULLY_CONNECTED without a bias as such (default: an explicit zero bias)."""
    w = _Writer(g)
    s = w.s
    for name in g.inputs:
        w.tensor(name)
    for n in g.nodes:
        ins = [i for i in n.inputs]
        y = lambda: w.tensor(n.outputs[0])          # noqa: E731 - output after the inputs, as TFLite orders
        a = n.attrs
        if n.op in (Op.CONV2D, Op.DEPTHWISE_CONV2D):
            wt = g.tensors[ins[1]]
            strides, dil = tuple(a.get("strides", (1, 1))), tuple(a.get("dilations", (1, 1)))
            pad, xi = _padding(w, n, ins[0], wt.shape[1:3], strides, dil, pool=False)
            b = _bias(w, n, ins, omit_bias)
            dw = n.op == Op.DEPTHWISE_CONV2D
            if wt.q.scale.size > 1 and wt.q.axis != (3 if dw else 0):
                raise ModelError(f"node {n.name!r}: weights quantized along axis {wt.q.axis}")
            o = s.DepthwiseConv2DOptionsT() if dw else s.Conv2DOptionsT()
            o.padding, (o.strideH, o.strideW), (o.dilationHFactor, o.dilationWFactor) = pad, strides, dil
            o.fusedActivationFunction = _act(s, n)
            if dw:
                o.depthMultiplier = int(wt.shape[3] // g.tensors[ins[0]].shape[3])
            w.op("DEPTHWISE_CONV_2D" if dw else "CONV_2D", [xi, w.tensor(ins[1]), b], [y()],
                 s.BuiltinOptions.DepthwiseConv2DOptions if dw else s.BuiltinOptions.Conv2DOptions, o)
        elif n.op == Op.FULLY_CONNECTED:
            o = s.FullyConnectedOptionsT()
            o.fusedActivationFunction = _act(s, n)
            o.keepNumDims = len(g.tensors[ins[0]].shape) != 2
            b = _bias(w, n, ins, omit_bias)
            w.op("FULLY_CONNECTED", [w.tensor(ins[0]), w.tensor(ins[1]), b], [y()],
                 s.BuiltinOptions.FullyConnectedOptions, o)
        elif n.op == Op.ADD:
            o = s.AddOptionsT()
            o.fusedActivationFunction = _act(s, n)
            w.op("ADD", [w.tensor(ins[0]), w.tensor(ins[1])], [y()], s.BuiltinOptions.AddOptions, o)
        elif n.op in (Op.AVG_POOL2D, Op.MAX_POOL2D):
            k, strides = tuple(a["kernel"]), tuple(a.get("strides", (1, 1)))
            pad, xi = _padding(w, n, ins[0], k, strides, (1, 1), pool=True)
            o = s.Pool2DOptionsT()
            o.padding, (o.strideH, o.strideW), (o.filterHeight, o.filterWidth) = pad, strides, k
            o.fusedActivationFunction = _act(s, n)
            w.op("AVERAGE_POOL_2D" if n.op == Op.AVG_POOL2D else "MAX_POOL_2D", [xi], [y()],
                 s.BuiltinOptions.Pool2DOptions, o)
        elif n.op == Op.MEAN:
            o = s.ReducerOptionsT()
            o.keepDims = bool(a.get("keepdims", True))
            w.op("MEAN", [w.tensor(ins[0]), w.const(f"{n.outputs[0]}_axes", [1, 2])], [y()],
                 s.BuiltinOptions.ReducerOptions, o)
        elif n.op == Op.SOFTMAX:
            o = s.SoftmaxOptionsT()
            o.beta = float(a.get("beta", 1.0))
            w.op("SOFTMAX", [w.tensor(ins[0])], [y()], s.BuiltinOptions.SoftmaxOptions, o)
        elif n.op in (Op.LOGISTIC, Op.TANH):
            w.op(n.op.name, [w.tensor(ins[0])], [y()])
        elif n.op == Op.CLAMP:
            builtin = {(0.0, math.inf): "RELU", (0.0, 6.0): "RELU6", (-1.0, 1.0): "RELU_N1_TO_1"}.get(
                (a.get("act_min", -math.inf), a.get("act_max", math.inf)))
            if builtin is None:
                raise ModelError(f"node {n.name!r} (Clamp): bounds [{a.get('act_min')}, {a.get('act_max')}] "
                                 "have no TFLite operator")
            w.op(builtin, [w.tensor(ins[0])], [y()])
        elif n.op == Op.CONCAT:
            o = s.ConcatenationOptionsT()
            o.axis = int(a["axis"])
            w.op("CONCATENATION", [w.tensor(i) for i in ins], [y()], s.BuiltinOptions.ConcatenationOptions, o)
        elif n.op == Op.PAD:
            r = len(g.tensors[ins[0]].shape)
            p = np.array(a["pads"], np.int32).reshape(2, r).T
            out = g.tensors[n.outputs[0]]
            xi, ci = w.tensor(ins[0]), w.const(f"{n.outputs[0]}_paddings", p)
            value = a.get("value", 0.0)
            if value == 0.0:
                w.op("PAD", [xi, ci], [y()], s.BuiltinOptions.PadOptions, s.PadOptionsT())
            else:
                from .quant import fixedpoint as fx
                qv = min(max(fx.quantize_value(value, out.q.s, out.q.zp), -128), 127)
                vi = w._add(f"{n.outputs[0]}_value", (), "int8", np.array(qv, np.int8), out.q)
                w.op("PADV2", [xi, ci, vi], [y()], s.BuiltinOptions.PadV2Options, s.PadV2OptionsT())
        elif n.op == Op.TRANSPOSE:
            w.op("TRANSPOSE", [w.tensor(ins[0]), w.const(f"{n.outputs[0]}_perm", list(a["perm"]))], [y()],
                 s.BuiltinOptions.TransposeOptions, s.TransposeOptionsT())
        elif n.op == Op.RESHAPE:
            o = s.ReshapeOptionsT()
            o.newShape = [int(d) for d in g.tensors[n.outputs[0]].shape]
            w.op("RESHAPE", [w.tensor(ins[0]), w.const(f"{n.outputs[0]}_shape", o.newShape)], [y()],
                 s.BuiltinOptions.ReshapeOptions, o)
        else:
            raise ModelError(f"node {n.name!r}: op {n.op} has no TFLite export")
    data = w.finish()
    if path is not None:
        Path(path).write_bytes(data)
    return data
