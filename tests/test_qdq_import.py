"""Pre-quantized ONNX import (issue #5 item 2): QDQ and QOperator models keep their quantization.

(1) MLPerf Tiny int8_qdq.onnx (tf2onnx from the official int8 .tflite): the lowered graph equals
    the .tflite twin's node for node (same kernels, same integer parameters), and our C gives the
    same bytes as TFLM running the twin on the evaluation samples (20 by default, all with -m slow).
(2) small float models quantized by onnxruntime's quantize_static (QDQ per-channel int8, QDQ
    per-tensor with uint8 activations, QOperator per-channel): our C == our NumPy reference
    exactly; our C vs onnxruntime on the same quantized model: within 1 LSB for one requantizing op
    (onnxruntime's CPU int8 kernels requantize with a float multiplier and one rounding, TFLM with a
    fixed-point multiplier and two roundings, so the last bit may differ), within 2 LSB end to end
    on small networks (a 1-LSB difference moves the next layers' results); ops whose onnxruntime
    quantization TFLM cannot compute are refused by name.
(3) clear errors for what has no TFLM int8 form, bias rescaling, integer-domain ops, uint8 I/O,
    --channels-last-input, and the CLI (compile without --calib, verify, compare).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgecompile.cli import main
from edgecompile.compiler import compile_model, compile_qdq, compile_tflite, verify, write_project
from edgecompile.errors import ModelError
from edgecompile.ir import Op

from models import Net, conv_bn_relu_pool_fc, run_ort

DATA = Path(__file__).parent / "data" / "torch"


# ------------------------------------------------------------------ (1) MLPerf Tiny int8_qdq.onnx
MODELS = {"kws": "kws_dscnn", "vww": "vww_mobilenetv1_025", "ic": "ic_resnet8", "ad": "ad_fc_autoencoder"}


def same_params(a, b) -> bool:
    if a.keys() != b.keys():
        return False
    return all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)


def bench_twins(bench, task):
    from test_tflm_conformance import eval_inputs
    d = bench / "models" / MODELS[task]
    art = compile_qdq(str(d / "int8_qdq.onnx"), name=f"{task}_qdq")
    twin = compile_tflite(str(d / "int8.tflite"), name=f"{task}_tfl")
    return art, twin, d / "int8.tflite", eval_inputs


@pytest.mark.parametrize("task", list(MODELS))
def test_bench_qdq_graph_equals_tflite_twin(task, bench_dir):
    art, twin, _, _ = bench_twins(bench_dir, task)
    a, b = art.graph, twin.graph
    left = list(b.nodes)           # independent branches (ResNet shortcuts) may come in another order
    for x in a.nodes:
        y = next((y for y in left if (y.op, y.kernel, y.variant) == (x.op, x.kernel, x.variant)
                  and same_params(x.params, y.params)), None)
        assert y is not None, f"no node of the .tflite twin equals {x.name} ({x.op})"
        left.remove(y)
    assert not left
    for s, t in zip(a.inputs + a.outputs, b.inputs + b.outputs):
        assert a.tensors[s].q.same(b.tensors[t].q) and a.tensors[s].shape == b.tensors[t].shape
    assert a.meta["quantized"]["method"] == "onnx-qdq"


def _bench_bytes(bench, task, tmp_path, limit):
    from edgecompile.tflm import compare
    art, _, tflite, eval_inputs = bench_twins(bench, task)
    out = write_project(art, tmp_path / task)
    q, _, _ = eval_inputs(bench, task, limit)
    shape = art.graph.tensors[art.graph.inputs[0]].shape
    res = compare(art, out, str(tflite), [[s.reshape(shape)] for s in q])
    print(f"{task}: int8_qdq.onnx (our C) vs int8.tflite (TFLM): {res.mismatches} of {res.bytes_compared} "
          f"bytes differ over {res.samples} samples")
    return res


@pytest.mark.parametrize("task", list(MODELS))
def test_bench_qdq_bytes_equal_tflm_twin_subset(task, bench_dir, tmp_path):
    pytest.importorskip("tflite_micro")
    res = _bench_bytes(bench_dir, task, tmp_path, 20)
    assert res.samples == 20 and res.mismatches == 0


@pytest.mark.slow
@pytest.mark.parametrize("task", list(MODELS))
def test_bench_qdq_bytes_equal_tflm_twin_all_samples(task, bench_dir, tmp_path):
    pytest.importorskip("tflite_micro")
    res = _bench_bytes(bench_dir, task, tmp_path, None)
    assert res.samples == {"kws": 500, "vww": 500, "ic": 100, "ad": 124 * 196}[task]
    assert res.mismatches == 0


# ------------------------------------------------------------------ (2) onnxruntime quantize_static
FORMATS = {   # name: (QuantFormat, per_channel, activation type)
    "qdq_per_channel": ("QDQ", True, "QInt8"),
    "qdq_per_tensor_uint8": ("QDQ", False, "QUInt8"),
    "qoperator": ("QOperator", True, "QInt8"),
}
SINGLE = ["conv", "dwconv", "gemm", "matmul", "add", "relu", "gap", "softmax", "sigmoid", "concat", "avgpool",
          "maxpool", "pad", "transpose", "clip", "flatten", "concat_shared"]
NETS = ["cnn", "resnet_bn_op11", "mbv2_op13", "kws_conv1d_bn_op9", "pools_op11", "tcn_op11"]


def _single(kind: str):
    """A one-op float model; data movement, Relu, Clip and pools read a 1x1 Conv (one requantization)."""
    img = kind not in ("gemm", "matmul", "softmax", "sigmoid")
    n = Net((1, 4, 9, 9) if img else (1, 16), batch=1)
    x = n.x
    y = {"conv": lambda: n.conv(x, 4, 8, pads=[1, 1, 1, 1], strides=[2, 2]),
         "dwconv": lambda: n.conv(x, 4, 8, group=4, pads=[1, 1, 1, 1]),
         "gemm": lambda: n.op("Gemm", [x, n.rand(5, 16), n.rand(5, base="b")], transB=1),
         "matmul": lambda: n.op("MatMul", [x, n.rand(16, 5)]),
         "add": lambda: n.op("Add", [x, n.rand(1, 4, 9, 9)]),
         "relu": lambda: n.op("Relu", [n.conv(x, 4, 4, k=1)]),
         "gap": lambda: n.op("GlobalAveragePool", [x]),
         "softmax": lambda: n.op("Softmax", [x], axis=-1),
         "sigmoid": lambda: n.op("Sigmoid", [x]),
         "concat": lambda: n.op("Concat", [n.conv(x, 4, 3, k=1), n.conv(x, 4, 5, k=1)], axis=1),
         "avgpool": lambda: n.op("AveragePool", [n.conv(x, 4, 4, k=1)], kernel_shape=[3, 3], strides=[2, 2],
                                 pads=[1, 1, 1, 1]),
         "maxpool": lambda: n.op("MaxPool", [n.conv(x, 4, 4, k=1)], kernel_shape=[2, 2], strides=[2, 2]),
         "pad": lambda: n.op("Pad", [n.conv(x, 4, 4, k=1), n.init(np.array([0, 0, 1, 1, 0, 0, 1, 1]), "p")]),
         "transpose": lambda: n.op("Transpose", [n.conv(x, 4, 4, k=1)], perm=[0, 2, 3, 1]),
         "clip": lambda: n.clip(n.conv(x, 4, 4, k=1)),
         "flatten": lambda: n.op("Gemm", [n.op("Flatten", [n.conv(x, 4, 4, k=1)]), n.rand(3, 324)], transB=1),
         "concat_shared": lambda: n.op("Concat", [c := n.conv(x, 4, 4, k=1),
                                                  n.op("MaxPool", [c], kernel_shape=[1, 1])], axis=1)}[kind]()
    rng = np.random.default_rng(0)
    return n.model(y), [{"x": rng.normal(0, 1, n.input_shape).astype(np.float32)} for _ in range(16)]


def _net(src: str):
    """(float model at opset >= 13, calibration feeds); opset 13 is where per-axis QDQ exists."""
    if src == "cnn":
        net, m = conv_bn_relu_pool_fc(batch=1)
        rng = np.random.default_rng(0)
        return m, [{"x": rng.normal(0, 1, (1, 3, 12, 12)).astype(np.float32)} for _ in range(16)]
    m = onnx.load(str(DATA / f"{src}.onnx"))
    if m.opset_import[0].version < 13:
        m = onnx.version_converter.convert_version(m, 13)
    d = np.load(DATA / f"{src}_inputs.npz")
    name = d.files[0]
    return m, [{name: d[name][i:i + 1]} for i in range(min(16, len(d[name])))]


@pytest.fixture(scope="module")
def ort_quantize(tmp_path_factory):
    """quantize(src, fmt) -> path of the model quantized by onnxruntime (cached per module)."""
    q = pytest.importorskip("onnxruntime.quantization")
    import onnx.version_converter  # noqa: F401
    from onnxruntime.quantization.shape_inference import quant_pre_process
    logging.getLogger().setLevel(logging.ERROR)
    tmp = tmp_path_factory.mktemp("ort_quant")
    cache = {}

    class Reader(q.CalibrationDataReader):
        def __init__(self, samples):
            self.it = iter(samples)

        def get_next(self):
            return next(self.it, None)

    def quantize(src, fmt):
        if (src, fmt) not in cache:
            m, calib = _single(src) if src in SINGLE else _net(src)
            onnx.save(m, tmp / f"{src}.onnx")
            pre = tmp / f"{src}_pre.onnx"
            quant_pre_process(str(tmp / f"{src}.onnx"), str(pre))     # folds BatchNormalization
            qf, pc, act = FORMATS[fmt]
            dst = tmp / f"{src}_{fmt}.onnx"
            q.quantize_static(str(pre), str(dst), Reader(calib), quant_format=getattr(q.QuantFormat, qf),
                              per_channel=pc, activation_type=getattr(q.QuantType, act),
                              weight_type=q.QuantType.QInt8)
            cache[src, fmt] = dst
        return cache[src, fmt]
    return quantize


def _c_vs_ort(path, tmp_path, n=24):
    """|our C - onnxruntime| in LSB over n inputs on the input's quantization grid (so both sides
    quantize them alike); also checks our C == our NumPy reference exactly."""
    art = compile_model(str(path), name="m")
    g = art.graph
    out = write_project(art, tmp_path / "out")
    name = g.inputs[0]
    qin, qout = g.tensors[name].q, g.tensors[g.outputs[0]].q
    ints = np.random.default_rng(3).integers(-128, 128, (n,) + g.tensors[name].shape).astype(np.int64)
    x = ((ints - qin.zp).astype(np.float32) * np.float32(qin.s)).astype(np.float32)
    res = verify(art, out, {name: x}, with_float=False)
    assert res.mismatches == 0                               # our C == our NumPy reference, exactly
    m = onnx.load(str(path))
    y = np.stack([run_ort(m, {name: x[k]})[0] for k in range(n)])
    ort_int = np.clip(np.rint(y.astype(np.float64) / qout.s) + qout.zp, -128, 127).reshape(n, -1)
    d = np.abs(ort_int - res.int8_outputs[0].reshape(n, -1).astype(np.int64))
    return g, d


SINGLE_OK = [(k, f) for k in ["conv", "dwconv", "gemm", "matmul", "add", "relu", "maxpool", "pad", "transpose",
                               "clip", "flatten", "concat_shared"] for f in FORMATS] + \
    [(k, f) for k in ("gap", "avgpool") for f in ("qdq_per_channel", "qdq_per_tensor_uint8")] + [("softmax", "qoperator")]


@pytest.mark.parametrize("src,fmt", [pytest.param(s, f, id=f"{s}-{f}") for s, f in SINGLE_OK])
def test_ort_single_op_within_one_lsb(src, fmt, ort_quantize, tmp_path):
    g, d = _c_vs_ort(ort_quantize(src, fmt), tmp_path)
    assert g.meta["quantized"]["method"] == ("onnx-qoperator" if fmt == "qoperator" else "onnx-qdq")
    print(f"{src} {fmt}: C vs onnxruntime: max {d.max()} LSB, {np.count_nonzero(d)} of {d.size} bytes differ")
    assert d.max() <= 1


NET_CASES = [(s, f) for s in NETS for f in FORMATS if (s, f) != ("pools_op11", "qoperator")]


@pytest.mark.parametrize("src,fmt", [pytest.param(s, f, id=f"{s}-{f}") for s, f in NET_CASES])
def test_ort_quantized_network(src, fmt, ort_quantize, tmp_path):
    """End to end, a 1-LSB difference in one layer moves the next layers' results by up to a few LSB."""
    _, d = _c_vs_ort(ort_quantize(src, fmt), tmp_path)
    print(f"{src} {fmt}: C vs onnxruntime: max {d.max()} LSB, {np.count_nonzero(d)} of {d.size} bytes differ")
    assert d.max() <= 2 and np.count_nonzero(d) <= 0.3 * d.size


