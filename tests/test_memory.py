"""The memory planner: overlap offsets (closed form vs a walk over the kernel's taps), exact offset
search vs brute force, execution order, and the independent plan verifier over random graphs and the
MLPerf Tiny models."""
import itertools
import shutil
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from conftest import ROOT
from edgecompile.ir import Graph, Node, Op, Tensor
from edgecompile.passes.memory.overlap import min_offset
from edgecompile.passes.memory.place import Problem, lower_bounds, place_in_order, solve
from edgecompile.passes.memory.verify import _safe, check_plan
from edgecompile.passes.plan_memory import plan_memory

sys.path.insert(0, str(ROOT / "benchmarks"))


def _conv_params(shape, oc, k, s, pad, d=1, kind="conv"):
    n, h, w, c = shape
    oh, ow = (h + 2 * pad - d * (k - 1) - 1) // s + 1, (w + 2 * pad - d * (k - 1) - 1) // s + 1
    out = (n, oh, ow, c if kind != "conv" else oc)
    if kind == "pool":
        return dict(input_dims=shape, output_dims=out, kernel_h=k, kernel_w=k, stride_h=s, stride_w=s,
                    pad_top=pad, pad_left=pad), out
    return dict(input_dims=shape, output_dims=out, filter_dims=(out[3], k, k, c if kind == "conv" else 1),
                stride=(s, s), dilation=(d, d), padding=(pad, pad)), out


class _G:
    """A tiny builder of lowered-looking graphs (just what the planner reads)."""

    def __init__(self, shape):
        self.t = {"x": Tensor("x", shape, "int8")}
        self.nodes = []

    def add(self, op, kernel, ins, out_shape, params=None):
        name = f"t{len(self.nodes)}"
        self.t[name] = Tensor(name, tuple(out_shape), "int8")
        self.nodes.append(Node(f"n{len(self.nodes)}", op, list(ins), [name], {}, kernel, dict(params or {})))
        return name

    def window(self, x, oc, k, s, pad, kind, kernel, op, scratch=0):
        p, out = _conv_params(self.t[x].shape, oc, k, s, pad, kind=kind)
        if scratch:
            p["scratch_bytes"] = scratch
        return self.add(op, kernel, [x], out, p)

    def graph(self, out):
        return Graph("g", self.t, self.nodes, ["x"], [out])


def _random_graph(seed):
    rng = np.random.default_rng(seed)
    g = _G((1, int(rng.integers(4, 13)), int(rng.integers(4, 13)), int(rng.choice([1, 3, 4, 8]))))
    cur = "x"
    for _ in range(int(rng.integers(2, 9))):
        c = g.t[cur].shape[3]
        kind = rng.integers(0, 6)
        scratch = int(rng.choice([0, 0, 4, 36, 100]))
        if kind == 0:
            k, s = int(rng.choice([1, 3, 5])), int(rng.choice([1, 2]))
            k = min(k, *g.t[cur].shape[1:3])
            cur = g.window(cur, int(rng.choice([4, 8, 16])), k, s, int(rng.integers(0, k // 2 + 1)), "conv",
                           str(rng.choice(["ec_conv2d_s8", "ec_conv2d_im2col_s8"])), Op.CONV2D, scratch)
        elif kind == 1:
            cur = g.window(cur, c, 3, int(rng.choice([1, 2])), 1, "dw", "ec_depthwise_conv2d_s8",
                           Op.DEPTHWISE_CONV2D, scratch)
        elif kind == 2 and min(g.t[cur].shape[1:3]) >= 2:
            cur = g.window(cur, c, 2, 2, 0, "pool", "ec_max_pool2d_s8", Op.MAX_POOL2D)
        elif kind == 3:
            n, h, w, _ = g.t[cur].shape
            oc = int(rng.choice([4, 8, 16, 24]))
            cur = g.add(Op.CONV2D, "ec_fully_connected_s8", [cur], (n, h, w, oc),
                        dict(fc_input_dims=(n * h * w, 1, 1, c), fc_output_dims=(n * h * w, 1, 1, oc),
                             input_dims=g.t[cur].shape, scratch_bytes=scratch))
        elif kind == 4:                                     # residual block: two paths, then Add
            a = g.window(cur, c, 3, 1, 1, "conv", "ec_conv2d_im2col_s8", Op.CONV2D, scratch)
            b = g.window(a, c, 3, 1, 1, "dw", "ec_depthwise_conv2d_s8", Op.DEPTHWISE_CONV2D)
            side = g.window(cur, c, 1, 1, 0, "conv", "ec_conv2d_s8", Op.CONV2D) if rng.integers(0, 2) else cur
            cur = g.add(Op.ADD, "ec_add_s8", [b, side], g.t[b].shape)
        else:
            cur = g.add(Op.CLAMP, "ec_clamp_s8", [cur], g.t[cur].shape)
    out = g.add(Op.CLAMP, "ec_clamp_s8", [cur], g.t[cur].shape)
    return g.graph(out)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**9))
