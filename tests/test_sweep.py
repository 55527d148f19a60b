"""edgecompile sweep: the table, json and plot over pruning levels, and its metrics."""
import json

import numpy as np
import pytest

from edgecompile.compress.sweep import metric
from edgecompile.examples import DIGITS_CALIB, DIGITS_ONNX, DIGITS_TEST

from test_cli import one_line_error, run_cli


def test_metric_auc_and_top1():
    from sklearn.metrics import roc_auc_score
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 1, 16)).astype(np.float32)
    y = (rng.random(60) < 0.4).astype(int)
    out = x + rng.normal(size=x.shape) * (1 + y[:, None, None]) * 0.3
    out[:5] = x[:5]                                           # ties at zero error
    name, auc = metric(out, x, y)
    err = ((out - x) ** 2).reshape(60, -1).mean(1)
    assert name == "AUC" and auc == pytest.approx(roc_auc_score(y, err))
    logits = rng.normal(size=(50, 10))
    labels = rng.integers(0, 10, 50)
    assert metric(logits, rng.normal(size=(50, 64)), labels) == ("top-1", float(np.mean(logits.argmax(1) == labels)))


def test_sweep_cli(tmp_path):
    pytest.importorskip("matplotlib")
    code, out, err = run_cli("sweep", DIGITS_ONNX, "--calib", DIGITS_CALIB, "--eval", DIGITS_TEST, "--finetune",
                             DIGITS_TEST, "--epochs", "1", "--levels", "0,0.8", "--sparse", "size", "--board", "none",
                             "-o", tmp_path / "s")
    assert code == 0, err
    rows = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert [r["level"] for r in rows] == [0.0, 0.8]
    assert rows[1]["sparsity"] == pytest.approx(0.8, abs=0.01)
    assert rows[0]["metric"] == "top-1" and rows[0]["int8"] > 0.95
    assert rows[1]["weights_bytes"] < rows[0]["weights_bytes"] and rows[1]["macs"] <= rows[0]["macs"]
    assert rows[0]["flash_bytes"] is None and rows[0]["instructions"] is None     # --board none
    assert (tmp_path / "s" / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert "| 80% |" in out and "| 80% |" in (tmp_path / "s" / "sweep.md").read_text()


def test_sweep_bad_levels(tmp_path):
    code, _, err = run_cli("sweep", DIGITS_ONNX, "--eval", DIGITS_TEST, "--levels", "0,1.5", "--board", "none",
                           "--no-plot", "-o", tmp_path / "s")
    assert code == 1 and "--levels" in one_line_error(err)
