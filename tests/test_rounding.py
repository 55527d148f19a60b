"""The requantization rounding option (issue #5 item 6): ``--rounding double`` (TFLM's reference
kernels) and ``--rounding single`` (CMSIS-NN built with CMSIS_NN_USE_SINGLE_ROUNDING).

  1. fixedpoint's single rounding == a plain 64-bit formula, and the C ec_multiply_by_quantized_multiplier
     == fixedpoint in both modes (on crafted ties and random values);
  2. every registry case in both modes: generated C == ref_int8 (ops that do not requantize an
     accumulator give the same bytes in both modes);
  3. a crafted FC with an exact 1/16 rescale: double == TFLM, single == the plain formula, and the
     two modes differ (the switch is live);
  4. the option end to end: compile_model / CLI, report.json, pinned ec_config.h, distinct cached
     objects, verify output; one QEMU Cortex-M4 run in single mode (slow).
"""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from edgecompile.cli import main
from edgecompile.codegen import render
from edgecompile.compiler import compile_model, compile_tflite, quantize_inputs, set_rounding, write_project
from edgecompile.errors import OptionError
from edgecompile.host import WARN, HostModel, compile_object, compiler
from edgecompile.ir import Graph, Node, Op, QParams, Tensor
from edgecompile.ops import REGISTRY
from edgecompile.paths import runtime_dir
from edgecompile.quant import fixedpoint as fx
from edgecompile.reference import run_int8

from conftest import SANITIZE
from op_harness import compile_case, run_case

AFFECTED = {Op.CONV2D, Op.DEPTHWISE_CONV2D, Op.FULLY_CONNECTED, Op.ADD, Op.MEAN}
CASES = [pytest.param(spec, case, id=f"{spec.op.value}-{case.name}")
         for spec in REGISTRY.values() if spec.kernel for case in spec.cases]


def plain_single(x: int, m: int, s: int) -> int:
    """Single rounding from its definition: x*M / 2^(31-s) rounded half up (Python ints, exact)."""
    num, den = x * m, 1 << (31 - s)
    q = (2 * num + den) // (2 * den)          # floor(num/den + 1/2)
    return ((q + (1 << 31)) % (1 << 32)) - (1 << 31)


def crafted_values(rng):
    """(x, M, shift) triples: exact ties of both roundings, extremes and random values."""
    xs, ms, ss = [], [], []
    for s in list(range(-31, 1)) + [1, 2, 5, 10, 30]:
        for k in (-3, -1, 1, 3):                        # M = 2^30 and x = odd * 2^-s: exact ties
            x = k << max(-s, 0)
            if -(1 << 31) <= x < (1 << 31):
                xs.append(x), ms.append(1 << 30), ss.append(s)
    n = 4000
    xs += list(rng.integers(-(1 << 20), 1 << 20, n)) + list(rng.integers(-(1 << 31), 1 << 31, 500))
    ms += list(rng.integers(1 << 30, (1 << 31) - 1, n + 500))
    ss += list(rng.integers(-20, 1, n)) + list(rng.integers(-31, -8, 500))
    return np.array(xs, np.int64), np.array(ms, np.int64), np.array(ss, np.int64)


def test_single_rounding_is_the_plain_formula_and_differs_from_double():
    x, m, s = crafted_values(np.random.default_rng(0))
    single = fx.multiply_by_quantized_multiplier(x, m, s, fx.SINGLE_ROUNDING)
    want = np.array([plain_single(int(a), int(b), int(c)) for a, b, c in zip(x, m, s)])
    assert np.array_equal(single, want)
    double = fx.multiply_by_quantized_multiplier(x, m, s, fx.DOUBLE_ROUNDING)
    assert 0 < np.count_nonzero(single != double) < x.size // 4
    assert np.abs(single - double)[s <= 0].max() == 1     # (for s > 0, double's x << s wraps, as in TFLM)
    # the documented example: -8 * 2^-4 is -0.5: single rounds up (0), double away from zero (-1)
    assert fx.multiply_by_quantized_multiplier(-8, 1 << 30, -3, "single") == 0
    assert fx.multiply_by_quantized_multiplier(-8, 1 << 30, -3, "double") == -1
    with pytest.raises(ValueError, match="rounding mode"):
        fx.multiply_by_quantized_multiplier(1, 1 << 30, 0, "nearest")