def test_random_graphs_plan_verifies(seed):
    g = plan_memory(_random_graph(seed), None)
    mem = g.meta["memory"]
    assert check_plan(g) == []
    assert mem["lower_bound_overlap"] <= mem["arena_size"] <= mem["no_reuse_size"] + 4 * len(mem["lifetimes"])
    assert mem["lower_bound_overlap"] <= mem["lower_bound"]
    # without the declared overlaps the verifier must object wherever bytes are actually shared
    if any(o["shared_bytes"] for o in mem["overlaps"]):
        g.meta["memory"] = dict(mem, overlaps=[])
        assert check_plan(g)


@settings(max_examples=80, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), c=st.sampled_from([1, 2, 3, 8]), oc=st.sampled_from([1, 4, 16]),
       k=st.integers(1, 4), s=st.integers(1, 3), pad=st.integers(0, 2), d=st.integers(1, 2),
       kind=st.sampled_from(["conv", "dw", "pool"]))
def test_min_offset_is_the_smallest_safe_offset(h, w, c, oc, k, s, pad, d, kind):
    """overlap.min_offset (closed form) == the smallest offset the verifier's tap walk accepts."""
    if kind == "pool":
        d = 1
    if pad >= k or h + 2 * pad < d * (k - 1) + 1 or w + 2 * pad < d * (k - 1) + 1:
        return
    p, out = _conv_params((1, h, w, c), oc, k, s, pad, d, kind)
    kernel = {"conv": "ec_conv2d_s8", "dw": "ec_depthwise_conv2d_s8", "pool": "ec_avg_pool2d_s8"}[kind]
    n = Node("n", Op.CONV2D, ["x"], ["y"], {}, kernel, p)
    x, y = Tensor("x", (1, h, w, c), "int8"), Tensor("y", out, "int8")
    dmin = min_offset(kernel, p, x.shape, y.shape)
    assert _safe(n, x, y, 1000 + dmin, 1000) is None
    if dmin > 0:
        assert _safe(n, x, y, 1000 + dmin - 1, 1000) is not None


def test_elementwise_in_place_only_for_equal_shapes():
    assert min_offset("ec_add_s8", {}, (1, 4, 4, 8), (1, 4, 4, 8)) == 0
    assert min_offset("ec_add_s8", {}, (1, 1, 1, 8), (1, 4, 4, 8)) is None
    assert min_offset("ec_softmax_s8", {}, (1, 10), (1, 10)) is None
    assert min_offset("ec_transpose_s8", {}, (1, 4, 4, 8), (1, 4, 4, 8)) is None


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 12), st.integers(0, 5), st.integers(0, 3)), min_size=1, max_size=6),
       st.integers(0, 10**6))