@pytest.mark.parametrize("src,fmt,why", [
    ("softmax", "qdq_per_channel", r"Softmax.*needs the output quantized with scale 0.00390625, zero point -128"),
    ("sigmoid", "qdq_per_channel", r"Sigmoid.*needs the output quantized with scale 0.00390625"),
    ("sigmoid", "qoperator", r"Sigmoid.*needs the output quantized with scale 0.00390625"),
    ("concat", "qdq_per_channel", r"Concat.*changes the quantization"),
    ("avgpool", "qoperator", r"AveragePool.*changes the quantization"),
    ("pools_op11", "qoperator", r"AveragePool.*changes the quantization")])
def test_ort_ops_tflm_cannot_compute_are_refused(src, fmt, why, ort_quantize):
    """onnxruntime gives Softmax / Sigmoid calibrated output scales and Concat / QLinearAveragePool
    requantizing outputs; TFLM's int8 kernels need fixed or shared scales, so these are refused by node."""
    with pytest.raises(ModelError, match=why):
        compile_model(str(ort_quantize(src, fmt)))


# ------------------------------------------------------------------ (3) errors, CLI
def _model(nodes, inits, in_type=TensorProto.FLOAT, opset=13, domains=()):
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", in_type, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    return helper.make_model(g, opset_imports=ops, ir_version=8)


