"""One converter per ONNX op: ONNX node (inputs as Dyn or constant arrays) -> IR nodes.

A converter is ``f(b, ins, a, c) -> Dyn`` with ``b`` the Builder, ``ins`` the inputs (``Dyn`` for
computed tensors, ``np.ndarray`` for constants, None for absent optional inputs), ``a`` the ONNX
attributes as a dict and ``c`` the node context (opset, input/output names).  It raises
``Unsupported`` with a short reason when the node cannot be expressed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir import Op
from ..passes import moves_only_ones
from .layout import Builder, Dyn, Unsupported, channels_last, identity, to_phys

INF = math.inf
FLT_MAX = 3.0e38        # Clip's old default bounds (+-FLT_MAX) mean "unbounded"


@dataclass
class Ctx:
    opset: int
    op: str
    inputs: list[str]
    out: str

    def hint(self, i: int, fallback: str) -> str:
        return self.inputs[i] if i < len(self.inputs) and self.inputs[i] else f"{self.out}/{fallback}"


CONVERTERS: dict = {}


def converter(*names):
    def deco(f):
        for n in names:
            CONVERTERS[n] = f
        return f
    return deco


def _dyn(x, what: str = "input") -> Dyn:
    if not isinstance(x, Dyn):
        raise Unsupported(f"{what} must be computed from the graph input, not constant")
    return x


def _const(x, what: str) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise Unsupported(f"{what} must be a constant")
    return x


def _ints(x) -> list[int]:
    return [int(v) for v in np.asarray(x).reshape(-1)]


def _f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def _axes(a: dict, ins: list, pos: int, opset: int, since: int):
    """Axes from the attribute (opset < since) or from input ``pos`` (None when absent)."""
    if opset < since or "axes" in a:
        return a.get("axes")
    if len(ins) > pos and ins[pos] is not None:
        return _ints(_const(ins[pos], "axes"))
    return None


# ---------------------------------------------------------------- spatial ops (Conv, pools)
def _spatial_in(b: Builder, x: Dyn) -> str:
    """x (logical N, C, spatial...) as a physical 4-D NHWC tensor; 1-D gets H = 1."""
    if x.rank == 4:
        return b.need(x, channels_last(4))
    if x.rank == 3:
        t = b.need(x, (0, 2, 1))
        n, w, ch = b.shape(t)
        return b.reshape(t, (n, 1, w, ch), suffix="as2d")
    raise Unsupported(f"{x.rank - 2}-D spatial input (only 1-D and 2-D are supported)")


def _spatial_out(b: Builder, t: str, rank: int, out: str) -> Dyn:
    n, oh, ow, ch = b.shape(t)
    if rank == 4:
        return Dyn(t, (n, ch, oh, ow), channels_last(4))
    return Dyn(b.reshape(t, (n, ow, ch), out), (n, ch, ow), (0, 2, 1))


def _geometry(a: dict, in_hw, kernel, nsp: int):
    """(kernel, strides, dilations, pads (t, l, b, r)) as 2-D, explicit pads from auto_pad."""
    strides = list(a.get("strides") or [1] * nsp)
    dil = list(a.get("dilations") or [1] * nsp)
    pads = list(a.get("pads") or [0] * 2 * nsp)
    kernel = list(kernel)
    if nsp == 1:
        kernel, strides, dil, pads = [1] + kernel, [1] + strides, [1] + dil, [0, pads[0], 0, pads[1]]
    auto = a.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        for i in range(2):
            out = -(-in_hw[i] // strides[i])
            total = max((out - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - in_hw[i], 0)
            small, big = total // 2, total - total // 2
            pads[i], pads[i + 2] = (small, big) if auto == "SAME_UPPER" else (big, small)
    elif auto == "VALID":
        pads = [0, 0, 0, 0]
    elif auto != "NOTSET":
        raise Unsupported(f"auto_pad={auto}")
    return tuple(kernel), tuple(strides), tuple(dil), tuple(pads)


def _ceil_pads(in_hw, kernel, strides, pads):
    """Extra bottom/right padding that turns ceil_mode into floor mode (onnxruntime's rule: a
    window may not start in the end padding)."""
    pads = list(pads)
    for i in range(2):
        span = in_hw[i] + pads[i] + pads[i + 2] - kernel[i]
        out = -(-span // strides[i]) + 1
        if (out - 1) * strides[i] >= in_hw[i] + pads[i]:
            out -= 1
        pads[i + 2] += max((out - 1) * strides[i] + kernel[i] - (in_hw[i] + pads[i] + pads[i + 2]), 0)
    return tuple(pads)


@converter("Conv")
def conv(b, ins, a, c):
    x, w, bias = (list(ins) + [None, None])[:3]
    x, w = _dyn(x), _f32(_const(w, "weights"))
    if x.rank not in (3, 4):
        raise Unsupported(f"{x.rank - 2}-D convolution (only 1-D and 2-D are supported)")
    kernel = w.shape[2:]
    if x.rank == 3:
        w = w[:, :, None, :]
    group, ch, o = int(a.get("group", 1)), x.shape[1], w.shape[0]
    if w.shape[1] * group != ch or o % group:
        raise Unsupported(f"weights {w.shape} do not match {ch} input channels with group={group}")
    t = _spatial_in(b, x)
    _, strides, dil, pads = _geometry(a, b.shape(t)[1:3], kernel, x.rank - 2)
    attrs = dict(strides=strides, dilations=dil, pads=pads)
    if group == ch and group > 1:
        op, w = Op.DEPTHWISE_CONV2D, w.transpose(1, 2, 3, 0)        # [1, KH, KW, C * mult]
    else:
        op, w = Op.CONV2D, w.transpose(0, 2, 3, 1)                  # OHWI
        if group > 1:
            attrs["groups"] = group
    bname = b.const(_f32(_const(bias, "bias")).reshape(o), c.hint(2, "bias")) if bias is not None else None
    y = b.emit(op, [t, b.const(w, c.hint(1, "weights")), bname], attrs, c.out if x.rank == 4 else None)
    return _spatial_out(b, y, x.rank, c.out)


def _pool(b, x, a, c, op, kernel):
    if any(d != 1 for d in a.get("dilations") or []):
        raise Unsupported("dilated pooling")
    t = _spatial_in(b, x)
    in_hw = b.shape(t)[1:3]
    kernel, strides, _, pads = _geometry(a, in_hw, kernel, x.rank - 2)
    if a.get("ceil_mode", 0):
        full = _ceil_pads(in_hw, kernel, strides, pads)
    else:
        full = pads
    if op == Op.AVG_POOL2D and a.get("count_include_pad", 0) and any(pads):
        # padded zeros count in the average: pad explicitly, then pool without padding
        t = b.emit(Op.PAD, [t], dict(pads=(0, pads[0], pads[1], 0, 0, pads[2], pads[3], 0), value=0.0),
                   suffix="pad")
        full = (0, 0, full[2] - pads[2], full[3] - pads[3])
    y = b.emit(op, [t], dict(kernel=kernel, strides=strides, pads=full), c.out if x.rank == 4 else None)
    return _spatial_out(b, y, x.rank, c.out)


@converter("MaxPool")
def max_pool(b, ins, a, c):
    return _pool(b, _dyn(ins[0]), a, c, Op.MAX_POOL2D, a["kernel_shape"])


@converter("AveragePool")
def avg_pool(b, ins, a, c):
    return _pool(b, _dyn(ins[0]), a, c, Op.AVG_POOL2D, a["kernel_shape"])


@converter("GlobalMaxPool")
def global_max_pool(b, ins, a, c):
    x = _dyn(ins[0])
    return _pool(b, x, {}, c, Op.MAX_POOL2D, x.shape[2:])


def _reduce(b: Builder, x: Dyn, axes, keepdims: bool, out: str, op: Op = Op.MEAN) -> Dyn:
    """Mean (MEAN) or max (a whole-window MAX_POOL2D) over ``axes``.  The reduced axes form one
    contiguous physical block (moved there only if they are not already) seen as the H, W of an NHWC
    view; the axes before the block form its N, those after it its C."""
    r = x.rank
    red = sorted({int(ax) % r for ax in axes})
    keep = [ax for ax in range(r) if ax not in red]
    if not red:
        return x
    where = sorted(x.perm.index(a) for a in red)
    if where[-1] - where[0] + 1 == len(red):
        perm = x.perm
    else:
        pre = max(len(keep) - 1, 0)
        perm = tuple(keep[:pre]) + tuple(red) + tuple(keep[pre:])
    t = b.need(x, perm)
    phys = b.shape(t)
    lo = min(perm.index(a) for a in red)
    hi = lo + len(red)
    rd = phys[lo:hi]
    hw = (rd[0], 1) if len(rd) == 1 else (int(np.prod(rd[:-1])), rd[-1])
    t4 = b.reshape(t, (int(np.prod(phys[:lo])),) + hw + (int(np.prod(phys[hi:])),))
    if keepdims:
        shape = tuple(1 if ax in red else d for ax, d in enumerate(x.shape))
    else:                                             # kept axes keep their physical order
        shape, perm = tuple(x.shape[ax] for ax in keep), tuple(keep.index(a) for a in perm if a not in red)
    target = tuple(shape[p] for p in perm)
    n4, h4, w4, c4 = b.shape(t4)
    attrs = dict(keepdims=True) if op == Op.MEAN else dict(kernel=(h4, w4), strides=(1, 1), pads=(0, 0, 0, 0))
    y = b.emit(op, [t4], attrs, out if (n4, 1, 1, c4) == target else None,
               suffix="mean" if op == Op.MEAN else "max")
    return Dyn(b.reshape(y, target, out), shape, perm)


@converter("GlobalAveragePool")
def global_avg_pool(b, ins, a, c):
    x = _dyn(ins[0])
    if x.rank < 3:
        raise Unsupported(f"rank-{x.rank} input")
    return _reduce(b, x, range(2, x.rank), True, c.out)


@converter("ReduceMean", "ReduceMax")
def reduce_mean_max(b, ins, a, c):
    x = _dyn(ins[0])
    axes = _axes(a, ins, 1, c.opset, 18)
    if axes is None or len(axes) == 0:
        if a.get("noop_with_empty_axes", 0):
            return x
        axes = range(x.rank)
    return _reduce(b, x, axes, bool(a.get("keepdims", 1)), c.out, Op.MEAN if c.op == "ReduceMean" else Op.MAX_POOL2D)


# ---------------------------------------------------------------- dense
@converter("Gemm")
def gemm(b, ins, a, c):
    x, w, bias = (list(ins) + [None])[:3]
    x, w = _dyn(x), _f32(_const(w, "B (weights)"))
    if x.rank != 2:
        raise Unsupported(f"rank-{x.rank} input A")
    if a.get("transA", 0):                                # A^T is a layout change: free or one TRANSPOSE
        x = transpose(b, [x], {"perm": (1, 0)}, c)
    w = (w if a.get("transB", 0) else w.T) * np.float32(a.get("alpha", 1.0))
    rows, o = x.shape[0], w.shape[0]
    if w.ndim != 2 or w.shape[1] != x.shape[1]:
        raise Unsupported(f"weights {w.shape} do not match the input {x.shape}")
    bname, cb = None, None
    if bias is not None:
        cb = np.broadcast_to(_f32(_const(bias, "C (bias)")) * np.float32(a.get("beta", 1.0)), (rows, o))
        if np.all(cb == cb[:1]):
            bname, cb = b.const(cb[0], c.hint(2, "bias")), None
    y = b.emit(Op.FULLY_CONNECTED, [b.need(x, (0, 1)), b.const(w, c.hint(1, "weights")), bname], {},
               c.out if cb is None else None)
    y = Dyn(y, (rows, o), (0, 1))
    return y if cb is None else add(b, [y, np.ascontiguousarray(cb)], {}, c)    # a bias matrix: FC + ADD


@converter("MatMul")
def matmul(b, ins, a, c):
    x, w = ins
    if isinstance(x, np.ndarray):
        raise Unsupported("constant first operand (only x @ constant is supported)")
    x, w = _dyn(x), _f32(_const(w, "second operand"))
    if w.ndim not in (1, 2) or x.rank < 2 or w.shape[0] != x.shape[-1]:
        raise Unsupported(f"shapes {x.shape} @ {w.shape} (only [..., I] @ [I, O] or [..., I] @ [I])")
    vec = w.ndim == 1                                     # x @ v: a one-output FC, last axis dropped
    if vec:
        w = w[:, None]
    perm = x.perm if x.perm[-1] == x.rank - 1 else identity(x.rank)
    y = b.emit(Op.FULLY_CONNECTED, [b.need(x, perm), b.const(np.ascontiguousarray(w.T), c.hint(1, "weights")),
                                    None], {}, None if vec else c.out)
    y = Dyn(y, x.shape[:-1] + (w.shape[1],), perm)
    return b.view(y, x.shape[:-1], c.out) if vec else y


# ---------------------------------------------------------------- per-channel affine
def _squash(v: np.ndarray) -> np.ndarray:
    """Collapse the axes along which a constant does not vary (exporters materialize broadcasts)."""
    for ax in range(v.ndim):
        if v.shape[ax] > 1 and np.all(v == v.take([0], axis=ax)):
            v = v.take([0], axis=ax)
    return v


def _affine(b: Builder, x: Dyn, scale, shift, c: Ctx) -> Dyn:
    """x * scale + shift (constants varying along at most one axis) as a 1x1 depthwise conv.
    fold_bn later folds it into a preceding Conv / FullyConnected."""
    if x.rank == 0:
        raise Unsupported("scalar input")
    for v in (scale, shift):
        if v is not None and (np.ndim(v) > x.rank or any(
                d not in (1, x.shape[x.rank - np.ndim(v) + i]) for i, d in enumerate(np.shape(v)))):
            raise Unsupported(f"constant of shape {np.shape(v)} does not broadcast to the input {x.shape}")
    scale, shift = (None if v is None else _squash(_f32(v)) for v in (scale, shift))
    varying = {x.rank - v.ndim + i for v in (scale, shift) if v is not None for i, d in enumerate(v.shape) if d > 1}
    if len(varying) > 1:
        raise Unsupported(f"constant operand varies along {len(varying)} axes (only per-channel)")
    ax = varying.pop() if varying else x.perm[-1]
    perm = x.perm if x.perm[-1] == ax else tuple(p for p in x.perm if p != ax) + (ax,)
    t = b.need(x, perm)
    phys = b.shape(t)
    ch = phys[-1]

    def vec(v, default):
        if v is None:
            return np.full(ch, default, np.float32)
        return np.broadcast_to(to_phys(_f32(v), x.rank, perm).reshape(-1), (ch,)).astype(np.float32)

    t4 = t if len(phys) == 4 else b.reshape(t, (1, 1, int(np.prod(phys[:-1])), ch), suffix="as4d")
    zero = dict(strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0))
    y = b.emit(Op.DEPTHWISE_CONV2D, [t4, b.const(vec(scale, 1.0).reshape(1, 1, 1, ch), f"{c.out}/scale"),
                                     b.const(vec(shift, 0.0), f"{c.out}/shift")], zero,
               c.out if len(phys) == 4 else None, suffix="affine")
    return Dyn(b.reshape(y, phys, c.out), x.shape, perm)


@converter("BatchNormalization")
def batch_norm(b, ins, a, c):
    x = _dyn(ins[0])
    gamma, beta, mean, var = (_f32(_const(v, n)) for v, n in zip(ins[1:5], ("scale", "B", "mean", "var")))
    if x.rank < 2 or any(v.shape != (x.shape[1],) for v in (gamma, beta, mean, var)):
        raise Unsupported(f"parameters are not per-channel vectors for input {x.shape} (spatial=0?)")
    s = gamma / np.sqrt(var + np.float32(a.get("epsilon", 1e-5)))
    shape = (-1,) + (1,) * (x.rank - 2)
    y = _affine(b, x, s.reshape(shape), (beta - mean * s).reshape(shape), c)
    if y.perm[-1] == 1:     # channel axis innermost: tag the node for BatchNorm re-estimation (train/)
        node = next(n for n in reversed(b.nodes) if n.op == Op.DEPTHWISE_CONV2D)
        node.attrs["bn"] = dict(gamma=gamma, beta=beta, mean=mean, var=var, eps=float(a.get("epsilon", 1e-5)))
    return y


@converter("Mul")
def mul(b, ins, a, c):
    x, k = ins if isinstance(ins[0], Dyn) else ins[::-1]
    return _affine(b, _dyn(x), _const(k, "one operand (no tensor x tensor products)"), None, c)


@converter("Div")
def div(b, ins, a, c):
    return _affine(b, _dyn(ins[0]), 1.0 / _f32(_const(ins[1], "divisor")), None, c)


@converter("Neg")
def neg(b, ins, a, c):
    return _affine(b, _dyn(ins[0]), np.float32(-1.0), None, c)


# ---------------------------------------------------------------- elementwise
def _operands(b: Builder, ins: list, c: Ctx):
    """IR names of the operands in one common physical layout, that layout and the logical shape."""
    rank = max(v.rank if isinstance(v, Dyn) else np.ndim(v) for v in ins)
    perm = _common_perm([b.pad_rank(v, rank) for v in ins if isinstance(v, Dyn)])
    names = []
    for i, v in enumerate(ins):
        if isinstance(v, Dyn):
            names.append(b.need(b.pad_rank(v, rank), perm))
        else:
            names.append(b.const(to_phys(_f32(v), rank, perm), c.hint(i, "const")))
    shape = np.broadcast_shapes(*[v.shape if isinstance(v, Dyn) else np.shape(v) for v in ins])
    return names, perm, tuple(int(d) for d in shape)


def _common_perm(dyns: list[Dyn]) -> tuple[int, ...]:
    """The operands' layout needing the fewest real transposes (ties: channels-last, then first)."""
    def cost(perm):
        where = [{a: i for i, a in enumerate(v.perm)} for v in dyns]
        return sum(not moves_only_ones(v.phys, [w[a] for a in perm]) for v, w in zip(dyns, where))
    rank = dyns[0].rank
    cands = list(dict.fromkeys([channels_last(rank)] * (rank > 2) + [v.perm for v in dyns]))
    return min((p for p in cands if p in {v.perm for v in dyns}), key=cost)


