"""ONNX import + canonicalization: every op mapping, both layouts, opsets 8..21, against onnxruntime.

Each test builds a small model the way an exporter writes it (tests/models.py), imports it,
runs the CANONICALIZE pipeline (with ir.verify after every pass) and compares
reference.run_float with onnxruntime.  Real-model tests use ../shared/bench when present.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgecompile.errors import EdgeCompileError, ModelError
from edgecompile.ir import Op, verify
from edgecompile.onnx_import import load_onnx
from edgecompile.passes import run_pipeline
from edgecompile.passes.canonical import CANONICALIZE
from edgecompile.reference import run_float

from models import Net, conv_bn_relu_pool_fc, run_ort

OPSETS = [8, 11, 13, 17, 21]


def check(model, feeds, canonical=True, tol=1e-4):
    """Import (+ canonicalize), run_float, compare every output with onnxruntime; returns the graph."""
    g = load_onnx(model)
    verify(g)
    if canonical:
        g = run_pipeline(g, CANONICALIZE)
    got = run_float(g, feeds)
    for name, ref in zip(g.outputs, run_ort(model, feeds)):
        assert got[name].shape == ref.shape, name
        np.testing.assert_allclose(got[name], ref, rtol=tol, atol=tol * max(1.0, float(np.abs(ref).max())))
    return g


def ops(g):
    return [n.op for n in g.nodes]


def simple(op_type, shape=(1, 4, 6, 6), opset=13, nhwc=False, inputs=(), **attrs):
    """x -> one node -> output."""
    n = Net(shape, opset=opset, nhwc=nhwc)
    y = n.op(op_type, [n.x, *inputs], **attrs)
    return n, n.model(y)


# ------------------------------------------------------------------------------ whole networks
@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("nhwc", [False, True], ids=["nchw", "nhwc"])
def test_small_cnn(opset, nhwc):
    n, m = conv_bn_relu_pool_fc(opset, nhwc)
    g = check(m, {"x": n.sample()})
    assert ops(g).count(Op.TRANSPOSE) == 0 if nhwc else ops(g)[0] == Op.TRANSPOSE
    assert Op.CLAMP not in ops(g) and ops(g).count(Op.DEPTHWISE_CONV2D) == 1     # BNs folded, acts fused
    assert g.tensors["x"].shape == n.input_shape                                 # declared layout kept


def test_nchw_input_gets_one_transpose_first():
    n = Net((1, 3, 8, 8))
    a = n.conv(n.x, 3, 4)
    b = n.conv(n.x, 3, 4)
    g = check(n.model(n.op("Add", [a, b])), {"x": n.sample()})
    assert ops(g).count(Op.TRANSPOSE) == 2 and g.nodes[0].op == g.nodes[-1].op == Op.TRANSPOSE  # in, out
    assert g.nodes[0].inputs == ["x"] and g.nodes[0].attrs["perm"] == (0, 2, 3, 1)


@pytest.mark.parametrize("shape", [(1, 1, 8, 8), (1, 5, 1, 1)], ids=["c1", "hw1"])
def test_nchw_input_free_when_trivial(shape):
    n = Net(shape)
    g = check(n.model(n.op("GlobalAveragePool", [n.conv(n.x, shape[1], 4, k=1)])), {"x": n.sample()})
    assert Op.TRANSPOSE not in ops(g)


@pytest.mark.parametrize("batch", ["N", None, 0, 1], ids=["symbolic", "unknown", "zero", "fixed"])
def test_batch_dim_fixed_to_one(batch):
    n, m = conv_bn_relu_pool_fc(batch=batch)
    g = load_onnx(m)
    assert g.tensors["x"].shape == (1, 3, 12, 12) and g.meta["input_shapes"] == {"x": (1, 3, 12, 12)}
    ref = conv_bn_relu_pool_fc(batch=1)[1]
    got = run_float(run_pipeline(g, CANONICALIZE), {"x": n.sample()})[g.outputs[0]]
    np.testing.assert_allclose(got, run_ort(ref, {"x": n.sample()})[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("opset", OPSETS)
def test_shape_arithmetic_view(opset):
    """x.view(x.size(0), -1) with a symbolic batch: Shape/Gather/Unsqueeze/Concat fold away."""
    n = Net((1, 4, 5, 5), opset=opset)
    y = n.flatten_view(n.op("Relu", [n.conv(n.x, 4, 6)]))
    g = check(n.model(n.op("Gemm", [y, n.rand(3, 54), n.rand(3)], transB=1)), {"x": n.sample()})
    assert ops(g) == [Op.TRANSPOSE, Op.CONV2D, Op.RESHAPE, Op.FULLY_CONNECTED]   # flatten transpose folded


def test_shape_arithmetic_exotic():
    """Range, Expand, ConstantOfShape, Cast, Slice, Div on shapes (ReferenceEvaluator-free and -backed)."""
    n = Net((1, 2, 4, 6), opset=13)
    s = n.op("Shape", [n.x])
    hw = n.op("Slice", [s, n.init(np.array([2], np.int64)), n.init(np.array([4], np.int64))])
    half = n.op("Div", [hw, n.init(np.array([2], np.int64))])
    new = n.op("Concat", [n.init(np.array([1], np.int64)), half, n.init(np.array([-1], np.int64))], axis=0)
    y = n.op("Reshape", [n.x, new])                                      # [1, 2, 3, 8]
    r = n.op("Cast", [n.op("Range", [n.init(np.float32(0)), n.init(np.float32(8)), n.init(np.float32(1))])],
             to=TensorProto.FLOAT)
    ones = n.op("ConstantOfShape", [n.op("Shape", [y])],
                value=numpy_helper.from_array(np.array([0.5], np.float32)))
    z = n.op("Add", [n.op("Mul", [y, n.op("Expand", [r, n.op("Shape", [y])])]), ones])
    z = n.op("Add", [z, n.op("CumSum", [r, n.init(np.int64(0))])])       # folded by ReferenceEvaluator
    g = check(n.model(z), {"x": n.sample()})
    assert all(op in (Op.RESHAPE, Op.DEPTHWISE_CONV2D, Op.ADD) for op in ops(g))


# ------------------------------------------------------------------------------ convolutions
@pytest.mark.parametrize("group,cout", [(1, 6), (2, 6), (4, 4), (4, 8)], ids=["dense", "grouped", "dw", "dw_mult2"])
def test_conv_groups(group, cout):
    n = Net((1, 4, 7, 9))
    g = check(n.model(n.conv(n.x, 4, cout, group=group, pads=[1, 0, 2, 1], strides=[2, 1])), {"x": n.sample()})
    conv = next(x for x in g.nodes if x.op in (Op.CONV2D, Op.DEPTHWISE_CONV2D))
    assert conv.op == (Op.DEPTHWISE_CONV2D if group == 4 else Op.CONV2D)
    assert conv.attrs.get("groups", 1) == (group if group == 2 else 1)
    w = g.tensors[conv.inputs[1]].shape
    assert w == ((1, 3, 3, cout) if group == 4 else (cout, 3, 3, 4 // group))


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
@pytest.mark.parametrize("stride", [1, 2])
def test_conv_auto_pad(auto_pad, stride):
    n = Net((1, 3, 8, 7))
    y = n.conv(n.x, 3, 4, k=4, auto_pad=auto_pad, strides=[stride, stride])
    y = n.op("MaxPool", [y], kernel_shape=[3, 2], auto_pad=auto_pad, strides=[stride, 2])
    check(n.model(y), {"x": n.sample()})


def test_conv_dilated():
    n = Net((1, 3, 11, 11))
    check(n.model(n.conv(n.x, 3, 5, dilations=[2, 3], pads=[2, 3, 2, 3])), {"x": n.sample()})


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER"])
@pytest.mark.parametrize("stride", [1, 2])
def test_conv1d_auto_pad(auto_pad, stride):
    """PyTorch's Conv1d(padding="same") with an even kernel: the TorchScript exporter writes auto_pad."""
    n = Net((1, 3, 13), opset=11)
    y = n.conv(n.x, 3, 4, k=4, one_d=True, auto_pad=auto_pad, strides=[stride])
    check(n.model(y), {"x": n.sample()})


