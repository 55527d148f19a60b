"""ONNX's own backend tests for the ops we support, run through our importer (tinygrad's
external_test_onnx_backend.py idea), then compiled to C and checked bit-exact.

Cases come from ``onnx.backend.test.loader.load_model_tests``: the node tests (one-node models with
numpy-computed outputs; onnx >= 1.20 builds them from its case generators instead of shipping
``data/node``) for the op types in SUPPORTED, plus the old PyTorch-exported ``pytorch-converted`` and
``pytorch-operator`` models.  The node tests feed weights, shapes and bounds as graph inputs; an edge
compiler bakes those, so ``freeze`` turns them into initializers from the test's own data.

Every case is either imported and matches the expected output (rtol/atol 1e-4 of the output scale),
or is listed in EXCLUDE with a reason and must be refused with one clean ModelError.  Accepted cases
with float32 inputs of rank <= 4 are also compiled (calibrated on the test input) and the generated C
must equal the NumPy integer reference; models that only reshape their input are refused by the
memory planner ("computes nothing"), which is checked too.
"""
from __future__ import annotations

import functools
import glob
import os
import re
import warnings

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgecompile.compiler import compile_model, import_model, verify, write_project
from edgecompile.errors import ModelError
from edgecompile.ir import Op
from edgecompile.reference import run_float

SUPPORTED = {"Conv", "Gemm", "MatMul", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
             "ReduceMean", "ReduceMax", "Add", "Sub", "Mul", "Div", "Neg", "Relu", "Clip", "Max", "Min",
             "Sigmoid", "Tanh", "Softmax", "Concat", "Pad", "Reshape", "Flatten", "Squeeze", "Unsqueeze",
             "Transpose", "BatchNormalization", "Identity", "Dropout"}

# inputs a deployed model holds as constants (input positions per op); non-float inputs are always frozen
FROZEN = {"Conv": {1, 2}, "Gemm": {1, 2}, "MatMul": {1}, "BatchNormalization": {1, 2, 3, 4}, "Clip": {1, 2},
          "Mul": {1}, "Div": {1}, "Pad": {1, 2, 3}, "Dropout": {1, 2}}

# (regex on the case id, reason): these must be refused with a ModelError
EXCLUDE = [
    (r"_(u?int(8|16|32|64)|float16|float64)\b|_int8_|_uint8$|_int32_trunc|_bool(_|$)",
     "non-float32 data (float32 models only)"),
    (r"test_(edge|reflect|wrap)_pad", "integer data (and non-constant pad modes)"),
    (r"test_(softmax|clip)(?!_default_inbounds)\w*_expanded",
     "function-body expansion into ops we do not import (Exp, ReduceSum, Less, Where, ...)"),
    (r"pool_3d", "3-D pooling: rank-5 tensors"),
    (r"pool_2d_dilations|_pool1d_stride_padding_dilation|Pool2d_stride_padding_dilation", "dilated pooling"),
    (r"maxpool_with_argmax", "MaxPool's Indices output"),
    (r"test_matmul_(3d|4d|bcast|1d_3d|1d_1d)$", "batched or vector-vector MatMul (only [..., I] @ [I, O] / [I])"),
    (r"test_(mul|div)$", "tensor x full constant product (only per-channel scaling)"),
    (r"test_(max|min)_(example|one_input|two_inputs|float32)$", "elementwise max/min of tensors"),
    (r"test_reshape_allowzero_reordered|_empty_set", "empty (zero-size) tensors"),
    (r"test_unsqueeze_(two|three)_axes|test_unsqueeze_(unsorted|negative)_axes", "rank-5/6 result"),
    (r"training_mode|test_training_dropout(_default|_mask|_zero_ratio_mask)?$|dropout_default_mask",
     "training-mode outputs (batch statistics, random dropout, masks)"),
    (r"test_identity_(sequence|opt)", "sequence / optional types"),
    (r"^pytorch-", "PyTorch 0.x exports: opset 6 (< 7), ConvTranspose, Tile, rank-6 PixelShuffle, dilated pools"),
]


def excluded(case_id: str) -> str | None:
    return next((why for pat, why in EXCLUDE if re.search(pat, case_id)), None)