S, Z = np.array(0.05, np.float32), np.array(3, np.int8)


def test_unsupported_qoperator_nodes_are_named():
    ms = "com.microsoft"
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q_in"),
             helper.make_node("QLinearLeakyRelu", ["q", "s", "z", "s", "z"], ["a"], domain=ms, name="leaky"),
             helper.make_node("QLinearMul", ["a", "s", "z", "a", "s", "z", "s", "z"], ["b"], domain=ms, name="mul"),
             helper.make_node("DequantizeLinear", ["b", "s", "z"], ["y"], name="dq_out")]
    with pytest.raises(ModelError, match=r"2 quantized node\(s\).*'leaky' \(QLinearLeakyRelu\).*'mul' \(QLinearMul\)"):
        compile_qdq(_model(nodes, {"s": S, "z": Z}, domains=[ms]))


def test_int16_qdq_is_refused():
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q16"),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["d"], name="dq16"),
             helper.make_node("Relu", ["d"], ["y"])]
    with pytest.raises(ModelError, match=r"'q16' \(QuantizeLinear\) uses int16 quantization; only int8 and uint8"):
        compile_qdq(_model(nodes, {"s": S, "z": np.array(0, np.int16)}, opset=21))


def test_requantizing_qdq_pair_and_asymmetric_weights_are_refused():
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q"),
             helper.make_node("DequantizeLinear", ["q", "s2", "z"], ["y"], name="dq")]
    with pytest.raises(ModelError, match="requantizes"):
        compile_qdq(_model(nodes, {"s": S, "s2": S * 2, "z": Z}))
    w = np.array([[0, 255, 0, 0]] * 4, np.uint8).T             # uint8 weights, zero point 0
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["d"]),
             helper.make_node("DequantizeLinear", ["w", "s", "zw"], ["wf"]),
             helper.make_node("MatMul", ["d", "wf"], ["m"]),
             helper.make_node("QuantizeLinear", ["m", "s", "z"], ["q2"]),
             helper.make_node("DequantizeLinear", ["q2", "s", "z"], ["y"])]
    with pytest.raises(ModelError, match="symmetric int8 weights"):
        compile_qdq(_model(nodes, {"s": S, "z": Z, "w": w, "zw": np.array(0, np.uint8)}))