@converter("Add")
def add(b, ins, a, c):
    order = sorted(range(len(ins)), key=lambda i: not isinstance(ins[i], Dyn))    # computed operand first
    if len(c.inputs) == len(ins):                       # constants keep their own ONNX names
        c = Ctx(c.opset, c.op, [c.inputs[i] for i in order], c.out)
    names, perm, shape = _operands(b, [ins[i] for i in order], c)
    return Dyn(b.emit(Op.ADD, names, {}, c.out), shape, perm)


@converter("Sub")
def sub(b, ins, a, c):
    x, y = ins
    if isinstance(y, np.ndarray):
        return add(b, [x, -_f32(y)], a, c)
    if isinstance(x, np.ndarray):
        return _affine(b, y, np.float32(-1.0), x, c)
    neg_y = _affine(b, y, np.float32(-1.0), None, Ctx(c.opset, c.op, c.inputs, f"{c.out}/neg"))
    return add(b, [x, neg_y], a, c)


def _clamp(b, x: Dyn, lo, hi, c) -> Dyn:
    lo = -INF if lo is None or lo <= -FLT_MAX else float(lo)
    hi = INF if hi is None or hi >= FLT_MAX else float(hi)
    return Dyn(b.emit(Op.CLAMP, [x.name], dict(act_min=lo, act_max=hi), c.out), x.shape, x.perm)