def test_exact_search_matches_brute_force_over_orders(spec, seed):
    rng = np.random.default_rng(seed)
    size = [4 * s for s, _, _ in spec]
    first = [f for _, f, _ in spec]
    last = [f + ln for _, f, ln in spec]
    pairs = {}
    for o in range(len(size)):
        for i in range(len(size)):
            if last[i] == first[o] and first[i] < first[o] and rng.random() < 0.5:
                pairs[(o, i)] = 4 * int(rng.integers(0, size[o] // 4 + 1))
    pb = Problem(size, first, last, pairs)
    best = min(place_in_order(pb, p)[1] for p in itertools.permutations(range(len(size))))
    res = solve(pb)
    assert res["peak"] == best and res["exhaustive"]
    assert lower_bounds(pb)[1] <= best


def test_exact_search_matches_brute_force_over_offsets():
    """Placing in some order at the lowest offset loses nothing: all offset choices of small cases."""
    rng = np.random.default_rng(1)
    for _ in range(25):
        n = 3
        size = [4 * int(s) for s in rng.integers(1, 4, n)]
        first = [int(f) for f in rng.integers(0, 3, n)]
        last = [f + int(x) for f, x in zip(first, rng.integers(0, 2, n))]
        pairs = {(o, i): 4 * int(rng.integers(0, size[o] // 4 + 1)) for o in range(n) for i in range(n)
                 if first[i] < first[o] == last[i] and rng.random() < 0.6}
        pb = Problem(size, first, last, pairs)
        from edgecompile.passes.memory.place import _fits
        best = None
        for offs in itertools.product(range(0, sum(size) + 1, 4), repeat=n):
            if all(_fits(pb, b, offs[b], c, offs[c]) for b in range(n) for c in pb.conf[b]):
                peak = max(o + s for o, s in zip(offs, size))
                best = peak if best is None else min(best, peak)
        assert solve(pb)["peak"] == best


def test_order_search_runs_the_small_branch_first():
    """Two branches from x: a big one that stays live and a small one; a good order keeps the peak low."""
    g = _G((1, 16, 16, 4))
    big = g.window("x", 32, 1, 1, 0, "conv", "ec_conv2d_s8", Op.CONV2D)           # 8 KB, live to the end
    small = g.window("x", 4, 3, 2, 1, "conv", "ec_conv2d_s8", Op.CONV2D)          # 256 B
    s2 = g.window(small, 4, 3, 1, 1, "conv", "ec_conv2d_s8", Op.CONV2D)
    s3 = g.window(s2, 128, 1, 1, 0, "conv", "ec_conv2d_s8", Op.CONV2D)            # 8 KB
    s4 = g.window(s3, 4, 8, 8, 0, "pool", "ec_avg_pool2d_s8", Op.AVG_POOL2D)
    b2 = g.window(big, 32, 16, 16, 0, "pool", "ec_avg_pool2d_s8", Op.AVG_POOL2D)
    out = g.add(Op.CONCAT, "ec_concat_s8", [b2, s4], (1, 1, 1, 160))
    graph = g.graph(out)
    planned = plan_memory(graph, None)
    mem = planned.meta["memory"]
    assert check_plan(planned) == []
    assert mem["reordered"]
    names = [n.outputs[0] for n in planned.nodes]
    assert names.index(s3) < names.index(big)          # the big map is made only when it is needed
    assert mem["arena_size"] < 8192 + 8192


def test_verifier_rejects_an_overlap_below_its_safe_offset(tmp_path):
    from edgecompile.compiler import compile_model
    from test_codegen import DIGITS_CALIB, DIGITS_ONNX
    g = compile_model(DIGITS_ONNX, calib=DIGITS_CALIB).graph
    mem = g.meta["memory"]
    assert check_plan(g) == []
    ov = next(o for o in mem["overlaps"] if o["min_offset"] > 0)
    st_ = dict(mem["storage"])
    o_in = st_[ov["input"]][1]
    st_[ov["output"]] = ("arena", o_in - ov["min_offset"] + 4)     # 4 bytes too close
    g.meta["memory"] = dict(mem, storage=st_)
    assert any("overwritten before its last read" in p for p in check_plan(g))
    g.meta["memory"] = dict(mem, overlaps=[o for o in mem["overlaps"] if o is not ov])
    assert any("not a declared overlap" in p for p in check_plan(g))


@pytest.mark.parametrize("model", ["kws_dscnn", "vww_mobilenetv1_025", "ic_resnet8", "ad_fc_autoencoder"])
def test_bench_model_plans_verify(bench_dir, model):
    import bench_data as B
    from edgecompile.compiler import compile_model
    task = B.TASKS[model]
    calib, _, _ = B.split(task)
    g = compile_model(B.model_path(task), calib={"x": calib}).graph
    mem = g.meta["memory"]
    assert check_plan(g) == []
    assert mem["lower_bound_overlap"] <= mem["arena_size"]
    if model in ("vww_mobilenetv1_025", "ic_resnet8"):
        assert mem["overlaps"] and mem["arena_size"] < mem["lower_bound"]    # overlap beats the live-set bound


def test_every_kernel_is_classified_for_overlap():
    """A new kernel must be put in overlap.py's tables (after checking its read/write order)."""
    from edgecompile.codegen import RUNTIME_DEPS
    from edgecompile.passes.memory.overlap import NO_OVERLAP_KERNELS, OVERLAP_KERNELS
    helpers = {d for deps in RUNTIME_DEPS.values() for d in deps}
    kernels = {p.stem for p in (ROOT / "runtime_c" / "src").glob("*.c")} - helpers
    assert kernels == OVERLAP_KERNELS | NO_OVERLAP_KERNELS, kernels ^ (OVERLAP_KERNELS | NO_OVERLAP_KERNELS)


MLP = ROOT / "tests" / "data" / "torch" / "mlp_ae_op13.onnx"
MLP_DATA = ROOT / "tests" / "data" / "torch" / "mlp_ae_op13_inputs.npz"


@pytest.mark.parametrize("emulate", ["0", "1"])
def test_memory_saving_fc_without_scratch_is_bit_exact(tmp_path, monkeypatch, emulate):
    """--memory-saving: one-row FC layers drop their scratch where that lowers the peak; the generated
    C (portable and the emulated DSP path, which then runs ec_mat_row_direct) stays bit-exact."""
    from edgecompile.compiler import compile_model, verify, write_project
    monkeypatch.setenv("EC_EMULATE_DSP", emulate)
    base = compile_model(MLP, calib=MLP_DATA, name="dg")
    art = compile_model(MLP, calib=MLP_DATA, name="dg", memory_saving=True)
    mem = art.graph.meta["memory"]
    assert mem["scratch_free"] and mem["arena_size"] < base.graph.meta["memory"]["arena_size"]
    free = {n.name for n in art.graph.nodes if n.params and n.params.get("scratch_bytes") == 0
            and n.params.get("scratch_optional")}
    assert free == set(mem["scratch_free"])
    assert "ctx.buf = NULL;" in art.files["dg.c"] or not mem["scratch"]
    assert not check_plan(art.graph)
    res = verify(art, write_project(art, tmp_path / "m"), dict(np.load(MLP_DATA)))
    assert res.ok and res.bytes_compared == 4 * 640


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
                    reason="arm-none-eabi-gcc or qemu-system-arm not installed")
def test_memory_saving_fc_bit_exact_under_qemu(tmp_path):
    """The hand-scheduled scratch-free FC row (DSP targets) and the portable path under QEMU."""
    from edgecompile import firmware as F
    from edgecompile.compiler import compile_model, write_project
    art = compile_model(MLP, calib=MLP_DATA, name="dg", memory_saving=True)
    out = write_project(art, tmp_path / "m")
    for core in ("mps2-an386", "mps3-an547", "mps2-an385"):
        res = F.run(out, core, dict(np.load(MLP_DATA)))
        assert res.ok and res.bytes_compared == 4 * 640, core


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**9), st.integers(2, 9))
def test_random_banded_plans_verify(seed, count):
    """Patch-based chains in random graphs: the verifier re-derives every band step and accepts the
    plan (band buffers, band scratch, the chain's input and output live across the bands)."""
    from edgecompile.passes.memory.bands import chains, split
    from edgecompile.passes.plan_memory import _plan, _roots, _storage
    g = plan_memory(_random_graph(seed), None)
    for run in chains(g, _storage(g, lambda t: _roots(g).get(t, t))):
        d = split(g, run, count, lambda n: 0)
        if d is None:
            continue
        p = _plan(g, None, [d], reorder=False)
        mem = p.meta["memory"]
        assert check_plan(p) == [] and mem["bands"][0]["count"] == count
        assert len(mem["steps"]) == len(g.nodes) + (count - 1) * len(run)
        if len(run) > 2:                       # a band buffer moved onto its neighbour is caught
            bad = dict(mem, bands=[dict(mem["bands"][0], buffers=[list(b) for b in mem["bands"][0]["buffers"]])])
            bad["bands"][0]["buffers"][0][0] = bad["bands"][0]["buffers"][1][0]
            p.meta["memory"] = bad
            assert check_plan(p)