def freeze(model: onnx.ModelProto, inputs: list) -> tuple[onnx.ModelProto, list]:
    """Turn graph inputs that are weights, bounds, shapes or axes into initializers."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    first = m.graph.input[0].name if m.graph.input else None
    at = {}                                                # input name -> frozen positions it feeds
    for n in m.graph.node:
        for pos, name in enumerate(n.input):
            at.setdefault(name, set()).update({pos} & FROZEN.get(n.op_type, set()))
    keep, vals = [], []
    for vi, x in zip(list(m.graph.input), inputs):
        is_array = isinstance(x, (np.ndarray, np.generic))
        if is_array and vi.name != first and (np.asarray(x).dtype != np.float32 or at.get(vi.name)):
            m.graph.initializer.append(numpy_helper.from_array(np.asarray(x), vi.name))
        else:
            keep.append(onnx.ValueInfoProto())
            keep[-1].CopyFrom(vi)
            vals.append(x)
    del m.graph.input[:]
    m.graph.input.extend(keep)
    return m, vals


def _read_pb(pattern: str) -> list:
    return [numpy_helper.to_array(onnx.load_tensor(p)) for p in sorted(glob.glob(pattern))]


def _load(tc) -> tuple[onnx.ModelProto, list, list]:
    if tc.model is not None:
        ins, outs = tc.data_sets[0]
        return tc.model, list(ins), list(outs)
    d = tc.model_dir
    return (onnx.load(os.path.join(d, "model.onnx")), _read_pb(f"{d}/test_data_set_0/input_*.pb"),
            _read_pb(f"{d}/test_data_set_0/output_*.pb"))


@functools.cache
def cases() -> dict[str, tuple]:
    """{case id: (model, inputs, expected outputs)} with weights frozen."""
    from onnx.backend.test.loader import load_model_tests
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        node = load_model_tests(kind="node")
    ops = {tc.name: tc.model.graph.node[0].op_type if tc.model is not None and len(tc.model.graph.node) == 1
           else None for tc in node}
    picked = [tc for tc in node if (ops[tc.name] or ops.get(tc.name.split("_expanded")[0])) in SUPPORTED]
    out = {}
    for tc in picked:
        m, ins, outs = _load(tc)
        out[tc.name] = (*freeze(m, ins), outs)
    for kind in ("pytorch-converted", "pytorch-operator"):
        for tc in sorted(load_model_tests(kind=kind), key=lambda t: t.name):
            out[f"{kind}/{tc.name}"] = _load(tc)
    return out


def _import(case_id):
    """(graph, model, {input name: test input}, expected outputs)."""
    model, ins, outs = cases()[case_id]
    inits = {t.name for t in model.graph.initializer}
    feeds = dict(zip([vi.name for vi in model.graph.input if vi.name not in inits], ins))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return import_model(model), model, feeds, outs


ALL = list(cases())
ACCEPTED = [c for c in ALL if excluded(c) is None]
REFUSED = [c for c in ALL if excluded(c) is not None]


def test_case_counts():
    assert len(ACCEPTED) >= 130 and len(ALL) >= 350, (len(ACCEPTED), len(ALL))


@pytest.mark.parametrize("case_id", REFUSED)
def test_refused_cleanly(case_id):
    with pytest.raises(ModelError):
        _import(case_id)


@pytest.mark.parametrize("case_id", ACCEPTED)
def test_float_matches_onnx(case_id):
    g, model, feeds, outs = _import(case_id)
    got = run_float(g, {i: feeds[i] for i in g.inputs})
    expected = dict(zip([o.name for o in model.graph.output], outs))
    assert g.outputs and set(g.outputs) <= set(expected)
    for name in g.outputs:
        ref = np.asarray(expected[name])
        assert got[name].shape == ref.shape, name
        np.testing.assert_allclose(got[name], ref, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(ref).max())))


def _compilable(case_id) -> bool:
    _, ins, _ = cases()[case_id]
    return all(isinstance(x, np.ndarray) and x.dtype == np.float32 and x.ndim <= 4 for x in ins)


@pytest.mark.parametrize("case_id", [c for c in ACCEPTED if _compilable(c)])
def test_compiled_c_bit_exact(case_id, tmp_path):
    g, _, feeds, _ = _import(case_id)
    calib = {i: feeds[i][None] for i in g.inputs}
    if all(n.op == Op.RESHAPE for n in g.nodes):
        with pytest.raises(ModelError, match="computes nothing"):
            compile_model(None, name="m", calib=calib, float_graph=g)
        return
    art = compile_model(None, name="m", calib=calib, float_graph=g)
    res = verify(art, write_project(art, tmp_path / "m"), calib, with_float=False)
    assert res.bytes_compared > 0 and res.mismatches == 0, f"first diverging node: {res.first_bad_node}"