@pytest.mark.parametrize("opset", [11, 13])
def test_conv1d(opset):
    n = Net((1, 3, 20), opset=opset)
    y = n.op("Relu", [n.bn(n.conv(n.x, 3, 6, k=5, one_d=True, pads=[2, 1], strides=[2]), 6)])
    y = n.op("MaxPool", [y], kernel_shape=[2], strides=[2])
    y = n.op("AveragePool", [n.conv(y, 6, 6, k=3, group=6, one_d=True, pads=[1, 1])], kernel_shape=[2],
             strides=[1])
    y = n.op("GlobalAveragePool", [y])
    g = check(n.model(y), {"x": n.sample()})
    assert Op.CLAMP not in ops(g) and ops(g).count(Op.TRANSPOSE) == 1     # only the input (C=3, W=20)


# ------------------------------------------------------------------------------ dense
@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm(trans_b):
    n = Net((1, 12), opset=11)
    w = n.rand(7, 12) if trans_b else n.rand(12, 7)
    y = n.op("Gemm", [n.x, w, n.rand(1, 7)], transB=trans_b, alpha=0.7, beta=1.3)
    g = check(n.model(n.op("Gemm", [y, n.rand(7, 3)])), {"x": n.sample()})
    assert ops(g) == [Op.FULLY_CONNECTED, Op.FULLY_CONNECTED]


