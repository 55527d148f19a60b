"""Sparse weights: the bitmask encoding, the per-layer choice, and the sparse C kernels bit-exact with the
dense integer reference across sparsity patterns (0%, 50%, 80%, 95%, whole zero rows, all zero) and
shapes (sizes not multiple of 8, stride, dilation, padding, groups, pointwise, FC with many rows)."""
import math

import numpy as np
import pytest

from edgecompile.analysis import const_bytes, emitted_consts
from edgecompile.compiler import compile_model, quantize_inputs, write_project
from edgecompile.host import HostModel
from edgecompile.ir import Graph, Node, Op, Tensor
from edgecompile.ops import REGISTRY, sparse
from edgecompile.reference import run_int8

from conftest import SANITIZE

PATTERNS = {"dense": 0.0, "half": 0.5, "80": 0.8, "95": 0.95, "zero_rows": "rows", "all_zero": 1.0}


def _zero(w: np.ndarray, pattern, rng) -> np.ndarray:
    w = w.copy()
    if pattern == "rows":                              # whole output channels zero, others 50%
        w[::2] = 0
        w[rng.random(w.shape) < 0.5] = 0
    else:
        w[rng.random(w.shape) < pattern] = 0
    return w


LAYERS = [  # (op, x shape, w shape, attrs)
    ("fc", (1, 19), (7, 19), {}),
    ("fc_rows", (1, 3, 37), (5, 37), dict(act_min=0.0)),
    ("fc_wide", (1, 200), (9, 200), {}),
    ("conv_same", (1, 7, 6, 5), (6, 3, 3, 5), dict(pads=(1, 1, 1, 1))),
    ("conv_s2_asym", (1, 9, 8, 11), (4, 3, 2, 11), dict(strides=(2, 2), pads=(1, 0, 0, 1))),
    ("conv_dil", (1, 8, 8, 9), (5, 3, 3, 9), dict(dilations=(2, 2), pads=(2, 2, 2, 2))),
    ("conv_groups", (1, 6, 6, 12), (9, 3, 3, 4), dict(groups=3, pads=(1, 1, 1, 1))),
    ("conv_1ch_big_kernel", (1, 12, 6, 1), (6, 5, 4, 1), dict(strides=(2, 1), pads=(2, 1, 2, 2))),
    ("conv_kernel_gt_input", (1, 3, 2, 3), (4, 5, 5, 3), dict(pads=(2, 2, 2, 2))),
    ("conv_all_pad_rows", (1, 4, 4, 2), (3, 2, 2, 2), dict(strides=(2, 2), pads=(0, 0, 3, 3))),
    ("pointwise", (1, 5, 4, 17), (6, 1, 1, 17), {}),
]


def _graph(kind, x, w, attrs, pattern, seed=0):
    rng = np.random.default_rng(seed)
    op = Op.FULLY_CONNECTED if kind.startswith("fc") else Op.CONV2D
    wd = _zero((rng.normal(0, 1, w) / math.sqrt(np.prod(w[1:]))).astype(np.float32), pattern, rng)
    t = {"x": Tensor("x", x), "w": Tensor("w", w, data=wd),
         "b": Tensor("b", (w[0],), data=rng.normal(0, 0.3, w[0]).astype(np.float32))}
    t["y"] = Tensor("y", tuple(REGISTRY[op].infer(x, w, (w[0],), **attrs)))
    g = Graph("m", t, [Node("n", op, ["x", "w", "b"], ["y"], dict(attrs))], ["x"], ["y"])
    return g, {"x": rng.uniform(-1, 1.3, (3,) + x).astype(np.float32)}