def _scalar(v, what):
    if v is None:
        return None
    v = np.asarray(_const(v, what))
    if v.size != 1:
        raise Unsupported(f"{what} must be a scalar")
    return float(v.reshape(-1)[0])


@converter("Relu")
def relu(b, ins, a, c):
    return _clamp(b, _dyn(ins[0]), 0.0, None, c)


@converter("Clip")
def clip(b, ins, a, c):
    x = _dyn(ins[0])
    if c.opset < 11:
        return _clamp(b, x, a.get("min"), a.get("max"), c)
    ins = list(ins) + [None, None]
    return _clamp(b, x, _scalar(ins[1], "min"), _scalar(ins[2], "max"), c)


@converter("Max", "Min")
def min_max(b, ins, a, c):
    dyn = [v for v in ins if isinstance(v, Dyn)]
    if len(dyn) != 1 or len(ins) != 2:
        raise Unsupported("only max/min of a tensor and a scalar constant")
    k = _scalar(next(v for v in ins if not isinstance(v, Dyn)), "constant operand")
    return _clamp(b, dyn[0], k, None, c) if c.op == "Max" else _clamp(b, dyn[0], None, k, c)


@converter("Sigmoid")
def sigmoid(b, ins, a, c):
    x = _dyn(ins[0])
    return Dyn(b.emit(Op.LOGISTIC, [x.name], {}, c.out), x.shape, x.perm)