_HARNESS = """
#include <stdint.h>
#include "ec_fixedpoint.h"
void rq(const int32_t *x, const int32_t *m, const int32_t *s, int32_t *y, int32_t n);
void rq(const int32_t *x, const int32_t *m, const int32_t *s, int32_t *y, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        y[i] = ec_multiply_by_quantized_multiplier(x[i], m[i], s[i]);
    }
}
"""


@pytest.mark.parametrize("mode", fx.ROUNDING_MODES)
def test_c_requantize_equals_fixedpoint(mode, tmp_path):
    import cffi
    x, m, s = crafted_values(np.random.default_rng(1))
    src = tmp_path / "rq.c"
    src.write_text(_HARNESS)
    lib = tmp_path / "librq.so"
    subprocess.run([compiler(), *WARN, "-O2", "-fPIC", "-shared", f"-DEC_SINGLE_ROUNDING={int(mode == 'single')}",
                    f"-I{runtime_dir() / 'include'}", str(src), "-o", str(lib)], check=True)
    ffi = cffi.FFI()
    ffi.cdef("void rq(const int32_t *x, const int32_t *m, const int32_t *s, int32_t *y, int32_t n);")
    h = ffi.dlopen(str(lib))
    xi, mi, si = (np.ascontiguousarray(a, np.int32) for a in (x, m, s))
    y = np.zeros(x.size, np.int32)
    h.rq(*(ffi.from_buffer("int32_t[]", a) for a in (xi, mi, si, y)), x.size)
    assert np.array_equal(y, fx.multiply_by_quantized_multiplier(x, m, s, mode))


# ------------------------------------------------------------------ every registry case, both modes
def relower(g: Graph, mode: str) -> Graph:
    """The same quantized graph lowered again in ``mode`` (as compile_model(rounding=mode) lowers)."""
    from edgecompile.passes import PassContext, run_pipeline
    from edgecompile.passes.lower import lower
    from edgecompile.passes.plan_memory import plan_memory
    g = g.copy()
    g.meta["rounding"] = mode
    return set_rounding(run_pipeline(g, [lower, plan_memory], PassContext(options=dict(sparse="auto"))), mode)


def twin(art, mode: str, outdir):
    """``art``'s quantized model lowered in ``mode``, written and built for the host."""
    from edgecompile.compiler import Artifact
    g = relower(art.graph, mode)
    a = Artifact(art.name, art.float_graph, g, render(g, art.name))
    write_project(a, outdir)
    return a, HostModel(outdir, a.name, len(g.nodes), sanitize=SANITIZE)


@pytest.mark.parametrize("spec,case", CASES)
def test_both_modes_c_equals_ref_int8(spec, case, tmp_path):
    art, feeds, host = compile_case(spec, case, tmp_path / "double", sanitize=SANITIZE)    # the default mode
    builds = {"double": (art, host), "single": twin(art, "single", tmp_path / "single")}
    outs = {}
    for mode, (a, host) in builds.items():
        assert all(n.params.get("rounding") == mode for n in a.graph.nodes if n.params is not None)
        outs[mode] = []
        for s, (c, ref, _) in enumerate(run_case(a, feeds, host)):
            bad = np.argwhere(c != ref)
            assert bad.size == 0, f"{mode}: sample {s}: {len(bad)} of {ref.size} bytes differ, first {bad[:4]}"
            outs[mode].append(c)
    diff = sum(int(np.count_nonzero(a != b)) for a, b in zip(outs["double"], outs["single"]))
    if spec.op not in AFFECTED:
        assert diff == 0, f"{spec.op} does not requantize an accumulator, yet the modes differ in {diff} bytes"


