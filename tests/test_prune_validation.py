"""Validation-based model selection while fine-tuning (compress.validation, finetune(validate=...),
--validate)."""
from __future__ import annotations

import numpy as np
import pytest
from test_prune_channels import _mlp

from edgecompile import train
from edgecompile.compress import compress
from edgecompile.compress.validation import roc_auc, scorer
from edgecompile.errors import DataError
from edgecompile.examples import DIGITS_CALIB, DIGITS_ONNX, DIGITS_TEST
from edgecompile.reference import run_float_batch


def test_roc_auc_matches_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score
    rng = np.random.default_rng(0)
    for n in (5, 40, 300):
        s = rng.integers(0, 6, n).astype(float)           # many ties
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        assert roc_auc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    with pytest.raises(DataError, match="both classes"):
        roc_auc([1.0, 2.0], [1, 1])


def _ae_data(seed=0, clips=12, per=8):
    """Windows of clips: anomalous clips (every third) are scaled, so they reconstruct worse."""
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(clips), per)
    y = (group % 3 == 0).astype(np.int64)
    x = rng.normal(size=(clips * per, 16)).astype(np.float32) * np.where(y, 3.0, 1.0)[:, None].astype(np.float32)
    return x, y, group


def test_autoencoder_auc_scores_groups():
    g = _mlp([16, 24, 16], seed=7)
    x, y, group = _ae_data()
    metric, score = scorer(g, {"x": x}, y, group)
    err = np.square(run_float_batch(g, {"x": x})["h1"] - x).mean(axis=1)
    clip = np.bincount(group, weights=err) / np.bincount(group)
    assert metric == "AUC" and score(g) == pytest.approx(roc_auc(clip, y[::8]))
    assert scorer(g, {"x": x}, y)[1](g) == pytest.approx(roc_auc(err, y))     # no groups: per sample
    bad = group.copy()
    bad[0] = 1                                           # one window of an anomalous clip in a normal one
    with pytest.raises(DataError, match="mixes normal and anomalous"):
        scorer(g, {"x": x}, y, bad)
    with pytest.raises(DataError, match="labels"):
        scorer(g, {"x": x}, None)


def test_finetune_returns_the_best_validated_epoch():
    g = _mlp([16, 24, 16], seed=7)
    x = np.random.default_rng(1).normal(size=(128, 16)).astype(np.float32)
    seen, scores = [], iter([0.2, 0.9, 0.5, 0.1])

    def validate(m):
        seen.append(m)
        return next(scores)
    out = train.finetune(g, {"x": x}, epochs=3, lr=1e-2, optimizer="adam", validate=validate)
    info = out.meta["finetune"]
    assert info["validation"] == [0.2, 0.9, 0.5, 0.1] and info["best_epoch"] == 1
    for k in ("w0", "w1", "b1"):
        np.testing.assert_array_equal(out.tensors[k].data, seen[1].tensors[k].data)
    assert not np.array_equal(out.tensors["w0"].data, seen[3].tensors["w0"].data)


def test_gradual_pruning_never_selects_an_unfinished_schedule():
    g = _mlp([16, 24, 16], seed=7)
    x, y, group = _ae_data()
    out = compress(g, prune=0.5, prune_scope="layer", data={"x": x[y == 0]}, epochs=3, lr=1e-3,
                   validation={"x": x, "y": y, "group": group})
    info = out.meta["finetune"]
    assert info["best_epoch"] >= 1 and len(info["validation"]) == 4
    assert np.mean(out.tensors["w0"].data == 0) == pytest.approx(0.5, abs=0.01)
    v = out.meta["validation"]
    assert v["metric"] == "AUC" and v["compressed"] == pytest.approx(info["validation"][info["best_epoch"]])


def test_compress_channels_with_validation_records_scores():
    g = _mlp([16, 24, 24, 16], seed=5)
    x, y, group = _ae_data(seed=2)
    out = compress(g, prune_channels=0.5, importance="lsq", data={"x": x[y == 0]}, epochs=0,
                   validation={"x": x, "y": y, "group": group})
    v = out.meta["validation"]
    assert set(v) == {"metric", "unpruned", "compressed"} and 0.0 <= v["compressed"] <= 1.0
    assert v["unpruned"] == pytest.approx(scorer(g, {"x": x}, y, group)[1](g))


def test_cli_validate_keeps_best_epoch(tmp_path):
    from test_cli import run_cli

    from edgecompile.compiler import load_artifact
    code, _, err = run_cli("compile", DIGITS_ONNX, "--calib", DIGITS_CALIB, "--prune-channels", "0.5",
                           "--finetune", DIGITS_CALIB, "--epochs", "2", "--validate", DIGITS_TEST,
                           "-o", tmp_path / "o")
    assert code == 0, err
    fg = load_artifact(tmp_path / "o").float_graph
    v, info = fg.meta["validation"], fg.meta["finetune"]
    assert v["metric"] == "accuracy" and len(info["validation"]) == 3
    assert v["compressed"] == pytest.approx(max(info["validation"]))


def test_validate_without_compression_is_an_error(tmp_path):
    from test_cli import one_line_error, run_cli
    np.savez(tmp_path / "val.npz", input=np.zeros((4, 1, 8, 8), np.float32), y=np.arange(4))
    code, _, err = run_cli("compile", DIGITS_ONNX, "--calib", DIGITS_CALIB, "--validate", tmp_path / "val.npz",
                           "-o", tmp_path / "o")
    assert code == 1 and "--validate" in one_line_error(err)