def test_matmul_add_relu_is_one_fc():
    n = Net((1, 10))
    y = n.op("Relu", [n.op("Add", [n.rand(6, base="bias"), n.op("MatMul", [n.x, n.rand(10, 6)])])])
    g = check(n.model(y), {"x": n.sample()})
    assert ops(g) == [Op.FULLY_CONNECTED] and g.nodes[0].inputs[2]
    assert g.nodes[0].attrs["act_min"] == 0.0


def test_matmul_rank3_and_mul_by_vector():
    n = Net((1, 5, 8))
    y = n.op("MatMul", [n.x, n.rand(8, 4)])
    y = n.op("Div", [n.op("Mul", [y, n.rand(4, base="s")]), n.init(np.float32(2.0))])
    g = check(n.model(y), {"x": n.sample()})
    assert ops(g) == [Op.FULLY_CONNECTED]


# ------------------------------------------------------------------------------ activations
@pytest.mark.parametrize("opset", OPSETS)
def test_clip_fused_old_and_new(opset):
    n = Net((1, 3, 6, 6), opset=opset)
    y = n.clip(n.conv(n.x, 3, 4), 0.0, 6.0)
    y = n.clip(n.op("Relu", [y]), -1.0, 2.0)                 # intersects: [0, 2]
    g = check(n.model(y), {"x": 4 * n.sample()})
    conv = g.nodes[1]
    assert conv.op == Op.CONV2D and (conv.attrs["act_min"], conv.attrs["act_max"]) == (0.0, 2.0)


def test_clip_min_only_and_max_min_forms():
    n = Net((1, 3, 6, 6), opset=13)
    y = n.op("Clip", [n.x, n.init(np.float32(-0.5))])
    y = n.op("Min", [n.op("Max", [y, n.init(np.float32(0.0))]), n.init(np.float32(1.0))])
    g = check(n.model(y), {"x": n.sample()})
    assert ops(g) == [Op.CLAMP] and (g.nodes[0].attrs["act_min"], g.nodes[0].attrs["act_max"]) == (0.0, 1.0)


def test_standalone_activations():
    n = Net((1, 3, 5, 5))
    y = n.op("Tanh", [n.op("Sigmoid", [n.x])])
    z = n.op("Relu", [n.x])
    g = check(n.model(y, z), {"x": n.sample()})
    assert ops(g) == [Op.LOGISTIC, Op.TANH, Op.CLAMP] and g.outputs == [y, z]


@pytest.mark.parametrize("opset,shape,axis", [(11, (1, 10), None), (11, (1, 3, 2, 2), 1), (11, (1, 6, 1, 1), 1),
                                              (13, (1, 10), None), (13, (1, 4, 3, 3), 1), (13, (1, 4, 3, 3), 2)])
def test_softmax(opset, shape, axis):
    attrs = {} if axis is None else {"axis": axis}
    n, m = simple("Softmax", shape, opset, **attrs)
    check(m, {"x": 3 * n.sample()})