@pytest.mark.parametrize("family", ["conv2d", "depthwise_conv2d", "fully_connected", "add", "mean"])
def test_fuzzed_models_single_rounding_c_equals_ref(family, tmp_path):
    """tests/tflm_fuzz.py's random models (odd shapes, extreme scales and zero points) in single
    rounding: generated C == ref_int8 on random int8 inputs."""
    import tflm_fuzz
    n = 0
    for seed in range(4):
        case = tflm_fuzz.make_case(family, seed)
        art = compile_model(None, name="fz", calib=case.calib, float_graph=case.graph, per_channel=case.per_channel,
                            ranges=case.ranges, rounding="single")
        g = art.graph
        host = HostModel(write_project(art, tmp_path / str(seed)), "fz", len(g.nodes))
        rng = np.random.default_rng(seed)
        for _ in range(8):
            q = [rng.integers(-128, 128, g.tensors[i].shape).astype(np.int8) for i in g.inputs]
            want = run_int8(g, dict(zip(g.inputs, q)))[g.outputs[0]].ravel()
            assert np.array_equal(host.run(q, [want.size])[0][0], want), case.describe
            n += want.size
    assert n >= 200


# ------------------------------------------------------------------ crafted model: the switch is live
def fc_graph(seed: int = 0) -> tuple[Graph, np.ndarray]:
    """A quantized FC whose rescale s_in*s_w/s_out is exactly 1/16 (M = 2^30, shift -3): one
    accumulator in 16 is a tie, where single (half up) and double (half away from zero) differ."""
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, (24, 40)).astype(np.int8)
    b = rng.integers(-300, 300, 24).astype(np.int32)
    t = {"x": Tensor("x", (1, 40), "int8", q=QParams.make(1.0, 3)),
         "w": Tensor("w", (24, 40), "int8", w, QParams.make(0.0625, 0)),
         "b": Tensor("b", (24,), "int32", b, QParams.make(0.0625, 0)),
         "y": Tensor("y", (1, 24), "int8", q=QParams.make(1.0, -5))}
    g = Graph("fc16", t, [Node("fc", Op.FULLY_CONNECTED, ["x", "w", "b"], ["y"])], ["x"], ["y"])
    x = rng.integers(-20, 21, (64, 1, 40)).astype(np.int8)      # small inputs: few clamped outputs
    return g, x


def plain_fc(g: Graph, x: np.ndarray) -> np.ndarray:
    """The FC with single rounding written out with Python integers."""
    w, b = g.tensors["w"].data.astype(np.int64), g.tensors["b"].data.astype(np.int64)
    acc = (x.reshape(len(x), -1).astype(np.int64) - 3) @ w.T + b
    y = np.vectorize(lambda a: plain_single(int(a), 1 << 30, -3))(acc) - 5
    return np.clip(y, -128, 127).astype(np.int8)


def test_crafted_fc_double_is_tflm_single_is_plain_formula(tmp_path):
    pytest.importorskip("tflite_micro")
    from edgecompile.tflite_export import export_tflite
    from edgecompile.tflm import Tflm
    g, x = fc_graph()
    model = export_tflite(g)
    got = {}
    for mode in fx.ROUNDING_MODES:
        art = compile_tflite(model, name="fc16", rounding=mode)
        assert art.graph.nodes[0].params["multiplier"].tolist() == [1 << 30]
        assert art.graph.nodes[0].params["shift"].tolist() == [-3]
        host = HostModel(write_project(art, tmp_path / mode), "fc16", len(art.graph.nodes))
        got[mode] = np.stack([host.run([s], [24])[0][0] for s in x])
        ref = np.stack([run_int8(art.graph, {"x": s})["y"].ravel() for s in x])
        assert np.array_equal(got[mode], ref)
    tflm = Tflm(model)
    assert np.array_equal(got["double"], np.stack([tflm.run([s])[0].ravel() for s in x]))
    assert np.array_equal(got["single"], plain_fc(g, x))
    n_diff = int(np.count_nonzero(got["single"] != got["double"]))
    assert 10 < n_diff < got["single"].size // 8, n_diff       # ~1/32 of the outputs: negative ties


