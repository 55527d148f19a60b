"""Structured pruning: channel provenance (residual Add and Concat ties, pinned outputs), graph surgery
that keeps the float outputs of the unpruned channels exactly, BatchNorm following the channel removal,
the least-squares repair, and a pruned model compiling bit-exact."""
import dataclasses

import numpy as np
import pytest

from edgecompile import train
from edgecompile.compiler import compile_model, import_model, write_project
from edgecompile.examples import DIGITS_CALIB, DIGITS_ONNX, DIGITS_TEST
from edgecompile.ir import Graph, Node, Op, Tensor, verify
from edgecompile.passes import PassContext
from edgecompile.passes.prune_channels import (analyze, channel_fraction, prune_channels, reconstruct, select,
                                               surgery)
from edgecompile.reference import run_float_batch


def _graph(kind: str, seed: int = 0) -> Graph:
    """conv a -> {residual Add with conv b | channel Concat with conv b} -> conv c -> flatten -> FC -> Softmax."""
    rng = np.random.default_rng(seed)
    t, nodes = {"x": Tensor("x", (1, 6, 5, 3))}, []

    def const(name, shape):
        t[name] = Tensor(name, shape, data=rng.normal(0, 0.5, shape).astype(np.float32))
        return name

    def node(name, op, ins, out_shape, **attrs):
        t[name] = Tensor(name, out_shape)
        nodes.append(Node(name, op, ins, [name], attrs))
        return name
    relu = dict(act_min=0.0)
    a = node("a", Op.CONV2D, ["x", const("wa", (8, 3, 3, 3)), const("ba", (8,))], (1, 6, 5, 8), pads=(1, 1, 1, 1),
             **relu)
    bn = node("bn", Op.DEPTHWISE_CONV2D, [a, const("s", (1, 1, 1, 8)), const("sh", (8,))], (1, 6, 5, 8),
              bn=dict(gamma=np.ones(8, np.float32), beta=np.zeros(8, np.float32), mean=np.zeros(8, np.float32),
                      var=np.ones(8, np.float32), eps=1e-5))
    cb = 8 if kind == "add" else 5
    b = node("b", Op.CONV2D, [bn, const("wb", (cb, 1, 1, 8)), const("bb", (cb,))], (1, 6, 5, cb), **relu)
    if kind == "add":
        m = node("m", Op.ADD, [bn, b], (1, 6, 5, 8))
        m = node("m2", Op.ADD, [m, const("k", (8,))], (1, 6, 5, 8))
    else:
        m = node("m", Op.CONCAT, [bn, b], (1, 6, 5, 13), axis=3)
    c = node("c", Op.CONV2D, [m, const("wc", (7, 3, 3, t[m].shape[-1])), const("bc", (7,))], (1, 3, 3, 7),
             strides=(2, 2), pads=(1, 1, 1, 1), **relu)
    p = node("p", Op.MAX_POOL2D, [c], (1, 3, 3, 7), kernel=(1, 1), strides=(1, 1), pads=(0, 0, 0, 0))
    f = node("f", Op.RESHAPE, [p], (1, 63), shape=(1, 63))
    fc = node("fc", Op.FULLY_CONNECTED, [f, const("wf", (4, 63)), const("bf", (4,))], (1, 4))
    node("out", Op.SOFTMAX, [fc], (1, 4))
    return Graph("g", t, nodes, ["x"], ["out"])


def _zero_consumers(g: Graph, removed: set) -> Graph:
    """The original graph with every weight that reads a removed channel zeroed (the reference for
    'surgery keeps the outputs of the kept channels')."""
    ids, prov, spaces = analyze(g)
    g = g.copy()
    for n in g.nodes:
        if n.op in (Op.CONV2D, Op.FULLY_CONNECTED):
            gone = np.isin(prov[n.inputs[0]], sorted(removed))
            w = g.tensors[n.inputs[1]].data.copy()
            w[..., gone] = 0
            g.tensors[n.inputs[1]] = dataclasses.replace(g.tensors[n.inputs[1]], data=w)
    return g