def test_softmax_channel_axis_of_conv_output_is_free():
    n = Net((1, 3, 4, 4))
    g = check(n.model(n.op("Softmax", [n.conv(n.x, 3, 5)], axis=1)), {"x": n.sample()})
    assert ops(g) == [Op.TRANSPOSE, Op.CONV2D, Op.SOFTMAX, Op.TRANSPOSE]   # input and output only


# ------------------------------------------------------------------------------ pools
@pytest.mark.parametrize("op_type", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("shape,k,s,p", [((1, 2, 9, 9), 3, 2, 1), ((1, 2, 6, 6), 2, 2, 1), ((1, 2, 10, 7), 3, 3, 0),
                                         ((1, 2, 6, 6), 3, 4, 1)])
def test_pool_ceil_mode(op_type, shape, k, s, p):
    n, m = simple(op_type, shape, 13, kernel_shape=[k, k], strides=[s, s], pads=[p] * 4, ceil_mode=1)
    check(m, {"x": n.sample()})


@pytest.mark.parametrize("ceil", [0, 1])
def test_avg_pool_count_include_pad(ceil):
    n, m = simple("AveragePool", (1, 3, 7, 7), 11, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                  count_include_pad=1, ceil_mode=ceil)
    g = check(m, {"x": n.sample() + 2})
    pad, pool = g.nodes[1:3]
    assert pad.op == Op.PAD and pool.op == Op.AVG_POOL2D and pad.attrs["value"] == 0.0
    assert pool.attrs["pads"][:2] == (0, 0)


def test_pool_opset8_and_dilation_error():
    n, m = simple("MaxPool", (1, 2, 8, 8), 8, kernel_shape=[2, 2], strides=[2, 2])
    check(m, {"x": n.sample()})
    n, m = simple("MaxPool", (1, 2, 8, 8), 11, kernel_shape=[2, 2], dilations=[2, 2])
    with pytest.raises(ModelError, match="dilated pooling"):
        load_onnx(m)


@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("opset", [13, 18])
def test_reduce_mean(keepdims, opset):
    n = Net((1, 4, 5, 6), opset=opset)
    axes = {"axes": [2, 3]} if opset < 18 else {}
    extra = [n.init(np.array([-1, -2], np.int64))] if opset >= 18 else []
    y = n.op("ReduceMean", [n.conv(n.x, 4, 3), *extra], keepdims=keepdims, **axes)
    g = check(n.model(y), {"x": n.sample()})
    assert Op.MEAN in ops(g) and ops(g).count(Op.TRANSPOSE) == 1


def test_reduce_mean_other_axes():
    n = Net((1, 4, 5, 6), opset=13)
    a = n.op("ReduceMean", [n.x], axes=[1], keepdims=1)
    b = n.op("ReduceMean", [n.x], axes=[1, 3], keepdims=0)
    c = n.op("ReduceMean", [n.x], keepdims=0)
    check(n.model(a, b, c), {"x": n.sample()})


@pytest.mark.parametrize("opset", [13, 18])
def test_reduce_max_and_channel_mean_need_no_transpose(opset):
    """torch.export writes adaptive_max_pool2d(x, 1) as ReduceMax (a whole-window MaxPool2D); a mean over
    the channels of an NCHW tensor reduces a contiguous block, so neither moves data."""
    n = Net((1, 4, 5, 6), opset=opset)

    def reduce(op_type, x, axes, keepdims):          # axes: an attribute before opset 18, an input since
        if opset < 18:
            return n.op(op_type, [x], axes=axes, keepdims=keepdims)
        return n.op(op_type, [x, n.init(np.array(axes, np.int64))], keepdims=keepdims)

    c = n.op("Relu", [reduce("ReduceMean", n.x, [1], 1)])
    y = reduce("ReduceMax", n.conv(c, 1, 3), [2, 3], 0)
    z = reduce("ReduceMean", n.op("MatMul", [n.x, n.rand(6, 3)]), [-1], 0)
    g = check(n.model(y, z), {"x": n.sample()})
    assert Op.TRANSPOSE not in ops(g) and Op.MAX_POOL2D in ops(g)


def test_global_pools():
    n = Net((1, 6, 5, 4), nhwc=True)
    y = n.op("Add", [n.op("GlobalAveragePool", [n.x]), n.op("GlobalMaxPool", [n.x])])
    g = check(n.model(y), {"x": n.sample()})
    assert Op.TRANSPOSE not in ops(g)


# ------------------------------------------------------------------------------ elementwise
def test_add_broadcast_and_constants():
    n = Net((1, 4, 5, 5))
    a = n.conv(n.x, 4, 4, k=1)
    y = n.op("Add", [a, n.x])                                             # residual
    y = n.op("Add", [y, n.rand(1, 4, 1, 1, base="c")])                    # per-channel constant
    y = n.op("Sub", [y, n.rand(5, base="c")])                             # along W: stays an ADD
    y = n.op("Add", [n.rand(1, 1, 5, 1, base="c"), y])                    # constant first
    y = n.op("Sub", [n.init(np.float32(1.0)), n.op("Sub", [y, n.x])])    # const - x, x - y
    check(n.model(y), {"x": n.sample()})


def test_mul_per_channel_folded_after_conv_else_depthwise():
    n = Net((1, 3, 6, 6))
    y = n.op("Mul", [n.conv(n.x, 3, 5), n.rand(1, 5, 1, 1, base="s")])
    z = n.op("Mul", [n.rand(1, 3, 1, 1, base="s"), n.x])
    g = check(n.model(y, z), {"x": n.sample()})
    assert ops(g).count(Op.DEPTHWISE_CONV2D) == 1 and ops(g).count(Op.CONV2D) == 1


def test_standalone_batchnorm_is_depthwise():
    n = Net((1, 4, 3, 3))
    g = check(n.model(n.op("Relu", [n.bn(n.x, 4)])), {"x": n.sample()})
    dw = next(x for x in g.nodes if x.op == Op.DEPTHWISE_CONV2D)
    assert g.tensors[dw.inputs[1]].shape == (1, 1, 1, 4) and dw.attrs["act_min"] == 0.0


def test_batchnorm_after_fc():
    n = Net((1, 8), opset=9)
    y = n.bn(n.op("Gemm", [n.x, n.rand(6, 8), n.rand(6)], transB=1), 6)
    g = check(n.model(y), {"x": n.sample()})
    assert ops(g) == [Op.FULLY_CONNECTED]


# ------------------------------------------------------------------------------ data movement
@pytest.mark.parametrize("axis", [1, 2, 3, -1])
def test_concat(axis):
    n = Net((1, 3, 4, 5))
    a = n.conv(n.x, 3, 2)
    b = n.conv(n.x, 3, 2)
    g = check(n.model(n.op("Concat", [a, b, a], axis=axis)), {"x": n.sample()})
    cat = next(x for x in g.nodes if x.op == Op.CONCAT)
    assert cat.attrs["axis"] == {1: 3, 2: 1, 3: 2, -1: 2}[axis]


def test_concat_with_constant():
    n = Net((1, 2, 3, 3))
    check(n.model(n.op("Concat", [n.x, n.rand(1, 1, 3, 3, base="c")], axis=1)), {"x": n.sample()})


@pytest.mark.parametrize("opset", [8, 11, 18])
def test_pad(opset):
    n = Net((1, 3, 4, 5), opset=opset)
    pads = [0, 1, 2, 0, 0, 2, 1, 3]
    if opset < 11:
        y = n.op("Pad", [n.conv(n.x, 3, 2)], pads=pads, value=0.5)
    elif opset < 18:
        y = n.op("Pad", [n.conv(n.x, 3, 2), n.init(np.array(pads, np.int64)), n.init(np.float32(0.5))])
    else:
        y = n.op("Pad", [n.conv(n.x, 3, 2), n.init(np.array([1, 2, 2, 1], np.int64)), n.init(np.float32(0.5)),
                         n.init(np.array([2, -1], np.int64))])
    g = check(n.model(y), {"x": n.sample()})
    assert ops(g).count(Op.PAD) == 1


def test_pad_reflect_unsupported():
    n = Net((1, 3, 4, 4), opset=11)
    m = n.model(n.op("Pad", [n.x, n.init(np.ones(8, np.int64))], mode="reflect"))
    with pytest.raises(ModelError, match="mode=reflect"):
        load_onnx(m)


def test_reshape_squeeze_unsqueeze_transpose():
    n = Net((1, 4, 3, 2), opset=11)
    y = n.op("Transpose", [n.conv(n.x, 4, 6, pads=[1, 1, 1, 1])], perm=[0, 2, 3, 1])      # NHWC view: free
    y = n.op("Reshape", [y, n.init(np.array([0, -1, 6], np.int64))])   # [1, 6, 6] rows of channels
    y = n.op("Unsqueeze", [n.op("Relu", [y])], axes=[1])
    y = n.op("Squeeze", [y], axes=[1])
    y = n.op("MatMul", [y, n.rand(6, 5)])
    z = n.op("Flatten", [n.op("Transpose", [n.x], perm=[0, 3, 1, 2])], axis=2)
    g = check(n.model(y, z), {"x": n.sample()})
    assert ops(g).count(Op.TRANSPOSE) == 2          # the NCHW input and the z output


def test_dropout_in_training_mode_refused():
    n = Net((1, 3, 4, 4), opset=13)
    y = n.op("Dropout", [n.x, n.init(np.float32(0.3)), n.init(np.array(True))], name="drop")
    with pytest.raises(ModelError, match=r"'drop' \(Dropout: training_mode=True"):
        load_onnx(n.model(y))
    n = Net((1, 3, 4, 4), opset=13)
    y = n.op("Dropout", [n.x, n.init(np.float32(0.0)), n.init(np.array(True))])
    check(n.model(n.op("Relu", [y])), {"x": n.sample()})          # ratio 0: the identity


def test_identity_dropout_removed():
    n = Net((1, 3, 4, 4), opset=13)
    y = n.op("Dropout", [n.op("Identity", [n.conv(n.x, 3, 3)])], outputs=2)[0]
    g = check(n.model(n.op("Identity", [y])), {"x": n.sample()})
    assert ops(g) == [Op.TRANSPOSE, Op.CONV2D, Op.TRANSPOSE]


# ------------------------------------------------------------------------------ names and meta
def test_names_and_meta():
    n = Net((1, 3, 6, 6))
    y = n.op("Relu", [n.conv(n.x, 3, 4)], name=None)            # unnamed node
    m = n.model(y)
    g = load_onnx(m, name="tiny")
    assert g.name == "tiny" and g.inputs == ["x"] and g.outputs == [y]
    conv = next(x for x in g.nodes if x.op == Op.CONV2D)
    assert conv.name == m.graph.node[0].name and conv.source_op == "Conv"
    assert conv.outputs == [m.graph.node[0].output[0]]
    relu = next(x for x in g.nodes if x.op == Op.CLAMP)
    assert relu.name == "Relu_1" and relu.source_op == "Relu"
    assert g.meta["opset"] == 13 and g.meta["producer"].startswith("edgecompile-tests")
    assert g.meta["input_shapes"] == {"x": (1, 3, 6, 6)} and len(g.meta["sha256"]) == 64


def test_graph_output_keeps_declared_layout():
    n = Net((1, 3, 5, 7), nhwc=True)
    y = n.op("Transpose", [n.conv(n.x, 3, 4, k=1)], perm=[0, 2, 3, 1])    # back to NHWC: free
    g = check(n.model(y), {"x": n.sample()})
    assert ops(g) == [Op.CONV2D] and g.tensors[y].shape == (1, 5, 7, 4)


# ------------------------------------------------------------------------------ errors
def test_unsupported_ops_listed_in_one_error():
    n = Net((1, 3, 6, 6))
    a = n.op("LeakyRelu", [n.conv(n.x, 3, 4)], alpha=0.1, name="leaky")
    w = n.rand(4, 2, 3, 3)
    b = n.op("ConvTranspose", [a, w], name="deconv")
    c = n.op("Relu", [b])                                   # downstream of unsupported: not listed
    d = n.op("Resize", [c, "", n.init(np.array([1, 1, 2, 2], np.float32))], name="up")
    m = n.model(d)
    with pytest.raises(ModelError) as e:
        load_onnx(m)
    msg = str(e.value)
    assert "\n" not in msg and "3 node(s)" in msg
    for name, op in (("leaky", "LeakyRelu"), ("deconv", "ConvTranspose"), ("up", "Resize")):
        assert f"'{name}' ({op}" in msg
    assert "Relu_" not in msg and isinstance(e.value, EdgeCompileError)


def test_unsupported_attribute_reason():
    n = Net((1, 4, 6, 6))
    y = n.op("Mul", [n.x, n.x], name="square")
    with pytest.raises(ModelError, match=r"'square' \(Mul: one operand"):
        load_onnx(n.model(y))


def test_truncated_and_non_onnx_files(tmp_path):
    _, m = conv_bn_relu_pool_fc()
    data = m.SerializeToString()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="cut.onnx: not a valid ONNX model"):
        load_onnx(cut)
    txt = tmp_path / "notes.onnx"
    txt.write_text("this is not a model\n" * 20)
    with pytest.raises(ModelError, match="notes.onnx"):
        load_onnx(txt)
    with pytest.raises(ModelError, match="cannot read model .*missing.onnx"):
        load_onnx(tmp_path / "missing.onnx")


