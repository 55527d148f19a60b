"""Patch-based execution (passes/memory/bands.py, --memory-saving): a chain of spatial layers run
in row bands is bit-exact with the unbanded layers (odd heights, stride 2, asymmetric and large
padding, dilation, pooling, several band counts), the verifier checks every band buffer's lifetime
and every band's rows, the arena is exactly what the code touches, and the chooser keeps a graph
unchanged when bands do not lower its peak."""
import copy
import json
import shutil
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import ROOT
from edgecompile.codegen import render
from edgecompile.compiler import Artifact, compile_model, verify, write_project
from edgecompile.errors import OptionError
from edgecompile.passes.memory.bands import chains, split
from edgecompile.passes.memory.verify import check_plan
from edgecompile.analysis import node_macs
from edgecompile.passes.plan_memory import _roots, _storage, plan_bands, plan_memory

sys.path.insert(0, str(ROOT / "tests"))
from models import Net  # noqa: E402


def _chain_model(h=19, w=13):
    """conv 3x3 s2 with asymmetric padding, depthwise 3x3, pointwise, grouped conv (generic kernel)
    without top padding, dilated conv, max pool with padding, depthwise 5x5 s2 (generic kernel),
    average pool: one chain of eight spatial layers."""
    n = Net((1, 3, h, w), nhwc=True, seed=3)
    y = n.op("Relu", [n.conv(n.x, 3, 8, k=3, pads=[1, 0, 0, 1], strides=[2, 2])])
    y = n.clip(n.conv(y, 8, 8, k=3, group=8, pads=[1, 1, 1, 1]))
    y = n.op("Relu", [n.conv(y, 8, 12, k=1)])
    y = n.op("Relu", [n.conv(y, 12, 12, k=3, group=3, pads=[0, 1, 1, 1])])
    y = n.op("Relu", [n.conv(y, 12, 8, k=3, dilations=[2, 2], pads=[2, 1, 2, 1])])
    y = n.op("MaxPool", [y], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    y = n.clip(n.conv(y, 8, 8, k=5, group=8, pads=[2, 2, 1, 2], strides=[2, 2]))
    y = n.op("AveragePool", [y], kernel_shape=[2, 2], strides=[1, 1])
    y = n.op("Flatten", [n.op("GlobalAveragePool", [y])], axis=1)
    y = n.op("Gemm", [y, n.rand(4, 8), n.rand(4, base="b")], transB=1)
    return n, n.model(y)


@pytest.fixture(scope="module")
def chain_art():
    n, m = _chain_model()
    x = np.random.default_rng(0).normal(0, 1, (6,) + n.input_shape[1:]).astype(np.float32)
    art = compile_model(m, name="pt", calib={"x": x})
    return art, x


def _run_banded(art, x, nodes, count, outdir):
    g = plan_bands(art.graph, nodes, count)
    assert check_plan(g) == []
    banded = Artifact(art.name, art.float_graph, g, render(g, art.name))
    res = verify(banded, write_project(banded, outdir), {"x": x}, with_float=False)
    return g, res


def test_chain_is_found(chain_art):
    art, _ = chain_art
    g = art.graph
    runs = chains(g, _storage(g, lambda t: _roots(g).get(t, t)))
    assert runs and len(runs[0]) == 8, runs
    kernels = {g.nodes[i].kernel for i in runs[0]}
    assert {"ec_max_pool2d_s8", "ec_avg_pool2d_s8", "ec_fully_connected_s8", "ec_conv2d_s8", "ec_conv2d_im2col_s8",
            "ec_depthwise_conv2d_s8", "ec_depthwise_conv2d_3x3_s8"} <= kernels, kernels


@pytest.mark.parametrize("length,count", [(2, 2), (3, 4), (5, 3), (8, 2), (8, 3), (4, 8), (6, 5)])
def test_banded_chain_is_bit_exact(chain_art, tmp_path, length, count):
    art, x = chain_art
    g0 = art.graph
    run = chains(g0, _storage(g0, lambda t: _roots(g0).get(t, t)))[0]
    nodes = run[:length]
    if split(g0, nodes, count, lambda n: 0) is None:
        pytest.skip("fewer output rows than bands")
    g, res = _run_banded(art, x, nodes, count, tmp_path / "p")
    assert res.mismatches == 0 and res.bytes_compared == 6 * 4
    d = g.meta["memory"]["bands"][0]
    assert d["count"] == count and d["nodes"] == nodes
    assert sum(o1 - o0 for o0, o1 in (L["out_rows"] for L in d["layers"][-1])) == \
        g.tensors[g.nodes[nodes[-1]].outputs[0]].shape[1]
    assert d["extra_macs"] >= 0
    text = (tmp_path / "p" / "pt.c").read_text()
    assert f"band {count} of {count}" in text


def test_banded_sparse_convolutions_are_bit_exact(tmp_path):
    """Sparse-weight convolutions (ec_conv2d_sparse_s8) in a chain: the sparse pointwise FC ends it."""
    n, m = _chain_model()
    x = np.random.default_rng(4).normal(0, 1, (3,) + n.input_shape[1:]).astype(np.float32)
    art = compile_model(m, name="pt", calib={"x": x}, sparse="always", prune=0.6)
    runs = chains(art.graph, _storage(art.graph, lambda t: _roots(art.graph).get(t, t)))
    run = max(runs, key=len)
    assert "ec_conv2d_sparse_s8" in {art.graph.nodes[i].kernel for i in run}
    _, res = _run_banded(art, x, run, 3, tmp_path / "s")
    assert res.mismatches == 0 and res.bytes_compared == 3 * 4


def test_verifier_checks_band_lifetimes_and_rows(chain_art):
    art, _ = chain_art
    run = chains(art.graph, _storage(art.graph, lambda t: _roots(art.graph).get(t, t)))[0]
    g = plan_bands(art.graph, run[:4], 3)
    mem = g.meta["memory"]
    assert check_plan(g) == []
    d = mem["bands"][0]
    # a band buffer moved onto the next layer's band buffer, which is live at the same time
    bad = copy.deepcopy(mem)
    bad["bands"][0]["buffers"][0][1] = d["buffers"][1][1]
    g.meta["memory"] = bad
    assert any("share bytes while both live" in p for p in check_plan(g))
    # a band reading one input row less than its windows need
    bad = copy.deepcopy(mem)
    bad["bands"][0]["layers"][1][1]["in_rows"][0] += 1
    g.meta["memory"] = bad
    assert any("inconsistent band geometry" in p for p in check_plan(g))
    # the final bands must cover the chain's output
    bad = copy.deepcopy(mem)
    bad["bands"][0]["layers"][-1][-1]["out_rows"][1] -= 1
    g.meta["memory"] = bad
    assert check_plan(g)
    # a band buffer past the end of the arena
    bad = copy.deepcopy(mem)
    bad["bands"][0]["buffers"][0][0] = mem["arena_size"] - 4
    g.meta["memory"] = bad
    assert any("outside" in p for p in check_plan(g))
    g.meta["memory"] = mem


def test_banded_arena_exactly_used(chain_art, tmp_path):
    """Guard bytes around the arena: the band calls touch exactly NAME_ARENA_SIZE bytes."""
    from test_memory_guard import GuardedHost
    art, x = chain_art
    run = chains(art.graph, _storage(art.graph, lambda t: _roots(art.graph).get(t, t)))[0]
    g = plan_bands(art.graph, run, 3)
    banded = Artifact(art.name, art.float_graph, g, render(g, art.name))
    outdir = write_project(banded, tmp_path / "g")
    size = g.meta["memory"]["arena_size"]
    hm = GuardedHost(outdir, art.name, size)
    res = verify(banded, outdir, {"x": x}, with_float=False, host=hm)
    assert res.mismatches == 0 and hm.guard_ok
    used = np.nonzero(hm.touched)[0]
    assert used[0] == 0 and used[-1] == size - 1


def _wide_model():
    """A large early feature map (MCUNetV2's case): 16 channels at 31x27, then stride 2 twice."""
    n = Net((1, 3, 31, 27), nhwc=True, seed=5)
    y = n.op("Relu", [n.conv(n.x, 3, 16, k=3, pads=[1, 1, 1, 1])])
    y = n.clip(n.conv(y, 16, 16, k=3, group=16, pads=[1, 1, 1, 1], strides=[2, 2]))
    y = n.op("Relu", [n.conv(y, 16, 8, k=1)])
    y = n.clip(n.conv(y, 8, 8, k=3, group=8, pads=[0, 0, 1, 1], strides=[2, 2]))
    y = n.op("Flatten", [n.op("GlobalAveragePool", [y])], axis=1)
    return n, n.model(n.op("Gemm", [y, n.rand(3, 8), n.rand(3, base="b")], transB=1))


def test_memory_saving_picks_bands_only_when_they_lower_the_peak(tmp_path):
    n, m = _wide_model()
    x = np.random.default_rng(1).normal(0, 1, (4,) + n.input_shape[1:]).astype(np.float32)
    base = compile_model(m, name="pt", calib={"x": x})
    art = compile_model(m, name="pt", calib={"x": x}, memory_saving=True)
    mem, b = art.graph.meta["memory"], base.graph.meta["memory"]
    assert mem["bands"] and mem["arena_size"] < b["arena_size"]
    assert check_plan(art.graph) == []
    rep = json.loads(art.files["report.json"])
    assert rep["memory"]["patches"][0]["extra_macs"] == mem["bands"][0]["extra_macs"] > 0
    assert rep["layers"][mem["bands"][0]["nodes"][0]]["bands"] == mem["bands"][0]["count"]
    assert "Patch-based execution" in art.files["report.html"]
    res = verify(art, write_project(art, tmp_path / "w"), {"x": x}, with_float=False)
    assert res.mismatches == 0 and res.bytes_compared == 4 * 3
    # max_extra_macs caps the recomputed MACs (a fraction of the model's)
    total = sum(node_macs(base.graph, nd) for nd in base.graph.nodes)
    for cap in (0.0, 0.05):
        capped = plan_memory(base.graph, SimpleNamespace(options={"memory": dict(scratch_free=True, max_extra_macs=cap)}))
        assert all(d["extra_macs"] <= cap * total for d in capped.meta["memory"]["bands"])
        assert capped.meta["memory"]["arena_size"] >= mem["arena_size"]
    # the same budget through the API (compile --max-recompute); a cap of 0 allows no bands
    zero = compile_model(m, name="pt", calib={"x": x}, memory_saving=0.0)
    assert not zero.graph.meta["memory"]["bands"]
    with pytest.raises(OptionError, match="recompute budget"):
        compile_model(m, name="pt", calib={"x": x}, memory_saving="lots")
    # where bands do not lower the peak (the small chain model) the plan stays as it was
    cn, cm = _chain_model()
    cx = np.random.default_rng(2).normal(0, 1, (2,) + cn.input_shape[1:]).astype(np.float32)
    plain = compile_model(cm, name="pt", calib={"x": cx})
    saving = compile_model(cm, name="pt", calib={"x": cx}, memory_saving=True)
    assert not saving.graph.meta["memory"]["bands"]
    assert saving.files["pt.c"] == plain.files["pt.c"]


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
                    reason="arm-none-eabi-gcc or qemu-system-arm not installed")
def test_banded_chain_bit_exact_under_qemu(chain_art, tmp_path):
    """The band calls on the M4 (DSP paths of im2col, depthwise 3x3 ring, pointwise) and the M3
    (portable paths)."""
    from edgecompile import firmware as F
    art, x = chain_art
    run = chains(art.graph, _storage(art.graph, lambda t: _roots(art.graph).get(t, t)))[0]
    g = plan_bands(art.graph, run, 3)
    banded = Artifact(art.name, art.float_graph, g, render(g, art.name))
    outdir = write_project(banded, tmp_path / "q")
    for core in ("mps2-an386", "mps2-an385"):
        res = F.run(outdir, core, {"x": x[:2]})
        assert res.ok and res.bytes_compared == 2 * 4, core
