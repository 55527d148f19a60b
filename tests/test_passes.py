"""Canonicalization passes, in both TVM styles: structural (what the graph looks like after) and
numeric (run_float before == after).  Every pass must also leave its input graph untouched."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from edgecompile.ir import Graph, Node, Op, Tensor, verify
from edgecompile.ops import REGISTRY
from edgecompile.passes import PassContext
from edgecompile.passes.canonical import CANONICALIZE
from edgecompile.passes.fold_bn import fold_bn
from edgecompile.passes.fold_pad import fold_pad
from edgecompile.passes.fold_reshape import fold_reshape
from edgecompile.passes.fuse_activation import fuse_activation
from edgecompile.reference import run_float

RNG = np.random.default_rng(0)
ZERO = dict(strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0))


def build(inputs: dict, consts: dict, nodes: list, outputs: list) -> Graph:
    """inputs {name: shape}, consts {name: array}, nodes [(op, [ins], out, attrs)] -> verified Graph."""
    tensors = {k: Tensor(k, tuple(s)) for k, s in inputs.items()}
    tensors.update({k: Tensor(k, v.shape, data=np.asarray(v, np.float32)) for k, v in consts.items()})
    ns = []
    for op, ins, out, attrs in nodes:
        shape = REGISTRY[op].infer(*[tensors[i].shape if i else None for i in ins], **attrs)
        tensors[out] = Tensor(out, tuple(shape))
        ns.append(Node(out, op, list(ins), [out], dict(attrs)))
    g = Graph("t", tensors, ns, list(inputs), outputs)
    verify(g)
    return g


def w(*shape):
    return RNG.normal(0, 0.5, shape).astype(np.float32)


def apply(p, g: Graph, **feeds_shapes) -> Graph:
    """Run pass p; check it did not touch g, that the result verifies and computes the same."""
    snapshot = copy.deepcopy(g)
    out = p(g, PassContext())
    assert g.summary() == snapshot.summary() and all(
        a.attrs == b.attrs and a.inputs == b.inputs for a, b in zip(g.nodes, snapshot.nodes))
    assert all(np.array_equal(t.data, snapshot.tensors[k].data) for k, t in g.tensors.items() if t.is_const)
    verify(out)
    feeds = {i: RNG.normal(0, 1, g.tensors[i].shape).astype(np.float32) for i in g.inputs}
    before, after = run_float(g, feeds), run_float(out, feeds)
    assert out.outputs == g.outputs
    for o in g.outputs:
        np.testing.assert_allclose(after[o], before[o], rtol=1e-5, atol=1e-5)
    return out


def ops(g):
    return [n.op for n in g.nodes]


def affine(x, c, out, act=None):
    """A per-channel affine node as import writes it (BatchNormalization): 1x1 depthwise conv."""
    return (Op.DEPTHWISE_CONV2D, [x, f"{out}_s", f"{out}_t"], out, dict(ZERO, **(act or {}))), \
        {f"{out}_s": w(1, 1, 1, c) + 1, f"{out}_t": w(c)}


# ------------------------------------------------------------------------------ fold_bn
@pytest.mark.parametrize("op", [Op.CONV2D, Op.DEPTHWISE_CONV2D])
def test_fold_bn_into_conv(op):
    wshape = (6, 3, 3, 4) if op == Op.CONV2D else (1, 3, 3, 6)
    cin = 4 if op == Op.CONV2D else 6
    bn, k = affine("y", 6, "z")
    g = build({"x": (1, 7, 7, cin)}, {"w": w(*wshape), "b": w(6), **k},
              [(op, ["x", "w", "b"], "y", dict(ZERO, pads=(1, 1, 1, 1))), bn], ["z"])
    out = apply(fold_bn, g)
    assert ops(out) == [op] and out.nodes[0].outputs == ["z"]
    assert not np.array_equal(out.tensors[out.nodes[0].inputs[1]].data, g.tensors["w"].data)


def test_fold_add_into_fc_bias_and_mul_through_reshapes():
    bn, k = affine("y4", 5, "z4")
    g = build({"x": (1, 8)}, {"w": w(5, 8), "c": w(5), **k},
              [(Op.FULLY_CONNECTED, ["x", "w", ""], "y", {}),
               (Op.ADD, ["c", "y"], "y1", {}),                          # constant first
               (Op.RESHAPE, ["y1"], "y4", dict(shape=(1, 1, 1, 5))), bn,
               (Op.RESHAPE, ["z4"], "z", dict(shape=(1, 5)))], ["z"])
    out = apply(fold_bn, g)
    assert ops(out) == [Op.FULLY_CONNECTED, Op.RESHAPE, Op.RESHAPE] and out.nodes[0].inputs[2]
    assert ops(apply(fold_reshape, out)) == [Op.FULLY_CONNECTED]


def test_fold_bn_moves_fused_activation():
    bn, k = affine("y", 4, "z", dict(act_min=0.0, act_max=6.0))
    g = build({"x": (1, 5, 5, 4)}, {"w": w(4, 1, 1, 4), **k}, [(Op.CONV2D, ["x", "w", ""], "y", ZERO), bn], ["z"])
    out = apply(fold_bn, g)
    assert ops(out) == [Op.CONV2D] and out.nodes[0].attrs["act_max"] == 6.0


def test_fold_bn_leaves_what_it_cannot_fold():
    bn1, k1 = affine("y", 4, "z1")
    bn2, k2 = affine("p", 4, "z2")
    bn3, k3 = affine("r", 4, "z3")
    g = build({"x": (1, 6, 6, 4)}, {"w": w(4, 1, 1, 4), "v": w(1, 1, 6, 1), **k1, **k2, **k3},
              [(Op.CONV2D, ["x", "w", ""], "y", ZERO), bn1,                        # y has two readers
               (Op.MAX_POOL2D, ["y"], "p", dict(kernel=(2, 2), strides=(2, 2))), bn2,  # not weighted
               (Op.CONV2D, ["x", "w", ""], "r", dict(ZERO, act_min=0.0)), bn3,      # act in between
               (Op.CONV2D, ["x", "w", ""], "s", ZERO),
               (Op.ADD, ["s", "v"], "z4", {})],                                      # varies along W
              ["z1", "z2", "z3", "z4"])
    assert ops(apply(fold_bn, g)) == ops(g)


def test_fold_bn_standalone_stays():
    bn, k = affine("x", 3, "z")
    g = build({"x": (1, 4, 4, 3)}, k, [bn], ["z"])
    assert ops(apply(fold_bn, g)) == [Op.DEPTHWISE_CONV2D]


# ------------------------------------------------------------------------------ fuse_activation
def test_fuse_relu6_into_conv_and_intersect():
    g = build({"x": (1, 5, 5, 3)}, {"w": w(4, 3, 3, 3), "b": w(4)},
              [(Op.CONV2D, ["x", "w", "b"], "y", ZERO),
               (Op.CLAMP, ["y"], "r", dict(act_min=0.0, act_max=6.0)),
               (Op.CLAMP, ["r"], "z", dict(act_min=-1.0, act_max=1.0))], ["z"])
    out = apply(fuse_activation, g)
    assert ops(out) == [Op.CONV2D] and out.nodes[0].outputs == ["z"]
    assert (out.nodes[0].attrs["act_min"], out.nodes[0].attrs["act_max"]) == (0.0, 1.0)


def test_fuse_through_reshape_into_pool_and_add():
    g = build({"x": (1, 4, 4, 3)}, {},
              [(Op.AVG_POOL2D, ["x"], "p", dict(kernel=(2, 2), strides=(2, 2))),
               (Op.RESHAPE, ["p"], "f", dict(shape=(1, 12))),
               (Op.CLAMP, ["f"], "z", dict(act_min=0.0, act_max=math.inf)),
               (Op.ADD, ["x", "x"], "a", {}),
               (Op.CLAMP, ["a"], "z2", dict(act_min=-0.5, act_max=0.5))], ["z", "z2"])
    out = apply(fuse_activation, g)
    assert ops(out) == [Op.AVG_POOL2D, Op.RESHAPE, Op.ADD]
    assert out.nodes[0].attrs["act_min"] == 0.0 and out.nodes[2].attrs["act_max"] == 0.5


def test_fuse_refused():
    g = build({"x": (1, 4, 4, 3)}, {"w": w(3, 1, 1, 3)},
              [(Op.CONV2D, ["x", "w", ""], "y", ZERO),
               (Op.CLAMP, ["y"], "z", dict(act_min=0.0)),                  # y is also a graph output
               (Op.LOGISTIC, ["x"], "l", {}),
               (Op.CLAMP, ["l"], "z2", dict(act_min=0.0))], ["y", "z", "z2"])   # Logistic not fusable
    assert ops(apply(fuse_activation, g)) == ops(g)


# ------------------------------------------------------------------------------ fold_reshape
def test_reshape_chains_and_identities():
    g = build({"x": (1, 4, 6)}, {},
              [(Op.RESHAPE, ["x"], "a", dict(shape=(1, 24))),
               (Op.RESHAPE, ["a"], "b", dict(shape=(4, 6))),
               (Op.RESHAPE, ["b"], "c", dict(shape=(1, 4, 6))),              # back to x's shape
               (Op.CLAMP, ["c"], "d", dict(act_min=0.0)),
               (Op.RESHAPE, ["d"], "z", dict(shape=(1, 4, 6)))], ["z"])      # identity on the output
    out = apply(fold_reshape, g)
    assert ops(out) == [Op.CLAMP] and out.nodes[0].inputs == ["x"] and out.nodes[0].outputs == ["z"]


def test_transposes_compose_and_vanish():
    g = build({"x": (1, 3, 4, 5)}, {},
              [(Op.TRANSPOSE, ["x"], "a", dict(perm=(0, 2, 3, 1))),
               (Op.TRANSPOSE, ["a"], "b", dict(perm=(0, 3, 1, 2))),           # inverse: identity
               (Op.TRANSPOSE, ["b"], "c", dict(perm=(0, 2, 1, 3))),
               (Op.CLAMP, ["c"], "z", dict(act_min=0.0)),
               (Op.TRANSPOSE, ["x"], "u", dict(perm=(1, 0, 2, 3))),            # moves only a 1
               (Op.CLAMP, ["u"], "z2", dict(act_min=0.0))], ["z", "z2"])
    out = apply(fold_reshape, g)
    assert ops(out) == [Op.TRANSPOSE, Op.CLAMP, Op.RESHAPE, Op.CLAMP]
    assert out.nodes[0].inputs == ["x"] and out.nodes[0].attrs["perm"] == (0, 2, 1, 3)


def test_nchw_flatten_transpose_folded_into_fc_weights():
    g = build({"x": (1, 3, 4, 5)}, {"w": w(7, 60), "b": w(7)},
              [(Op.TRANSPOSE, ["x"], "t", dict(perm=(0, 3, 1, 2))),
               (Op.RESHAPE, ["t"], "f", dict(shape=(1, 60))),
               (Op.FULLY_CONNECTED, ["f", "w", "b"], "z", {})], ["z"])
    out = apply(fold_reshape, g)
    assert ops(out) == [Op.RESHAPE, Op.FULLY_CONNECTED] and out.nodes[0].inputs == ["x"]


def test_graph_input_to_output_reshape_kept():
    g = build({"x": (1, 6)}, {}, [(Op.RESHAPE, ["x"], "z", dict(shape=(1, 6)))], ["z"])
    assert ops(apply(fold_reshape, g)) == [Op.RESHAPE]


# ------------------------------------------------------------------------------ fold_pad
@pytest.mark.parametrize("op", [Op.CONV2D, Op.DEPTHWISE_CONV2D])
def test_fold_zero_pad_into_conv(op):
    wshape = (5, 3, 3, 4) if op == Op.CONV2D else (1, 3, 3, 4)
    g = build({"x": (1, 6, 7, 4)}, {"w": w(*wshape), "b": w(wshape[0] if op == Op.CONV2D else 4)},
              [(Op.PAD, ["x"], "p", dict(pads=(0, 1, 0, 0, 0, 2, 3, 0))),
               (op, ["p", "w", "b"], "y", dict(ZERO, strides=(2, 2), pads=(1, 0, 0, 1)))], ["y"])
    out = apply(fold_pad, g)
    assert ops(out) == [op] and out.nodes[0].inputs[0] == "x" and out.nodes[0].attrs["pads"] == (2, 0, 2, 4)


def test_fold_pad_1d_through_reshape():
    g = build({"x": (1, 9, 3)}, {"w": w(4, 1, 3, 3)},
              [(Op.PAD, ["x"], "p", dict(pads=(0, 2, 0, 0, 1, 0))),
               (Op.RESHAPE, ["p"], "r", dict(shape=(1, 1, 12, 3))),
               (Op.CONV2D, ["r", "w", ""], "y", ZERO)], ["y"])
    out = apply(fold_pad, g)
    assert ops(out) == [Op.RESHAPE, Op.CONV2D] and out.nodes[1].attrs["pads"] == (0, 2, 0, 1)


def test_fold_pad_refused():
    """Non-zero value, padded channels, a pad with another reader, and a pad before a pool stay."""
    g = build({"x": (1, 5, 5, 3)}, {"w": w(2, 1, 1, 3), "w2": w(2, 1, 1, 4)},
              [(Op.PAD, ["x"], "p1", dict(pads=(0, 1, 1, 0, 0, 1, 1, 0), value=0.5)),
               (Op.CONV2D, ["p1", "w", ""], "y1", ZERO),
               (Op.PAD, ["x"], "p2", dict(pads=(0, 0, 0, 1, 0, 0, 0, 0))),
               (Op.CONV2D, ["p2", "w2", ""], "y2", ZERO),
               (Op.PAD, ["x"], "p3", dict(pads=(0, 1, 1, 0, 0, 1, 1, 0))),
               (Op.CONV2D, ["p3", "w", ""], "y3", ZERO),
               (Op.MAX_POOL2D, ["p3"], "y4", dict(kernel=(2, 2), strides=(1, 1)))],
              ["y1", "y2", "y3", "y4"])
    out = apply(fold_pad, g)
    assert ops(out) == ops(g)


def test_canonicalize_is_a_literal_list_of_passes():
    assert CANONICALIZE[:4] == [fold_reshape, fold_pad, fold_bn, fuse_activation]
    assert all(callable(p) for p in CANONICALIZE)