@converter("Tanh")
def tanh(b, ins, a, c):
    x = _dyn(ins[0])
    return Dyn(b.emit(Op.TANH, [x.name], {}, c.out), x.shape, x.perm)


@converter("Softmax")
def softmax(b, ins, a, c):
    x = _dyn(ins[0])
    r = x.rank
    axis = int(a.get("axis", 1 if c.opset < 13 else -1)) % r
    if c.opset < 13 and any(d != 1 for d in x.shape[axis:-1]):
        # old semantics over the flattened [axis:] block: softmax of a row-major 2-D view
        rows = int(np.prod(x.shape[:axis]))
        flat = b.view(x, (rows, int(np.prod(x.shape[axis:]))))
        y = Dyn(b.emit(Op.SOFTMAX, [flat.name], {}, suffix="rows"), flat.shape, flat.perm)
        return b.view(y, x.shape, c.out)
    if c.opset < 13:
        axis = r - 1
    perm = x.perm if x.perm[-1] == axis else tuple(p for p in x.perm if p != axis) + (axis,)
    return Dyn(b.emit(Op.SOFTMAX, [b.need(x, perm)], {}, c.out), x.shape, perm)


# ---------------------------------------------------------------- data movement
@converter("Concat")
def concat(b, ins, a, c):
    lead = next(v for v in ins if isinstance(v, Dyn))
    r, perm = lead.rank, _common_perm([v for v in ins if isinstance(v, Dyn)])
    axis = int(a["axis"]) % r
    names = [b.need(v, perm) if isinstance(v, Dyn)
             else b.const(to_phys(_f32(v), r, perm), c.hint(i, "const")) for i, v in enumerate(ins)]
    names = [n for n in names if b.shape(n)[perm.index(axis)] > 0]
    shape = list(lead.shape)
    shape[axis] = sum((v.shape if isinstance(v, Dyn) else np.shape(v))[axis] for v in ins)
    y = b.emit(Op.CONCAT, names, dict(axis=perm.index(axis)), c.out)
    return Dyn(y, tuple(shape), perm)


