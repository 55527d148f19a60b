"""Constant folding of the shape arithmetic exporters leave behind (Shape -> Gather -> Concat ->
Reshape and friends).  Common ops have small NumPy implementations; anything else whose inputs
are all constant goes through onnx.reference.ReferenceEvaluator, one node at a time."""
from __future__ import annotations

import functools

import numpy as np
import onnx
from onnx import helper, numpy_helper


def attributes(node: onnx.NodeProto) -> dict:
    """ONNX attributes as Python values (tensors as arrays, strings as str)."""
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, onnx.TensorProto):
            v = numpy_helper.to_array(v)
        elif isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [s.decode() for s in v]
        out[a.name] = v
    return out


def _ints(v) -> list[int]:
    return [int(i) for i in np.asarray(v).reshape(-1)]


def _axes(a: dict, ins: list, pos: int) -> list[int] | None:
    """Axes from an attribute (old opsets) or an optional input (new opsets)."""
    if "axes" in a:
        return list(a["axes"])
    if len(ins) > pos and ins[pos] is not None:
        return _ints(ins[pos])
    return None


def _constant(ins, a):
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in a:
            v = a[key]
            if key.endswith("float") or key.endswith("floats"):
                return np.asarray(v, dtype=np.float32)
            if key.endswith("int") or key.endswith("ints"):
                return np.asarray(v, dtype=np.int64)
            return np.asarray(v)
    raise NotImplementedError("Constant without a numeric value")


def _shape(ins, a):
    s = np.asarray(ins[0].shape, dtype=np.int64)
    return s[a.get("start", 0):a.get("end", None)]


def _slice(ins, a):
    x = ins[0]
    if "starts" in a:                                   # opset < 10
        starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
    else:
        starts, ends = _ints(ins[1]), _ints(ins[2])
        axes = _ints(ins[3]) if len(ins) > 3 and ins[3] is not None else None
        steps = _ints(ins[4]) if len(ins) > 4 and ins[4] is not None else None
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * x.ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        index[ax] = slice(int(s), int(e), int(st))       # Python clamps out-of-range bounds
    return x[tuple(index)]


def _reshape(ins, a):
    x, shape = ins[0], _ints(ins[1]) if len(ins) > 1 else list(a["shape"])
    if not a.get("allowzero", 0):
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return x.reshape(shape)


def _unsqueeze(ins, a):
    x = ins[0]
    axes = sorted(ax % (x.ndim + len(_axes(a, ins, 1))) for ax in _axes(a, ins, 1))
    for ax in axes:
        x = np.expand_dims(x, ax)
    return x


def _squeeze(ins, a):
    axes = _axes(a, ins, 1)
    x = ins[0]
    return np.squeeze(x) if axes is None else np.squeeze(x, tuple(ax % x.ndim for ax in axes))


def _div(ins, a):
    x, y = ins
    if np.issubdtype(x.dtype, np.integer):
        return (np.trunc(x / y)).astype(x.dtype)        # C-style integer division
    return (x / y).astype(x.dtype)


def _cast(ins, a):
    return ins[0].astype(helper.tensor_dtype_to_np_dtype(a["to"]))


def _constant_of_shape(ins, a):
    v = np.asarray(a.get("value", np.zeros(1, np.float32))).reshape(-1)
    return np.full(_ints(ins[0]), v[0], dtype=v.dtype)


def _expand(ins, a):
    x = ins[0]
    return np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(_ints(ins[1])))).copy()


def _flatten(ins, a):
    x, ax = ins[0], a.get("axis", 1)
    ax = ax + x.ndim if ax < 0 else ax
    return x.reshape(int(np.prod(x.shape[:ax], dtype=np.int64)), -1)


def _binary(f):
    return lambda ins, a: np.asarray(f(ins[0], ins[1])).astype(np.result_type(ins[0], ins[1]))


def _compare(f):
    return lambda ins, a: np.asarray(f(ins[0], ins[1]))


def _gather(ins, a):
    return np.take(ins[0], ins[1].astype(np.int64), axis=a.get("axis", 0))


NUMPY = {
    "Constant": _constant,
    "Identity": lambda ins, a: ins[0],
    "Shape": _shape,
    "Size": lambda ins, a: np.asarray(ins[0].size, dtype=np.int64),
    "Gather": _gather,
    "Slice": _slice,
    "Concat": lambda ins, a: np.concatenate([np.asarray(i) for i in ins], axis=a["axis"]),
    "Cast": _cast,
    "CastLike": lambda ins, a: np.asarray(ins[0]).astype(ins[1].dtype),
    "ConstantOfShape": _constant_of_shape,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Transpose": lambda ins, a: np.transpose(ins[0], a.get("perm")),
    "Expand": _expand,
    "Range": lambda ins, a: np.arange(ins[0], ins[1], ins[2]).astype(ins[0].dtype),
    "Add": _binary(np.add),
    "Sub": _binary(np.subtract),
    "Mul": _binary(np.multiply),
    "Div": _div,
    "Min": lambda ins, a: functools.reduce(np.minimum, ins),
    "Max": lambda ins, a: functools.reduce(np.maximum, ins),
    "Neg": lambda ins, a: -ins[0],
    "Abs": lambda ins, a: np.abs(ins[0]),
    "Sqrt": lambda ins, a: np.sqrt(ins[0]),
    "Reciprocal": lambda ins, a: (1 / ins[0]).astype(ins[0].dtype),
    "Floor": lambda ins, a: np.floor(ins[0]),
    "Ceil": lambda ins, a: np.ceil(ins[0]),
    "Equal": _compare(np.equal),
    "Less": _compare(np.less),
    "Greater": _compare(np.greater),
    "Not": lambda ins, a: np.logical_not(ins[0]),
    "Where": lambda ins, a: np.where(ins[0], ins[1], ins[2]),
}


def _reference(node: onnx.NodeProto, ins: list, opsets) -> list[np.ndarray]:
    from onnx.reference import ReferenceEvaluator
    names = [f"in{i}" if x is not None else "" for i, x in enumerate(ins)]
    n = helper.make_node(node.op_type, names, [f"out{i}" for i in range(len(node.output))],
                         domain=node.domain)
    n.attribute.extend(node.attribute)
    vis = [helper.make_tensor_value_info(nm, helper.np_dtype_to_tensor_dtype(x.dtype), x.shape)
           for nm, x in zip(names, ins) if x is not None]
    outs = [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in n.output]
    model = helper.make_model(helper.make_graph([n], "fold", vis, outs), opset_imports=opsets)
    feeds = {nm: x for nm, x in zip(names, ins) if x is not None}
    return [np.asarray(y) for y in ReferenceEvaluator(model).run(None, feeds)]


def fold(node: onnx.NodeProto, ins: list, opsets) -> list[np.ndarray]:
    """Evaluate a node whose inputs are all constant ("" inputs are None)."""
    impl = NUMPY.get(node.op_type) if node.domain in ("", "ai.onnx") else None
    if impl is not None:
        return [np.asarray(impl(ins, attributes(node)))]
    return _reference(node, ins, opsets)
