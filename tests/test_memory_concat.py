"""Concat written in place by its producers (plan_memory): when the slices are contiguous (no axis
before the concat axis has an extent > 1: channel concat of [1, 1, 1, C] vectors, H-axis concat in
NHWC) and each input is made by a node for this Concat only, the producers write straight into their
slice of the output and no copy runs; a channel concat of feature maps (fire modules) likewise when
its producers are matrix products writing with a pixel stride (params out_stride).  Bit-exact on the
host (portable, emulated DSP, ASan/UBSan) and under QEMU (M4, M55), verified plan, guard bytes."""
import copy
import shutil

import numpy as np
import pytest

from edgecompile.codegen import render
from edgecompile.compiler import Artifact, compile_model, verify, write_project
from edgecompile.ops import dense_variants
from edgecompile.passes.memory.verify import check_plan
from edgecompile.passes.plan_memory import _plan
from models import Net


def _vectors_model():
    """Three branches pooled to [1, 1, 1, C] vectors, concatenated along channels, then a Gemm."""
    n = Net((1, 3, 9, 7), nhwc=True, seed=7)
    a = n.op("Relu", [n.conv(n.x, 3, 8, k=3, pads=[1, 1, 1, 1])])
    b = n.op("GlobalAveragePool", [n.op("Relu", [n.conv(a, 8, 5, k=3, pads=[1, 1, 1, 1], strides=[2, 2])])])
    c = n.op("GlobalAveragePool", [n.op("Relu", [n.conv(a, 8, 6, k=1)])])
    d = n.op("GlobalAveragePool", [a])
    y = n.op("Flatten", [n.op("Concat", [b, c, d], axis=1)], axis=1)
    return n, n.model(n.op("Gemm", [y, n.rand(4, 19), n.rand(4, base="b")], transB=1))