def test_bad_inputs_and_opset():
    n = Net((1, 3, 4, 4))
    m = n.model(n.op("Relu", [n.x]))
    m2 = onnx.ModelProto()
    m2.CopyFrom(m)
    m2.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "H"
    with pytest.raises(ModelError, match="dimension 2 is unknown"):
        load_onnx(m2)
    m2.CopyFrom(m)
    m2.graph.input[0].type.tensor_type.elem_type = TensorProto.INT64
    with pytest.raises(ModelError, match="only float32"):
        load_onnx(m2)
    m2.CopyFrom(m)
    m2.opset_import[0].version = 5
    with pytest.raises(ModelError, match="opset 5"):
        load_onnx(m2)


# ------------------------------------------------------------------------------ real models
REAL = {"kws_dscnn": "kws01", "vww_mobilenetv1_025": "vww01", "ic_resnet8": "ic01", "ad_fc_autoencoder": "ad01"}


def _real_input(bench, task):
    """One evaluation sample formed as bench/README.md describes for the float model."""
    with np.load(bench / "data" / f"{task}.npz") as f:
        x = f["x"][-1]
    if task == "kws01":
        return ((x.astype(np.float32) - 83) * 0.5847029).reshape(1, 49, 10, 1)
    if task == "vww01":
        return (x.astype(np.float32) / 255)[None]
    if task == "ic01":
        return x.astype(np.float32)[None]
    return x[:5].reshape(1, 640).astype(np.float32)