@pytest.mark.parametrize("kind", ["add", "concat"])
def test_surgery_keeps_unpruned_channels(kind):
    g = _graph(kind)
    ids, prov, spaces = analyze(g)
    assert set(spaces) == {"a", "b", "c", "fc"}
    assert all(ids.find(int(i)) == 0 for i in spaces["fc"])            # reaches the Softmax: pinned
    if kind == "add":                                                  # residual: a and b tied channel by channel
        assert [ids.find(int(i)) for i in spaces["a"]] == [ids.find(int(i)) for i in spaces["b"]]
    removed = select(g, 0.5)
    pg = surgery(g, removed)
    verify(pg)
    x = np.random.default_rng(1).normal(size=(5, 6, 5, 3)).astype(np.float32)
    full = run_float_batch(g, {"x": x}, keep_all=True)
    got = run_float_batch(pg, {"x": x}, keep_all=True)
    keep = {k: np.flatnonzero(~np.isin(p, sorted(removed))) for k, p in prov.items()}
    for name in ("a", "bn"):                      # before any consumer of a removed channel: exactly equal
        np.testing.assert_array_equal(got[name], full[name][..., keep[name]])
    ref = run_float_batch(_zero_consumers(g, removed), {"x": x}, keep_all=True)
    for name in ("b", "m", "c", "fc", "out"):     # after: as if the removed channels were zero
        np.testing.assert_allclose(got[name], ref[name][..., keep[name]], rtol=1e-4, atol=1e-5)
    kept = pg.meta["pruned_channels"]
    assert kept["a"] == (8, 4) and kept["c"] == (7, 3) and "fc" not in kept
    if kind == "add":
        assert kept["b"] == (8, 4) and pg.tensors["k"].shape == (4,)
    else:
        assert pg.tensors["m"].shape[-1] == kept["a"][1] + kept["b"][1]
    assert pg.nodes[1].attrs["bn"]["gamma"].shape == (4,)             # BN statistics follow
    assert pg.tensors["f"].shape == (1, 9 * kept["c"][1])             # the flatten and the FC columns too
    assert g.tensors["wa"].shape == (8, 3, 3, 3)                      # input graph untouched


def test_pass_options_and_importance():
    g = _graph("concat")
    x = {"x": np.random.default_rng(2).normal(size=(16, 6, 5, 3)).astype(np.float32)}
    for imp in ("l1", "l2", "activation"):
        out = prune_channels(g, PassContext(options={"prune_channels": dict(fraction=0.5, importance=imp, data=x)}))
        assert channel_fraction(out) > 0.3
    out = prune_channels(g, PassContext(options={"prune_channels": dict(ratios={"c": 0.75})}))
    assert out.meta["pruned_channels"] == {"a": (8, 8), "b": (5, 5), "c": (7, 2)}
    from edgecompile.errors import OptionError
    with pytest.raises(OptionError):
        select(g, importance="random")
    with pytest.raises(OptionError):
        select(g, 1.0)


def test_digits_unfolded_bn_reconstruct_and_compile(tmp_path):
    gu = train.import_unfolded(DIGITS_ONNX)
    test = dict(np.load(DIGITS_TEST))
    x = {"input": test["input"][:300].reshape(300, 1, 1, 8, 8)}
    pg = surgery(gu, select(gu, 0.5))
    verify(pg)
    assert channel_fraction(pg) == 0.5
    bns = [n for n in pg.nodes if n.attrs.get("bn")]
    assert [n.attrs["bn"]["mean"].shape for n in bns] == [(4,), (8,)]
    # least-squares repair brings the pruned (folded) model closer to the original on the data
    g = import_model(DIGITS_ONNX)
    p0 = surgery(g, select(g, 0.5, importance="activation", data=x))
    p1 = reconstruct(p0, g, x)
    ref = run_float_batch(g, x)["logits"]

    def err(h):
        return float(np.mean((run_float_batch(h, x)["logits"] - ref) ** 2))
    assert err(p1) < 0.5 * err(p0)
    from edgecompile.compiler import verify as run_verify
    art = compile_model(None, name="d", calib=DIGITS_CALIB, float_graph=train.fold(train.reestimate_bn(pg, x)))
    res = run_verify(art, write_project(art, tmp_path / "o"), {"input": test["input"][:20]})
    assert res.ok


def _mlp(widths, seed=0, act=True, rank=None, dup=None) -> Graph:
    """FC chain x[1, widths[0]] -> ... (ReLU between when ``act``); with ``rank`` the first layer's
    outputs past ``rank`` are linear combinations of the first ``rank`` (a redundant layer); with
    ``dup`` its last 2 * dup outputs are larger copies of the first dup (large but redundant)."""
    rng = np.random.default_rng(seed)
    t, nodes, prev = {"x": Tensor("x", (1, widths[0]))}, [], "x"
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        w = rng.normal(0, 1 / np.sqrt(a), (b, a))
        bias = rng.normal(0, 0.1, b)
        if i == 0 and rank:
            mix = rng.normal(0, 1, (b - rank, rank))
            w[rank:], bias[rank:] = mix @ w[:rank], mix @ bias[:rank]
        if i == 0 and dup:
            w[-2 * dup:], bias[-2 * dup:] = np.tile(w[:dup], (2, 1)) * 3, np.tile(bias[:dup], 2) * 3
        t[f"w{i}"] = Tensor(f"w{i}", (b, a), data=w.astype(np.float32))
        t[f"b{i}"] = Tensor(f"b{i}", (b,), data=bias.astype(np.float32))
        last = i == len(widths) - 2
        t[f"h{i}"] = Tensor(f"h{i}", (1, b))
        nodes.append(Node(f"h{i}", Op.FULLY_CONNECTED, [prev, f"w{i}", f"b{i}"], [f"h{i}"],
                          dict(act_min=0.0) if act and not last else {}))
        prev = f"h{i}"
    return Graph("mlp", t, nodes, ["x"], [prev])