def test_cli_compile_verify_compare_qdq(bench_dir, tmp_path, capsys):
    model = bench_dir / "models" / "kws_dscnn" / "int8_qdq.onnx"
    d = np.load(bench_dir / "data" / "kws01.npz")
    np.savez(tmp_path / "x.npz", x=d["x"][-4:].reshape(-1, 49, 10, 1), y=d["y"][-4:])   # int8, as the model takes
    assert main(["compile", str(model), "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "pre-quantized (QDQ): keeping the file's scales and zero points" in err and "random" not in err
    assert main(["verify", str(tmp_path / "out"), "--inputs", str(tmp_path / "x.npz")]) == 0
    out = capsys.readouterr().out
    assert "4 samples, 48 output bytes compared, 0 mismatches -> bit-exact" in out
    assert "accuracy on 4 labelled samples" in out
    pytest.importorskip("tflite_micro")
    assert main(["compare", str(model), "--inputs", str(tmp_path / "x.npz")]) == 0
    assert "0 of 48 output bytes differ -> bit-exact" in capsys.readouterr().out


def _gemm_model(bias_scale):
    w = np.array([[1, -2, 3, -4], [5, 6, -7, 8]], np.int8)
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["d"]),
             helper.make_node("DequantizeLinear", ["w", "sw"], ["wf"]),
             helper.make_node("DequantizeLinear", ["b", "sb"], ["bf"]),
             helper.make_node("Gemm", ["d", "wf", "bf"], ["m"], transB=1, name="fc"),
             helper.make_node("QuantizeLinear", ["m", "s", "z"], ["q2"]),
             helper.make_node("DequantizeLinear", ["q2", "s", "z"], ["y"])]
    return _model(nodes, {"s": S, "z": Z, "w": w, "sw": np.array(0.1, np.float32),
                          "b": np.array([7, -9], np.int32), "sb": np.array(bias_scale, np.float32)})