@pytest.mark.bench
@pytest.mark.parametrize("model", list(REAL))
def test_real_model(bench_dir, model):
    path = bench_dir / "models" / model / "float32.onnx"
    g = load_onnx(path)
    assert g.meta["source"] == str(path) and g.meta["opset"] == 13
    x = _real_input(bench_dir, REAL[model])
    m = onnx.load(path)
    g = check(m, {g.inputs[0]: x}, tol=1e-4)
    assert Op.TRANSPOSE not in ops(g) and Op.CLAMP not in ops(g)
    assert not any(n.op == Op.ADD and any(g.tensors[i].is_const for i in n.inputs) for n in g.nodes)


@pytest.mark.bench
def test_real_qdq_model_refused(bench_dir):
    path = bench_dir / "models" / "kws_dscnn" / "int8_qdq.onnx"
    with pytest.raises(ModelError, match=r"int8_qdq.onnx: input .* type INT8; only float32"):
        load_onnx(path)


def test_bundled_example():
    from edgecompile.examples import DIGITS_ONNX, load_digits_test
    x, _ = load_digits_test()
    g = check(onnx.load(DIGITS_ONNX), {"input": x[:1]})
    assert ops(g).count(Op.TRANSPOSE) == 0 and ops(g).count(Op.DEPTHWISE_CONV2D) == 1