def test_eliminate_finds_the_informative_columns():
    from edgecompile.passes.prune_channels import _eliminate
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 10))
    y = x[:, [2, 7]] @ rng.normal(size=(2, 5)) + 0.3
    assert sorted(_eliminate(x, y, 2, 1e-9).tolist()) == [2, 7]


def test_lsq_selection_and_refit_exact_on_a_linear_toy():
    """A linear layer of rank 4 with 8 outputs: keeping 4 channels and refitting the consumer by least
    squares reproduces the original outputs exactly, whichever spanning channels are kept."""
    g = _mlp([6, 8, 3], act=False, rank=4)
    x = {"x": np.random.default_rng(1).normal(size=(300, 6)).astype(np.float32)}
    ctx = PassContext(options={"prune_channels": dict(fraction=0.5, importance="lsq", data=x)})
    pg = reconstruct(prune_channels(g, ctx), g, x, ridge=1e-9)
    assert pg.meta["pruned_channels"] == {"h0": (8, 4)} and pg.tensors["w1"].shape == (3, 4)
    np.testing.assert_allclose(run_float_batch(pg, x)["h1"], run_float_batch(g, x)["h1"], atol=2e-4)
    assert channel_fraction(pg) == 0.5


def test_lsq_beats_activation_importance_on_a_relu_mlp():
    g = _mlp([16, 24, 24, 16], seed=3, dup=6)
    x = {"x": np.random.default_rng(4).normal(size=(2000, 16)).astype(np.float32)}
    ref = run_float_batch(g, x)["h2"]

    def err(importance):
        ctx = PassContext(options={"prune_channels": dict(fraction=0.5, importance=importance, data=x)})
        pg = reconstruct(prune_channels(g, ctx), g, x)
        assert pg.meta["pruned_channels"] == {"h0": (24, 12), "h1": (24, 12)}
        return float(np.mean((run_float_batch(pg, x)["h2"] - ref) ** 2))
    assert err("lsq") < 0.8 * err("activation")


def test_per_layer_fractions_through_compress():
    from edgecompile.compress import compress
    from edgecompile.errors import OptionError
    g = _mlp([16, 24, 24, 16], seed=5)
    x = {"x": np.random.default_rng(6).normal(size=(500, 16)).astype(np.float32)}
    out = compress(g, prune_channels=[0.25, 0.5], importance="lsq", data=x, epochs=0)
    assert out.meta["pruned_channels"] == {"h0": (24, 18), "h1": (24, 12)}
    out = compress(g, prune_channels={"h1": 0.75}, importance="activation", data=x, epochs=0)
    assert out.meta["pruned_channels"]["h1"] == (24, 6)
    with pytest.raises(OptionError, match="2 prunable layers"):
        compress(g, prune_channels=[0.5], data=x, epochs=0)
    with pytest.raises(OptionError, match="no prunable layer"):
        compress(g, prune_channels={"nope": 0.5}, data=x, epochs=0)


def test_autoencoder_distill_imitates_the_teacher_only():
    from edgecompile.compress import compress
    g = _mlp([16, 24, 16], seed=7)                    # output size == input size: an autoencoder
    x = {"x": np.random.default_rng(8).normal(size=(256, 16)).astype(np.float32)}
    out = compress(g, prune_channels=0.5, importance="lsq", data=x, epochs=2, distill=True, lr=1e-3)
    info = out.meta["finetune"]
    assert info["alpha"] == 0.0 and info["loss_after"] < info["loss_before"]
    assert compress(g, prune_channels=0.5, data=x, epochs=1).meta["finetune"]["alpha"] == 1.0


def test_cli_per_layer_fractions_and_lsq(tmp_path):
    from test_cli import one_line_error, run_cli
    code, _, err = run_cli("compile", DIGITS_ONNX, "--calib", DIGITS_CALIB, "--prune-channels", "0.5,0.5",
                           "-o", tmp_path / "bad")
    assert code == 1 and "2 fractions for 4 prunable layers" in one_line_error(err)
    code, _, err = run_cli("compile", DIGITS_ONNX, "--calib", DIGITS_CALIB, "--prune-channels", "0,0.5,0.5,0.25",
                           "--importance", "lsq", "-o", tmp_path / "o")
    assert code == 0, err
    art = __import__("edgecompile.compiler", fromlist=["load_artifact"]).load_artifact(tmp_path / "o")
    pc = art.float_graph.meta["pruned_channels"]
    assert pc["/conv1/Conv"][0] == pc["/conv1/Conv"][1] and pc["/fc1/Gemm"][1] < pc["/fc1/Gemm"][0]


def test_lsq_on_tied_and_pinned_layers_falls_back_to_activation():
    g = _graph("add")
    x = {"x": np.random.default_rng(9).normal(size=(64, 6, 5, 3)).astype(np.float32)}
    out = prune_channels(g, PassContext(options={"prune_channels": dict(fraction=0.5, importance="lsq", data=x)}))
    verify(out)
    assert out.meta["pruned_channels"] == {"a": (8, 4), "b": (8, 4), "c": (7, 3)}   # tied a/b cut once