@converter("Pad")
def pad(b, ins, a, c):
    x = _dyn(ins[0])
    if a.get("mode", "constant") != "constant":
        raise Unsupported(f"mode={a['mode']} (only constant)")
    r = x.rank
    if c.opset < 11:
        pads, value = list(a.get("pads", a.get("paddings", []))), float(a.get("value", 0.0))
    else:
        ins = list(ins) + [None, None, None]
        pads = _ints(_const(ins[1], "pads"))
        value = 0.0 if ins[2] is None else _scalar(ins[2], "constant_value")
        if ins[3] is not None:
            axes = [ax % r for ax in _ints(_const(ins[3], "axes"))]
            full = [0] * (2 * r)
            for i, ax in enumerate(axes):
                full[ax], full[r + ax] = pads[i], pads[len(axes) + i]
            pads = full
    if min(pads, default=0) < 0:
        raise Unsupported("negative pads (cropping)")
    if not any(pads):
        return x
    before, after = [pads[p] for p in x.perm], [pads[r + p] for p in x.perm]
    y = b.emit(Op.PAD, [x.name], dict(pads=tuple(before + after), value=value), c.out)
    return Dyn(y, tuple(d + pads[i] + pads[r + i] for i, d in enumerate(x.shape)), x.perm)


@converter("Transpose")
def transpose(b, ins, a, c):
    x = _dyn(ins[0])
    perm = list(a.get("perm") or reversed(range(x.rank)))
    where = {ax: i for i, ax in enumerate(perm)}
    return Dyn(x.name, tuple(x.shape[p] for p in perm), tuple(where[p] for p in x.perm))