def test_compile_option_end_to_end(tmp_path, capsys):
    """compile_model / CLI: meta, params, report.json, Makefile, the pinned ec_config.h, a conflicting
    -D is an error, and the two modes' runtime objects never share a cache entry."""
    from edgecompile.tflite_export import export_tflite
    g, x = fc_graph(1)
    path = tmp_path / "fc16.tflite"
    export_tflite(g, path)
    with pytest.raises(OptionError, match="rounding"):
        compile_model(str(path), rounding="nearest")
    assert main(["compile", str(path), "-o", str(tmp_path / "s"), "--rounding", "single"]) == 0
    assert main(["compile", str(path), "-o", str(tmp_path / "d")]) == 0
    with pytest.raises(SystemExit):
        main(["compile", str(path), "-o", str(tmp_path / "bad"), "--rounding", "nearest"])
    for mode, d in (("single", tmp_path / "s"), ("double", tmp_path / "d")):
        assert json.loads((d / "report.json").read_text())["rounding"] == mode
        assert f"Requantization rounding: {mode}" in (d / "Makefile").read_text()
        assert f"Requantization rounding: {mode}" in (d / "CMakeLists.txt").read_text()
        cfg = (d / "runtime" / "include" / "ec_config.h").read_text()
        assert f"#define EC_SINGLE_ROUNDING {int(mode == 'single')}" in cfg
    capsys.readouterr()
    np.savez(tmp_path / "x.npz", x=x.astype(np.float32) - 3)
    assert main(["verify", str(tmp_path / "s"), "--inputs", str(tmp_path / "x.npz")]) == 0
    out = capsys.readouterr().out
    assert "(single rounding)" in out and "0 mismatches -> bit-exact" in out, out
    # compare against TFLM: bit-exact in double mode; in single mode the ties differ, with a note
    assert main(["compare", str(path), "--inputs", str(tmp_path / "x.npz")]) == 0
    assert main(["compare", str(path), "--inputs", str(tmp_path / "x.npz"), "--rounding", "single"]) != 0
    out = capsys.readouterr().out
    assert "0 of 1,536 output bytes differ -> bit-exact" in out and "compiled with --rounding single" in out, out
    # one runtime source, same flags: different objects, because the pinned headers differ
    src = "runtime/src/ec_fully_connected_s8.c"
    objs = {m: compile_object(d / src, [d / "runtime" / "include"], WARN + ["-O2", "-fPIC"])
            for m, d in (("single", tmp_path / "s"), ("double", tmp_path / "d"))}
    assert objs["single"] != objs["double"]
    r = subprocess.run([compiler(), *WARN, "-DEC_SINGLE_ROUNDING=0", f"-I{tmp_path / 's' / 'runtime' / 'include'}",
                        "-c", str(tmp_path / "s" / src), "-o", str(tmp_path / "x.o")], capture_output=True, text=True)
    assert r.returncode != 0 and "differs from the model's --rounding single" in r.stderr


def test_single_rounding_refuses_huge_rescale():
    g, _ = fc_graph()
    g.tensors["y"].q = QParams.make(2.0 ** -31, 0)      # s_in*s_w/s_out = 2^27 ... still fine
    from edgecompile.passes import PassContext, run_pipeline
    from edgecompile.compiler import TFLITE_PIPELINE
    lowered = run_pipeline(g, TFLITE_PIPELINE, PassContext(options={}))
    set_rounding(lowered.copy(), "single")
    g.tensors["y"].q = QParams.make(2.0 ** -40, 0)      # 2^36: shift 37 > 30
    lowered = run_pipeline(g, TFLITE_PIPELINE, PassContext(options={}))
    from edgecompile.errors import ModelError
    with pytest.raises(ModelError, match="'fc'.*shift 37 > 30"):
        set_rounding(lowered, "single")
    set_rounding(lowered, "double")


