"""TFLite import (full-int8 flatbuffers -> quantized IR) and export (IR -> .tflite)."""
from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("tflite_micro")

from edgecompile.compiler import compile_model, compile_tflite, write_project  # noqa: E402
from edgecompile.errors import ModelError  # noqa: E402
from edgecompile.host import HostModel  # noqa: E402
from edgecompile.ir import Op  # noqa: E402
from edgecompile.tflite_export import export_tflite  # noqa: E402
from edgecompile.tflite_import import dequantized, is_tflite, load_tflite, schema  # noqa: E402
from edgecompile.tflm import Tflm  # noqa: E402

from tflm_util import TensorSpec, build_model, run_model  # noqa: E402

OPS = {"kws_dscnn": {Op.CONV2D: 5, Op.DEPTHWISE_CONV2D: 4, Op.AVG_POOL2D: 1, Op.RESHAPE: 1,
                     Op.FULLY_CONNECTED: 1, Op.SOFTMAX: 1},
       "ic_resnet8": {Op.CONV2D: 9, Op.ADD: 3, Op.AVG_POOL2D: 1, Op.RESHAPE: 1, Op.FULLY_CONNECTED: 1,
                      Op.SOFTMAX: 1},
       "ad_fc_autoencoder": {Op.FULLY_CONNECTED: 10},
       "vww_mobilenetv1_025": {Op.CONV2D: 14, Op.DEPTHWISE_CONV2D: 13, Op.AVG_POOL2D: 1, Op.RESHAPE: 1,
                               Op.FULLY_CONNECTED: 1, Op.SOFTMAX: 1}}


@pytest.mark.parametrize("model", list(OPS))
def test_bench_model_keeps_every_scale(model, bench_dir):
    path = bench_dir / "models" / model / "int8.tflite"
    assert is_tflite(path)
    g = load_tflite(path)
    counts = {}
    for n in g.nodes:
        counts[n.op] = counts.get(n.op, 0) + 1
    assert counts == OPS[model]
    sg = schema().ModelT.InitFromPackedBuf(path.read_bytes(), 0).subgraphs[0]
    idx = g.meta["tflite_tensors"]
    for name, t in g.tensors.items():
        q = sg.tensors[idx[name]].quantization
        if t.q is None:
            continue
        assert np.array_equal(t.q.scale, np.asarray(q.scale, np.float32))
        assert np.array_equal(t.q.zero_point, np.asarray(q.zeroPoint, np.int32))
        if t.q.scale.size > 1:
            assert t.q.axis == q.quantizedDimension
        if t.is_const:
            assert t.dtype in ("int8", "int32")
    acts = [n.attrs.get("act_min") for n in g.nodes if n.op in (Op.CONV2D, Op.DEPTHWISE_CONV2D)]
    assert all(a in (None, 0.0) for a in acts)
    # the float twin has the same structure with dequantized constants
    f = dequantized(g)
    assert [n.op for n in f.nodes] == [n.op for n in g.nodes]
    assert all(t.q is None and t.dtype == "float32" for t in f.tensors.values())


def test_compile_model_detects_tflite(bench_dir, tmp_path):
    art = compile_model(str(bench_dir / "models" / "ad_fc_autoencoder" / "int8.tflite"), name="ad")
    assert art.graph.meta["quantized"]["method"] == "tflite"
    assert all(n.kernel for n in art.graph.nodes)
    write_project(art, tmp_path / "ad")
    assert (tmp_path / "ad" / "ad.c").exists()


def test_fused_activations_and_single_op_models(tmp_path):
    """Independently built single-op models (tests/tflm_util.py) import with the right attrs and run
    bit-exactly as TFLM does."""
    rng = np.random.default_rng(3)
    for act, bounds in [(None, (-math.inf, math.inf)), ("RELU", (0.0, math.inf)), ("RELU6", (0.0, 6.0)),
                        ("RELU_N1_TO_1", (-1.0, 1.0))]:
        shape = (1, 5, 6, 4)
        model = build_model("ADD", [TensorSpec(shape, 0.05, 3), TensorSpec(shape, 0.02, -7)],
                            TensorSpec(shape, 0.04, -20), dict(fused_activation=act))
        g = load_tflite(model)
        (n,) = g.nodes
        assert n.op == Op.ADD and (n.attrs.get("act_min", -math.inf), n.attrs.get("act_max", math.inf)) == bounds
        art = compile_tflite(model, name=f"add{act or ''}".lower().replace("_", ""))
        out = write_project(art, tmp_path / art.name)
        host = HostModel(out, art.name, len(art.graph.nodes))
        a, b = (rng.integers(-128, 128, shape).astype(np.int8) for _ in range(2))
        c, _ = host.run([a, b], [int(np.prod(shape))])
        assert np.array_equal(c[0], run_model(model, [a, b]).ravel())


def test_unsupported_op_is_named(bench_dir):
    path = bench_dir / "models" / "kws_dscnn" / "int8.tflite"
    sch = schema()
    m = sch.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    m.operatorCodes[m.subgraphs[0].operators[-1].opcodeIndex].builtinCode = sch.BuiltinOperator.HARD_SWISH
    m.operatorCodes[m.subgraphs[0].operators[-1].opcodeIndex].deprecatedBuiltinCode = sch.BuiltinOperator.HARD_SWISH
    import flatbuffers
    b = flatbuffers.Builder(1 << 16)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    with pytest.raises(ModelError, match="HARD_SWISH"):
        load_tflite(bytes(b.Output()))


def test_float_model_is_refused():
    model = build_model("LOGISTIC", [TensorSpec((1, 4), 0.1, 0)], TensorSpec((1, 4), 1 / 256, -128))
    sch = schema()
    m = sch.ModelT.InitFromPackedBuf(model, 0)
    for t in m.subgraphs[0].tensors:
        t.type, t.quantization = sch.TensorType.FLOAT32, None
    import flatbuffers
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    with pytest.raises(ModelError, match="full-int8"):
        load_tflite(bytes(b.Output()))
    with pytest.raises(ModelError, match="TFL3"):
        load_tflite(b"not a model at all")


@pytest.mark.parametrize("model", ["kws_dscnn", "ic_resnet8"])
def test_export_roundtrip(model, bench_dir):
    """import -> export -> import keeps every tensor; TFLM gives identical outputs on both files."""
    path = bench_dir / "models" / model / "int8.tflite"
    g = load_tflite(path)
    data = export_tflite(g)
    g2 = load_tflite(data)
    assert [n.op for n in g2.nodes] == [n.op for n in g.nodes]
    for a, b in zip(g.nodes, g2.nodes):
        assert a.attrs == b.attrs
        for i, j in zip(a.inputs, b.inputs):
            ta, tb = g.tensors[i] if i else None, g2.tensors[j] if j else None
            assert (ta is None) == (tb is None)
            if ta is not None:
                assert ta.shape == tb.shape and ta.q.same(tb.q)
                assert (ta.data is None and tb.data is None) or np.array_equal(ta.data, tb.data)
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (3,) + g.tensors[g.inputs[0]].shape).astype(np.int8)
    t1, t2 = Tflm(path), Tflm(data)
    for s in x:
        assert np.array_equal(t1.run([s])[0], t2.run([s])[0])