def test_bias_scale_other_than_s_in_times_s_w():
    """The bias integers are kept when the file's bias scale is s_in * s_w; a scale twice that is
    requantized exactly (integers doubled); 1.5 times it cannot be, and is refused."""
    fc = lambda art: next(n for n in art.graph.nodes if n.source_op == "Gemm")     # noqa: E731
    s_in_w = np.float32(np.float64(S) * np.float64(np.float32(0.1)))
    for factor, want in ((1.0, [7, -9]), (2.0, [14, -18])):
        art = compile_qdq(_gemm_model(s_in_w * np.float32(factor)))
        assert art.graph.tensors[fc(art).inputs[2]].data.tolist() == want
    with pytest.raises(ModelError, match=r"'fc' \(Gemm\): bias .* cannot be requantized exactly"):
        compile_qdq(_gemm_model(s_in_w * np.float32(1.5)))


def test_ops_on_quantized_integers(tmp_path):
    """Between QuantizeLinear and DequantizeLinear only data movement is allowed; a Pad there pads
    with an integer, which becomes its real value."""
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
             helper.make_node("Pad", ["q", "p", "v"], ["qp"], name="pad_int"),
             helper.make_node("DequantizeLinear", ["qp", "s", "z"], ["y"])]
    art = compile_qdq(_model(nodes, {"s": S, "z": Z, "p": np.array([0, 1, 0, 2], np.int64),
                                     "v": np.array(-7, np.int8)}))
    x = np.array([[[0.1, -0.2, 0.3, 6.0]]], np.float32)
    res = verify(art, write_project(art, tmp_path / "pad"), {"x": x}, with_float=False)
    assert res.mismatches == 0 and res.int8_outputs[0].ravel().tolist() == [-7, 5, -1, 9, 123, -7, -7]
    nodes[1] = helper.make_node("Relu", ["q"], ["qp"], name="relu_int")
    with pytest.raises(ModelError, match=r"'relu_int' \(Relu\) computes on quantized integers directly"):
        compile_qdq(_model(nodes, {"s": S, "z": Z}))


