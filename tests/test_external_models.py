"""Models written by a real exporter: PyTorch's TorchScript (opsets 9, 11, 13) and torch.export-based
(opsets 17, 18) ONNX exporters, on small randomly initialised MobileNetV2 / ResNet / DenseNet / 1-D
KWS / TCN / MLP-autoencoder / pooling / concat-pad-activation nets (tests/data/torch, made by
tools/export_torch_models.py; torch is not needed here).

Each model imports, its float reference matches onnxruntime on every fixture input, it compiles with
those inputs as calibration, and the generated C is bit-exact with the NumPy integer reference.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from edgecompile import data as D
from edgecompile.compiler import compile_model, dequantize_outputs, import_model, verify, write_project
from edgecompile.errors import ModelError
from edgecompile.ir import Op
from edgecompile.reference import run_float

from models import run_ort

DATA = Path(__file__).parent / "data" / "torch"
MODELS = sorted(p.stem for p in DATA.glob("*.onnx") if not p.stem.startswith("unsupported"))


def inputs_of(name: str, g) -> dict[str, np.ndarray]:
    """The fixture inputs matched to the graph (transposed if it was imported channels-last)."""
    return D.input_arrays(g, D.load_npz(DATA / f"{name}_inputs.npz"), f"{name}_inputs.npz")


def test_unsupported_ops_in_one_error():
    """LeakyReLU, Resize, HardSigmoid, and the tensor x tensor Muls behind them (squeeze-excitation,
    hardswish): one ModelError naming every node, so a user sees all problems at once."""
    with pytest.raises(ModelError) as e:
        import_model(DATA / "unsupported_op13.onnx")
    msg = str(e.value)
    assert "\n" not in msg and "5 node(s) cannot be imported" in msg
    for node in ("'/LeakyRelu' (LeakyRelu)", "'/Resize' (Resize)", "'/HardSigmoid' (HardSigmoid)",
                 "'/Mul' (Mul: one operand", "'/Mul_1' (Mul: one operand"):
        assert node in msg


def test_fixtures_present_and_small():
    assert len(MODELS) >= 12
    assert sum(p.stat().st_size for p in DATA.iterdir()) < 1.5e6
    opsets = {onnx.load(DATA / f"{m}.onnx", load_external_data=False).opset_import[0].version for m in MODELS}
    assert {9, 11, 13, 17, 18} <= opsets


@pytest.mark.parametrize("name", MODELS)
def test_float_matches_onnxruntime(name):
    g = import_model(DATA / f"{name}.onnx")
    m = onnx.load(DATA / f"{name}.onnx")
    declared = D.load_npz(DATA / f"{name}_inputs.npz")
    key = m.graph.input[0].name
    for k, x in enumerate(inputs_of(name, g)[g.inputs[0]]):
        got = run_float(g, {g.inputs[0]: x})
        refs = run_ort(m, {key: declared[key][k:k + 1]})
        for out, ref in zip(g.outputs, refs):
            scale = max(float(np.abs(ref).max()), 1e-6)
            np.testing.assert_allclose(got[out].reshape(ref.shape), ref, rtol=0, atol=1e-4 * scale, err_msg=out)


def _structure(g) -> dict:
    ops = [n.op for n in g.nodes]
    return {"transposes": ops.count(Op.TRANSPOSE), "clamps": ops.count(Op.CLAMP),
            "bn_left": sum(n.source_op == "BatchNormalization" for n in g.nodes)}


@pytest.mark.parametrize("name", MODELS)
def test_canonical_structure(name):
    """At most the one NCHW input transpose; every Relu/Clip fused; BatchNorm folded into the Conv/Gemm
    before it (only DenseNet's pre-activation BNs, after Concat/AvgPool, stay as 1x1 depthwise)."""
    s = _structure(import_model(DATA / f"{name}.onnx"))
    assert s["transposes"] <= 1 and s["clamps"] == 0, s
    assert s["bn_left"] == (5 if name.startswith("densenet") else 0), s


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    cache = {}

    def get(name, channels_last_input=False):
        key = (name, channels_last_input)
        if key not in cache:
            path = DATA / f"{name}.onnx"
            art = compile_model(path, calib=DATA / f"{name}_inputs.npz", channels_last_input=channels_last_input)
            out = write_project(art, tmp_path_factory.mktemp(name) / art.name)
            res = verify(art, out, inputs_of(name, art.float_graph))
            cache[key] = art, res
        return cache[key]
    return get


@pytest.mark.parametrize("name", MODELS)
def test_compiled_c_bit_exact(compiled, name):
    art, res = compiled(name)
    assert res.mismatches == 0, f"first diverging node: {res.first_bad_node}"
    assert res.bytes_compared == 4 * sum(art.graph.tensors[o].size for o in art.graph.outputs)
    for deq, ref, out in zip(dequantize_outputs(art.graph, res), res.float_outputs, art.graph.outputs):
        span = float(ref.max() - ref.min())            # int8 stays near float (calibrated on these inputs)
        assert float(np.abs(deq.reshape(ref.shape) - ref).max()) <= 0.05 * span + 1e-6, out


CHANNELS_LAST = ["mbv2_op13", "resnet_bn_op11", "kws_conv1d_bn_op9", "catpad_dynamo_op18", "tcn_op11"]


@pytest.mark.parametrize("name", CHANNELS_LAST)
def test_channels_last_input(compiled, name):
    """The C API takes [N, spatial..., C]: the leading transpose is gone, the .npz stays NCHW, and the
    C output is byte-identical to the default build's."""
    base, res0 = compiled(name)
    art, res = compiled(name, channels_last_input=True)
    x = art.graph.inputs[0]
    declared = art.float_graph.meta["input_shapes"][x]
    assert art.graph.tensors[x].shape == (declared[0], *declared[2:], declared[1])
    assert _structure(base.graph)["transposes"] == 1 and _structure(art.graph)["transposes"] == 0
    assert res.mismatches == 0
    for a, b in zip(res.int8_outputs, res0.int8_outputs):
        np.testing.assert_array_equal(a, b)


def test_channels_last_input_keeps_declared_layout_when_nothing_to_remove():
    with pytest.warns(UserWarning, match="no input needs a transpose"):
        g = import_model(DATA / "mlp_ae_op13.onnx", channels_last_input=True)
    assert g.tensors[g.inputs[0]].shape == (1, 640) and not g.meta["input_layouts"]


def test_channels_last_input_cli(tmp_path):
    from edgecompile.cli import main
    model, data, out = DATA / "mbv2_op13.onnx", DATA / "mbv2_op13_inputs.npz", tmp_path / "o"
    assert main(["compile", str(model), "--calib", str(data), "--channels-last-input", "-o", str(out)]) == 0
    assert '"input" [1, 32, 32, 3]' in (out / "mbv2_op13.h").read_text()
    assert main(["verify", str(out), "--inputs", str(data)]) == 0          # the .npz stays NCHW