def _rows_model():
    """Two convolutions of the same map concatenated along H (NCHW axis 2 = NHWC axis 1)."""
    n = Net((1, 3, 7, 6), nhwc=True, seed=8)
    a = n.op("Relu", [n.conv(n.x, 3, 4, k=3, pads=[1, 1, 1, 1])])
    top = n.op("Relu", [n.conv(a, 4, 4, k=3, pads=[1, 1, 1, 1], strides=[2, 1])])
    bottom = n.op("MaxPool", [a], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    y = n.op("Concat", [top, bottom], axis=2)
    y = n.op("Relu", [n.conv(y, 4, 4, k=3, pads=[1, 1, 1, 1])])
    y = n.op("Flatten", [n.op("GlobalAveragePool", [y])], axis=1)
    return n, n.model(n.op("Gemm", [y, n.rand(3, 4), n.rand(3, base="b")], transB=1))


@pytest.mark.parametrize("build", [_vectors_model, _rows_model])
def test_concat_in_place_is_bit_exact_without_a_copy(tmp_path, build):
    from test_memory_guard import GuardedHost
    n, m = build()
    x = np.random.default_rng(0).normal(0, 1, (5,) + n.input_shape[1:]).astype(np.float32)
    compiled = compile_model(m, name="cc", calib={"x": x})
    g = _plan(compiled.graph, None)                     # in place (compile keeps it unless a copy is smaller)
    copied = _plan(compiled.graph, None, concat=False)
    mem = g.meta["memory"]
    assert compiled.graph.meta["memory"]["arena_size"] == min(mem["arena_size"], copied.meta["memory"]["arena_size"])
    assert len(mem["concat_in_place"]) == 1 and check_plan(g) == [] and not copied.meta["memory"]["concat_in_place"]
    art = Artifact("cc", compiled.float_graph, g, render(g, "cc"))
    k = mem["concat_in_place"][0]
    out = g.nodes[k].outputs[0]
    off = mem["storage"][out][1]
    for t in g.nodes[k].inputs:                         # each producer's output is its slice
        assert mem["storage"][t] == ("arena", off)
        off += g.tensors[t].nbytes
    assert "ec_concat_s8(" not in art.files["cc.c"] and "runtime/src/ec_concat_s8.c" not in art.files
    outdir = write_project(art, tmp_path / "cc")
    size = mem["arena_size"]
    hm = GuardedHost(outdir, art.name, size)
    res = verify(art, outdir, {"x": x}, with_float=False, host=hm)
    assert res.mismatches == 0 and res.bytes_compared == 5 * g.tensors[g.outputs[0]].size
    assert hm.guard_ok
    # the verifier rejects a slice moved off its place in the output
    bad = copy.deepcopy(mem)
    t = g.nodes[k].inputs[1]
    bad["storage"][t] = ("arena", bad["storage"][t][1] + 4)
    g.meta["memory"] = bad
    assert any("sole-use slice" in p for p in check_plan(g))
    g.meta["memory"] = mem


def test_pooled_channel_concat_keeps_its_copy():
    """A channel concat of feature maps (slices interleaved per pixel) with a producer that cannot
    write with a pixel stride (max pool) still runs ec_concat_s8."""
    n = Net((1, 3, 5, 5), nhwc=True, seed=9)
    a = n.op("Relu", [n.conv(n.x, 3, 4, k=3, pads=[1, 1, 1, 1])])
    b = n.op("MaxPool", [n.op("Relu", [n.conv(n.x, 3, 2, k=1)])], kernel_shape=[3, 3], strides=[1, 1],
             pads=[1, 1, 1, 1])
    y = n.op("Concat", [a, b], axis=1)
    y = n.op("Flatten", [n.op("GlobalAveragePool", [y])], axis=1)
    m = n.model(n.op("Gemm", [y, n.rand(2, 6), n.rand(2, base="b")], transB=1))
    x = np.random.default_rng(0).normal(0, 1, (3,) + n.input_shape[1:]).astype(np.float32)
    art = compile_model(m, name="cs", calib={"x": x})
    assert _plan(art.graph, None).meta["memory"]["concat_in_place"] == []
    assert "ec_concat_s8(" in art.files["cs.c"]


# ---- channel concat of feature maps: producers write with a pixel stride (params out_stride) ----

def _fire_model(batch: int = 1, stride: int = 1):
    """Two SqueezeNet fire modules (1x1 squeeze, 1x1 and 3x3 expand convs concatenated on channels,
    odd channel counts, the first expand pair with ``stride``), then two Gemms of the pooled vector
    concatenated (strided when the batch is > 1) and a last Gemm."""
    n = Net((batch, 3, 9, 11), nhwc=True, seed=11, batch=batch)
    a = n.op("Relu", [n.conv(n.x, 3, 6, k=3, pads=[1, 1, 1, 1])])
    s = n.op("Relu", [n.conv(a, 6, 5, k=1)])
    st = dict(strides=[stride, stride])
    y = n.op("Concat", [n.op("Relu", [n.conv(s, 5, 7, k=1, **st)]),
                        n.op("Relu", [n.conv(s, 5, 9, k=3, pads=[1, 1, 1, 1], **st)])], axis=1)
    s = n.op("Relu", [n.conv(y, 16, 3, k=1)])
    y = n.op("Concat", [n.op("Relu", [n.conv(s, 3, 5, k=1)]),
                        n.op("Relu", [n.conv(s, 3, 6, k=3, pads=[1, 1, 1, 1])])], axis=1)
    y = n.op("Flatten", [n.op("GlobalAveragePool", [y])], axis=1)
    f = [n.op("Gemm", [y, n.rand(k, 11), n.rand(k, base="b")], transB=1) for k in (7, 5)]
    y = n.op("Concat", f, axis=1)
    m = n.model(n.op("Gemm", [y, n.rand(3, 12), n.rand(3, base="b")], transB=1))
    x = np.random.default_rng(0).normal(0, 1, (4,) + ((batch,) if batch > 1 else ()) + n.input_shape[1:])
    return m, {"x": x.astype(np.float32)}


def _fire_in_place(batch, stride, optimize, tmp_path, name="fire"):
    """The fire model compiled, planned with every concat in place, rendered and written; optimize
    "generic": no specialised variants (generic convs keep their copies, the generic FC is strided)."""
    m, feeds = _fire_model(batch, stride)
    if optimize == "generic":
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(dense_variants, "_specialize", lambda options: False)
            compiled = compile_model(m, name=name, calib=feeds)
    else:
        compiled = compile_model(m, name=name, calib=feeds, optimize=optimize)
    g = _plan(compiled.graph, None)
    mem = g.meta["memory"]
    assert check_plan(g) == [] and len(mem["concat_in_place"]) == (1 if optimize == "generic" else 3)
    for k in mem["concat_in_place"]:
        out, c = g.nodes[k].outputs[0], g.tensors[g.nodes[k].outputs[0]].shape[-1]
        strided = int(np.prod(g.tensors[out].shape[:-1])) > 1
        off = mem["storage"][out][1]
        for t in g.nodes[k].inputs:                     # each producer writes at its channel offset
            assert mem["storage"][t] == ("arena", off)
            prod = next(n for n in g.nodes if n.outputs[0] == t)
            assert prod.params.get("out_stride") == (c if strided else None)
            off += g.tensors[t].shape[-1] if strided else g.tensors[t].nbytes
        assert not any(o["node"] == g.nodes.index(prod) for o in mem["overlaps"])
    art = Artifact(name, compiled.float_graph, g, render(g, name))
    assert art.files[f"{name}.c"].count("ec_concat_s8(") == (2 if optimize == "generic" else 0)
    assert ".out_stride = " in art.files[f"{name}.c"]
    return art, write_project(art, tmp_path / name), feeds


FIRE = [pytest.param(b, s, o, id=f"batch{b}-stride{s}-{o}") for b, s, o in
        [(1, 1, "balanced"), (2, 2, "balanced"), (1, 2, "speed"), (2, 1, "speed"), (2, 1, "generic")]]


@pytest.mark.parametrize("batch,stride,optimize", FIRE)
def test_channel_concat_in_place_is_bit_exact(tmp_path, monkeypatch, batch, stride, optimize):
    """Portable and (emulated) DSP paths, balanced and --optimize speed: C == the NumPy reference
    byte for byte with the producers writing their channels of the concat output; guard bytes
    around the arena untouched."""
    from edgecompile.compiler import verify
    from test_memory_guard import GuardedHost
    from conftest import SANITIZE
    for dsp in ("0", "1"):
        monkeypatch.setenv("EC_EMULATE_DSP", dsp)
        art, out, feeds = _fire_in_place(batch, stride, optimize, tmp_path / f"dsp{dsp}")
        res = verify(art, out, feeds, with_float=False, sanitize=SANITIZE)
        assert res.mismatches == 0 and res.bytes_compared == 4 * batch * 3, dsp
    if not SANITIZE:
        hm = GuardedHost(out, art.name, art.graph.meta["memory"]["arena_size"])
        res = verify(art, out, feeds, with_float=False, host=hm)
        assert res.mismatches == 0 and hm.guard_ok


def test_channel_concat_in_place_under_asan_ubsan():
    """The bit-exact test again, runtime and generated code built with ASan + UBSan (child pytest)."""
    import os
    import subprocess
    import sys
    from conftest import ROOT, SANITIZE
    from test_sanitizers import _libasan
    if SANITIZE or _libasan() is None:
        pytest.skip("inside the sanitizer run, or no libasan.so")
    env = dict(os.environ, LD_PRELOAD=_libasan(), EC_SANITIZE="1", ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:xdist",
                        "tests/test_memory_concat.py", "-k", "test_channel_concat_in_place_is_bit_exact"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0 and f"{len(FIRE)} passed" in r.stdout, "\n".join((r.stdout + r.stderr).splitlines()[-30:])


def test_channel_concat_saves_arena_and_verifier_rejects_overlapping_channels(tmp_path):
    """In place beats the copy on the fire model (compile keeps it), and the verifier catches a
    slice moved over its neighbour's channels, a producer without the concat's pixel stride, and a
    producer planned over its own dying input."""
    m, feeds = _fire_model(1, 1)
    art = compile_model(m, name="fire", calib=feeds)
    copied = _plan(art.graph, None, concat=False).meta["memory"]["arena_size"]
    mem = art.graph.meta["memory"]
    assert len(mem["concat_in_place"]) == 3 and mem["arena_size"] < copied
    g = art.graph
    k = mem["concat_in_place"][0]
    a, b = g.nodes[k].inputs
    bad = copy.deepcopy(mem)
    bad["storage"][b] = ("arena", bad["storage"][b][1] - 2)           # b's channels over a's last two
    g.meta["memory"] = bad
    assert any("overlapping channels" in p for p in check_plan(g))
    g.meta["memory"] = mem
    prod = next(n for n in g.nodes if n.outputs[0] == b)
    prod.params = dict(prod.params, out_stride=g.tensors[b].shape[-1])
    assert any("does not write" in p for p in check_plan(g))
    prod.params = dict(prod.params, out_stride=g.tensors[g.nodes[k].outputs[0]].shape[-1])
    assert check_plan(g) == []
    bad = copy.deepcopy(mem)                          # the concat output over a producer's dying input
    out, src = g.nodes[k].outputs[0], prod.inputs[0]
    shift = mem["storage"][src][1] - mem["storage"][out][1]
    for t in [out, *g.nodes[k].inputs]:
        bad["storage"][t] = ("arena", mem["storage"][t][1] + shift)
    g.meta["memory"] = bad
    assert any("share bytes" in p for p in check_plan(g))
    g.meta["memory"] = mem


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
                    reason="arm-none-eabi-gcc or qemu-system-arm not installed")
@pytest.mark.parametrize("batch,stride,optimize", FIRE)
def test_channel_concat_in_place_bit_exact_under_qemu(tmp_path, batch, stride, optimize):
    """M4 (DSP asm: 2x2, an odd last pixel's 1x4, wide) and M55 (Helium packed blocks of 4 pixels and
    a last partial one) write the strided slices bit-exactly."""
    from edgecompile import firmware as F
    art, out, feeds = _fire_in_place(batch, stride, optimize, tmp_path)
    for core in ("mps2-an386", "mps3-an547"):
        res = F.run(out, core, feeds, timeout=300)
        assert res.ok and res.bytes_compared == 4 * batch * 3 and res.samples == 4, core
