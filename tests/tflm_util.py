"""Build single-op int8 .tflite models with the flatbuffer schema bundled in ``tflite_micro`` and
run them on the TFLM reference interpreter (the oracle).  No TensorFlow needed.

    spec = TensorSpec((1, 8, 8, 3), scale=0.02, zero_point=-5)        # an int8 activation
    model = build_model("ADD", [a_spec, b_spec], out_spec, options=dict(fused_activation="RELU"))
    y = run_model(model, [a_q, b_q])
"""
from __future__ import annotations

from dataclasses import dataclass

import flatbuffers
import numpy as np
from tflite_micro.python.tflite_micro import runtime
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

_TYPES = {np.dtype(np.int8): schema.TensorType.INT8, np.dtype(np.int32): schema.TensorType.INT32}
_ACT = {None: schema.ActivationFunctionType.NONE, "RELU": schema.ActivationFunctionType.RELU,
        "RELU6": schema.ActivationFunctionType.RELU6,
        "RELU_N1_TO_1": schema.ActivationFunctionType.RELU_N1_TO_1}


@dataclass
class TensorSpec:
    """One tensor of the model; ``data`` makes it a constant (stored in a buffer)."""
    shape: tuple
    scale: float | None = None         # None: not quantized (e.g. an int32 axis tensor)
    zero_point: int = 0
    dtype: str = "int8"
    data: np.ndarray | None = None


def _options(op: str, o: dict):
    """(BuiltinOptions type, options object) for the supported builtin ops."""
    if op == "ADD":
        t = schema.AddOptionsT()
        t.fusedActivationFunction = _ACT[o.get("fused_activation")]
        return schema.BuiltinOptions.AddOptions, t
    if op == "MEAN":
        t = schema.ReducerOptionsT()
        t.keepDims = bool(o.get("keep_dims", True))
        return schema.BuiltinOptions.ReducerOptions, t
    if op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        t = schema.Pool2DOptionsT()
        t.padding = schema.Padding.SAME if o.get("padding", "VALID") == "SAME" else schema.Padding.VALID
        t.strideH, t.strideW = o.get("strides", (1, 1))
        t.filterHeight, t.filterWidth = o["filter"]
        t.fusedActivationFunction = _ACT[o.get("fused_activation")]
        return schema.BuiltinOptions.Pool2DOptions, t
    if op == "SOFTMAX":
        t = schema.SoftmaxOptionsT()
        t.beta = float(o.get("beta", 1.0))
        return schema.BuiltinOptions.SoftmaxOptions, t
    if op in ("LOGISTIC", "TANH"):
        return schema.BuiltinOptions.NONE, None
    raise ValueError(f"tflm_util: no options builder for {op}")


def build_model(op: str, inputs: list[TensorSpec], output: TensorSpec, options: dict | None = None) -> bytes:
    """A .tflite flatbuffer with one subgraph holding one builtin operator ``op``."""
    buffers = [schema.BufferT()]                    # buffer 0 is the conventional empty buffer
    tensors = []
    for i, spec in enumerate(list(inputs) + [output]):
        t = schema.TensorT()
        t.name = f"t{i}"
        t.shape = list(spec.shape)
        t.type = _TYPES[np.dtype(spec.dtype)]
        t.buffer = 0
        if spec.data is not None:
            b = schema.BufferT()
            b.data = np.ascontiguousarray(spec.data, dtype=spec.dtype).view(np.uint8).ravel().tolist()
            buffers.append(b)
            t.buffer = len(buffers) - 1
        if spec.scale is not None:
            q = schema.QuantizationParametersT()
            q.scale = [float(spec.scale)]
            q.zeroPoint = [int(spec.zero_point)]
            t.quantization = q
        tensors.append(t)
    opcode = schema.OperatorCodeT()
    opcode.builtinCode = getattr(schema.BuiltinOperator, op)
    opcode.deprecatedBuiltinCode = min(opcode.builtinCode, 127)
    operator = schema.OperatorT()
    operator.opcodeIndex = 0
    operator.inputs = list(range(len(inputs)))
    operator.outputs = [len(inputs)]
    operator.builtinOptionsType, operator.builtinOptions = _options(op, options or {})
    sub = schema.SubGraphT()
    sub.tensors = tensors
    sub.inputs = [i for i, s in enumerate(inputs) if s.data is None]
    sub.outputs = [len(inputs)]
    sub.operators = [operator]
    model = schema.ModelT()
    model.version = 3
    model.operatorCodes = [opcode]
    model.subgraphs = [sub]
    model.buffers = buffers
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def run_model(model: bytes, feeds: list[np.ndarray], arena_size: int | None = None) -> np.ndarray:
    """Invoke the TFLM reference interpreter once; feeds are the non-constant inputs in order.

    ``arena_size`` defaults to room for the feeds and an output of similar size (the wrapper's
    own default is too small for big tensors).
    """
    if arena_size is None:
        arena_size = 4 * sum(np.asarray(x).nbytes for x in feeds) + (64 << 10)
    it = runtime.Interpreter.from_bytes(model, arena_size=arena_size)
    for i, x in enumerate(feeds):
        it.set_input(np.ascontiguousarray(x), i)
    it.invoke()
    return it.get_output(0)