def _resolve(in_shape, shape, allowzero=False) -> tuple[int, ...]:
    shape = [in_shape[i] if d == 0 and not allowzero else d for i, d in enumerate(shape)]
    total = int(np.prod(in_shape))
    if shape.count(-1) == 1:
        known = int(np.prod([d for d in shape if d != -1]))
        shape[shape.index(-1)] = total // known if known else 0
    if int(np.prod(shape)) != total or min(shape, default=0) < 0:
        raise Unsupported(f"cannot reshape {tuple(in_shape)} to {tuple(shape)}")
    return tuple(shape)


@converter("Reshape")
def reshape(b, ins, a, c):
    x = _dyn(ins[0])
    shape = _ints(_const(ins[1], "shape"))
    return b.view(x, _resolve(x.shape, shape, a.get("allowzero", 0)), c.out)


@converter("Flatten")
def flatten(b, ins, a, c):
    x = _dyn(ins[0])
    axis = int(a.get("axis", 1))
    axis = axis + x.rank if axis < 0 else axis
    return b.view(x, (int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:]))), c.out)


@converter("Squeeze")
def squeeze(b, ins, a, c):
    x = _dyn(ins[0])
    axes = _axes(a, ins, 1, c.opset, 13)
    drop = {ax for ax in range(x.rank) if x.shape[ax] == 1} if axes is None else {ax % x.rank for ax in axes}
    return b.view(x, tuple(d for ax, d in enumerate(x.shape) if ax not in drop), c.out)