def net_graph(seed: int = 0) -> tuple[Graph, dict]:
    """A float net through every requantizing kernel: conv 3x3 (+relu), depthwise 3x3, pointwise conv,
    add, depthwise with multiplier 2 and stride 2, mean, fully connected."""
    rng = np.random.default_rng(seed)
    t, nodes = {"x": Tensor("x", (1, 9, 9, 6))}, []

    def w(name, shape, fan_in):
        t[name] = Tensor(name, shape, "float32", (rng.normal(0, 1, shape) / np.sqrt(fan_in)).astype(np.float32))
        return name

    def node(op, ins, shape, **attrs):
        out = f"t{len(nodes)}"
        t[out] = Tensor(out, shape)
        nodes.append(Node(f"n{len(nodes)}", op, ins, [out], attrs))
        return out

    a = node(Op.CONV2D, ["x", w("w0", (8, 3, 3, 6), 54), w("b0", (8,), 4)], (1, 9, 9, 8), pads=(1, 1, 1, 1),
             act_min=0.0)
    b = node(Op.DEPTHWISE_CONV2D, [a, w("w1", (1, 3, 3, 8), 9), w("b1", (8,), 4)], (1, 9, 9, 8), pads=(1, 1, 1, 1))
    c = node(Op.CONV2D, [b, w("w2", (8, 1, 1, 8), 8), ""], (1, 9, 9, 8))
    d = node(Op.ADD, [a, c], (1, 9, 9, 8))
    e = node(Op.DEPTHWISE_CONV2D, [d, w("w3", (1, 3, 3, 16), 9), w("b3", (16,), 4)], (1, 4, 4, 16),
             strides=(2, 2))
    f = node(Op.MEAN, [e], (1, 16), keepdims=False)
    node(Op.FULLY_CONNECTED, [f, w("w4", (10, 16), 16), w("b4", (10,), 4)], (1, 10))
    g = Graph("net", t, nodes, ["x"], [nodes[-1].outputs[0]])
    return g, {"x": rng.normal(0, 1, (16, 1, 9, 9, 6)).astype(np.float32)}


@pytest.mark.slow
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_qemu_single_rounding_net(board, tmp_path):
    """Every requantizing kernel in single rounding on the Cortex-M4 (DSP paths) and M55 (Helium)."""
    import shutil
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed")
    from edgecompile import firmware
    g, calib = net_graph()
    art = compile_model(None, name="net", calib=calib, float_graph=g, rounding="single")
    res = firmware.run(write_project(art, tmp_path / "s"), board, calib)
    assert res.samples == 16 and res.mismatches == 0
    double = relower(art.graph, "double")
    q = quantize_inputs(art.graph, [{"x": x} for x in calib["x"]])
    diff = sum(int(np.count_nonzero(run_int8(art.graph, {"x": s[0]}, keep_all=True)[n.outputs[0]]
                                    != run_int8(double, {"x": s[0]}, keep_all=True)[n.outputs[0]]))
               for s in q for n in art.graph.nodes)
    assert diff > 0                     # the model really exercises ties


@pytest.mark.slow
def test_qemu_m4_single_rounding_bit_exact(tmp_path):
    """The crafted FC in single rounding on the Cortex-M4 (mps2-an386, DSP paths) under QEMU."""
    import shutil
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed")
    from edgecompile import firmware
    from edgecompile.tflite_export import export_tflite
    g, x = fc_graph(2)
    art = compile_tflite(export_tflite(g), name="fc16", rounding="single")
    art.files.update(firmware.board_files(art.name, art.graph, firmware.load_board("mps2-an386")))
    out = write_project(art, tmp_path / "s")
    assert ", single rounding) ->" in firmware.build(out, "mps2-an386").report("fc16")    # edgecompile build
    res = firmware.run(out, "mps2-an386", {"x": x.astype(np.float32) - 3})
    assert res.samples == 64 and res.bytes_compared == 64 * 24 and res.mismatches == 0
    assert np.array_equal(res.int8_outputs[0].reshape(64, 24), plain_fc(g, x))
    double = np.stack([run_int8(relower(art.graph, "double"), {"x": s})["y"].ravel() for s in x])
    assert np.count_nonzero(double != plain_fc(g, x)) > 10