def test_materialized_broadcast_constant_and_broadcast_up_refused():
    n = Net((1, 3, 4, 4))
    k = np.broadcast_to(np.array([1.0, -2.0, 0.5], np.float32).reshape(1, 3, 1, 1), (1, 3, 4, 4))
    g = check(n.model(n.op("Mul", [n.conv(n.x, 3, 3, k=1), n.init(np.ascontiguousarray(k))])), {"x": n.sample()})
    assert Op.DEPTHWISE_CONV2D not in ops(g)                      # recognized as per-channel, folded
    n = Net((1, 3, 1, 4))
    with pytest.raises(ModelError, match="does not broadcast to the input"):
        load_onnx(n.model(n.op("Mul", [n.x, n.init(np.ones((1, 3, 2, 4), np.float32))])))


def test_residual_with_nchw_input_picks_channels_last():
    """Add(graph input NCHW, conv output): the add runs channels-last; only the input is transposed."""
    n = Net((1, 4, 5, 5))
    y = n.op("Add", [n.x, n.conv(n.x, 4, 4, k=1)])
    y = n.op("GlobalAveragePool", [n.conv(y, 4, 4, k=1)])
    g = check(n.model(y), {"x": n.sample()})
    assert ops(g).count(Op.TRANSPOSE) == 1