@converter("Unsqueeze")
def unsqueeze(b, ins, a, c):
    x = _dyn(ins[0])
    axes = _axes(a, ins, 1, c.opset, 13)
    r = x.rank + len(axes)
    shape, rest = [], iter(x.shape)
    new = {ax % r for ax in axes}
    for ax in range(r):
        shape.append(1 if ax in new else next(rest))
    return b.view(x, tuple(shape), c.out)


@converter("Identity")
def identity_op(b, ins, a, c):
    return _dyn(ins[0])


@converter("Dropout")
def dropout(b, ins, a, c):
    """Inference: the identity.  A constant training_mode=True with a non-zero ratio is refused."""
    ins = list(ins) + [None, None]
    ratio = a.get("ratio", 0.5) if ins[1] is None else _scalar(ins[1], "ratio")
    training = ins[2] is not None and bool(np.asarray(_const(ins[2], "training_mode")).reshape(-1)[0])
    if training and ratio:
        raise Unsupported("training_mode=True (random dropout at inference)")
    return _dyn(ins[0])


@converter("Cast")
def cast(b, ins, a, c):
    if int(a["to"]) != 1:           # TensorProto.FLOAT
        raise Unsupported("cast of a computed tensor to a non-float type")
    return _dyn(ins[0])


@converter("CastLike")
def cast_like(b, ins, a, c):
    if not isinstance(ins[1], Dyn) and np.asarray(ins[1]).dtype != np.float32:
        raise Unsupported("cast of a computed tensor to a non-float type")
    return _dyn(ins[0])
