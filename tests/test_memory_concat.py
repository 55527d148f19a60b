"""Concat written in place by its producers (plan_memory): when the slices are contiguous (no axis
before the concat axis has an extent > 1: channel concat of [1, 1, 1, C] vectors, H-axis concat in
NHWC) and each input is made by a node for this Concat only, the producers write straight into their
slice of the output and no copy runs.  Bit-exact, verified plan, guard bytes."""
import copy

import numpy as np
import pytest

from edgecompile.codegen import render
from edgecompile.compiler import Artifact, compile_model, verify, write_project
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


def test_strided_concat_keeps_its_copy():
    """A channel concat of feature maps (slices interleaved per pixel) still runs ec_concat_s8."""
    n = Net((1, 3, 5, 5), nhwc=True, seed=9)
    a = n.op("Relu", [n.conv(n.x, 3, 4, k=3, pads=[1, 1, 1, 1])])
    b = n.op("Relu", [n.conv(n.x, 3, 2, k=1)])
    y = n.op("Concat", [a, b], axis=1)
    y = n.op("Flatten", [n.op("GlobalAveragePool", [y])], axis=1)
    m = n.model(n.op("Gemm", [y, n.rand(2, 6), n.rand(2, base="b")], transB=1))
    x = np.random.default_rng(0).normal(0, 1, (3,) + n.input_shape[1:]).astype(np.float32)
    art = compile_model(m, name="cs", calib={"x": x})
    assert art.graph.meta["memory"]["concat_in_place"] == []
    assert "ec_concat_s8(" in art.files["cs.c"]
