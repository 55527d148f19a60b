"""Unstructured pruning: magnitude masks (global, per layer, threshold, ratios), the pass contract,
sensitivity analysis, masks surviving fine-tuning and quantization, and the compile / CLI options."""
import numpy as np
import pytest

from edgecompile import train
from edgecompile.compiler import compile_model, import_model
from edgecompile.compress import compress
from edgecompile.compress.sensitivity import ratios_for_target, ratios_under_budget, scorer, sensitivity
from edgecompile.errors import OptionError
from edgecompile.examples import DIGITS_CALIB, DIGITS_ONNX, DIGITS_TEST
from edgecompile.passes import PassContext
from edgecompile.passes.prune import apply_masks, magnitude_masks, prunable, prune, sparsity_of


@pytest.fixture(scope="module")
def digits():
    g = import_model(DIGITS_ONNX)
    test = dict(np.load(DIGITS_TEST))
    return g, dict(np.load(DIGITS_CALIB)), test


def test_global_and_layer_sparsity(digits):
    g = digits[0]
    names = prunable(g)
    assert len(names) == 6
    for scope in ("global", "layer"):
        m = magnitude_masks(g, 0.7, scope=scope)
        assert set(m) == set(names)
        total = sum(v.size for v in m.values())
        assert sum(int((~v).sum()) for v in m.values()) == round(0.7 * total) or scope == "layer"
        if scope == "layer":
            for k, v in m.items():
                assert int((~v).sum()) == round(0.7 * v.size), k
    # global keeps the largest magnitudes overall
    m = magnitude_masks(g, 0.5)
    kept = np.concatenate([np.abs(g.tensors[k].data[v]) for k, v in m.items()])
    dropped = np.concatenate([np.abs(g.tensors[k].data[~v]) for k, v in m.items()])
    assert kept.min() >= dropped.max()


def test_threshold_ratios_and_pass_contract(digits):
    g = digits[0]
    before = {k: g.tensors[k].data.copy() for k in prunable(g)}
    out = prune(g, PassContext(options={"prune": {"threshold": 0.05}}))
    for k in prunable(g):
        np.testing.assert_array_equal(g.tensors[k].data, before[k])          # input untouched
        w = out.tensors[k].data
        big = np.abs(before[k]) > 0.05
        assert np.all(w[~big] == 0) and np.all(w[big] == before[k][big])
        np.testing.assert_array_equal(out.meta["prune_masks"][k], w != 0)
    fc1 = "fc1.weight/nhwc"
    out = prune(g, PassContext(options={"prune": {"sparsity": 0.2, "ratios": {fc1: 0.9}, "scope": "layer"}}))
    assert np.mean(out.tensors[fc1].data == 0) == pytest.approx(0.9, abs=1e-3)
    assert all(np.mean(out.tensors[k].data == 0) == pytest.approx(0.2, abs=0.01) for k in prunable(g) if k != fc1)
    # already-zero weights go first: pruning twice to the same level changes nothing
    again = apply_masks(out, magnitude_masks(out, 0.2, scope="layer", ratios={fc1: 0.9}))
    assert all(np.array_equal(again.tensors[k].data, out.tensors[k].data) for k in prunable(g))
    assert prune(g, PassContext()).nodes == g.nodes


@pytest.mark.parametrize("bad", [dict(sparsity=1.0), dict(sparsity=-0.1), dict(sparsity=0.5, scope="everywhere"),
                                 dict(ratios={"nope": 0.5})])
def test_bad_options(digits, bad):
    with pytest.raises(OptionError):
        prune(digits[0], PassContext(options={"prune": bad}))