@pytest.mark.parametrize("pattern", list(PATTERNS))
@pytest.mark.parametrize("layer", LAYERS, ids=[layer[0] for layer in LAYERS])
def test_encode_decode_roundtrip(layer, pattern):
    _, _, w, _ = layer
    rng = np.random.default_rng(1)
    q = _zero(rng.integers(-127, 128, w).astype(np.int8), PATTERNS[pattern], rng)
    mask, values = sparse.encode(q)
    assert values.size == np.count_nonzero(q) and np.all(values != 0)
    assert mask.size == w[0] * int(np.prod(w[1:-1])) * -(-w[-1] // 8)
    np.testing.assert_array_equal(sparse.decode(mask, values, q.shape), q)


# every shape with three patterns, every pattern on three shapes
C_CASES = [pytest.param(layer, p, id=f"{layer[0]}-{p}") for layer in LAYERS for p in PATTERNS
           if p in ("dense", "80", "zero_rows") or layer[0] in ("fc", "conv_s2_asym", "pointwise")]


@pytest.mark.parametrize("layer,pattern", C_CASES)
def test_sparse_c_bit_exact(layer, pattern, tmp_path):
    """Forced sparse kernels: C == the sparse twin == the dense reference, byte for byte."""
    g, feeds = _graph(*layer, PATTERNS[pattern])
    art = compile_model(None, name="m", calib=feeds, float_graph=g, sparse="always")
    node = art.graph.nodes[0]
    assert node.variant in ("sparse", "sparse_1x1")
    assert "w" not in emitted_consts(art.graph)          # the dense weights are not in the C
    dense = compile_model(None, name="m", calib=feeds, float_graph=g, sparse="never").graph
    assert dense.nodes[0].variant is None or not dense.nodes[0].variant.startswith("sparse")
    write_project(art, tmp_path / "out")
    host = HostModel(tmp_path / "out", "m", 1, sanitize=SANITIZE)
    for q in quantize_inputs(art.graph, [{"x": x} for x in feeds["x"]]):
        c, _ = host.run(q, [art.graph.tensors["y"].size])
        ref = run_int8(art.graph, {"x": q[0]})["y"].ravel()
        want = run_int8(dense, {"x": q[0]})["y"].ravel()
        np.testing.assert_array_equal(ref, want)
        np.testing.assert_array_equal(c[0], ref)


def test_choice_and_weight_bytes():
    g, feeds = _graph("fc", (1, 64), (32, 64), {}, 0.9)
    sizes = {}
    for mode in sparse.MODES:
        art = compile_model(None, name="m", calib=feeds, float_graph=g, sparse=mode)
        sizes[mode] = (art.graph.nodes[0].variant, const_bytes(art.graph))
    assert sizes["never"] == (None, 32 * 64 + 4 * 32) or sizes["never"][0] == "folded"
    assert sizes["always"][0] == sizes["size"][0] == "sparse"
    s = sparse.stats(compile_model(None, name="m", calib=feeds, float_graph=g, sparse="never").graph.tensors["w"].data)
    assert sizes["size"][1] == s["sparse_bytes"] + 4 * 32 < sizes["never"][1]
    assert sizes["auto"][0] == ("sparse" if s["sparse_cost"] <= s["dense_cost"] else sizes["never"][0])
    g2, feeds2 = _graph("fc", (1, 64), (32, 64), {}, 0.0)           # dense weights: never sparse by choice
    for mode in ("auto", "size"):
        v = compile_model(None, name="m", calib=feeds2, float_graph=g2, sparse=mode).graph.nodes[0].variant
        assert v is None or not v.startswith("sparse")


def test_cost_model_orders_dense_and_sparse():
    """The estimate grows with the non-zeros and, at equal size, a conv costs more than an FC."""
    w = np.ones((16, 3, 3, 16), np.int8)
    a, b = sparse.stats(w, "conv"), sparse.stats(np.where(np.arange(w.size).reshape(w.shape) % 10, 0, w), "conv")
    assert a["dense_cost"] == b["dense_cost"] and b["sparse_cost"] < a["sparse_cost"]
    assert b["sparse_bytes"] < b["dense_bytes"]
    fc = np.zeros((32, 640), np.int8)
    fc[:, ::20] = 1
    s = sparse.stats(fc, "fc")
    assert s["sparse_cost"] < s["dense_cost"] and s["sparse_bytes"] < 0.2 * s["dense_bytes"]


def test_bad_mode():
    from edgecompile.errors import OptionError
    g, feeds = _graph("fc", (1, 8), (4, 8), {}, 0.5)
    with pytest.raises(OptionError, match="--sparse"):
        compile_model(None, name="m", calib=feeds, float_graph=g, sparse="sometimes")


@pytest.mark.slow
def test_cost_model_on_qemu(tmp_path):
    """Where the model says sparse is faster (a 95% sparse FC) or slower (a 50% sparse 3x3 conv), the
    Cortex-M4 under QEMU agrees."""
    import shutil
    if not shutil.which("qemu-system-arm") or not shutil.which("arm-none-eabi-gcc"):
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc")
    from edgecompile.firmware import run
    for k, (layer, pattern) in enumerate([(("fc", (1, 640), (16, 640), {}), 0.95),
                                          (LAYERS[3], 0.5)]):
        g, feeds = _graph(*layer, pattern)
        counts = {}
        for mode in ("never", "always"):
            art = compile_model(None, name="m", calib=feeds, float_graph=g, sparse=mode)
            res = run(write_project(art, tmp_path / f"{k}{mode}"), "mps2-an386", {"x": feeds["x"][:1]})
            assert res.ok
            counts[mode] = res.instructions[0]
        auto = compile_model(None, name="m", calib=feeds, float_graph=g, sparse="auto").graph.nodes[0].variant
        assert (auto == "sparse") == (counts["always"] < counts["never"]), (layer[0], counts, auto)