def test_channels_last_input(ort_quantize, tmp_path):
    """--channels-last-input works on a QDQ model: no input transpose, the same bytes."""
    path = ort_quantize("cnn", "qdq_per_channel")
    nchw, nhwc = compile_model(str(path), name="a"), compile_model(str(path), name="b", channels_last_input=True)
    assert nhwc.graph.meta["input_layouts"] == {"x": (0, 2, 3, 1)}
    assert Op.TRANSPOSE in {n.op for n in nchw.graph.nodes} and Op.TRANSPOSE not in {n.op for n in nhwc.graph.nodes}
    x = np.random.default_rng(5).normal(0, 1, (6, 1, 3, 12, 12)).astype(np.float32)
    ra = verify(nchw, write_project(nchw, tmp_path / "a"), {"x": x}, with_float=False)
    rb = verify(nhwc, write_project(nhwc, tmp_path / "b"), {"x": x.transpose(0, 1, 3, 4, 2)}, with_float=False)
    assert ra.mismatches == rb.mismatches == 0 and np.array_equal(ra.int8_outputs[0], rb.int8_outputs[0])


def test_uint8_input_and_output(tmp_path):
    """A model taking and giving uint8 runs on int8 = uint8 - 128 (zero point - 128: exact), and
    integer data for its input is taken as quantized values."""
    from edgecompile.onnx_import.qdq import int_arrays_to_real
    z8 = np.array(130, np.uint8)
    nodes = [helper.make_node("DequantizeLinear", ["x", "s", "z"], ["d"]),
             helper.make_node("Relu", ["d"], ["r"]),
             helper.make_node("QuantizeLinear", ["r", "s", "z"], ["y"])]
    m = _model(nodes, {"s": S, "z": z8}, in_type=TensorProto.UINT8)
    m.graph.output[0].type.tensor_type.elem_type = TensorProto.UINT8
    art = compile_qdq(m)
    g = art.graph
    assert g.meta["int_inputs"] == {"x": "uint8"} and g.tensors["x"].q.zp == 2 and g.tensors["y"].q.zp == 2
    raw = np.array([[[0, 100, 130, 131, 255]]], np.uint8)[..., :4]
    x = int_arrays_to_real(g, {"x": raw})["x"]
    res = verify(art, write_project(art, tmp_path / "u8"), {"x": x}, with_float=False)
    assert res.mismatches == 0
    assert res.int8_outputs[0].ravel().tolist() == (np.maximum(raw.astype(int) - 128, 2)).ravel().tolist()


def test_compression_options_need_the_float_model():
    from edgecompile.errors import OptionError
    with pytest.raises(OptionError, match="already quantized"):
        compile_model(_gemm_model(np.float32(0.005)), prune=0.5)


@pytest.mark.parametrize("fmt", ["qdq_per_channel", "qoperator"])
def test_inspect_reads_prequantized_models(fmt, ort_quantize):
    """`edgecompile inspect` imports a QDQ / QOperator model the way compile does (not as a float model)."""
    from edgecompile.inspect_model import inspect_model
    text = inspect_model(ort_quantize("cnn", fmt))
    assert "pre-quantized int8 model" in text and "NOT SUPPORTED" not in text
    assert "Conv2D" in text and "MACs" in text