def test_sensitivity_and_ratios(digits):
    g, calib, test = digits
    score = scorer(g, {"input": test["input"][:200]}, test["y"][:200])
    base, sens = sensitivity(g, score, levels=(0.5, 0.9))
    assert base == pytest.approx(1.0, abs=0.02) and set(sens) == set(prunable(g))
    assert all(len(row) == 2 and row[0][0] == 0.5 for row in sens.values())
    sizes = {k: g.tensors[k].size for k in sens}
    r = ratios_for_target(base, sens, sizes, 0.6)
    assert sum(r[k] * sizes[k] for k in r) / sum(sizes.values()) >= 0.6
    assert ratios_under_budget(base, sens, 0.0) == {k: max([lv for lv, s in row if s >= base], default=0.0)
                                                    for k, row in sens.items()}
    assert all(v == 0.0 for v in ratios_under_budget(base, sens, -1.0).values())


def test_masks_survive_finetuning_and_quantization(digits):
    g, calib, test = digits
    data = {"input": test["input"][:256]}
    out = compress(DIGITS_ONNX, prune=0.7, data=data, labels=test["y"][:256], epochs=1, lr=3e-3, distill=True)
    assert not any(train.autograd.bn_attr(n) for n in out.nodes)          # BN folded back
    assert sparsity_of(out) == pytest.approx(0.7, abs=0.005)
    assert out.meta["finetune"]["epochs"] == 1
    # one-shot pruning, then fine-tuning with the masks: the pruned weights stay exactly zero
    pruned = apply_masks(g, magnitude_masks(g, 0.6))
    tuned = train.finetune(pruned, data, test["y"][:256], masks=pruned.meta["prune_masks"], epochs=1, lr=3e-3,
                           optimizer="adam")
    for k, m in pruned.meta["prune_masks"].items():
        assert np.all(tuned.tensors[k].data[~m] == 0)
        assert not np.array_equal(tuned.tensors[k].data[m], pruned.tensors[k].data[m])
    art = compile_model(None, name="d", calib=calib, float_graph=tuned)
    for k, m in pruned.meta["prune_masks"].items():
        assert np.all(art.graph.tensors[k].data[~m] == 0)                 # int8 zeros where the float ones were


def test_compile_options_and_errors(digits, tmp_path):
    g, calib, test = digits
    art = compile_model(DIGITS_ONNX, name="d", calib=DIGITS_CALIB, prune=0.5, prune_scope="layer")
    assert sparsity_of(art.float_graph) == pytest.approx(0.5, abs=0.01)
    for kw in (dict(prune=1.5), dict(prune_channels=-0.2), dict(prune=0.5, prune_scope="nowhere"), dict(epochs=-1,
               finetune=DIGITS_TEST)):
        with pytest.raises(OptionError):
            compile_model(DIGITS_ONNX, name="d", calib=DIGITS_CALIB, **kw)
    from test_cli import one_line_error, run_cli
    code, _, err = run_cli("compile", DIGITS_ONNX, "--calib", DIGITS_CALIB, "--prune", "1.2", "-o", tmp_path / "o")
    assert code == 1 and "--prune" in one_line_error(err) and not (tmp_path / "o").exists()
    code, out, err = run_cli("compile", DIGITS_ONNX, "--calib", DIGITS_CALIB, "--prune", "0.8", "--sparse", "size",
                             "--finetune", DIGITS_TEST, "--epochs", "1", "-o", tmp_path / "o")
    assert code == 0, err
    assert "fine-tuning" in err
    code, out, err = run_cli("verify", tmp_path / "o", "--inputs", DIGITS_TEST)
    assert code == 0 and "bit-exact" in out, err


def test_prune_budget(digits):
    g, calib, test = digits
    out = compress(g, prune_budget=0.02, data={"input": test["input"][:300]}, labels=test["y"][:300], epochs=0)
    ratios = out.meta["prune_ratios"]
    assert set(ratios) == set(prunable(g)) and max(ratios.values()) >= 0.5
    for k, r in ratios.items():
        assert np.mean(out.tensors[k].data == 0) == pytest.approx(r, abs=0.01)
    with pytest.raises(OptionError, match="--prune-budget"):
        compress(g, prune=0.5, prune_budget=0.01, calib=calib)