def test_tf2onnx_style_head_needs_no_transpose():
    """NHWC input, Transpose back to NHWC before ReduceMean / Keras Flatten: all layout changes are free."""
    n = Net((1, 3, 6, 6), nhwc=True, opset=13)
    y = n.op("Relu", [n.conv(n.x, 3, 4, pads=[1, 1, 1, 1])])
    back = n.op("Transpose", [y], perm=[0, 2, 3, 1])
    pooled = n.op("ReduceMean", [back], axes=[1, 2], keepdims=0)
    flat = n.op("Reshape", [back, n.init(np.array([-1, 144], np.int64))])
    dense = n.op("Add", [n.op("MatMul", [flat, n.rand(144, 3)]), n.rand(3, base="bias")])
    g = check(n.model(pooled, dense), {"x": n.sample()})
    assert Op.TRANSPOSE not in ops(g) and Op.ADD not in ops(g)


def test_pytorch_style_constant_nodes_and_pad_arithmetic():
    """TorchScript exports: Constant nodes, relu6 as Clip(Constant, Constant) and F.pad's reversed-pairs
    arithmetic (ConstantOfShape, Concat, Reshape, Slice with step -1, Transpose, Cast)."""
    n = Net((1, 3, 5, 5), opset=13)

    def constant(v):
        return n.op("Constant", [], value=numpy_helper.from_array(np.asarray(v)))

    y = n.op("Clip", [n.conv(n.x, 3, 4), constant(np.float32(0.0)), constant(np.float32(6.0))])
    torch_pads = constant(np.array([1, 2, 0, 1], np.int64))            # (w_begin, w_end, h_begin, h_end)
    zeros = n.op("ConstantOfShape", [constant(np.array([4], np.int64))],
                 value=numpy_helper.from_array(np.zeros(1, np.int64)))
    p = n.op("Reshape", [n.op("Concat", [torch_pads, zeros], axis=0), constant(np.array([-1, 2], np.int64))])
    p = n.op("Slice", [p, constant(np.array([-1], np.int64)), constant(np.array([-(2 ** 63) + 1], np.int64)),
                       constant(np.array([0], np.int64)), constant(np.array([-1], np.int64))])
    p = n.op("Cast", [n.op("Reshape", [n.op("Transpose", [p], perm=[1, 0]), constant(np.array([-1], np.int64))])],
             to=TensorProto.INT64)
    y = n.op("Pad", [y, p, constant(np.float32(0.0))], mode="constant")
    g = check(n.model(y), {"x": 3 * n.sample()})
    assert ops(g) == [Op.TRANSPOSE, Op.CONV2D, Op.PAD, Op.TRANSPOSE]
    assert g.nodes[2].attrs["pads"] == (0, 0, 1, 0, 0, 1, 2, 0)


def test_initializers_listed_as_inputs_and_custom_domain_op():
    n = Net((1, 3, 4, 4), opset=9)
    y = n.conv(n.x, 3, 2, k=1)
    m = n.model(y)
    m.graph.input.extend(helper.make_tensor_value_info(t.name, TensorProto.FLOAT, t.dims)
                         for t in m.graph.initializer)             # keep_initializers_as_inputs=True
    g = check(m, {"x": n.sample()})
    assert g.inputs == ["x"]
    m.graph.node.append(helper.make_node("FusedGemm", [y], ["z"], name="fused", domain="com.microsoft"))
    m.graph.output[0].name = "z"
    with pytest.raises(ModelError, match=r"'fused' \(com.microsoft.FusedGemm\)"):
        load_onnx(m)
